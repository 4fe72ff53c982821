"""CrashLoopBackOff: the kubelet's restart back-off for one container.

The kubelet keeps a flowcontrol.Backoff entry per container and asks it, when
the container has exited, whether it is still "in back-off since" the exit
(kuberuntime_manager.go doBackOff). The first exit finds no entry: the
container restarts at once and the entry starts at the initial delay. Each
later exit must wait until FinishedAt + delay; the restart then doubles the
delay, up to the maximum. An entry whose last restart is more than ten minutes
older than the new exit is expired: the container ran long enough, and the
back-off starts over. So the delays are 0, 10, 20, 40, 80, 160, 300, 300... s.
"""

from __future__ import annotations

import re

from minipod.api.errors import FieldError, SpecError
from minipod.api.frozen import frozen

INITIAL = 10.0  # initialCrashLoopBackOff
MAXIMUM = 300.0  # MaxContainerBackOff
RESET_AFTER = 600.0  # the kubelet's fixed expiry (kubelet.go, HasExpiredFunc)


@frozen
class BackoffPolicy:
    initial: float = INITIAL
    maximum: float = MAXIMUM
    reset_after: float = RESET_AFTER

    @property
    def off(self) -> bool:
        return self.maximum <= 0

    @classmethod
    def parse(cls, text: str) -> BackoffPolicy:
        """``INITIAL:MAX`` with durations like 10s, 1m, 500ms or 0; "0:0" turns it off."""
        parts = text.split(":")
        if len(parts) != 2:
            raise _usage(text, "expected INITIAL:MAX, e.g. 1s:60s")
        initial, maximum = (_seconds(p, text) for p in parts)
        if maximum > 0 and initial <= 0:
            raise _usage(text, "the initial back-off must be > 0 unless both are 0")
        # KubeletCrashLoopBackOffMax: a maximum below the initial lowers the initial.
        return cls(min(initial, maximum), maximum)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(part: str, text: str) -> float:
    match = _DURATION.fullmatch(part.strip())
    if match is None:
        raise _usage(text, f"{part!r} is not a duration (use e.g. 10s, 1m, 500ms)")
    number, unit = match.groups()
    if unit is None and float(number) != 0:
        raise _usage(text, f"{part!r} needs a unit (ms, s, m or h)")
    return float(number) * _UNITS[unit or "s"]


def _usage(text: str, message: str) -> SpecError:
    return SpecError([FieldError("--backoff", f"Invalid value: {text!r}: {message}")])


class Backoff:
    """One container's back-off entry, on the monotonic clock."""

    def __init__(self, policy: BackoffPolicy) -> None:
        self.policy = policy
        self.delay: float | None = None  # None: no entry yet
        self._last_update = 0.0

    def wait(self, finished_at: float, now: float) -> float:
        """Seconds the container must still wait after exiting at ``finished_at``
        (IsInBackOffSince); 0 means it may be restarted now."""
        if self.policy.off or self.delay is None or self._expired(finished_at):
            return 0.0
        return max(0.0, finished_at + self.delay - now)

    def restarted(self, finished_at: float, now: float) -> None:
        """Record a restart (Next): start the entry, or double the delay."""
        if self.policy.off:
            return
        if self.delay is None or self._expired(finished_at):
            self.delay = self.policy.initial
        else:
            self.delay = min(self.delay * 2, self.policy.maximum)
        self._last_update = now

    def snapshot(self) -> tuple[float | None, float | None]:
        return self.delay, self._last_update

    def restore(self, snapshot: tuple[float | None, float | None]) -> None:
        self.delay, last = snapshot
        self._last_update = last or 0.0

    def _expired(self, finished_at: float) -> bool:
        return finished_at - self._last_update > self.policy.reset_after


__all__ = ["Backoff", "BackoffPolicy"]
