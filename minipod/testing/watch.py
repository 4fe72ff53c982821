"""Waiting on a node's state directory without sleeping in a loop.

Every supervisor writes what a test waits for into files: a pod's record
(pods/<ns>_<name>/pod.json, replaced by a rename), the Service and
endpoints records, the workload records, and the containers' CRI logs. A
StateWatch puts inotify watches on those directories (kernel/inotify.py)
and wakes when one of them changes; the condition is then looked at again.
Nothing is looked at between two events but for one look every SAFETY
seconds, for what no file says (a process that died while nobody wrote).
Where the kernel has no inotify, that look is all there is.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from minipod.kernel.inotify import (
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_IGNORED,
    IN_MODIFY,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_ONLYDIR,
    Inotify,
    open_inotify,
)

SAFETY = 0.5  # seconds: the longest a condition goes unlooked-at
_MASK = (IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_MODIFY | IN_CLOSE_WRITE
         | IN_ONLYDIR)

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A wait ran out of time. An AssertionError, so pytest shows it as a
    failed check: the message names what was awaited and the last state seen."""

    def __init__(self, what: str, timeout: float, last_seen: str) -> None:
        super().__init__(f"timed out after {timeout:g}s waiting for {what}; "
                         f"last seen: {last_seen}")
        self.what = what
        self.timeout = timeout
        self.last_seen = last_seen


class StateWatch:
    """inotify watches on a state root, a logs root and the directories
    below them (two levels: pods/<pod>/ and <pod log dir>/<container>/),
    added again as they are made."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = roots
        self.inotify: Inotify | None = open_inotify()
        self._watched: dict[int, Path] = {}
        self._paths: set[Path] = set()

    def __enter__(self) -> StateWatch:
        self.sync()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.inotify is not None:
            self.inotify.close()
            self.inotify = None

    def _add(self, path: Path) -> None:
        if path in self._paths or self.inotify is None:
            return
        wd = self.inotify.add(path, _MASK)
        if wd is not None:
            self._watched[wd] = path
            self._paths.add(path)

    def sync(self) -> None:
        """Watch every directory there is now, down to two levels below each root."""
        for root in self.roots:
            self._add(root)
            for child in _subdirs(root):
                self._add(child)
                for grandchild in _subdirs(child):
                    self._add(grandchild)

    def wait(self, timeout: float) -> None:
        """Until something changed under the roots, or ``timeout`` seconds."""
        if self.inotify is None:
            time.sleep(min(timeout, SAFETY))
            return
        for wd, mask, _name in self.inotify.read(timeout):
            if mask & IN_IGNORED:
                self._paths.discard(self._watched.pop(wd, Path()))
        self.sync()  # directories made meanwhile: watched before the next look


def _subdirs(path: Path) -> list[Path]:
    try:
        with os.scandir(path) as entries:
            return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def wait_until(roots: list[Path], look: Callable[[], T | None], what: str, timeout: float,
               last_seen: Callable[[], str]) -> T:
    """``look()`` until it returns something other than None (or False),
    looking again whenever the state under ``roots`` changes. WaitTimeout
    after ``timeout`` seconds, naming ``what`` and ``last_seen()``."""
    deadline = time.monotonic() + timeout
    with StateWatch(roots) as watch:
        while True:
            # the watch is in place before this look: a change after it wakes us
            value = look()
            if value is not None and value is not False:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                seen = "?"
                with contextlib.suppress(Exception):  # the message must not hide the timeout
                    seen = last_seen()
                raise WaitTimeout(what, timeout, seen)
            watch.wait(min(left, SAFETY))


__all__ = ["SAFETY", "StateWatch", "WaitTimeout", "wait_until"]
