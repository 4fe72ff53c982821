"""minipod.probes.worker.ProbeWorker: when probes run and what their results add up to.

A real Loop on a FakeClock drives the worker; run_once jumps the clock to the
next deadline, so a minute of probing takes no real time. The prober is a fake
that records each probe it is asked to start; a test either finishes probes by
hand or lets the fake answer from the loop after a set time with scripted
results. The kubelet rules are in K8S-SEMANTICS.md section 1.2 (worker.go).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest

from minipod.api.model import ExecAction, Probe
from minipod.loop.clock import FakeClock
from minipod.loop.eventloop import Deadline, Loop
from minipod.probes.worker import (
    ERROR,
    FAILURE,
    SUCCESS,
    UNKNOWN,
    WARNING,
    Outcome,
    ProbeWorker,
)

START = 1000.0  # FakeClock's default start: the container's start, the anchor


def at(offset: float) -> float:
    """START + offset, rounded as the harness rounds the times it records."""
    return round(START + offset, 6)


@dataclass
class FakeProbe:
    done: Callable[[Outcome], None]
    started_at: float
    cancelled: bool = False
    finished: bool = False
    timer: Deadline | None = None

    @property
    def in_flight(self) -> bool:
        return not (self.cancelled or self.finished)

    def cancel(self) -> None:
        self.cancelled = True
        if self.timer is not None:
            self.timer.cancel()

    def finish(self, result: str, message: str = "") -> None:
        assert self.in_flight, "a probe ends once, and never after cancel()"
        self.finished = True
        self.done(Outcome(result, message))


@dataclass
class FakeProber:
    """The Prober callable. With ``takes`` set, each probe ends that many
    seconds later, from the loop, with the next scripted result (then success)."""

    loop: Loop
    takes: float | None = None
    results: list[str] = field(default_factory=list)
    probes: list[FakeProbe] = field(default_factory=list)
    most_at_once: int = 0

    def __call__(self, done: Callable[[Outcome], None]) -> FakeProbe:
        probe = FakeProbe(done, round(self.loop.clock.now(), 6))
        self.probes.append(probe)
        self.most_at_once = max(self.most_at_once, sum(p.in_flight for p in self.probes))
        if self.takes is not None:
            result = self.results.pop(0) if self.results else SUCCESS
            probe.timer = self.loop.call_later(self.takes, lambda: probe.finish(result))
        return probe

    @property
    def starts(self) -> list[float]:
        return [p.started_at for p in self.probes]


@dataclass
class Harness:
    loop: Loop
    prober: FakeProber
    worker: ProbeWorker
    published: list[tuple[float, str]]  # (when, result) from on_result
    outcomes: list[str]  # every probe's result, from on_outcome

    def run_to(self, when: float) -> None:
        """Run the loop until the fake clock reads ``when``."""
        clock = self.loop.clock
        while clock.now() < when:
            self.loop.run_once(max_wait=when - clock.now())


@pytest.fixture
def loop() -> Iterator[Loop]:
    loop = Loop(FakeClock(start=START))
    yield loop
    loop.close()


def start_worker(loop: Loop, kind: str = "liveness", *, takes: float | None = 0.1,
                 results: Sequence[str] = (), gate: Callable[[], bool] = lambda: True,
                 anchor: float = START, **fields: int) -> Harness:
    """A started worker; ``fields`` are Probe fields (period_seconds=1, ...)."""
    fields.setdefault("period_seconds", 1)
    probe = Probe(ExecAction(("true",)), **fields)
    prober = FakeProber(loop, takes, list(results))
    published: list[tuple[float, str]] = []
    outcomes: list[str] = []
    worker = ProbeWorker(loop, kind, probe, prober,
                         on_outcome=lambda w, o: outcomes.append(o.result),
                         on_result=lambda w, r: published.append((round(loop.clock.now(), 6), r)),
                         gate=gate)
    worker.start(anchor)
    return Harness(loop, prober, worker, published, outcomes)


# ---------------------------------------------------------------------------
# Scheduling
# ---------------------------------------------------------------------------


def test_first_probe_lands_exactly_at_anchor_plus_initial_delay(loop: Loop) -> None:
    h = start_worker(loop, initial_delay_seconds=15, period_seconds=10)
    assert h.worker.next_probe_at() == START + 15
    h.run_to(START + 14.9)
    assert h.prober.starts == []
    h.run_to(START + 40)
    # then every period from the first probe: not START+10/20, not START+20/30
    assert h.prober.starts == [START + 15, START + 25, START + 35]


def test_no_initial_delay_probes_at_once(loop: Loop) -> None:
    h = start_worker(loop, period_seconds=10)
    loop.run_once()
    assert h.prober.starts == [START]
    assert loop.clock.now() == START


def test_the_period_runs_from_the_schedule_not_from_the_probe_end(loop: Loop) -> None:
    # each probe takes 0.7 s of a 1 s period: the next still starts on the second
    h = start_worker(loop, takes=0.7, period_seconds=1, initial_delay_seconds=5)
    h.run_to(START + 9.5)
    assert h.prober.starts == [START + 5, START + 6, START + 7, START + 8, START + 9]
    assert h.outcomes == [SUCCESS] * 4  # the probe of START+9 ends at START+9.7
    assert h.worker.skipped == 0


def test_a_tick_while_a_probe_is_in_flight_is_skipped(loop: Loop) -> None:
    h = start_worker(loop, takes=None, period_seconds=1)
    h.run_to(START + 3.5)
    assert h.prober.starts == [START]  # the ticks at +1, +2, +3 found it in flight
    assert h.worker.skipped == 3
    h.prober.probes[0].finish(SUCCESS)
    h.run_to(START + 5)
    # the next probe waits for the next tick on the schedule; it is still in
    # flight at +5 (nobody finished it), so that tick is skipped too
    assert h.prober.starts == [START, START + 4]
    assert h.worker.skipped == 4
    assert h.prober.most_at_once == 1


def test_a_probe_longer_than_the_period_never_overlaps_the_next(loop: Loop) -> None:
    h = start_worker(loop, takes=2.5, period_seconds=1)
    h.run_to(START + 9)
    assert h.prober.starts == [START, START + 3, START + 6, START + 9]
    assert h.prober.most_at_once == 1
    assert (h.worker.probes, h.worker.skipped) == (4, 6)


def test_a_closed_gate_skips_the_tick(loop: Loop) -> None:
    gate = {"open": False}
    h = start_worker(loop, gate=lambda: gate["open"], period_seconds=2)
    h.run_to(START + 5)
    assert h.prober.starts == []
    assert h.worker.skipped == 3  # +0, +2, +4
    gate["open"] = True
    h.run_to(START + 5.5)
    assert h.prober.starts == []  # opening the gate does not probe early
    h.run_to(START + 8)
    assert h.prober.starts == [START + 6, START + 8]


def test_a_late_loop_skips_missed_ticks_instead_of_bursting(loop: Loop) -> None:
    h = start_worker(loop, period_seconds=1)
    h.run_to(START + 0.5)
    assert h.prober.starts == [START]
    # the loop is stuck for 3.2 s: the ticks of +1, +2 and +3 are missed
    loop.clock.advance(3.2)  # type: ignore[attr-defined]
    loop.run_once(max_wait=0)
    assert h.prober.starts == [START, at(3.7)]  # one probe, not three
    h.run_to(START + 5)
    # back on the original schedule
    assert h.prober.starts[2:] == [START + 4, START + 5]
    assert h.worker.skipped == 0  # missed ticks are not made up, nor counted


def test_an_anchor_in_the_past_probes_now_then_keeps_its_schedule(loop: Loop) -> None:
    # the worker starts 7 s after the container did; the delay (5 s) has passed
    h = start_worker(loop, anchor=START - 7, initial_delay_seconds=5, period_seconds=10)
    h.run_to(START + 20)
    assert h.prober.starts == [START, START + 8, START + 18]


# ---------------------------------------------------------------------------
# Results and thresholds
# ---------------------------------------------------------------------------


def test_initial_results_before_any_probe(loop: Loop) -> None:
    kinds = {"readiness": FAILURE, "liveness": SUCCESS, "startup": UNKNOWN}
    workers = {kind: start_worker(loop, kind, initial_delay_seconds=10) for kind in kinds}
    workers["readiness"].run_to(START + 9)
    for kind, expected in kinds.items():
        h = workers[kind]
        assert h.worker.result == expected
        assert not h.worker.on_hold
        assert h.published == []  # the initial value is not published as a change
        assert h.worker.label == kind.capitalize()


def test_liveness_failure_threshold_then_on_hold(loop: Loop) -> None:
    h = start_worker(loop, "liveness", results=[FAILURE] * 10, failure_threshold=3)
    h.run_to(START + 30)
    assert h.prober.starts == [START, START + 1, START + 2]  # and no more
    assert h.published == [(at(2.1), FAILURE)]
    assert h.outcomes == [FAILURE] * 3  # every failure is reported (Unhealthy events)
    assert h.worker.result == FAILURE
    assert h.worker.on_hold
    assert len(loop.deadlines) == 0  # no timer left behind


def test_a_success_between_failures_resets_the_run(loop: Loop) -> None:
    results = [FAILURE, FAILURE, SUCCESS, FAILURE, FAILURE, FAILURE]
    h = start_worker(loop, "liveness", results=results, failure_threshold=3)
    h.run_to(START + 4.5)
    assert h.published == []  # F F S F F: never three in a row
    h.run_to(START + 10)
    assert h.published == [(at(5.1), FAILURE)]
    assert len(h.prober.starts) == 6


def test_readiness_publishes_each_change_and_keeps_probing(loop: Loop) -> None:
    results = [SUCCESS, FAILURE, FAILURE, FAILURE, SUCCESS]
    h = start_worker(loop, "readiness", results=results, failure_threshold=3)
    h.run_to(START + 8)
    assert h.published == [
        (at(0.1), SUCCESS),
        (at(3.1), FAILURE),
        (at(4.1), SUCCESS),
    ]
    assert not h.worker.on_hold  # readiness never stops
    assert len(h.prober.starts) == 9


def test_readiness_failures_while_not_ready_publish_nothing(loop: Loop) -> None:
    h = start_worker(loop, "readiness", results=[FAILURE] * 5, failure_threshold=1)
    h.run_to(START + 5)
    assert h.worker.result == FAILURE
    assert h.published == []  # it was not ready from the start


def test_readiness_success_threshold(loop: Loop) -> None:
    results = [SUCCESS, SUCCESS, FAILURE, SUCCESS, SUCCESS, SUCCESS]
    h = start_worker(loop, "readiness", results=results, success_threshold=3)
    h.run_to(START + 4.5)
    assert h.published == []  # S S F S S
    assert h.worker.result == FAILURE
    h.run_to(START + 5.5)
    assert h.published == [(at(5.1), SUCCESS)]


def test_liveness_successes_publish_nothing(loop: Loop) -> None:
    h = start_worker(loop, "liveness")
    h.run_to(START + 10)
    assert h.worker.result == SUCCESS
    assert h.published == []
    assert len(h.outcomes) == 10


def test_startup_success_publishes_and_goes_on_hold(loop: Loop) -> None:
    h = start_worker(loop, "startup", results=[FAILURE, FAILURE, SUCCESS],
                     failure_threshold=5)
    h.run_to(START + 30)
    assert h.published == [(at(2.1), SUCCESS)]
    assert h.worker.on_hold
    assert len(h.prober.starts) == 3
    assert len(loop.deadlines) == 0


def test_startup_failure_threshold_publishes_and_goes_on_hold(loop: Loop) -> None:
    h = start_worker(loop, "startup", results=[FAILURE] * 10, failure_threshold=4)
    h.run_to(START + 30)
    assert h.published == [(at(3.1), FAILURE)]
    assert h.worker.on_hold
    assert len(h.prober.starts) == 4


def test_errors_count_as_nothing(loop: Loop) -> None:
    # an error neither breaks a run of failures nor adds to it
    results = [FAILURE, ERROR, FAILURE, ERROR, ERROR, FAILURE]
    h = start_worker(loop, "liveness", results=results, failure_threshold=3)
    h.run_to(START + 4.5)
    assert h.published == []
    h.run_to(START + 10)
    assert h.published == [(at(5.1), FAILURE)]
    assert h.outcomes == results  # errors are still reported


def test_only_errors_never_publish_nor_hold(loop: Loop) -> None:
    for kind in ("liveness", "startup"):
        h = start_worker(loop, kind, results=[ERROR] * 20, failure_threshold=1)
        h.run_to(loop.clock.now() + 10)
        assert h.published == []
        assert not h.worker.on_hold
        h.worker.stop()


def test_errors_do_not_break_a_run_of_successes(loop: Loop) -> None:
    results = [SUCCESS, ERROR, SUCCESS]
    h = start_worker(loop, "readiness", results=results, success_threshold=2)
    h.run_to(START + 3)
    assert h.published == [(at(2.1), SUCCESS)]


def test_warning_counts_as_success(loop: Loop) -> None:
    h = start_worker(loop, "readiness", results=[WARNING])
    h.run_to(START + 0.5)
    assert h.published == [(at(0.1), SUCCESS)]
    assert h.outcomes == [WARNING]  # the ProbeWarning event still sees it


def test_unknown_counts_as_failure(loop: Loop) -> None:
    # prober.go: anything but Success or Warning is a Failure
    h = start_worker(loop, "liveness", results=[UNKNOWN] * 3, failure_threshold=3)
    h.run_to(START + 3)
    assert h.published == [(at(2.1), FAILURE)]


def test_a_probe_finished_by_hand_reports_its_message(loop: Loop) -> None:
    seen: list[Outcome] = []
    probe = Probe(ExecAction(("true",)), period_seconds=1, failure_threshold=1)
    prober = FakeProber(loop)
    worker = ProbeWorker(loop, "liveness", probe, prober,
                         on_outcome=lambda w, o: seen.append(o),
                         on_result=lambda w, r: seen.append(Outcome(r, "published")))
    worker.start(START)
    loop.run_once()
    prober.probes[0].finish(FAILURE, "exit 1")
    assert seen == [Outcome(FAILURE, "exit 1"), Outcome(FAILURE, "published")]


# ---------------------------------------------------------------------------
# stop()
# ---------------------------------------------------------------------------


def test_stop_cancels_the_probe_in_flight_and_the_timer(loop: Loop) -> None:
    h = start_worker(loop, takes=None, period_seconds=1)
    loop.run_once()
    [probe] = h.prober.probes
    assert probe.in_flight
    h.worker.stop()
    assert probe.cancelled
    assert len(loop.deadlines) == 0
    h.run_to(START + 60)
    assert len(h.prober.probes) == 1
    assert h.outcomes == []


def test_stop_before_the_first_probe(loop: Loop) -> None:
    h = start_worker(loop, initial_delay_seconds=5)
    h.worker.stop()
    assert len(loop.deadlines) == 0
    h.run_to(START + 30)
    assert h.prober.starts == []


def test_stop_between_probes_and_twice(loop: Loop) -> None:
    h = start_worker(loop, takes=0.2, period_seconds=1)
    h.run_to(START + 1.5)
    assert len(h.prober.starts) == 2
    h.worker.stop()
    h.worker.stop()  # harmless
    h.run_to(START + 10)
    assert len(h.prober.starts) == 2
    assert not any(p.cancelled for p in h.prober.probes)  # both had finished


# -- a prober that runs the schedule itself (netengine.py) ----------------------

@dataclass
class FakeSchedule:
    first: float
    period: float
    tick: int
    done: Callable[[Outcome], None]
    quiet_calls: list[bool] = field(default_factory=list)
    stopped: bool = False
    probes: int = 0
    skipped: int = 0

    def quiet(self, quiet: bool) -> None:
        self.quiet_calls.append(quiet)

    def counts(self) -> tuple[int, int]:
        return self.probes, self.skipped

    def stop(self) -> None:
        assert not self.stopped
        self.stopped = True


@dataclass
class SchedulingProber(FakeProber):
    """A FakeProber that also takes over the schedule (or declines: None)."""

    declines: bool = False
    schedules: list[FakeSchedule] = field(default_factory=list)

    def schedule(self, first: float, period: float, tick: int,
                 done: Callable[[Outcome], None]) -> FakeSchedule | None:
        if self.declines:
            return None
        self.schedules.append(FakeSchedule(first, period, tick, done))
        return self.schedules[-1]


def scheduling_worker(loop: Loop, prober: SchedulingProber, kind: str = "readiness",
                      gate: Callable[[], bool] = lambda: True,
                      **fields: int) -> tuple[ProbeWorker, list[str], list[str]]:
    outcomes: list[str] = []
    published: list[str] = []
    worker = ProbeWorker(loop, kind, Probe(handler=ExecAction(command=("true",)), **fields),
                         prober, on_outcome=lambda w, o: outcomes.append(o.result),
                         on_result=lambda w, r: published.append(r), gate=gate)
    worker.start(START)
    return worker, outcomes, published


def test_the_first_tick_that_may_probe_hands_the_schedule_over(loop: Loop) -> None:
    prober = SchedulingProber(loop)
    opened = [False]
    worker, _, _ = scheduling_worker(loop, prober, gate=lambda: opened[0],
                                     initial_delay_seconds=5, period_seconds=10)
    h = Harness(loop, prober, worker, [], [])
    h.run_to(at(25.5))  # ticks at 5, 15, 25: the gate is shut
    assert (prober.schedules, worker.skipped) == ([], 3)
    opened[0] = True
    h.run_to(at(35.5))
    assert len(prober.schedules) == 1 and prober.probes == []
    schedule = prober.schedules[0]
    # the tick at 35 s (index 3) is due now; the schedule runs it and the rest
    assert (schedule.first, schedule.period, schedule.tick) == (at(5), 10, 3)
    h.run_to(at(100))
    assert len(prober.schedules) == 1, "the worker keeps no timer of its own"
    schedule.probes, schedule.skipped = 7, 1
    assert (worker.probes, worker.skipped) == (7, 4)
    worker.stop()
    assert schedule.stopped
    assert (worker.probes, worker.skipped) == (7, 4), "the counts outlive the schedule"


def test_a_schedule_is_told_when_successes_stop_mattering(loop: Loop) -> None:
    prober = SchedulingProber(loop)
    worker, outcomes, published = scheduling_worker(loop, prober, success_threshold=2,
                                                    failure_threshold=1)
    loop.run_once()
    schedule = prober.schedules[0]
    schedule.done(Outcome(SUCCESS))
    schedule.done(Outcome(SUCCESS))  # the threshold: published, settled
    schedule.done(Outcome(FAILURE, "boom"))
    schedule.done(Outcome(SUCCESS))
    schedule.done(Outcome(SUCCESS))
    assert schedule.quiet_calls == [False, True, False, False, True]
    assert outcomes == [SUCCESS, SUCCESS, FAILURE, SUCCESS, SUCCESS]
    assert published == [SUCCESS, FAILURE, SUCCESS]
    assert worker.result == SUCCESS


def test_a_liveness_failure_stops_the_schedule(loop: Loop) -> None:
    prober = SchedulingProber(loop)
    worker, _, published = scheduling_worker(loop, prober, "liveness", failure_threshold=1)
    loop.run_once()
    schedule = prober.schedules[0]
    schedule.done(Outcome(FAILURE, "down"))
    assert published == [FAILURE] and worker.on_hold
    assert schedule.stopped


def test_a_prober_that_declines_keeps_the_worker_probing_itself(loop: Loop) -> None:
    prober = SchedulingProber(loop, takes=0.1, declines=True)
    worker, outcomes, _ = scheduling_worker(loop, prober, period_seconds=1)
    h = Harness(loop, prober, worker, [], [])
    h.run_to(at(2.5))
    assert prober.starts == [at(0), at(1), at(2)]
    assert outcomes == [SUCCESS] * 3
    worker.stop()
