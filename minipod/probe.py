"""Probe workers: when a probe runs, and what its results add up to.

One worker per (container run, probe kind), as the kubelet's prober has
(pkg/kubelet/prober/worker.go). What differs is the clock: the kubelet's
ticker starts when the worker does, so the first probe lands anywhere in
[initialDelaySeconds, initialDelaySeconds + periodSeconds). Here the schedule
is anchored at the container's start: probes run at

    start + initialDelaySeconds + k * periodSeconds,   k = 0, 1, 2, ...

measured from that schedule, never from the end of the last probe. A tick
that finds the previous probe still in flight (timeoutSeconds > periodSeconds)
is skipped, so a probe never runs twice at once for one container; so is a
tick while the gate is shut (liveness and readiness wait for the container
to be started, i.e. for its startupProbe).

Results follow the worker's rules: a result is published only after
failureThreshold failures, or successThreshold successes, in a row; a probe
*error* (it could not run) counts as neither. A liveness failure and any
startup result put the worker on hold: it probes no more for this run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from minipod.loop import Deadline, Loop
from minipod.spec import Probe

log = logging.getLogger(__name__)

SUCCESS, FAILURE, WARNING, ERROR, UNKNOWN = "success", "failure", "warning", "error", "unknown"

# The value a fresh worker reports before any probe has run (worker.go):
# not ready until proven ready, alive until proven dead, startup unknown.
INITIAL_RESULT = {"readiness": FAILURE, "liveness": SUCCESS, "startup": UNKNOWN}


@dataclass(frozen=True)
class Outcome:
    """One probe's result (probe.Result) and the text the kubelet would show."""

    result: str  # success, warning, failure, or error (could not probe at all)
    message: str = ""

    @property
    def ok(self) -> bool:
        """Success and warning count as success; failure and error do not."""
        return self.result in (SUCCESS, WARNING)


class InFlight(Protocol):
    def cancel(self) -> None: ...


# Starts one probe; calls back exactly once from the loop, unless cancelled.
Prober = Callable[[Callable[[Outcome], None]], InFlight]


class ProbeWorker:
    def __init__(self, loop: Loop, kind: str, probe: Probe, prober: Prober, *,
                 on_outcome: Callable[[ProbeWorker, Outcome], None],
                 on_result: Callable[[ProbeWorker, str], None],
                 gate: Callable[[], bool] = lambda: True) -> None:
        self.loop = loop
        self.kind = kind  # liveness, readiness or startup
        self.probe = probe
        self._prober = prober
        self._on_outcome = on_outcome  # every probe, for Unhealthy events
        self._on_result = on_result  # a newly published result
        self._gate = gate
        self.result = INITIAL_RESULT[kind]
        self.on_hold = False
        self._last: str | None = None
        self._run = 0  # how many identical results in a row
        self._tick = 0
        self._anchor = 0.0
        self._timer: Deadline | None = None
        self._lane = ("probe period", probe.period_seconds)  # the loop's FIFO for our ticks
        self._in_flight: InFlight | None = None
        self.probes = self.skipped = self.failures = 0  # counters, for describe and tests

    @property
    def label(self) -> str:
        return self.kind.capitalize()

    def start(self, anchor: float) -> None:
        """Schedule the first probe: ``anchor`` is the container's start (monotonic)."""
        self._anchor = anchor
        self._tick = 0
        self._schedule()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._in_flight is not None:
            self._in_flight.cancel()
            self._in_flight = None
        close = getattr(self._prober, "close", None)
        if close is not None:  # a prepared network handler keeps a socket
            close()

    def next_probe_at(self) -> float:
        return (self._anchor + self.probe.initial_delay_seconds
                + self._tick * self.probe.period_seconds)

    def _schedule(self) -> None:
        # Ticks of one period come due in order: a lane, not the heap (loop.py).
        self._timer = self.loop.call_at(self.next_probe_at(), self._on_tick, lane=self._lane)

    def _on_tick(self) -> None:
        # next_probe_at() and _schedule(), inlined: this runs for every probe.
        self._timer = None
        probe = self.probe
        first = self._anchor + probe.initial_delay_seconds
        period = probe.period_seconds
        tick = self._tick + 1
        # A tick the loop reached late (a long pause) is not made up for:
        # catch up to the first scheduled time still in the future.
        now = self.loop.clock.now()
        while first + tick * period <= now:
            tick += 1
        self._tick = tick
        if self._in_flight is not None or not self._gate():
            self.skipped += 1
        else:
            self.probes += 1
            self._in_flight = self._prober(self._done)
        if not self.on_hold:
            self._timer = self.loop.call_at(first + tick * period, self._on_tick,
                                            lane=self._lane)

    def _done(self, outcome: Outcome) -> None:
        self._in_flight = None
        if self.on_hold:
            return
        self._on_outcome(self, outcome)
        self.failures += outcome.result == FAILURE
        if outcome.result == ERROR:
            return  # the kubelet ignores errors: they count as nothing
        # prober.go: Success and Warning pass; Failure and Unknown fail.
        result = SUCCESS if outcome.result in (SUCCESS, WARNING) else FAILURE
        self._run = self._run + 1 if result == self._last else 1
        self._last = result
        threshold = (self.probe.failure_threshold if result == FAILURE
                     else self.probe.success_threshold)
        if self._run < threshold:
            return
        if (self.kind == "liveness" and result == FAILURE) or self.kind == "startup":
            self.on_hold = True
            self._run = 0
            self.stop()
        changed = result != self.result
        self.result = result
        if changed or self.on_hold:
            self._on_result(self, result)


__all__ = ["ERROR", "FAILURE", "SUCCESS", "UNKNOWN", "WARNING", "Outcome", "ProbeWorker",
           "Prober"]
