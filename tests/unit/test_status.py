"""minipod.api.status: pod phase (kubelet getPhase) and the kubectl get pods columns
(printers.go printPod), over hand-built container statuses.

Each expected value is what the Go code gives for the same statuses; the rules
are in K8S-SEMANTICS.md sections 3 and 4.
"""

from __future__ import annotations

import pytest

from minipod.api.status import ContainerStatus, PodRow, State, human_age, pod_phase, pod_row

T0 = 1_700_000_000.0  # a wall-clock time: 2023-11-14T22:13:20Z


def waiting(reason: str = "") -> State:
    return State("waiting", reason)


def running(started_at: float = T0) -> State:
    return State("running", started_at=started_at)


def exited(code: int = 0, reason: str | None = None, signal: int = 0,
           finished_at: float = T0 + 10) -> State:
    """A terminated state; the reason defaults to the containerd one (Completed/Error)."""
    if reason is None:
        reason = "Completed" if code == 0 else "Error"
    return State("terminated", reason, exit_code=code, signal=signal,
                 started_at=T0, finished_at=finished_at)


def app(state: State, *, ready: bool = False, restarts: int = 0,
        last: State | None = None, name: str = "app") -> ContainerStatus:
    started = state.kind == "running"
    return ContainerStatus(name, state, ready=ready and started, started=started,
                           restart_count=restarts, last_state=last)


def init(state: State, *, restarts: int = 0, last: State | None = None,
         name: str = "init") -> ContainerStatus:
    return ContainerStatus(name, state, ready=state.kind == "terminated" and state.exit_code == 0,
                           restart_count=restarts, last_state=last)


def sidecar(state: State, *, started: bool | None = None, ready: bool = False,
            restarts: int = 0, last: State | None = None,
            name: str = "proxy") -> ContainerStatus:
    if started is None:
        started = state.kind == "running"
    return ContainerStatus(name, state, ready=ready, started=started, restart_count=restarts,
                           last_state=last, sidecar=True)


POLICIES = ("Always", "OnFailure", "Never")
CRASHED = exited(1)  # a last state


# ---------------------------------------------------------------------------
# pod_phase: kubelet_pods.go getPhase
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_phase_pending_until_a_container_runs(policy: str) -> None:
    assert pod_phase([], [app(waiting("ContainerCreating"))], policy) == "Pending"
    assert pod_phase([], [app(running())], policy) == "Running"


@pytest.mark.parametrize("policy", POLICIES)
def test_phase_pending_while_a_regular_init_container_has_not_succeeded(policy: str) -> None:
    apps = [app(waiting("PodInitializing"))]
    assert pod_phase([init(waiting("PodInitializing"))], apps, policy) == "Pending"
    assert pod_phase([init(running())], apps, policy) == "Pending"
    assert pod_phase([init(exited(0)), init(running(), name="i2")], apps, policy) == "Pending"
    # all done, but the app has not started: still Pending
    assert pod_phase([init(exited(0))], apps, policy) == "Pending"


def test_phase_failed_init_container_fails_the_pod_only_under_never() -> None:
    apps = [app(waiting("PodInitializing"))]
    assert pod_phase([init(exited(1))], apps, "Never") == "Failed"
    # failing again after a restart (waiting, with the failure as lastState)
    again = init(waiting("CrashLoopBackOff"), restarts=1, last=CRASHED)
    assert pod_phase([again], apps, "Never") == "Failed"
    for policy in ("Always", "OnFailure"):  # it will be retried
        assert pod_phase([init(exited(1))], apps, policy) == "Pending"
        assert pod_phase([again], apps, policy) == "Pending"


def test_phase_init_waiting_after_a_success_is_not_a_failure() -> None:
    # lastState exit 0, e.g. after a sandbox re-creation: neither failed nor pending
    redo = init(waiting("PodInitializing"), restarts=1, last=exited(0))
    assert pod_phase([redo], [app(running())], "Never") == "Running"


@pytest.mark.parametrize("policy", POLICIES)
def test_phase_pending_while_any_app_container_never_started(policy: str) -> None:
    apps = [app(running()), app(waiting("ContainerCreating"), name="b")]
    assert pod_phase([], apps, policy) == "Pending"


def test_phase_all_app_containers_stopped() -> None:
    ok, bad = app(exited(0)), app(exited(2), name="b")
    # Always: they are being restarted
    assert pod_phase([], [ok], "Always") == "Running"
    assert pod_phase([], [ok, bad], "Always") == "Running"
    # all exited 0: done
    assert pod_phase([], [ok], "OnFailure") == "Succeeded"
    assert pod_phase([], [ok, app(exited(0), name="b")], "Never") == "Succeeded"
    # a failure: Never gives up, OnFailure restarts it
    assert pod_phase([], [ok, bad], "Never") == "Failed"
    assert pod_phase([], [ok, bad], "OnFailure") == "Running"


def test_phase_a_container_in_back_off_counts_as_stopped() -> None:
    backing_off = app(waiting("CrashLoopBackOff"), restarts=3, last=CRASHED)
    assert pod_phase([], [backing_off], "Always") == "Running"
    assert pod_phase([], [backing_off], "OnFailure") == "Running"
    # one running, one backing off
    assert pod_phase([], [app(running(), name="b"), backing_off], "Always") == "Running"


def test_phase_pending_while_a_sidecar_has_not_started() -> None:
    apps = [app(waiting("PodInitializing"))]
    done = init(exited(0), name="setup")
    assert pod_phase([done, sidecar(waiting("PodInitializing"))], apps, "Always") == "Pending"
    # running, but its startupProbe has not passed yet
    starting = sidecar(running(), started=False)
    assert pod_phase([done, starting], apps, "Always") == "Pending"
    # started, but the app is still being created
    started = sidecar(running(), started=True, ready=True)
    assert pod_phase([done, started], [app(waiting("ContainerCreating"))], "Always") == "Pending"
    assert pod_phase([done, started], [app(running())], "Always") == "Running"


@pytest.mark.parametrize("policy", POLICIES)
def test_phase_a_sidecar_restarting_after_init_does_not_make_the_pod_pending(policy: str) -> None:
    # kubelet: pending restartable inits count only while no regular container has started
    apps = [app(running())]
    crashed = sidecar(waiting("CrashLoopBackOff"), restarts=2, last=CRASHED)
    assert pod_phase([crashed], apps, policy) == "Running"
    restarting = sidecar(running(), started=False, restarts=2, last=CRASHED)
    assert pod_phase([restarting], apps, policy) == "Running"


def test_phase_a_sidecar_failure_never_fails_the_pod() -> None:
    crashed = sidecar(waiting("CrashLoopBackOff"), restarts=1, last=CRASHED)
    assert pod_phase([crashed], [app(running())], "Never") == "Running"


def test_phase_succeeded_ignores_stopped_sidecars() -> None:
    killed = sidecar(exited(143, reason="Error"), started=False)
    assert pod_phase([init(exited(0)), killed], [app(exited(0))], "Never") == "Succeeded"
    assert pod_phase([killed], [app(exited(1))], "Never") == "Failed"


@pytest.mark.parametrize(("code", "policy"), [(0, "Never"), (1, "Never"), (0, "OnFailure")])
def test_phase_running_sidecar_keeps_the_pod_running_after_the_apps_exit(
        code: int, policy: str) -> None:
    proxy = sidecar(running(), started=True, ready=True)
    assert pod_phase([proxy], [app(exited(code))], policy) == "Running"


# ---------------------------------------------------------------------------
# pod_row: STATUS
# ---------------------------------------------------------------------------


def test_status_of_a_new_pod() -> None:
    assert pod_row("Pending", [], [app(waiting("ContainerCreating"))]).status == "ContainerCreating"
    # no waiting reason: the phase
    assert pod_row("Pending", [], [app(waiting())]).status == "Pending"


def test_status_init_i_of_n_counts_every_init_container() -> None:
    apps = [app(waiting("PodInitializing"))]
    two = [init(waiting("PodInitializing"), name="a"), init(waiting("PodInitializing"), name="b")]
    assert pod_row("Pending", two, apps).status == "Init:0/2"
    two = [init(running(), name="a"), init(waiting("PodInitializing"), name="b")]
    assert pod_row("Pending", two, apps).status == "Init:0/2"
    two = [init(exited(0), name="a"), init(running(), name="b")]
    assert pod_row("Pending", two, apps).status == "Init:1/2"
    # a waiting init container with no reason at all
    two = [init(exited(0), name="a"), init(waiting(), name="b")]
    assert pod_row("Pending", two, apps).status == "Init:1/2"


def test_status_init_n_includes_sidecars_and_skips_started_ones() -> None:
    apps = [app(waiting("PodInitializing"))]
    setup = init(exited(0), name="setup")
    starting = sidecar(running(), started=False)
    assert pod_row("Pending", [setup, starting], apps).status == "Init:1/2"
    started = sidecar(running(), started=True, ready=True)
    later = init(running(), name="migrate")
    assert pod_row("Pending", [setup, started, later], apps).status == "Init:2/3"


@pytest.mark.parametrize(("state", "expected"), [
    (exited(1), "Init:Error"),
    (exited(137, reason="OOMKilled"), "Init:OOMKilled"),
    (exited(3, reason=""), "Init:ExitCode:3"),
    (exited(137, reason="", signal=9), "Init:Signal:9"),
])
def test_status_failed_init_container(state: State, expected: str) -> None:
    inits = [init(exited(0), name="a"), init(state, name="b"), init(waiting("PodInitializing"))]
    assert pod_row("Pending", inits, [app(waiting("PodInitializing"))]).status == expected


def test_status_init_waiting_reason() -> None:
    backing_off = init(waiting("CrashLoopBackOff"), restarts=2, last=CRASHED)
    row = pod_row("Pending", [backing_off], [app(waiting("PodInitializing"))])
    assert row.status == "Init:CrashLoopBackOff"
    pulling = init(waiting("ImagePullBackOff"))
    assert pod_row("Pending", [pulling], [app(waiting("PodInitializing"))]).status == \
        "Init:ImagePullBackOff"


def test_status_init_failed_for_good_under_never() -> None:
    row = pod_row("Failed", [init(exited(1))], [app(waiting("PodInitializing"))])
    assert row.status == "Init:Error"


def test_status_pod_initializing_after_the_init_containers() -> None:
    row = pod_row("Pending", [init(exited(0))], [app(waiting("PodInitializing"))])
    assert row.status == "PodInitializing"


def test_status_running_and_ready_column() -> None:
    row = pod_row("Running", [], [app(running(), ready=True)])
    assert (row.ready, row.status, row.restarts) == ("1/1", "Running", 0)
    # not ready yet: still Running (the phase), READY says it
    row = pod_row("Running", [], [app(running(), ready=False)])
    assert (row.ready, row.status) == ("0/1", "Running")


def test_status_completed() -> None:
    row = pod_row("Succeeded", [], [app(exited(0))])
    assert (row.ready, row.status) == ("0/1", "Completed")


def test_status_completed_with_a_ready_container_still_running_is_not_ready() -> None:
    # printPod: "Completed" but one container running and ready -> Running if the
    # PodReady condition is True, else NotReady; a completed container is never ready.
    row = pod_row("Running", [], [app(exited(0), name="job"), app(running(), ready=True)])
    assert (row.ready, row.status) == ("1/2", "NotReady")
    # running but not ready: hasRunning is false, the Completed stays
    row = pod_row("Running", [], [app(exited(0), name="job"), app(running(), ready=False)])
    assert row.status == "Completed"


@pytest.mark.parametrize(("state", "expected"), [
    (exited(1), "Error"),
    (exited(137, reason="OOMKilled"), "OOMKilled"),
    (exited(2, reason=""), "ExitCode:2"),
    (exited(143, reason="", signal=15), "Signal:15"),
])
def test_status_terminated_app_container(state: State, expected: str) -> None:
    assert pod_row("Failed", [], [app(state)]).status == expected


def test_status_crash_loop_back_off_while_the_phase_is_running() -> None:
    backing_off = app(waiting("CrashLoopBackOff"), restarts=4, last=CRASHED)
    row = pod_row("Running", [], [backing_off])
    assert (row.ready, row.status, row.restarts) == ("0/1", "CrashLoopBackOff", 4)


def test_status_the_first_app_container_in_spec_order_wins() -> None:
    a = app(waiting("CrashLoopBackOff"), last=CRASHED, name="a")
    b = app(exited(1), name="b")
    c = app(running(), ready=True, name="c")
    assert pod_row("Running", [], [a, b, c]).status == "CrashLoopBackOff"
    assert pod_row("Running", [], [b, a, c]).status == "Error"
    assert pod_row("Running", [], [c, b, a]).status == "Error"


def test_status_pod_reason_replaces_the_phase() -> None:
    row = pod_row("Failed", [], [app(running(), ready=True)], reason="Evicted")
    assert row.status == "Evicted"
    # a container reason still wins over it
    assert pod_row("Failed", [], [app(exited(1))], reason="Evicted").status == "Error"


def test_status_terminating_unless_the_phase_is_terminal() -> None:
    apps = [app(running(), ready=True)]
    assert pod_row("Running", [], apps, terminating=True).status == "Terminating"
    assert pod_row("Pending", [init(running())], [app(waiting("PodInitializing"))],
                   terminating=True).status == "Terminating"
    assert pod_row("Succeeded", [], [app(exited(0))], terminating=True).status == "Completed"
    assert pod_row("Failed", [], [app(exited(1))], terminating=True).status == "Error"


def test_status_sidecar_restarting_after_init_shows_init_reason() -> None:
    # printPod walks the init statuses first; a crashed sidecar stops the walk.
    # The pod is Initialized (an app container has run), so READY and RESTARTS
    # still count the app containers.
    setup = init(exited(0), restarts=5, name="setup")
    proxy = sidecar(waiting("CrashLoopBackOff"), restarts=2,
                    last=exited(1, finished_at=T0 + 50))
    main = app(running(), ready=True, restarts=1, last=exited(1, finished_at=T0 + 20))
    row = pod_row("Running", [setup, proxy], [main])
    assert row == PodRow("1/2", "Init:CrashLoopBackOff", 3, T0 + 50)
    # restarted, its startupProbe not passed yet
    proxy = sidecar(running(), started=False, restarts=3,
                    last=exited(1, finished_at=T0 + 60))
    row = pod_row("Running", [setup, proxy], [main])
    assert row == PodRow("1/2", "Init:1/2", 4, T0 + 60)
    # an app container's own reason still wins
    assert pod_row("Running", [setup, proxy], [app(exited(1))]).status == "Error"
    # ...but not once it waits to restart: no app container is running or
    # terminated, so the pod is not Initialized and the init walk decides
    crashing = app(waiting("CrashLoopBackOff"), restarts=1, last=CRASHED)
    row = pod_row("Running", [setup, proxy], [crashing])
    assert row == PodRow("0/2", "Init:1/2", 8, T0 + 60)  # setup's 5 + proxy's 3


# ---------------------------------------------------------------------------
# pod_row: READY and RESTARTS
# ---------------------------------------------------------------------------


def test_ready_counts_started_and_ready_sidecars() -> None:
    setup = init(exited(0), name="setup")
    main = app(running(), ready=True)
    ready_proxy = sidecar(running(), ready=True)
    row = pod_row("Running", [setup, ready_proxy], [main])
    assert (row.ready, row.status) == ("2/2", "Running")
    unready_proxy = sidecar(running(), ready=False)
    assert pod_row("Running", [setup, unready_proxy], [main]).ready == "1/2"
    # while initialising: the started sidecars before the current init container
    later = init(running(), name="migrate")
    row = pod_row("Pending", [setup, ready_proxy, later], [app(waiting("PodInitializing"))])
    assert (row.ready, row.status) == ("1/2", "Init:2/3")


def test_ready_total_counts_apps_and_sidecars_not_regular_inits() -> None:
    inits = [init(exited(0), name="a"), sidecar(running(), ready=True), init(exited(0), name="b")]
    apps = [app(running(), ready=True, name="x"), app(running(), ready=True, name="y")]
    assert pod_row("Running", inits, apps).ready == "3/3"


def test_restarts_while_initialising_sum_every_init_container() -> None:
    first = init(exited(0), restarts=2, last=exited(1, finished_at=T0 + 5), name="a")
    second = init(waiting("CrashLoopBackOff"), restarts=3,
                  last=exited(1, finished_at=T0 + 40), name="b")
    row = pod_row("Pending", [first, second], [app(waiting("PodInitializing"))])
    assert (row.status, row.restarts, row.last_restart) == ("Init:CrashLoopBackOff", 5, T0 + 40)


def test_restarts_while_initialising_stop_at_the_first_incomplete_init() -> None:
    # printPod breaks out of its walk there: later init containers (which kept a
    # count from before a sandbox re-creation) are not summed
    current = init(running(), restarts=1, last=exited(0, finished_at=T0 + 5), name="a")
    later = init(waiting("PodInitializing"), restarts=7,
                 last=exited(0, finished_at=T0 + 9), name="b")
    row = pod_row("Pending", [current, later], [app(waiting("PodInitializing"))])
    assert (row.status, row.restarts, row.last_restart) == ("Init:0/2", 1, T0 + 5)


def test_restarts_after_init_count_sidecars_and_apps_only() -> None:
    setup = init(exited(0), restarts=4, last=exited(1, finished_at=T0 + 90), name="setup")
    proxy = sidecar(running(), ready=True, restarts=1, last=exited(1, finished_at=T0 + 30))
    main = app(running(), ready=True, restarts=2, last=exited(1, finished_at=T0 + 60))
    row = pod_row("Running", [setup, proxy], [main])
    assert (row.restarts, row.last_restart) == (3, T0 + 60)  # the setup init is left out


def test_no_restarts_no_last_restart() -> None:
    row = pod_row("Running", [], [app(running(), ready=True)])
    assert (row.restarts, row.last_restart) == (0, None)


def test_restarts_column() -> None:
    assert PodRow("1/1", "Running", 3, T0).restarts_column(T0 + 42) == "3 (42s ago)"
    assert PodRow("1/1", "Running", 1, T0).restarts_column(T0 + 150) == "1 (2m30s ago)"
    assert PodRow("1/1", "Running", 12, T0).restarts_column(T0 + 3 * 3600) == "12 (3h ago)"
    assert PodRow("1/1", "Running", 0, None).restarts_column(T0) == "0"
    # a count without a lastState time (kubectl: lastRestartDate.IsZero())
    assert PodRow("1/1", "Running", 2, None).restarts_column(T0) == "2"


def test_restarts_column_from_a_pod_row() -> None:
    backing_off = app(waiting("CrashLoopBackOff"), restarts=3, last=exited(1, finished_at=T0))
    assert pod_row("Running", [], [backing_off]).restarts_column(T0 + 42.9) == "3 (42s ago)"


# ---------------------------------------------------------------------------
# human_age: apimachinery duration.HumanDuration
# ---------------------------------------------------------------------------

MINUTE, HOUR, DAY = 60, 3600, 86400


@pytest.mark.parametrize(("seconds", "expected"), [
    (-5, "<invalid>"),
    (-2, "<invalid>"),
    (-1.9, "0s"),  # int() truncates toward zero: up to 2 s of skew is "now"
    (-1, "0s"),
    (0, "0s"),
    (0.99, "0s"),
    (59, "59s"),
    (119.9, "119s"),
    (2 * MINUTE, "2m"),
    (2 * MINUTE + 1, "2m1s"),
    (10 * MINUTE - 1, "9m59s"),
    (10 * MINUTE, "10m"),
    (10 * MINUTE + 59, "10m"),
    (3 * HOUR - 1, "179m"),
    (3 * HOUR, "3h"),
    (3 * HOUR + MINUTE + 59, "3h1m"),
    (8 * HOUR - 1, "7h59m"),
    (8 * HOUR, "8h"),
    (48 * HOUR - 1, "47h"),
    (48 * HOUR, "2d"),
    (49 * HOUR, "2d1h"),
    (8 * DAY - 1, "7d23h"),
    (8 * DAY, "8d"),
    (730 * DAY - 1, "729d"),
    (730 * DAY, "2y"),
    (731 * DAY, "2y1d"),
    (8 * 365 * DAY - 1, "7y364d"),
    (8 * 365 * DAY, "8y"),
    (9 * 365 * DAY + 200 * DAY, "9y"),
])
def test_human_age_matches_kubectl(seconds: float, expected: str) -> None:
    assert human_age(seconds) == expected


# ---------------------------------------------------------------------------
# to_api
# ---------------------------------------------------------------------------


def test_state_to_api() -> None:
    assert waiting().to_api() == {"waiting": {}}
    assert State("waiting", "CrashLoopBackOff", "back-off 10s").to_api() == {
        "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}
    assert running(T0).to_api() == {"running": {"startedAt": "2023-11-14T22:13:20Z"}}
    assert exited(0, finished_at=T0 + 61).to_api() == {"terminated": {
        "exitCode": 0, "reason": "Completed",
        "startedAt": "2023-11-14T22:13:20Z", "finishedAt": "2023-11-14T22:14:21Z"}}


def test_terminated_to_api_carries_signal_and_message_when_set() -> None:
    state = State("terminated", "Error", "oops", exit_code=137, signal=9,
                  started_at=T0, finished_at=None)
    assert state.to_api() == {"terminated": {
        "exitCode": 137, "reason": "Error", "signal": 9, "message": "oops",
        "startedAt": "2023-11-14T22:13:20Z", "finishedAt": None}}


def test_container_status_to_api() -> None:
    status = ContainerStatus("app", running(T0), ready=True, started=True, restart_count=2,
                             last_state=exited(1, finished_at=T0))
    assert status.to_api() == {
        "name": "app", "ready": True, "started": True, "restartCount": 2,
        "state": {"running": {"startedAt": "2023-11-14T22:13:20Z"}},
        "lastState": {"terminated": {
            "exitCode": 1, "reason": "Error",
            "startedAt": "2023-11-14T22:13:20Z", "finishedAt": "2023-11-14T22:13:20Z"}},
    }
    fresh = ContainerStatus("app", waiting("ContainerCreating"))
    assert fresh.to_api() == {
        "name": "app", "ready": False, "started": False, "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
