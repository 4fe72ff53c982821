"""A pod's events on disk (events.jsonl in its directory): what `describe`
shows, bounded so that a pod in a crash loop cannot fill the disk."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from minipod.api.events import Event

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
