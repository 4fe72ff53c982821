"""Events in the Kubernetes vocabulary (reason, type, message), kept per pod."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from minipod.api.frozen import frozen


@frozen
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
        say(event.line(), stream)

    return sink


def say(line: str, stream: TextIO | None = None) -> None:
    """Print a line of `up`'s output. A reader that went away (`up | head`)
    must not break the supervisor: the rest of the output is dropped, and the
    pods are served (and stopped) as they would be otherwise."""
    out = stream or sys.stdout
    if out.closed:
        return
    try:
        out.write(line + "\n")
        out.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())  # further writes, and the flush at exit, go nowhere
        os.close(devnull)
    except OSError:
        # A full or read-only disk under daemon.log: the line waits in the
        # stream's buffer (bounded) or is lost; the pods are served on.
        pass

