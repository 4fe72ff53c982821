"""minipod.kernel.eventlog: the events.jsonl a pod keeps (read back by `describe`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from minipod.api.events import Event
from minipod.kernel import eventlog
from minipod.kernel.eventlog import append_event, read_events


def event(n: int) -> Event:
    return Event(1700000000.25 + n, "Warning", "Failed", "pod/p",
                 f"Container app exited (signal 9, exit code 137) é {n}")


def test_a_line_is_the_json_of_every_field_in_order(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    append_event(path, event(1))
    append_event(path, event(2))
    expected = "".join(json.dumps(dataclasses.asdict(event(n))) + "\n" for n in (1, 2))
    assert path.read_text() == expected
    assert read_events(path) == [event(1), event(2)]


def test_past_the_limit_the_older_half_goes(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eventlog, "MAX_EVENTS_FILE", 1000)
    path = tmp_path / "events.jsonl"
    for n in range(40):
        append_event(path, event(n))
    kept = read_events(path)
    assert path.stat().st_size <= 1000 + len(json.dumps(dataclasses.asdict(event(0)))) + 1
    assert kept[-1] == event(39)  # the newest always stays, and the order too
    assert [e.timestamp for e in kept] == sorted(e.timestamp for e in kept)
    assert len(kept) < 40
