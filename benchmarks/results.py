"""What a figure is: minipod's samples, and beside them the peer's and the
kernel's, each either samples or the error that kept it from being measured."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks import stats


@dataclass
class Comparison:
    label: str  # what ran: "podman 4.3.1 kube play", "unshare ... busybox true"
    samples: list[float] = field(default_factory=list)
    error: str | None = None  # why there is no figure
    # taken alternately with minipod's, one for one: sample i beside minipod's
    # sample i (there may be fewer, the peer being slow: then the first ones pair)
    paired: bool = False
    comparable: bool = True  # False: not the same N as minipod's, so no ratio is shown

    def summary(self) -> stats.Summary | None:
        return stats.summarize(self.samples) if self.samples else None


@dataclass
class Figure:
    key: str  # stable id: "start.one", "restart.e2e", "capacity.1000.late"
    title: str
    unit: str  # "ms", "% of a core", "/s", "kB"
    samples: list[float] = field(default_factory=list)
    how: str = ""  # how it was measured, one sentence
    peer: Comparison | None = None
    baseline: Comparison | None = None
    error: str | None = None  # minipod's own figure could not be measured
    extra: dict[str, Any] = field(default_factory=dict)  # context kept in the JSON

    def summary(self) -> stats.Summary | None:
        return stats.summarize(self.samples) if self.samples else None

    def ratio(self, other: Comparison | None) -> float | None:
        if other is None or not other.samples or not self.samples or not other.comparable:
            return None
        if other.paired:
            k = min(len(other.samples), len(self.samples))
            return stats.ratio(self.samples[:k], other.samples[:k], paired=True)
        return stats.ratio(self.samples, other.samples, paired=False)


def failed(key: str, title: str, unit: str, error: BaseException | str) -> Figure:
    return Figure(key, title, unit, error=str(error) or type(error).__name__)
