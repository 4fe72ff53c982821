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
from typing import Protocol

from minipod.api.frozen import frozen
from minipod.api.model import Probe
from minipod.loop.eventloop import Deadline, Loop

log = logging.getLogger(__name__)

SUCCESS, FAILURE, WARNING, ERROR, UNKNOWN = "success", "failure", "warning", "error", "unknown"

# The value a fresh worker reports before any probe has run (worker.go):
# not ready until proven ready, alive until proven dead, startup unknown.
INITIAL_RESULT = {"readiness": FAILURE, "liveness": SUCCESS, "startup": UNKNOWN}


@frozen
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


class Schedule(Protocol):
    """A worker's probes run elsewhere (netengine.py: httpGet and tcpSocket in C),
    from the tick the worker handed over on; outcomes come to the worker's
    done. quiet(True): successes need not be reported (the worker is settled)."""

    def quiet(self, quiet: bool) -> None: ...

    def counts(self) -> tuple[int, int]: ...

    def stop(self) -> None: ...


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
        # every probe, for Unhealthy events; but a Schedule leaves out the
        # successes of a settled worker (see _scheduled_done)
        self._on_outcome = on_outcome
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
        self._engine_run: Schedule | None = None  # the engine runs our ticks
        self._may_hand_over = hasattr(prober, "schedule")
        self._probes = self._skipped = 0  # ours; a Schedule counts its own
        self.failures = 0  # counters, for describe and tests

    @property
    def probes(self) -> int:
        return self._probes + (self._engine_run.counts()[0] if self._engine_run else 0)

    @property
    def skipped(self) -> int:
        return self._skipped + (self._engine_run.counts()[1] if self._engine_run else 0)

    @property
    def label(self) -> str:
        return self.kind.capitalize()

    def start(self, anchor: float) -> None:
        """Schedule the first probe: ``anchor`` is the container's start (monotonic)."""
        self._anchor = anchor
        self._tick = 0
        self._schedule()

    def stop(self) -> None:
        schedule, self._engine_run = self._engine_run, None
        if schedule is not None:
            probes, skipped = schedule.counts()
            self._probes += probes
            self._skipped += skipped
            schedule.stop()
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
        current = self._tick
        tick = current + 1
        # A tick the loop reached late (a long pause) is not made up for:
        # catch up to the first scheduled time still in the future.
        now = self.loop.clock.now()
        while first + tick * period <= now:
            tick += 1
        self._tick = tick
        if self._in_flight is not None or not self._gate():
            self._skipped += 1
        elif self._may_hand_over and self._hand_over(first, period, current):
            return  # this tick's probe and every later one are the engine's
        else:
            self._probes += 1
            self._in_flight = self._prober(self._done)
        if not self.on_hold:
            self._timer = self.loop.call_at(first + tick * period, self._on_tick,
                                            lane=self._lane)

    def _hand_over(self, first: float, period: float, tick: int) -> bool:
        """Let the prober run our schedule from ``tick`` (due now) on."""
        schedule = self._prober.schedule(  # type: ignore[attr-defined]
            first, period, tick, self._scheduled_done)
        if schedule is None:  # this handler probes from Python
            self._may_hand_over = False
            return False
        self._engine_run = schedule
        return True

    def _scheduled_done(self, outcome: Outcome) -> None:
        self._done(outcome)
        schedule = self._engine_run
        if schedule is not None:
            # Settled: another success adds to a run already at the threshold,
            # with the result already success, so it would change nothing.
            schedule.quiet(self._last == SUCCESS
                           and self._run >= self.probe.success_threshold)

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
