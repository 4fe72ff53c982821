"""daemon.log is rotated (finding 4: it grew ~1 KB a pod, for ever)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from minipod.server import daemon


@pytest.fixture
def log_on_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """fds 1 and 2 on daemon.log of a private state directory, as in the daemon."""
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path / "state"))
    saved = os.dup(1), os.dup(2)
    try:
        yield daemon.log_path()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def test_the_log_is_rotated_past_its_limit(log_on_stdout: Path) -> None:
    daemon.open_log()  # here: pytest puts its capture back on fds 1 and 2 after set-up
    path = log_on_stdout
    os.write(1, b"x" * 1000)
    assert not daemon.rotate_log(limit=4096)
    os.write(2, b"y" * 4000)
    assert daemon.rotate_log(limit=4096)
    old = path.with_name("daemon.log.1")
    assert old.stat().st_size == 5000 and path.stat().st_size == 0
    os.write(1, b"after\n")
    assert path.read_bytes() == b"after\n"
    os.write(1, b"z" * 5000)
    assert daemon.rotate_log(limit=4096)
    assert old.read_bytes() == b"after\n" + b"z" * 5000  # one old file, no more
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith("daemon.log")) \
        == ["daemon.log", "daemon.log.1"]
