"""What `get -w`, `logs -f` and `wait` wait on between two looks at the
state directory: inotify (minipod/kernel/inotify.py) where there is one, a
1 s poll where there is none. Loaded only by those three, with the ctypes it
needs."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from minipod.kernel.inotify import (
    IN_CREATE,
    IN_DELETE,
    IN_IGNORED,
    IN_MODIFY,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_ONLYDIR,
    open_inotify,
)

POLL_FALLBACK = 1.0  # seconds, only where inotify is missing


CHANGES = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR


class DirectoryWatch:
    """Wakes `get -w` and `wait` when anything under pods/ may have changed:
    a pod directory made or removed, a pod.json renamed into one; and, for
    `wait`, a record made, renamed over or removed in the ``flat``
    directories (workloads/, services/, configmaps/, secrets/). A directory
    not made yet cannot be watched: then `wait` looks again after a poll."""

    def __init__(self, root: Path, flat: tuple[Path, ...] = ()) -> None:
        self.root = root
        self.flat = flat
        self.inotify = open_inotify()
        self._pod_dirs: dict[int, str] = {}
        self.complete = False  # every directory is watched

    def __enter__(self) -> DirectoryWatch:
        if self.inotify is not None:
            watched = [self.inotify.add(path, CHANGES) for path in (self.root, *self.flat)]
            self.complete = None not in watched
            self._sync()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.inotify is not None:
            self.inotify.close()

    def _sync(self) -> None:
        """Watch every pod directory there is (one made since the last look too)."""
        assert self.inotify is not None
        watched = set(self._pod_dirs.values())
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.root):
                if name not in watched:
                    wd = self.inotify.add(self.root / name, IN_MOVED_TO | IN_ONLYDIR)
                    if wd is not None:
                        self._pod_dirs[wd] = name

    def wait(self, timeout: float | None = None) -> None:
        """Until something may have changed, or ``timeout`` seconds."""
        if self.inotify is None:
            time.sleep(POLL_FALLBACK if timeout is None else min(timeout, POLL_FALLBACK))
            return
        for wd, mask, _name in self.inotify.read(timeout):
            if mask & IN_IGNORED:
                self._pod_dirs.pop(wd, None)
        self._sync()  # after reading: a directory made meanwhile is then seen by the rescan


class FileWatch:
    """Wakes `logs -f` when its log file grows, the pod record changes, or the
    pod directory goes away."""

    def __init__(self, pod_dir: Path, log: Path) -> None:
        self.pod_dir, self.log = pod_dir, log
        self.inotify = open_inotify()
        self._log_wd: int | None = None

    def __enter__(self) -> FileWatch:
        if self.inotify is not None:
            self.inotify.add(self.pod_dir, IN_MOVED_TO | IN_ONLYDIR)
            # The pod directory's removal, seen from pods/: its own IN_DELETE_SELF
            # comes only once nothing pins it, and our open log file does.
            self.inotify.add(self.pod_dir.parent, IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR)
            # The log directory, for a log file not made yet.
            self.inotify.add(self.log.parent, IN_CREATE | IN_ONLYDIR)
            self._log_wd = self.inotify.add(self.log, IN_MODIFY)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.inotify is not None:
            self.inotify.close()

    def wait(self) -> None:
        if self.inotify is None:
            time.sleep(POLL_FALLBACK)
            return
        self.inotify.read()
        # again each time: a rotation (kernel/logs.py) made a new file at
        # the path, and the old watch follows the renamed one
        self._log_wd = self.inotify.add(self.log, IN_MODIFY)

