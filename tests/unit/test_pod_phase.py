"""minipod.pod.PodRunner.phase(): the kubelet's getPhase rules.

The runner is built without a sandbox and its container runs' states are set
by hand, so nothing here starts a process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minipod.image import Image
from minipod.pod import ContainerRun, ExitStatus, PodRunner
from minipod.spec import Container, Pod, PodSpec

IMAGE = Image(ref="busybox", name="busybox:latest", rootfs=Path("/nonexistent"), cmd=("sh",))


class StubSupervisor:
    """The part of Supervisor that __init__, phase() and fail() use."""

    def __init__(self) -> None:
        self.failed: list[tuple[PodRunner, str]] = []

    def pod_failed(self, runner: PodRunner, reason: str) -> None:
        self.failed.append((runner, reason))


def _runner(
    restart_policy: str = "Always",
    apps: tuple[str, ...] = ("app",),
    inits: tuple[str, ...] = (),
    supervisor: StubSupervisor | None = None,
) -> PodRunner:
    spec = PodSpec(
        containers=tuple(Container(name, "busybox") for name in apps),
        init_containers=tuple(Container(name, "busybox") for name in inits),
        restart_policy=restart_policy,  # type: ignore[arg-type]
    )
    pod = Pod(name="p", spec=spec)
    images = dict.fromkeys((*inits, *apps), IMAGE)
    sup: Any = supervisor or StubSupervisor()
    return PodRunner(sup, pod, images)


def _running(run: ContainerRun) -> None:
    run.state, run.reason = "running", ""


def _exited(run: ContainerRun, code: int) -> None:
    run.state, run.status = "terminated", ExitStatus(code)
    run.reason = run.status.reason


POLICIES = ("Always", "OnFailure", "Never")


def test_runs_follow_the_spec() -> None:
    runner = _runner(apps=("a", "b"), inits=("i1", "i2"))
    assert [r.name for r in runner.inits] == ["i1", "i2"]
    assert [r.name for r in runner.apps] == ["a", "b"]
    assert all(r.init for r in runner.inits)
    assert not any(r.init for r in runner.apps)
    assert all(r.state == "waiting" for r in runner.inits + runner.apps)
    # app containers wait for the inits
    assert {r.reason for r in runner.apps} == {"PodInitializing"}
    assert {r.reason for r in runner.inits} == {"ContainerCreating"}


def test_without_inits_apps_are_creating() -> None:
    runner = _runner(apps=("a",))
    assert runner.apps[0].reason == "ContainerCreating"


@pytest.mark.parametrize("policy", POLICIES)
def test_new_pod_is_pending(policy: str) -> None:
    assert _runner(policy, inits=("init",)).phase() == "Pending"
    assert _runner(policy).phase() == "Pending"


@pytest.mark.parametrize("policy", POLICIES)
def test_pending_while_init_containers_are_not_done(policy: str) -> None:
    runner = _runner(policy, inits=("i1", "i2"))
    _running(runner.inits[0])
    assert runner.phase() == "Pending"
    _exited(runner.inits[0], 0)
    assert runner.phase() == "Pending"  # i2 still waiting
    _running(runner.inits[1])
    assert runner.phase() == "Pending"
    _exited(runner.inits[1], 0)
    assert runner.phase() == "Pending"  # inits done, app not started yet
    _running(runner.apps[0])
    assert runner.phase() == "Running"


@pytest.mark.parametrize("policy", POLICIES)
def test_pending_while_any_app_container_waits(policy: str) -> None:
    runner = _runner(policy, apps=("a", "b"))
    _running(runner.apps[0])
    assert runner.phase() == "Pending"
    _running(runner.apps[1])
    assert runner.phase() == "Running"


@pytest.mark.parametrize("policy", POLICIES)
def test_running_while_one_app_runs(policy: str) -> None:
    runner = _runner(policy, apps=("a", "b"))
    _exited(runner.apps[0], 1)
    _running(runner.apps[1])
    assert runner.phase() == "Running"


@pytest.mark.parametrize("policy", ["Never", "OnFailure"])
def test_succeeded_when_every_app_exited_zero(policy: str) -> None:
    runner = _runner(policy, apps=("a", "b"), inits=("init",))
    _exited(runner.inits[0], 0)
    _exited(runner.apps[0], 0)
    _exited(runner.apps[1], 0)
    assert runner.phase() == "Succeeded"


def test_failed_under_never_when_an_app_failed() -> None:
    runner = _runner("Never", apps=("a", "b"))
    _exited(runner.apps[0], 0)
    _exited(runner.apps[1], 137)
    assert runner.phase() == "Failed"


def test_running_under_on_failure_when_an_app_failed() -> None:
    # the failed container would be restarted
    runner = _runner("OnFailure", apps=("a", "b"))
    _exited(runner.apps[0], 0)
    _exited(runner.apps[1], 2)
    assert runner.phase() == "Running"


@pytest.mark.parametrize("codes", [(0, 0), (0, 1), (3, 4)])
def test_running_under_always_after_every_app_exited(codes: tuple[int, int]) -> None:
    runner = _runner("Always", apps=("a", "b"))
    for run, code in zip(runner.apps, codes, strict=True):
        _exited(run, code)
    assert runner.phase() == "Running"


@pytest.mark.parametrize("policy", POLICIES)
def test_failed_pod_stays_failed(policy: str) -> None:
    supervisor = StubSupervisor()
    runner = _runner(policy, inits=("init",), supervisor=supervisor)
    _exited(runner.inits[0], 1)
    runner.fail("init container init exited with code 1")
    assert runner.phase() == "Failed"
    assert supervisor.failed == [(runner, "init container init exited with code 1")]
    runner.fail("a second reason")
    assert runner.failed_reason == "init container init exited with code 1"


def test_exit_status_reason() -> None:
    assert ExitStatus(0).reason == "Completed"
    assert ExitStatus(1).reason == "Error"
    assert ExitStatus(137, 9).reason == "Error"
