"""inotify(7): the kernel's word that a file or directory changed.

`minipod get -w` and `logs -f` wait on it (minipod/cli/views/watch.py),
and the supervisor hears the OOM killer through it on cgroup v2
(kernel/cgroups.py's OomWatch). Bound through libc with ctypes rather than
the cffi extension: the two read-only commands then load no part of the
supervisor's C (ctypes is a few milliseconds of start-up).
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import struct
from pathlib import Path

# <sys/inotify.h>
IN_MODIFY = 0x2
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x1000000


class Inotify:
    """inotify(7) through libc (ctypes): a non-blocking fd, read after poll(2)."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._init1 = libc.inotify_init1
        self._init1.argtypes, self._init1.restype = [ctypes.c_int], ctypes.c_int
        self._add = libc.inotify_add_watch
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._add.restype = ctypes.c_int
        self._get_errno = ctypes.get_errno
        fd = self._init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if fd < 0:
            err = self._get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self.fd = fd

    def add(self, path: Path, mask: int) -> int | None:
        """Watch ``path``; None if it does not exist (any more)."""
        wd = int(self._add(self.fd, os.fsencode(path), mask))
        if wd < 0:
            err = self._get_errno()
            if err in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise OSError(err, f"inotify_add_watch {path}: {os.strerror(err)}")
        return wd

    def read(self, timeout: float | None = None) -> list[tuple[int, int, str]]:
        """Block until events arrive (or ``timeout``), then take all of them:
        (watch descriptor, mask, name) each."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        if not poller.poll(None if timeout is None else int(timeout * 1000)):
            return []
        events: list[tuple[int, int, str]] = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return events
            offset = 0
            while offset + 16 <= len(data):
                wd, mask, _cookie, length = struct.unpack_from("iIII", data, offset)
                raw = data[offset + 16:offset + 16 + length].rstrip(b"\0")
                events.append((wd, mask, os.fsdecode(raw)))
                offset += 16 + length

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_inotify() -> Inotify | None:
    """An Inotify, or None where the kernel or libc has none (the caller polls)."""
    try:
        return Inotify()
    except (OSError, AttributeError):  # no inotify here (or no libc symbol)
        return None

