"""Events in the Kubernetes vocabulary (reason, type, message), kept per pod."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class Event:
    timestamp: float  # wall clock
    type: str  # Normal or Warning
    reason: str  # Created, Started, Killing, Completed, Failed, ...
    obj: str  # pod/NAME or pod/NAME/CONTAINER
    message: str

    def line(self) -> str:
        return f"{clock(self.timestamp)}  {self.type:<7}  {self.reason:<13}  {self.obj}  " \
            f"{self.message}"


def clock(timestamp: float) -> str:
    """Local time of day with milliseconds: restarts are milliseconds apart."""
    millis = int(timestamp * 1000) % 1000
    return time.strftime("%H:%M:%S", time.localtime(timestamp)) + f".{millis:03d}"


Sink = Callable[[Event], None]


def print_sink(stream: TextIO | None = None) -> Sink:
    def sink(event: Event) -> None:
        out = stream or sys.stdout
        out.write(event.line() + "\n")
        out.flush()

    return sink
