"""The supervisor's event loop: epoll for fds, a heap for deadlines.

Shaped after trio's run loop, only smaller. The io part knows nothing of time;
the deadline heap knows nothing of fds; run_once() asks the heap how long it
may wait and hands that to epoll. Nothing sleeps and nothing polls: with no fd
ready and no deadline due the process makes no wake-ups at all.

Signals arrive through signal.set_wakeup_fd on a non-blocking socketpair, so
no work ever runs inside a signal handler.

Fd discipline (trio's epoll essay): epoll tracks open file descriptions, not fd
numbers, so every fd is unregistered before it is closed; unregister() does it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import select
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from minipod.clock import Clock, FakeClock, MonotonicClock

log = logging.getLogger(__name__)

FdCallback = Callable[[int], None]  # called with the epoll event mask


@dataclass(order=True)
class Deadline:
    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class Deadlines:
    """A heap with lazy deletion: cancelled entries are skipped when they surface."""

    def __init__(self) -> None:
        self._heap: list[Deadline] = []
        self._seq = itertools.count()
        self._cancelled = 0

    def add(self, when: float, callback: Callable[[], None]) -> Deadline:
        deadline = Deadline(when, next(self._seq), callback)
        heapq.heappush(self._heap, deadline)
        return deadline

    def _drop_cancelled_head(self) -> None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)

    def next_deadline(self) -> float | None:
        self._drop_cancelled_head()
        return self._heap[0].when if self._heap else None

    def pop_due(self, now: float) -> list[Deadline]:
        due = []
        self._drop_cancelled_head()
        while self._heap and self._heap[0].when <= now:
            deadline = heapq.heappop(self._heap)
            if not deadline.cancelled:
                due.append(deadline)
            self._drop_cancelled_head()
        return due

    def __len__(self) -> int:
        return sum(1 for d in self._heap if not d.cancelled)


class Loop:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or MonotonicClock()
        self.deadlines = Deadlines()
        self._epoll = select.epoll(sizehint=64)
        self._fds: dict[int, FdCallback] = {}
        self._signal_handlers: dict[int, Callable[[], None]] = {}
        self._wakeup_r: socket.socket | None = None
        self._wakeup_w: socket.socket | None = None
        self._old_wakeup_fd: int | None = None
        self._old_signal_handlers: dict[int, object] = {}
        self.stopped = False

    # -- fds ---------------------------------------------------------------
    def register(self, fd: int, callback: FdCallback, events: int = select.EPOLLIN) -> None:
        if fd in self._fds:
            self._epoll.modify(fd, events)
        else:
            self._epoll.register(fd, events)
        self._fds[fd] = callback

    def unregister(self, fd: int) -> None:
        if self._fds.pop(fd, None) is not None:
            self._epoll.unregister(fd)

    # -- time --------------------------------------------------------------
    def call_at(self, when: float, callback: Callable[[], None]) -> Deadline:
        return self.deadlines.add(when, callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Deadline:
        return self.deadlines.add(self.clock.now() + delay, callback)

    # -- signals -------------------------------------------------------------
    def add_signal_handler(self, signo: int, callback: Callable[[], None]) -> None:
        """Run ``callback`` from the loop (not from the handler) when ``signo`` arrives."""
        self._ensure_wakeup_fd()
        self._signal_handlers[signo] = callback
        if signo not in self._old_signal_handlers:
            self._old_signal_handlers[signo] = signal.getsignal(signo)
        # The Python-level handler does nothing: its only job is to make the
        # interpreter write the signal number to the wakeup fd.
        signal.signal(signo, _noop_handler)

    def _ensure_wakeup_fd(self) -> None:
        if self._wakeup_r is not None:
            return
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        for sock in (self._wakeup_r, self._wakeup_w):
            sock.setblocking(False)
        self._old_wakeup_fd = signal.set_wakeup_fd(self._wakeup_w.fileno(),
                                                   warn_on_full_buffer=False)
        self.register(self._wakeup_r.fileno(), self._on_wakeup)

    def _on_wakeup(self, _events: int) -> None:
        assert self._wakeup_r is not None
        try:
            data = self._wakeup_r.recv(4096)
        except BlockingIOError:
            return
        for signo in dict.fromkeys(data):  # coalesce, keep order
            handler = self._signal_handlers.get(signo)
            if handler is not None:
                handler()

    # -- running -------------------------------------------------------------
    def run_once(self, max_wait: float | None = None) -> None:
        timeout = self._timeout(max_wait)
        if isinstance(self.clock, FakeClock) and timeout is not None and timeout > 0:
            # With a fake clock, jump straight to the next deadline: a test
            # of a 300 s back-off then takes no real time.
            ready = self._epoll.poll(0)
            if not ready:
                self.clock.jump_to(self.clock.now() + timeout)
        else:
            ready = self._epoll.poll(-1 if timeout is None else timeout)
        for fd, events in ready:
            callback = self._fds.get(fd)
            if callback is not None:
                callback(events)
        for deadline in self.deadlines.pop_due(self.clock.now()):
            deadline.callback()

    def _timeout(self, max_wait: float | None) -> float | None:
        next_due = self.deadlines.next_deadline()
        timeout = None if next_due is None else max(0.0, next_due - self.clock.now())
        if max_wait is not None:
            timeout = max_wait if timeout is None else min(timeout, max_wait)
        return timeout

    def run_until(self, done: Callable[[], bool]) -> None:
        while not done():
            self.run_once()

    def close(self) -> None:
        if self._wakeup_r is not None:
            signal.set_wakeup_fd(-1 if self._old_wakeup_fd is None else self._old_wakeup_fd)
            for signo, handler in self._old_signal_handlers.items():
                signal.signal(signo, handler)  # type: ignore[arg-type]
            self.unregister(self._wakeup_r.fileno())
            self._wakeup_r.close()
            assert self._wakeup_w is not None
            self._wakeup_w.close()
            self._wakeup_r = self._wakeup_w = None
        for fd in list(self._fds):
            self.unregister(fd)
        self._epoll.close()


def _noop_handler(_signo: int, _frame: object) -> None:
    pass


def detach_wakeup_fd_in_child() -> None:
    """In a forked child: stop signals from writing into the parent's socketpair."""
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:  # not the main thread; nothing was set
        pass


__all__ = ["Deadline", "Deadlines", "Loop", "detach_wakeup_fd_in_child"]
