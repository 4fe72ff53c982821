"""PodRunner's state machine on a fake clock: restart policy, CrashLoopBackOff,
init containers, sidecars, sandbox re-creation and stop ordering.

Nothing here starts a process: the runner is given a fake host (PodHost) and
fake effects (PodEffects) through its constructor, exits are delivered by
hand, and the loop's FakeClock jumps from deadline to deadline, so a 300 s
back-off takes no time.
"""

from __future__ import annotations

import json
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FakeEffects, FakeHost

from minipod.api.backoff import BackoffPolicy
from minipod.api.errors import StartError
from minipod.api.model import Container, Pod, PodSpec, Volume, VolumeMount
from minipod.api.record import PodRecord, ProcessRef
from minipod.kernel.image import Image
from minipod.kernel.launch import launch_plan
from minipod.kernel.spawn import ExitStatus
from minipod.runtime import effects
from minipod.runtime.pod import ContainerRun, PodRunner

IMAGE = Image(ref="busybox", name="busybox:latest", lowers=("/nonexistent",), cmd=("sh",))


@pytest.fixture(autouse=True)
def _close_fakes() -> Iterator[None]:
    yield
    for fx in MADE:
        fx.close()
    MADE.clear()


MADE: list[FakeEffects] = []


def make(tmp_path: Path, policy: str = "Always", *, apps: tuple[str, ...] = ("app",),
         inits: tuple[str, ...] = (), sidecars: tuple[str, ...] = (),
         backoff: BackoffPolicy | None = None, grace: int = 30,
         spec: PodSpec | None = None) -> tuple[PodRunner, FakeHost]:
    init_specs = [Container(n, "busybox", restart_policy="Always" if n in sidecars else None)
                  for n in inits]
    spec = spec or PodSpec(containers=tuple(Container(n, "busybox") for n in apps),
                           init_containers=tuple(init_specs),
                           restart_policy=policy,  # type: ignore[arg-type]
                           termination_grace_period_seconds=grace)
    names = [c.name for c in (*spec.init_containers, *spec.containers)]
    sup = FakeHost(tmp_path)
    fx = FakeEffects(tmp_path)
    MADE.append(fx)
    runner = PodRunner(sup, Pod(name="p", spec=spec), dict.fromkeys(names, IMAGE), backoff,
                       effects=fx)
    return runner, sup


def fx(runner: PodRunner) -> FakeEffects:
    assert isinstance(runner.fx, FakeEffects)
    return runner.fx


def run_of(runner: PodRunner, name: str) -> ContainerRun:
    return next(r for r in runner.runs if r.name == name)


def exit_(runner: PodRunner, sup: FakeHost, name: str, code: int = 0,
          signo: int | None = None) -> None:
    run = run_of(runner, name)
    assert run.child is not None and run.running, f"{name} is not running"
    sup.watched.pop(run.child.pid)(ExitStatus(code, signo))


def settle(sup: FakeHost, seconds: float) -> None:
    """Let the fake clock run ``seconds`` forward, firing every deadline on the way."""
    end = sup.loop.clock.now() + seconds
    while True:
        nxt = sup.loop.deadlines.next_deadline()
        if nxt is None or nxt > end:
            break
        sup.loop.run_once()
    sup.loop.clock.jump_to(end)  # type: ignore[attr-defined]


def reasons(sup: FakeHost) -> list[str]:
    return [e.reason for e in sup.events]


# -- restart policy and back-off ----------------------------------------------------------


def test_always_restarts_at_once_then_backs_off_doubling(tmp_path: Path) -> None:
    runner, sup = make(tmp_path)
    runner.start()
    app = run_of(runner, "app")
    exit_(runner, sup, "app", 1)
    assert app.running and app.restart_count == 1  # the first restart is immediate
    assert app.last_state is not None and app.last_state.exit_code == 1
    waits, messages = [], []
    for _ in range(7):
        exit_(runner, sup, "app", 1)
        assert app.state.kind == "waiting" and app.state.reason == "CrashLoopBackOff"
        messages.append(app.state.message.split()[1])
        assert runner.row().status == "CrashLoopBackOff"
        assert runner.phase() == "Running"
        began = sup.loop.clock.now()
        while not app.running:
            sup.loop.run_once()
        waits.append(sup.loop.clock.now() - began)
    assert waits == [10, 20, 40, 80, 160, 300, 300]
    assert app.restart_count == 8
    assert messages == ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s", "5m0s"]
    assert reasons(sup).count("BackOff") == 7


def test_back_off_message_names_the_delay(tmp_path: Path) -> None:
    runner, sup = make(tmp_path)
    runner.start()
    exit_(runner, sup, "app", 1)
    exit_(runner, sup, "app", 1)
    app = run_of(runner, "app")
    assert app.state.message == "back-off 10s restarting failed container=app pod=p_default(uid-1)"
    backoff = [e for e in sup.events if e.reason == "BackOff"]
    assert backoff[-1].type == "Warning"
    assert backoff[-1].message == \
        "Back-off restarting failed container app in pod p_default(uid-1)"


def test_back_off_resets_after_ten_minutes_of_running(tmp_path: Path) -> None:
    runner, sup = make(tmp_path)
    runner.start()
    app = run_of(runner, "app")
    exit_(runner, sup, "app", 1)  # restarted at once
    exit_(runner, sup, "app", 1)  # 10 s
    settle(sup, 10)
    exit_(runner, sup, "app", 1)  # 20 s
    settle(sup, 20)
    assert app.running
    settle(sup, 601)  # a long healthy run
    exit_(runner, sup, "app", 1)
    assert app.running  # at once again
    exit_(runner, sup, "app", 1)
    assert app.state.reason == "CrashLoopBackOff"
    settle(sup, 9.9)
    assert not app.running
    settle(sup, 0.1)
    assert app.running  # and back to 10 s


def test_custom_back_off_and_off(tmp_path: Path) -> None:
    runner, sup = make(tmp_path, backoff=BackoffPolicy.parse("1s:2s"))
    runner.start()
    app = run_of(runner, "app")
    exit_(runner, sup, "app", 1)
    exit_(runner, sup, "app", 1)
    settle(sup, 1)
    assert app.running
    exit_(runner, sup, "app", 1)
    settle(sup, 1.9)
    assert not app.running
    settle(sup, 0.1)
    assert app.running
    runner, sup = make(tmp_path, backoff=BackoffPolicy.parse("0:0"))
    runner.start()
    for count in range(1, 20):
        exit_(runner, sup, "app", 1)
        assert run_of(runner, "app").restart_count == count
    assert "BackOff" not in reasons(sup)


def test_on_failure_restarts_only_failures(tmp_path: Path) -> None:
    runner, sup = make(tmp_path, "OnFailure")
    runner.start()
    exit_(runner, sup, "app", 2)
    assert run_of(runner, "app").restart_count == 1
    exit_(runner, sup, "app", 0)
    assert sup.finished == ["Succeeded"]
    assert run_of(runner, "app").state.reason == "Completed"


def test_never_fails_the_pod(tmp_path: Path) -> None:
    runner, sup = make(tmp_path, "Never", apps=("a", "b"))
    runner.start()
    exit_(runner, sup, "a", 0)
    assert sup.finished == []  # b still runs
    # kubectl: "Completed" with a container still running, but the pod not Ready
    assert runner.row().status == "NotReady" and runner.row().ready == "1/2"
    exit_(runner, sup, "b", 137, signal.SIGKILL)
    assert sup.finished == ["Failed"]
    assert runner.row().status == "Completed"  # the first container in spec order wins


def test_start_error_is_a_container_failure_with_back_off(tmp_path: Path) -> None:
    runner, sup = make(tmp_path)
    fx(runner).fail_spawn.add("app")
    runner.start()
    app = run_of(runner, "app")
    assert app.state.kind == "terminated" and app.state.reason == "StartError"
    assert app.state.exit_code == 128
    sup.loop.run_once()  # the decision comes from the loop
    sup.loop.run_once()  # retried at once, failed again
    assert app.restart_count == 1
    settle(sup, 0)
    assert app.state.reason == "CrashLoopBackOff"
    fx(runner).fail_spawn.clear()
    settle(sup, 10)
    assert app.running and app.restart_count == 2


# -- init containers and sidecars ----------------------------------------------------------


def test_init_containers_in_order_and_the_status_column(tmp_path: Path) -> None:
    runner, sup = make(tmp_path, inits=("i1", "i2"))
    runner.start()
    assert fx(runner).spawned == ["i1"] and runner.row().status == "Init:0/2"
    exit_(runner, sup, "i1", 0)
    assert fx(runner).spawned == ["i1", "i2"] and runner.row().status == "Init:1/2"
    exit_(runner, sup, "i2", 0)
    assert fx(runner).spawned == ["i1", "i2", "app"]
    assert runner.row().status == "Running" and runner.row().ready == "1/1"
    assert runner.phase() == "Running"


def test_failing_init_container_is_retried_and_the_app_waits(tmp_path: Path) -> None:
    runner, sup = make(tmp_path, inits=("check",))
    seen: list[str] = []
    sup.pod_changed = lambda r: seen.append(r.row().status)  # type: ignore[method-assign]
    runner.start()
    exit_(runner, sup, "check", 1)
    exit_(runner, sup, "check", 1)
    assert runner.row().status == "Init:CrashLoopBackOff"
    assert runner.phase() == "Pending"
    assert "Init:Error" in seen and seen.index("Init:Error") < seen.index("Init:CrashLoopBackOff")
    settle(sup, 10)
    exit_(runner, sup, "check", 0)
    assert fx(runner).spawned[-1] == "app" and "app" not in fx(runner).spawned[:-1]
    assert runner.row().restarts == 0  # after init, only apps and sidecars count


def test_failing_init_container_under_never_fails_the_pod(tmp_path: Path) -> None:
    runner, sup = make(tmp_path, "Never", inits=("check",))
    runner.start()
    exit_(runner, sup, "check", 3)
    assert sup.finished == ["Failed"]
    assert runner.failed_reason == "init container check exited with code 3"
    assert "app" not in fx(runner).spawned


def test_sidecar_gates_the_next_container_then_restarts_on_its_own(tmp_path: Path) -> None:
    runner, sup = make(tmp_path, "Never", inits=("proxy", "setup"), sidecars=("proxy",))
    runner.start()
    assert fx(runner).spawned == ["proxy", "setup"]  # started, so the next one goes
    exit_(runner, sup, "setup", 0)
    assert fx(runner).spawned[-1] == "app"
    row = runner.row()
    assert row.ready == "2/2" and row.status == "Running"
    exit_(runner, sup, "proxy", 1)  # a sidecar restarts whatever the pod's policy
    assert run_of(runner, "proxy").running and run_of(runner, "proxy").restart_count == 1
    assert fx(runner).spawned.count("app") == 1 and fx(runner).spawned.count("setup") == 1
    exit_(runner, sup, "app", 0)  # the pod is done; the sidecar does not keep it alive
    assert sup.finished == ["Succeeded"]
    assert fx(runner).signals == [("proxy", signal.SIGTERM)]


def test_stop_kills_apps_first_then_sidecars_in_reverse(tmp_path: Path) -> None:
    runner, sup = make(tmp_path, inits=("s1", "s2"), sidecars=("s1", "s2"),
                       apps=("a", "b"), grace=5)
    runner.start()
    stopped: list[bool] = []
    runner.stop(None, lambda: stopped.append(True))
    assert sorted(fx(runner).signals) == [("a", signal.SIGTERM), ("b", signal.SIGTERM)]
    exit_(runner, sup, "a", 143, signal.SIGTERM)
    exit_(runner, sup, "b", 143, signal.SIGTERM)
    assert fx(runner).signals[-1] == ("s2", signal.SIGTERM)
    exit_(runner, sup, "s2", 0)
    assert fx(runner).signals[-1] == ("s1", signal.SIGTERM)
    settle(sup, 5)
    assert fx(runner).signals[-1] == ("s1", signal.SIGKILL)  # out of the one grace period
    exit_(runner, sup, "s1", 137, signal.SIGKILL)
    assert stopped == [True]
    assert runner.sandbox is None


def test_no_restart_while_terminating(tmp_path: Path) -> None:
    runner, sup = make(tmp_path)
    runner.start()
    runner.stop(1, lambda: None)
    exit_(runner, sup, "app", 143, signal.SIGTERM)
    assert fx(runner).spawned == ["app"]


# -- the sandbox ---------------------------------------------------------------------------


def test_pause_death_kills_everything_and_starts_over(tmp_path: Path) -> None:
    runner, sup = make(tmp_path, inits=("init",), grace=3)
    runner.start()
    exit_(runner, sup, "init", 0)
    sandbox = runner.sandbox
    assert sandbox is not None
    sup.watched.pop(sandbox.pause.pid)(ExitStatus(137, 9))
    assert ("app", signal.SIGTERM) in fx(runner).signals
    assert "SandboxChanged" in reasons(sup)
    exit_(runner, sup, "app", 143, signal.SIGTERM)
    assert sandbox.attempt == 1
    assert fx(runner).spawned == ["init", "app", "init"]  # from the first init container
    assert run_of(runner, "init").restart_count == 1
    exit_(runner, sup, "init", 0)
    assert fx(runner).spawned[-1] == "app" and run_of(runner, "app").restart_count == 1


def test_pause_death_under_never_fails_the_pod(tmp_path: Path) -> None:
    runner, sup = make(tmp_path, "Never")
    runner.start()
    assert runner.sandbox is not None
    sup.watched.pop(runner.sandbox.pause.pid)(ExitStatus(137, 9))
    assert sup.finished == ["Failed"] and runner.failed_reason == "pod sandbox died"


def test_exit_status_reason() -> None:
    assert ExitStatus(0).reason == "Completed"
    assert ExitStatus(1).reason == "Error"
    assert ExitStatus(137, 9).reason == "Error"


def test_stop_during_a_probe_kill_keeps_its_sigkill(tmp_path: Path) -> None:
    # A liveness kill is under way (SIGTERM sent, SIGKILL due) when the pod is
    # deleted: the stop must not cancel that SIGKILL, or a process that ignores
    # SIGTERM would keep the pod from ever stopping.
    runner, sup = make(tmp_path, grace=30)
    runner.start()
    app = run_of(runner, "app")
    runner._kill(app, 2, "Container app failed liveness probe, will be restarted")
    stopped: list[bool] = []
    runner.stop(None, lambda: stopped.append(True))
    settle(sup, 2)
    assert fx(runner).signals == [("app", signal.SIGTERM), ("app", signal.SIGKILL)]
    exit_(runner, sup, "app", 137, signal.SIGKILL)
    assert stopped == [True]


# -- the restart path's shortcuts -----------------------------------------------------


def test_a_restart_reuses_the_launch_plan_until_an_input_changes(tmp_path: Path) -> None:
    runner, _sup = make(tmp_path)
    runner.start()
    app = run_of(runner, "app")
    first = runner._launch_plan(app)
    assert first == launch_plan(app.spec, IMAGE, "p", None)
    assert runner._launch_plan(app) is first
    assert runner.sandbox is not None
    runner.sandbox.hostname = "other"
    changed = runner._launch_plan(app)
    assert changed is not first and changed.env["HOSTNAME"] == "other"
    app.plan_inputs = None  # a plan someone else set (adopt.py): made again
    assert runner._launch_plan(app) is not changed


def test_run_dirs_as_ensure_dir_made_them(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        run_dir = tmp_path / "containers" / "app" / "0"
        effects.make_run_dirs(str(run_dir))
        effects.make_run_dirs(str(run_dir))  # a run directory left over: no error
        effects.make_run_dirs(str(run_dir.with_name("1")))  # a restart
    finally:
        os.umask(umask)
    modes = {p.relative_to(tmp_path).as_posix(): p.stat().st_mode & 0o7777
             for p in tmp_path.rglob("*")}
    assert modes == {"containers": 0o755, "containers/app": 0o755,
                     "containers/app/0": 0o755, "containers/app/1": 0o755,
                     **{f"containers/app/{n}/{sub}": 0o700 for n in (0, 1)
                        for sub in ("work", "merged")},
                     "containers/app/0/upper": 0o755, "containers/app/1/upper": 0o755}


def test_a_restart_lets_go_of_the_old_mount_namespace_after_the_new_run(
        tmp_path: Path) -> None:
    runner, sup = make(tmp_path)
    runner.start()
    assert fx(runner).holds.open() == [True]
    exit_(runner, sup, "app", 137, signal.SIGKILL)
    assert fx(runner).spawned == ["app", "app"]
    assert fx(runner).holds.open() == [True, True]  # the old one until this turn's work is done
    sup.loop.run_once()
    assert fx(runner).holds.open() == [False, True]


def test_an_exit_with_no_restart_lets_go_too(tmp_path: Path) -> None:
    runner, sup = make(tmp_path, "Never")
    runner.start()
    exit_(runner, sup, "app", 0)
    settle(sup, 1)
    assert fx(runner).holds.open() == [False]


def test_a_stop_lets_go_before_it_signals(tmp_path: Path) -> None:
    # no restart follows, so each process unmounts its own as it exits
    runner, _sup = make(tmp_path, apps=("a", "b"))
    runner.start()
    runner.stop(None, lambda: None)
    assert fx(runner).signals == [("a", signal.SIGTERM), ("b", signal.SIGTERM)]
    assert fx(runner).holds.open() == [False, False]


def test_teardown_lets_go_of_running_containers(tmp_path: Path) -> None:
    runner, _sup = make(tmp_path, apps=("a", "b"))
    runner.start()
    runner.teardown()
    assert fx(runner).holds.open() == [False, False]


def test_a_restart_reuses_the_binds_but_looks_at_a_host_path_again(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    spec = PodSpec(containers=(
        Container("plain", "busybox", volume_mounts=(VolumeMount("scratch", "/scratch"),)),
        Container("hosted", "busybox", volume_mounts=(VolumeMount("h", "/h"),))),
        volumes=(Volume("scratch", empty_dir=True), Volume("h", host_path=str(host))))
    runner, _sup = make(tmp_path, spec=spec)
    runner.start()
    plain, hosted = run_of(runner, "plain"), run_of(runner, "hosted")
    first = runner._run_binds(plain)
    assert first == runner._binds(plain.spec) and runner._run_binds(plain) is first
    assert runner._run_binds(hosted)[-1].is_file is False
    host.rmdir()
    host.write_text("now a file")
    assert runner._run_binds(hosted)[-1].is_file is True


def test_a_run_takes_the_directories_made_ahead(tmp_path: Path) -> None:
    app = tmp_path / "containers" / "app"
    spare = app / effects.SPARE_RUN_DIR
    effects.make_run_dirs(str(spare))
    effects.take_run_dirs(str(app / "1"), str(spare))
    assert sorted(os.listdir(app)) == ["1"], "the spare set became run 1"
    assert sorted(os.listdir(app / "1")) == ["merged", "upper", "work"]
    assert stat.S_IMODE(os.stat(app / "1" / "upper").st_mode) == 0o755
    # none made ahead: made now
    effects.take_run_dirs(str(app / "2"), str(spare))
    assert sorted(os.listdir(app / "2")) == ["merged", "upper", "work"]
    # a run directory already there with something in it is kept as it is
    (app / "2" / "upper" / "kept").write_text("x")
    effects.make_run_dirs(str(spare))
    effects.take_run_dirs(str(app / "2"), str(spare))
    assert (app / "2" / "upper" / "kept").read_text() == "x"
    assert spare.is_dir(), "the spare set waits for the next run"


# -- the record ---------------------------------------------------------------------------


def test_the_saved_record_is_what_adoption_needs_and_reads_back(tmp_path: Path) -> None:
    runner, sup = make(tmp_path, inits=("init",))
    runner.start()
    exit_(runner, sup, "init", 0)
    exit_(runner, sup, "app", 1)  # restarted at once: a lastState and a back-off entry
    settle(sup, 0)
    record = fx(runner).records[-1]
    app = record.containers["app"]
    assert list(record.containers) == ["init", "app"]
    assert app.running and app.process == ProcessRef(run_of(runner, "app").child.pid, 1.0)
    assert app.restart_count == 1 and app.last_exit_code == 1
    assert app.resume is not None and app.resume.backoff[0] == 10.0
    assert record.containers["init"].exit_code == 0
    assert record.pause.pid == runner.sandbox.pause.pid and record.pause.namespaces
    assert PodRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


# -- the pod network ---------------------------------------------------------------------


def test_a_pod_on_the_network_has_its_address_in_status_record_and_env(
        tmp_path: Path) -> None:
    from minipod.api.model import EnvVar, ObjectFieldSelector

    def field(path: str) -> ObjectFieldSelector:
        return ObjectFieldSelector(path)

    container = Container("app", "busybox", env=(
        EnvVar("IP", value_from=field("status.podIP")),
        EnvVar("IPS", value_from=field("status.podIPs")),
        EnvVar("HOST", value_from=field("status.hostIP")),
        EnvVar("NODE", value_from=field("spec.nodeName")),
        EnvVar("APP", value_from=field("metadata.labels['app']")),
        EnvVar("URL", "http://$(WEB_SERVICE_HOST)"),
    ))
    runner, sup = make(tmp_path, spec=PodSpec(containers=(container,)))
    sup.addresses = True
    sup.service_vars = {"WEB_SERVICE_HOST": "10.96.0.5"}
    runner.start()
    assert sup.attached == [("p", runner.net)] and runner.net is not None
    ip = runner.net.ip
    assert fx(runner).nets[0].ip == ip  # pause is given the address
    record = fx(runner).records[-1]
    assert record.network is not None and record.network.ip == ip
    assert record.api_object["status"]["podIP"] == ip
    assert record.api_object["status"]["podIPs"] == [{"ip": ip}]
    plan = run_of(runner, "app").plan
    assert plan is not None
    assert plan.env["IP"] == plan.env["IPS"] == ip
    assert plan.env["HOST"] == "192.0.2.10"  # the node's (FakeEffects.node_facts)
    assert plan.env["NODE"] == "node-1" and plan.env["APP"] == ""
    assert plan.env["URL"] == "http://10.96.0.5" and plan.env["WEB_SERVICE_HOST"] == "10.96.0.5"
    runner.stop(0, lambda: None)
    exit_(runner, sup, "app", 137, 9)
    assert sup.detached == [("p", sup.attached[0][1])] and runner.net is None
    assert record.network.veth == "mpuid100"  # the node's end of its veth pair


def test_service_links_off_and_a_failed_sandbox_gives_the_address_back(tmp_path: Path) -> None:
    runner, sup = make(tmp_path, spec=PodSpec(containers=(Container("app", "busybox"),),
                                              enable_service_links=False))
    sup.addresses = True
    sup.service_vars = {"WEB_SERVICE_HOST": "10.96.0.5"}
    runner.start()
    plan = run_of(runner, "app").plan
    assert plan is not None and "WEB_SERVICE_HOST" not in plan.env
    other, sup2 = make(tmp_path)
    sup2.addresses = True
    fx(other).fail_sandbox.add("p")
    with pytest.raises(Exception, match="start pause"):
        other.start()
    other.teardown()  # what Supervisor.start_pods does on a failed start
    assert [name for name, _ in sup2.detached] == ["p"] and other.net is None


def _timeline(runner: PodRunner, sup: FakeHost, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What reaches the host, in order: each container start, each event
    (daemon.log's line) and each pod_finished."""
    timeline: list[str] = []
    start, emit, finished = fx(runner).start_container, sup.emit, sup.pod_finished
    monkeypatch.setattr(fx(runner), "start_container",
                        lambda *a: (timeline.append("start"), start(*a))[1])
    monkeypatch.setattr(sup, "emit", lambda e: (timeline.append(e.reason), emit(e))[1])
    monkeypatch.setattr(sup, "pod_finished",
                        lambda r: (timeline.append("pod_finished"), finished(r))[1])
    return timeline


def test_an_exits_events_are_written_after_the_restart_it_leads_to(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Off a restart's path: the exit's events reach the host (daemon.log,
    events.jsonl) once the new run is spawned, in the order they were said,
    each with the time it was said at."""
    runner, sup = make(tmp_path)
    runner.start()
    timeline = _timeline(runner, sup, monkeypatch)
    before = len(sup.events)
    exit_(runner, sup, "app", 1)
    assert timeline == ["start", "Failed", "Pulled", "Created", "Started"]
    said = sup.events[before:]
    assert [e.timestamp for e in said] == sorted(e.timestamp for e in said)
    exit_(runner, sup, "app", 1)  # into CrashLoopBackOff: no start, written all the same
    assert timeline[5:] == ["Failed", "BackOff"]
    assert runner._held_events is None


@pytest.mark.parametrize("policy, code, phase", [("Never", 3, "Failed"),
                                                 ("OnFailure", 0, "Succeeded")])
def test_a_finished_pods_exit_event_is_written_before_it_is_finished(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str, code: int,
        phase: str) -> None:
    """No restart follows, so nothing is held: the exit's event is out before
    the pod is finished (and removed), which a reader of its phase relies on
    (the guest's test_testing::test_waits_on_probes_and_phases failed when it
    was held)."""
    runner, sup = make(tmp_path, policy)
    runner.start()
    timeline = _timeline(runner, sup, monkeypatch)
    exit_(runner, sup, "app", code)
    assert timeline[:2] == ["Completed" if code == 0 else "Failed", "pod_finished"]
    assert sup.finished == [phase]


def test_a_failed_restart_writes_the_exits_events_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A restart whose start fails (StartError) still writes the exit's
    events, before the start's own failure, within the exit's handling."""
    runner, sup = make(tmp_path)
    runner.start()
    timeline = _timeline(runner, sup, monkeypatch)

    def refuse(*_a: object) -> None:
        timeline.append("start")
        raise StartError("no such file", 2)

    monkeypatch.setattr(fx(runner), "start_container", refuse)
    exit_(runner, sup, "app", 1)
    assert timeline == ["start", "Failed", "Pulled", "Failed"]
    assert runner._held_events is None
