"""Pod and container status as the API and kubectl show them.

Pure functions over plain records, so the STATUS, READY and RESTARTS columns
are unit-tested against kubectl's own rules (printers.go printPod) and the
phase against the kubelet's (kubelet_pods.go getPhase).
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Sequence

from minipod.api.frozen import frozen


@frozen
class State:
    """A v1.ContainerState: exactly one of waiting, running or terminated."""

    kind: str  # "waiting", "running" or "terminated"
    reason: str = ""
    message: str = ""
    exit_code: int = 0
    signal: int = 0
    started_at: float | None = None  # wall clock
    finished_at: float | None = None

    def to_api(self) -> dict[str, object]:
        if self.kind == "waiting":
            body: dict[str, object] = {"reason": self.reason} if self.reason else {}
            if self.message:
                body["message"] = self.message
            return {"waiting": body}
        if self.kind == "running":
            return {"running": {"startedAt": rfc3339(self.started_at)}}
        body = {"exitCode": self.exit_code, "reason": self.reason,
                "startedAt": rfc3339(self.started_at), "finishedAt": rfc3339(self.finished_at)}
        if self.signal:
            body["signal"] = self.signal
        if self.message:
            body["message"] = self.message
        return {"terminated": body}


@frozen
class ContainerStatus:
    """A v1.ContainerStatus, plus whether its container is a sidecar."""

    name: str
    state: State
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    last_state: State | None = None  # always a terminated one
    sidecar: bool = False

    def to_api(self) -> dict[str, object]:
        return {
            "name": self.name, "ready": self.ready, "started": self.started,
            "restartCount": self.restart_count, "state": self.state.to_api(),
            "lastState": self.last_state.to_api() if self.last_state else {},
        }


def rfc3339(when: float | None) -> str | None:
    if when is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


_RFC3339_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?"
                         r"(Z|[+-]\d\d:\d\d)")


def parse_rfc3339(text: object) -> float | None:
    """An RFC 3339 time (the API's, or kubectl's --since-time) as a Unix time;
    None if it is not one."""
    if not isinstance(text, str) or not text:
        return None
    match = _RFC3339_RE.fullmatch(text)
    if match is None:
        return None
    fields = tuple(int(g) for g in match.groups()[:6])
    fraction = float(match.group(7)) if match.group(7) else 0.0
    zone = match.group(8)
    offset = 0 if zone == "Z" else (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60) * (
        -1 if zone[0] == "-" else 1)
    return calendar.timegm(fields) + fraction - offset


# -- phase (kubelet getPhase) ----------------------------------------------------


def pod_phase(inits: Sequence[ContainerStatus], apps: Sequence[ContainerStatus],
              restart_policy: str) -> str:
    """Pending, Running, Succeeded or Failed, by the kubelet's rules."""
    pending_init, failed_init = _regular_init_counts(inits)
    pending_sidecars = sum(1 for s in inits if s.sidecar and _sidecar_pending(s))
    running, waiting, stopped, succeeded = _app_counts(apps)
    apps_ran = running + stopped
    # A running sidecar counts as running: the pod stays Running until its
    # sidecars have stopped (pod.py computes the final phase without them).
    running += sum(1 for s in inits if s.sidecar and s.state.kind == "running")
    if failed_init and restart_policy == "Never":
        return "Failed"
    if pending_init or (pending_sidecars and apps_ran == 0) or waiting:
        return "Pending"
    if running:
        return "Running"
    if not stopped:
        return "Pending"
    if restart_policy == "Always":
        return "Running"  # the containers are being restarted
    if stopped == succeeded:
        return "Succeeded"
    return "Failed" if restart_policy == "Never" else "Running"


def _regular_init_counts(inits: Sequence[ContainerStatus]) -> tuple[int, int]:
    """(pending, failed) regular init containers; a waiting one that failed
    before counts as failed."""
    pending = failed = 0
    for status in inits:
        if status.sidecar:
            continue
        state = status.state
        if state.kind == "terminated":
            failed += state.exit_code != 0
        elif state.kind == "waiting" and status.last_state is not None:
            failed += status.last_state.exit_code != 0
        else:
            pending += 1
    return pending, failed


def _sidecar_pending(status: ContainerStatus) -> bool:
    if status.state.kind == "running":
        return not status.started
    return status.state.kind == "waiting" and status.last_state is None


def _app_counts(apps: Sequence[ContainerStatus]) -> tuple[int, int, int, int]:
    running = waiting = stopped = succeeded = 0
    for status in apps:
        state = status.state
        if state.kind == "running":
            running += 1
        elif state.kind == "terminated":
            stopped += 1
            succeeded += state.exit_code == 0
        elif status.last_state is not None:
            stopped += 1
        else:
            waiting += 1
    return running, waiting, stopped, succeeded


# -- kubectl get pods columns (printers.go printPod) -----------------------------


@frozen
class PodRow:
    ready: str  # "1/2"
    status: str  # "Running", "Init:0/2", "CrashLoopBackOff", ...
    restarts: int
    last_restart: float | None  # wall clock of the latest lastState.finishedAt

    def restarts_column(self, now: float) -> str:
        if self.restarts and self.last_restart is not None:
            return f"{self.restarts} ({human_age(now - self.last_restart)} ago)"
        return str(self.restarts)


def pod_row(phase: str, inits: Sequence[ContainerStatus], apps: Sequence[ContainerStatus],
            terminating: bool = False, reason: str = "") -> PodRow:
    total = len(apps) + sum(1 for s in inits if s.sidecar)
    init_status, ready, seen = _init_column(inits)
    # kubectl counts only the init containers its walk reached (up to the first
    # incomplete one), and switches to the app containers once the pod is
    # Initialized. The kubelet keeps that condition True once any app container
    # has run (HasAnyRegularContainerStarted), so a sidecar restarting later
    # shows Init:... while READY and RESTARTS count the app containers.
    reached = inits[:seen]
    initialized = any(s.state.kind in ("running", "terminated") for s in apps)
    if init_status is not None and not initialized:  # every init container counts
        status = init_status
        restarts = sum(s.restart_count for s in reached)
        last = _latest(reached)
    else:
        sidecars = [s for s in reached if s.sidecar]
        restarts = sum(s.restart_count for s in [*sidecars, *apps])
        last = _latest([*sidecars, *apps])
        app_status, running_ready = _app_column(apps)
        ready += running_ready
        status = app_status or init_status or reason or phase
        if status == "Completed" and running_ready:
            status = "Running" if ready == total else "NotReady"
    if terminating and phase not in ("Succeeded", "Failed"):
        status = "Terminating"
    return PodRow(f"{ready}/{total}", status, restarts, last)


def _init_column(inits: Sequence[ContainerStatus]) -> tuple[str | None, int, int]:
    """The Init:... status of a pod still initialising (None once it is not),
    how many started sidecars before that point are ready, and how many init
    containers the walk reached (the incomplete one included)."""
    ready = 0
    for index, s in enumerate(inits):
        if s.state.kind == "terminated" and s.state.exit_code == 0:
            continue
        if s.sidecar and s.started:
            ready += s.ready
            continue
        if s.state.kind == "terminated":
            status = "Init:" + (s.state.reason or _exit_text(s.state))
        elif s.state.kind == "waiting" and s.state.reason not in ("", "PodInitializing"):
            status = "Init:" + s.state.reason
        else:
            status = f"Init:{index}/{len(inits)}"
        return status, ready, index + 1
    return None, ready, len(inits)


def _app_column(apps: Sequence[ContainerStatus]) -> tuple[str | None, int]:
    """The reason of the first app container (in spec order) that has one,
    and how many are running and ready."""
    status, ready = None, 0
    for s in reversed(apps):  # walked backwards, so the first one wins
        if s.state.kind == "waiting" and s.state.reason:
            status = s.state.reason
        elif s.state.kind == "terminated":
            status = s.state.reason or _exit_text(s.state)
        elif s.ready and s.state.kind == "running":
            ready += 1
    return status, ready


def _exit_text(state: State) -> str:
    return f"Signal:{state.signal}" if state.signal else f"ExitCode:{state.exit_code}"


def _latest(statuses: Sequence[ContainerStatus]) -> float | None:
    """The latest lastState.finishedAt: RESTARTS says "(42s ago)" from it."""
    times = [s.last_state.finished_at for s in statuses
             if s.last_state is not None and s.last_state.finished_at is not None]
    return max(times, default=None)


def human_age(seconds: float) -> str:
    """kubectl's short duration (duration.HumanDuration): 42s, 5m10s, 3h, 12d."""
    s = int(seconds)  # truncated toward zero, as Go's int(d.Seconds())
    if s < -1:
        return "<invalid>"
    if s < 0:  # up to 2 s in the future is clock skew: "almost now"
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years, rest = divmod(days, 365)
    return f"{years}y{rest}d" if rest and days < 365 * 8 else f"{years}y"
