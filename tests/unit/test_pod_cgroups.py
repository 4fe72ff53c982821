"""PodRunner and cgroups, on fakes: OOMKilled from the kernel's notice or from
the counter read at exit, the restart that follows, SIGKILL to the whole
container (its cgroup) at the end of a grace period, an exit in a shared pid
namespace taking the rest of the container with it, and the supervisor
tidying the root cgroups once its last pod is gone."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FakeEffects, FakeHost

from minipod.api.backoff import BackoffPolicy
from minipod.api.model import Container, Pod, PodSpec
from minipod.api.quantity import parse_quantity
from minipod.api.resources import Resources
from minipod.kernel.image import Image
from minipod.kernel.spawn import ExitStatus
from minipod.loop.clock import FakeClock
from minipod.loop.eventloop import Loop
from minipod.runtime.pod import OOM_SETTLE, ContainerRun, PodRunner
from minipod.runtime.supervisor import TIDY_AFTER, Supervisor

IMAGE = Image(ref="busybox", name="busybox:latest", lowers=("/nonexistent",), cmd=("sh",))
MADE: list[FakeEffects] = []


@pytest.fixture(autouse=True)
def _close_fakes() -> Iterator[None]:
    yield
    for fx in MADE:
        fx.close()
    MADE.clear()


def make(tmp_path: Path, policy: str = "OnFailure", *, shared_pid: bool = False,
         grace: int = 30) -> tuple[PodRunner, FakeHost, FakeEffects]:
    limited = Resources({"memory": parse_quantity("32Mi")}, {"memory": parse_quantity("32Mi")})
    spec = PodSpec(containers=(Container("app", "busybox", resources=limited),
                               Container("side", "busybox")),
                   restart_policy=policy,  # type: ignore[arg-type]
                   share_process_namespace=shared_pid,
                   termination_grace_period_seconds=grace)
    sup = FakeHost(tmp_path)
    fx = FakeEffects(tmp_path)
    MADE.append(fx)
    runner = PodRunner(sup, Pod(name="p", spec=spec), {"app": IMAGE, "side": IMAGE},
                       BackoffPolicy(0, 0), effects=fx)
    return runner, sup, fx


def run_of(runner: PodRunner, name: str) -> ContainerRun:
    return next(r for r in runner.runs if r.name == name)


def killed(runner: PodRunner, sup: FakeHost, name: str) -> None:
    """The container's main process dies of SIGKILL (the OOM killer's signal)."""
    run = run_of(runner, name)
    assert run.child is not None
    sup.watched.pop(run.child.pid)(ExitStatus(137, signal.SIGKILL))


def test_qos_class_of_the_pod(tmp_path: Path) -> None:
    runner, _, _ = make(tmp_path)
    assert runner.qos_class == "Burstable"
    assert runner.row() is not None


def test_oom_notice_then_exit_is_oomkilled_and_restarts(tmp_path: Path) -> None:
    runner, sup, fx = make(tmp_path)
    runner.start()
    assert set(fx.oom_watches) == {"app", "side"}  # every container's cgroup, watched
    fx.oom_kill("app")  # the kernel's notice, in the loop
    assert [e.reason for e in sup.events].count("OOMKilling") == 1
    killed(runner, sup, "app")
    app = run_of(runner, "app")
    last = app.last_state
    assert last is not None and (last.reason, last.exit_code, last.signal) == ("OOMKilled", 137, 9)
    assert app.running and app.restart_count == 1  # OnFailure: 137 is a failure
    exits = [e.message for e in sup.events if e.reason == "Failed"]
    assert exits == ["Container app exited (OOMKilled, signal 9, exit code 137)"]
    assert [e.reason for e in sup.events].count("OOMKilling") == 1  # counted once


def test_an_oom_kill_whose_notice_comes_late_is_read_at_exit(tmp_path: Path) -> None:
    runner, sup, fx = make(tmp_path)
    runner.start()
    fx.oom_kill("app", notify=False)  # the exit is handled before the notice
    killed(runner, sup, "app")
    last = run_of(runner, "app").last_state
    assert last is not None and last.reason == "OOMKilled"
    fx.oom_watches["app"]()  # the notice, at last: nothing new
    assert [e.reason for e in sup.events].count("OOMKilling") == 1


def test_a_notice_before_the_kill_looks_again(tmp_path: Path) -> None:
    """cgroup v1 notifies before the OOM killer has chosen: the kill is
    counted a moment later, and the run (whose child was taken) ends OOMKilled."""
    runner, sup, fx = make(tmp_path)
    runner.start()
    fx.oom_watches["app"]()  # out of memory, nothing killed yet
    assert "OOMKilling" not in [e.reason for e in sup.events]
    fx.oom_counts["app"] = 1  # the OOM killer takes a child of app
    clock = sup.loop.clock
    assert isinstance(clock, FakeClock)
    clock.jump_to(clock.now() + OOM_SETTLE)
    sup.loop.run_once(0)
    assert [e.reason for e in sup.events].count("OOMKilling") == 1
    assert run_of(runner, "app").oom_killed and run_of(runner, "app").running
    sup.watched.pop(run_of(runner, "app").child.pid)(ExitStatus(0))  # type: ignore[union-attr]
    state = run_of(runner, "app").state  # it exited 0: OnFailure does not restart it
    assert (state.kind, state.reason, state.exit_code) == ("terminated", "OOMKilled", 0)


def test_a_plain_exit_is_no_oom(tmp_path: Path) -> None:
    runner, sup, _ = make(tmp_path)
    runner.start()
    killed(runner, sup, "app")
    last = run_of(runner, "app").last_state
    assert last is not None and last.reason == "Error"
    assert not run_of(runner, "app").oom_killed  # the next run starts clean


def test_sigkill_at_the_end_of_grace_goes_to_the_cgroup(tmp_path: Path) -> None:
    runner, sup, fx = make(tmp_path, grace=5)
    runner.start()
    runner.stop(None, lambda: None)
    assert ("app", signal.SIGTERM) in fx.signals  # to the main process first
    assert ("app", signal.SIGKILL) not in fx.signals
    clock = sup.loop.clock
    assert isinstance(clock, FakeClock)
    clock.jump_to(clock.now() + 5)
    sup.loop.run_once(0)
    assert ("app", signal.SIGKILL) in fx.signals  # kill_container: all of it


def test_an_exit_in_a_shared_pid_namespace_kills_the_rest_of_the_container(
        tmp_path: Path) -> None:
    runner, sup, fx = make(tmp_path, "Always", shared_pid=True)
    runner.start()
    killed(runner, sup, "side")
    assert ("side", signal.SIGKILL) in fx.signals  # before its restart
    runner2, sup2, fx2 = make(tmp_path / "own", "Always")
    (tmp_path / "own").mkdir()
    runner2.start()
    killed(runner2, sup2, "side")
    assert fx2.signals == []  # its own pid namespace went with its PID 1


def test_teardown_unwatches_every_cgroup(tmp_path: Path) -> None:
    runner, _, fx = make(tmp_path)
    runner.start()
    runner.teardown()
    assert fx.oom_watches == {}


def test_the_supervisor_tidies_the_root_cgroups_after_its_last_pod(tmp_path: Path) -> None:
    fx = FakeEffects(tmp_path)
    MADE.append(fx)
    loop = Loop(FakeClock())
    sup = Supervisor(loop, lambda _e: None, effects=fx, socket_path=tmp_path / "s.sock")
    pod = Pod(name="p", spec=PodSpec(containers=(Container("app", "busybox"),)))
    (runner,) = sup.start_pods([pod], {"default/p": {"app": IMAGE}})
    sup.delete_pod(runner.key, 0, lambda: None)
    assert fx.signals  # killing it
    run = run_of(runner, "app")
    assert run.child is not None
    # the exit reaches the runner through the supervisor's reap; deliver it by hand
    runner._on_container_exit(run, ExitStatus(137, 9))
    assert not sup.pods and fx.cgroup_tidies == 0  # not at once: a new pod may come
    clock = loop.clock
    assert isinstance(clock, FakeClock)
    clock.jump_to(clock.now() + TIDY_AFTER)
    loop.run_once(0)
    assert fx.cgroup_tidies == 1
    sup.close()
