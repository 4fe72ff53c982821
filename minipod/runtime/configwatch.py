"""How a supervisor hears that a ConfigMap or Secret changed: inotify on
the store's two directories (kernel/configstore.py), in the loop, and the
pods that read the object are told (PodRunner.config_changed). Where there
is no inotify, every pod looks again every RESYNC seconds, as the kubelet's
periodic sync would have it look.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from minipod.kernel import configstore
from minipod.kernel.inotify import (
    IN_CLOSE_WRITE,
    IN_DELETE,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_ONLYDIR,
    Inotify,
    open_inotify,
)
from minipod.kernel.state import ensure_dir
from minipod.loop.eventloop import Deadline, Loop

log = logging.getLogger(__name__)

RESYNC = 60.0  # seconds, only without inotify (the kubelet's sync is about a minute)
Changed = Callable[[str | None, str | None, str | None], None]  # kind, namespace, name


class ConfigWatch:
    def __init__(self, loop: Loop, changed: Changed) -> None:
        self.loop, self.changed = loop, changed
        self._inotify: Inotify | None = None
        self._dirs: dict[int, str] = {}  # watch descriptor -> kind
        self._timer: Deadline | None = None

    def open(self) -> None:
        self._inotify = open_inotify()
        if self._inotify is None:
            self._timer = self.loop.call_later(RESYNC, self._resync)
            return
        for kind in configstore.DIRECTORIES:
            directory = ensure_dir(configstore.store_dir(kind))
            wd = self._inotify.add(directory, IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE
                                   | IN_CLOSE_WRITE | IN_ONLYDIR)
            if wd is not None:
                self._dirs[wd] = kind
        self.loop.register(self._inotify.fd, self._on_readable)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._inotify is not None:
            self.loop.unregister(self._inotify.fd)
            self._inotify.close()
            self._inotify = None

    def _on_readable(self, _events: int) -> None:
        assert self._inotify is not None
        seen: set[tuple[str, str, str]] = set()
        for wd, _mask, name in self._inotify.read(0):
            kind = self._dirs.get(wd)
            namespace, sep, rest = name.partition("_")
            if kind is None or name.startswith(".") or not sep or not rest.endswith(".json"):
                continue  # a temporary file of an atomic write
            seen.add((kind, namespace, rest.removesuffix(".json")))
        for kind, namespace, obj in sorted(seen):
            log.debug("%s %s/%s changed", kind, namespace, obj)
            self.changed(kind, namespace, obj)

    def _resync(self) -> None:
        self._timer = self.loop.call_later(RESYNC, self._resync)
        self.changed(None, None, None)
