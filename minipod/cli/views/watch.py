"""What `get -w` and `logs -f` wait on between two looks at the state
directory: inotify (minipod/kernel/inotify.py) where there is one, a 1 s
poll where there is none. Loaded only by those two, with the ctypes it needs."""

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


class DirectoryWatch:
    """Wakes `get -w` when anything under pods/ may have changed: a pod
    directory made or removed, a pod.json renamed into one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inotify = open_inotify()
        self._pod_dirs: dict[int, str] = {}

    def __enter__(self) -> DirectoryWatch:
        if self.inotify is not None:
            self.inotify.add(self.root, IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM
                             | IN_ONLYDIR)
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

    def wait(self) -> None:
        if self.inotify is None:
            time.sleep(POLL_FALLBACK)
            return
        for wd, mask, _name in self.inotify.read():
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

