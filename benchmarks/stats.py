"""The arithmetic of the suite: summaries, ratios, rates, probe lateness, and
the /proc parsers the figures read. Pure functions, tested on known inputs
(tests/unit/test_bench.py)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p99: float
    min: float
    max: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def percentile(samples: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not samples:
        raise ValueError("no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside [0, 100]")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(samples: Sequence[float]) -> Summary:
    """A figure is only ever computed from real samples: none is an error."""
    if not samples:
        raise ValueError("a figure needs at least one sample")
    if any(math.isnan(s) for s in samples):
        raise ValueError("a sample is NaN")
    return Summary(n=len(samples), median=statistics.median(samples),
                   p99=percentile(samples, 99), min=min(samples), max=max(samples))


def ratio(ours: Sequence[float], theirs: Sequence[float], *, paired: bool) -> float | None:
    """How many times ``theirs`` ours is (ours / theirs).

    Paired samples were taken alternately in one run (ours[i] next to
    theirs[i]), so the ratio is the median of the per-pair ratios: drift in
    the machine's load hits both sides of a pair. Otherwise, medians' ratio.
    """
    if not ours or not theirs:
        return None
    if paired:
        if len(ours) != len(theirs):
            raise ValueError("paired samples must be as many on both sides")
        pairs = [a / b for a, b in zip(ours, theirs, strict=True) if b > 0]
        return statistics.median(pairs) if pairs else None
    below = statistics.median(theirs)
    return statistics.median(ours) / below if below > 0 else None


def per_second(before: float, after: float, seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("an interval must be positive")
    return (after - before) / seconds


@dataclass(frozen=True)
class Lateness:
    late_ms: list[float]  # one per probe that arrived, for its tick
    due: int  # ticks of the schedule in the window
    answered: int  # of those, how many saw a probe arrive

    @property
    def missing(self) -> int:
        return self.due - self.answered


def probe_lateness(arrivals: Iterable[float], first_due: float, period: float, *,
                   start: float, end: float, tolerance: float = 0.002) -> Lateness:
    """How late each probe arrived against the anchored schedule.

    Probes are due at first_due + k * period (minipod anchors the schedule at
    the container's start, README "Probe timing is anchored"). An arrival at t
    belongs to the last tick due at or before it; ``tolerance`` lets an
    arrival a hair early (the realtime-to-monotonic conversion) count for the
    tick it was meant for, as 0 late. Only ticks due in [start, end) count.
    A probe later than a whole period would be taken for the next tick's, so
    the ticks that saw no probe are counted too (Lateness.missing).
    """
    late, ticks = [], set()
    for t in sorted(arrivals):
        k = math.floor((t - first_due + tolerance) / period)
        due = first_due + k * period
        if k < 0 or not start <= due < end:
            continue
        late.append(max(0.0, t - due) * 1000)
        ticks.add(k)
    return Lateness(late, due_count(first_due, period, start, end), len(ticks))


def due_count(first_due: float, period: float, start: float, end: float) -> int:
    """How many ticks of the schedule fall in [start, end)."""
    if end <= start:
        return 0
    first_k = max(0, math.ceil((start - first_due) / period))
    last_k = math.ceil((end - first_due) / period) - 1
    return max(0, last_k - first_k + 1)


def proc_stat_fields(text: str) -> dict[str, int]:
    """utime, stime, cutime, cstime (clock ticks), starttime, num_threads of
    /proc/PID/stat. The command name may hold spaces and parentheses, so the
    fields are counted from the last ')'."""
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is field 3 (state): field N is rest[N - 3]
    return {"utime": int(rest[11]), "stime": int(rest[12]), "cutime": int(rest[13]),
            "cstime": int(rest[14]), "num_threads": int(rest[17]), "starttime": int(rest[19])}


def cpu_percent_ns(ns_before: int, ns_after: int, seconds: float) -> float:
    """CPU nanoseconds over a wall interval, in percent of one core."""
    return 100 * per_second(ns_before, ns_after, seconds) / 1e9


def proc_status_fields(text: str) -> dict[str, int]:
    """VmRSS (kB) and context switches of /proc/PID/status."""
    wanted = {"VmRSS", "RssAnon", "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"}
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in wanted:
            found[key] = int(value.split()[0])
    return found
