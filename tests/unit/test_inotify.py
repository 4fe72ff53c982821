"""minipod.kernel.inotify: the binding `get -w` and `logs -f` wait on, against
the real kernel (inotify needs no privilege)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from minipod.kernel.inotify import (
    IN_CREATE,
    IN_DELETE,
    IN_IGNORED,
    IN_MODIFY,
    IN_MOVED_TO,
    IN_ONLYDIR,
    Inotify,
    open_inotify,
)


@pytest.fixture
def inotify() -> Iterator[Inotify]:
    found = open_inotify()
    assert found is not None, "no inotify on this kernel"
    yield found
    found.close()


def test_events_name_what_changed(inotify: Inotify, tmp_path: Path) -> None:
    wd = inotify.add(tmp_path, IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_ONLYDIR)
    assert wd is not None
    (tmp_path / "made").mkdir()
    (tmp_path / ".tmp").write_text("x")
    os.rename(tmp_path / ".tmp", tmp_path / "pod.json")
    (tmp_path / "made").rmdir()
    events = inotify.read(timeout=5)
    named = [(w, mask & (IN_CREATE | IN_DELETE | IN_MOVED_TO), name) for w, mask, name in events]
    assert named == [(wd, IN_CREATE, "made"), (wd, IN_CREATE, ".tmp"),
                     (wd, IN_MOVED_TO, "pod.json"), (wd, IN_DELETE, "made")]


def test_a_file_that_grows(inotify: Inotify, tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_bytes(b"")
    wd = inotify.add(log, IN_MODIFY)
    with open(log, "ab") as f:
        f.write(b"more\n")
    assert [(w, mask & IN_MODIFY) for w, mask, _ in inotify.read(timeout=5)] == \
        [(wd, IN_MODIFY)]


def test_read_times_out_empty_and_a_removed_watch_says_ignored(
        inotify: Inotify, tmp_path: Path) -> None:
    directory = tmp_path / "pod"
    directory.mkdir()
    wd = inotify.add(directory, IN_MOVED_TO | IN_ONLYDIR)
    started = time.monotonic()
    assert inotify.read(timeout=0.05) == []
    assert time.monotonic() - started >= 0.04
    directory.rmdir()
    assert any(w == wd and mask & IN_IGNORED for w, mask, _ in inotify.read(timeout=5))


def test_a_missing_path_is_none_and_other_errors_raise(inotify: Inotify,
                                                       tmp_path: Path) -> None:
    assert inotify.add(tmp_path / "gone", IN_MODIFY) is None
    (tmp_path / "file").write_text("")
    assert inotify.add(tmp_path / "file" / "below", IN_MODIFY) is None  # ENOTDIR
    assert inotify.add(tmp_path / "file", IN_MODIFY | IN_ONLYDIR) is None  # ENOTDIR too
    with pytest.raises(OSError, match=f"inotify_add_watch {tmp_path}: Invalid argument"):
        inotify.add(tmp_path, 0)  # no event asked for: EINVAL


def test_close_is_idempotent_and_the_fd_is_cloexec(inotify: Inotify) -> None:
    import fcntl

    assert fcntl.fcntl(inotify.fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    assert not os.get_blocking(inotify.fd)
    inotify.close()
    assert inotify.fd == -1
    inotify.close()
