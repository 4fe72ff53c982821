"""The supervisor's event loop: epoll for fds, a heap for deadlines.

Shaped after trio's run loop, only smaller. The io part knows nothing of time;
the deadline heap knows nothing of fds; run_once() asks the heap how long it
may wait and hands that to epoll. Nothing sleeps and nothing polls: with no fd
ready and no deadline due the process makes no wake-ups at all.

Signals arrive through signal.set_wakeup_fd on a non-blocking socketpair, so
no work ever runs inside a signal handler.

Fd discipline (trio's epoll essay): epoll tracks open file descriptions, not fd
numbers, so every fd is unregistered before it is closed; unregister() does it.

Every wait is epoll's: an fd is looked at when epoll says it is ready, time
passes only through deadlines. (An experiment that read probe answers in the
next turns without epoll saved ~2 % of a core at 1000 probes a second; it
was polling, and left out.)
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import select
import signal
import socket
from collections.abc import Callable, Hashable

from minipod.loop.clock import Clock, FakeClock, MonotonicClock

log = logging.getLogger(__name__)

FdCallback = Callable[[int], None]  # called with the epoll event mask


# seconds a wait through C (Loop.wait_with) lasts at most when signals do
# not come through a wakeup fd
SIGNAL_CHECK = 1.0
# The longest one wait lasts: epoll takes its timeout in int milliseconds
# (24.8 days at most), and a deadline ~292 years away (a grace period of
# that many seconds) must not overflow it. Waking once a day costs nothing.
MAX_WAIT = 86400.0


def _noop() -> None:
    pass


def _when_seq(entry: tuple[float, int, Deadline]) -> tuple[float, int]:
    return entry[0], entry[1]


class Deadline:
    """One timer. cancel() drops the callback at once, so whatever it closed
    over (a probe, its socket, its parser) is freed now by reference counting,
    not when the cancelled entry would have surfaced from the heap."""

    __slots__ = ("_heap", "callback", "cancelled", "seq", "when")

    def __init__(self, when: float, seq: int, callback: Callable[[], None],
                 heap: Deadlines | None = None) -> None:
        self.when = when
        self.seq = seq
        self.callback = callback
        self.cancelled = False
        self._heap = heap  # None once popped or cancelled: counted out of len()

    def cancel(self) -> None:
        self.cancelled = True
        self.callback = _noop
        heap = self._heap
        if heap is not None:
            self._heap = None
            heap._live -= 1
            if len(heap._heap) > 2 * heap._live + heap._COMPACT_MIN:
                heap._compact()

    def __repr__(self) -> str:
        return f"Deadline(when={self.when}, seq={self.seq}, cancelled={self.cancelled})"


class Deadlines:
    """A heap with lazy deletion: cancelled entries are skipped when they surface.

    Entries are (when, seq, Deadline) tuples, so heapq compares them in C; seq
    keeps insertion order among equal times. When cancelled entries outnumber
    live ones (every finished probe leaves its timeout behind), the heap is
    rebuilt without them, so it stays the size of what is really pending.

    Lanes: timers that come in time order anyway (every probe timeout of one
    length, every tick of one probe period) go to a FIFO of their own, named
    by the caller, instead of the heap: O(1) in and out, where the heap costs
    a sift of a dozen levels per pop (1000 probes a second made that 6% of
    the supervisor's time). One that would come before its lane's last entry
    goes to the heap; pop_due merges both by (when, seq).
    """

    _COMPACT_MIN = 64

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._lanes: dict[Hashable, collections.deque[Deadline]] = {}
        self._seq = itertools.count()
        self._live = 0

    def add(self, when: float, callback: Callable[[], None],
            lane: Hashable | None = None) -> Deadline:
        seq = next(self._seq)
        deadline = Deadline(when, seq, callback, self)
        self._live += 1
        if lane is not None:
            queue = self._lanes.get(lane)
            if queue is None:
                queue = self._lanes[lane] = collections.deque()
            if not queue or queue[-1].when <= when:
                queue.append(deadline)
                return deadline
        heapq.heappush(self._heap, (when, seq, deadline))
        return deadline

    def _compact(self) -> None:
        heap = self._heap
        heap[:] = [entry for entry in heap if not entry[2].cancelled]
        heapq.heapify(heap)

    def _drop_cancelled_head(self) -> None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)

    def next_deadline(self) -> float | None:
        self._drop_cancelled_head()
        best = self._heap[0][0] if self._heap else None
        empty = []
        for lane, queue in self._lanes.items():
            while queue and queue[0].cancelled:
                queue.popleft()
            if not queue:
                empty.append(lane)
            elif best is None or queue[0].when < best:
                best = queue[0].when
        for lane in empty:  # a lane of a probe period no pod has any more
            del self._lanes[lane]
        return best

    def pop_due(self, now: float) -> list[Deadline]:
        due: list[tuple[float, int, Deadline]] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if not entry[2].cancelled:
                due.append(entry)
        for queue in self._lanes.values():
            while queue and queue[0].when <= now:
                deadline = queue.popleft()
                if not deadline.cancelled:
                    due.append((deadline.when, deadline.seq, deadline))
        self._drop_cancelled_head()
        if len(due) > 1:  # heap and lanes merged (sorting sorted runs is linear)
            due.sort(key=_when_seq)
        for entry in due:
            entry[2]._heap = None
        self._live -= len(due)
        return [entry[2] for entry in due]

    def __len__(self) -> int:
        return self._live


class Loop:
    def __init__(self, clock: Clock | None = None,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        """``on_error``: called with what a callback raised, after which the
        loop goes on (the background supervisor's); without it the error
        ends run_once(), as any exception does."""
        self.clock: Clock = clock or MonotonicClock()
        self._on_error = on_error
        self.deadlines = Deadlines()
        self._epoll = select.epoll(sizehint=64)
        self._poll: Callable[[float], list[tuple[int, int]]] = self._epoll.poll
        self._fds: dict[int, FdCallback] = {}
        self._fake = isinstance(self.clock, FakeClock)
        self._signal_handlers: dict[int, Callable[[], None]] = {}
        self._wakeup_r: socket.socket | None = None
        self._wakeup_w: socket.socket | None = None
        self._old_wakeup_fd: int | None = None
        self._old_signal_handlers: dict[int, object] = {}
        self.stopped = False

    @property
    def fake_time(self) -> bool:
        """The clock is a test's FakeClock, not CLOCK_MONOTONIC."""
        return self._fake

    # -- fds ---------------------------------------------------------------
    def register(self, fd: int, callback: FdCallback, events: int = select.EPOLLIN) -> None:
        if fd in self._fds:
            try:
                self._epoll.modify(fd, events)
            except FileNotFoundError:
                # Someone closed the fd without unregister() and its number came
                # back: epoll dropped the old registration, our entry is stale.
                log.warning("fd %d was closed while registered; registering it anew", fd)
                self._epoll.register(fd, events)
        else:
            self._epoll.register(fd, events)
        self._fds[fd] = callback

    def unregister(self, fd: int) -> None:
        if self._fds.pop(fd, None) is not None:
            try:
                self._epoll.unregister(fd)
            except OSError as exc:  # closed behind our back (see register)
                log.warning("fd %d was closed while registered: %s", fd, exc)

    def wait_with(self, poll: Callable[[int, float], list[tuple[int, int]]] | None) -> None:
        """Wait through ``poll(epfd, timeout)`` instead of epoll.poll(timeout):
        the probe engine's, which turns its own wake-ups in C without coming
        back (netengine.py), and returns [] early when a signal interrupts
        it. None: epoll.poll again."""
        if poll is None:
            self._poll = self._epoll.poll
            return

        def through(timeout: float) -> list[tuple[int, int]]:
            if self._wakeup_r is None and not 0 <= timeout <= SIGNAL_CHECK:
                # No wakeup fd: a signal that came while C was turning, not
                # in epoll_wait, would wait for the next report or fd. Come
                # back now and then to let the interpreter run its handler.
                timeout = SIGNAL_CHECK
            return poll(self._epoll.fileno(), timeout)

        self._poll = through

    # -- time --------------------------------------------------------------
    def call_at(self, when: float, callback: Callable[[], None],
                lane: Hashable | None = None) -> Deadline:
        """``lane``: a name for timers that come in time order (see Deadlines)."""
        return self.deadlines.add(when, callback, lane)

    def call_later(self, delay: float, callback: Callable[[], None],
                   lane: Hashable | None = None) -> Deadline:
        return self.deadlines.add(self.clock.now() + delay, callback, lane)

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
        next_due = self.deadlines.next_deadline()
        timeout = None if next_due is None else max(0.0, next_due - self.clock.now())
        if max_wait is not None:
            timeout = max_wait if timeout is None else min(timeout, max_wait)
        if self._fake and timeout is not None and timeout > 0:
            # With a fake clock, jump straight to the next deadline: a test
            # of a 300 s back-off then takes no real time.
            ready = self._epoll.poll(0)
            if not ready:
                assert isinstance(self.clock, FakeClock)
                self.clock.jump_to(self.clock.now() + timeout)
        else:
            ready = self._poll(MAX_WAIT if timeout is None else min(timeout, MAX_WAIT))
        if self._on_error is not None:
            self._dispatch_guarded(ready)
            return
        for fd, events in ready:
            callback = self._fds.get(fd)
            if callback is not None:
                callback(events)
        for deadline in self.deadlines.pop_due(self.clock.now()):
            deadline.callback()

    def _dispatch_guarded(self, ready: list[tuple[int, int]]) -> None:
        assert self._on_error is not None
        for fd, events in ready:
            callback = self._fds.get(fd)
            if callback is not None:
                try:
                    callback(events)
                except Exception as e:
                    self._on_error(e)
        for deadline in self.deadlines.pop_due(self.clock.now()):
            try:
                deadline.callback()
            except Exception as e:
                self._on_error(e)

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
        self._poll = self._epoll.poll  # a closed loop's poll raises, as epoll's does
        self._epoll.close()


def _noop_handler(_signo: int, _frame: object) -> None:
    pass


__all__ = ["Deadline", "Deadlines", "Loop"]
