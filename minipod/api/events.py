"""Events in the Kubernetes vocabulary (reason, type, message), kept per pod."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
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


MAX_EVENTS_FILE = 256 * 1024  # bytes; a crash-looping pod must not fill the disk


_FIELDS = tuple(f.name for f in dataclasses.fields(Event))


def append_event(path: Path, event: Event) -> None:
    """One JSON line per event; past MAX_EVENTS_FILE the older half is dropped.

    An exit's event is written between the exit and the restart, so this is
    one open, fstat, write and close (no text layer, no asdict deep copy)."""
    line = json.dumps({name: getattr(event, name) for name in _FIELDS}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
    try:
        if os.fstat(fd).st_size > MAX_EVENTS_FILE:
            _drop_older_half(path)  # same inode: O_APPEND still writes at its end
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _drop_older_half(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[len(lines) // 2:]))


def read_events(path: Path) -> list[Event]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    events = []
    for line in text.splitlines():
        try:
            events.append(Event(**json.loads(line)))
        except (ValueError, TypeError):
            continue  # a line cut short by a crash
    return events
