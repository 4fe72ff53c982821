"""minipod.loop.eventloop and minipod.loop.clock: the deadline heap, the epoll loop, signals."""

from __future__ import annotations

import os
import select
import signal
import socket
import time
import weakref
from collections.abc import Iterator

import pytest

from minipod.loop.clock import FakeClock, MonotonicClock
from minipod.loop.eventloop import Deadlines, Loop


def _noop() -> None:
    pass


@pytest.fixture
def fake_loop() -> Iterator[Loop]:
    loop = Loop(FakeClock(start=1000.0))
    yield loop
    loop.close()


@pytest.fixture
def real_loop() -> Iterator[Loop]:
    loop = Loop(MonotonicClock())
    yield loop
    loop.close()


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


# ---------------------------------------------------------------------------
# FakeClock
# ---------------------------------------------------------------------------


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(start=10.0, wall_offset=100.0)
    assert clock.now() == 10.0
    assert clock.wall() == 110.0
    clock.advance(2.5)
    assert clock.now() == 12.5
    assert clock.wall() == 112.5


def test_fake_clock_refuses_to_go_backwards() -> None:
    clock = FakeClock(start=10.0)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    clock.jump_to(5.0)  # jump_to an earlier time is a no-op, not a rewind
    assert clock.now() == 10.0
    clock.jump_to(20.0)
    assert clock.now() == 20.0


# ---------------------------------------------------------------------------
# Deadlines
# ---------------------------------------------------------------------------


def test_deadlines_pop_in_time_order_then_insertion_order() -> None:
    heap = Deadlines()
    fired: list[str] = []
    heap.add(5.0, lambda: fired.append("c"))
    heap.add(1.0, lambda: fired.append("a"))
    heap.add(5.0, lambda: fired.append("d"))  # same time as "c": after it
    heap.add(3.0, lambda: fired.append("b"))
    assert len(heap) == 4
    assert heap.next_deadline() == 1.0

    for deadline in heap.pop_due(10.0):
        deadline.callback()

    assert fired == ["a", "b", "c", "d"]
    assert len(heap) == 0
    assert heap.next_deadline() is None


def test_pop_due_returns_only_what_is_due() -> None:
    heap = Deadlines()
    early = heap.add(1.0, _noop)
    on_time = heap.add(2.0, _noop)
    late = heap.add(2.5, _noop)

    assert heap.pop_due(0.5) == []
    assert heap.pop_due(2.0) == [early, on_time]  # `when <= now` is due
    assert heap.next_deadline() == 2.5
    assert heap.pop_due(3.0) == [late]


def test_cancelled_deadlines_are_skipped_lazily() -> None:
    heap = Deadlines()
    first = heap.add(1.0, _noop)
    middle = heap.add(2.0, _noop)
    last = heap.add(3.0, _noop)

    middle.cancel()
    assert len(heap) == 2  # counted out at once...
    assert heap.next_deadline() == 1.0

    first.cancel()
    # ...and next_deadline looks past every cancelled head
    assert heap.next_deadline() == 3.0
    assert heap.pop_due(10.0) == [last]
    assert heap.next_deadline() is None


def test_next_deadline_is_none_when_everything_is_cancelled() -> None:
    heap = Deadlines()
    for when in (1.0, 2.0):
        heap.add(when, _noop).cancel()
    assert len(heap) == 0
    assert heap.next_deadline() is None
    assert heap.pop_due(100.0) == []


def test_lanes_and_the_heap_pop_in_time_then_insertion_order() -> None:
    heap = Deadlines()
    fired: list[str] = []
    heap.add(2.0, lambda: fired.append("lane-a 2"), lane="a")
    heap.add(1.5, lambda: fired.append("heap 1.5"))
    heap.add(3.0, lambda: fired.append("lane-a 3"), lane="a")
    heap.add(2.5, lambda: fired.append("lane-a 2.5 (out of order: heap)"), lane="a")
    heap.add(2.0, lambda: fired.append("lane-b 2"), lane="b")
    heap.add(1.0, lambda: fired.append("lane-b 1 (out of order: heap)"), lane="b")
    assert len(heap) == 6
    assert heap.next_deadline() == 1.0
    assert [d.when for d in heap.pop_due(1.7)] == [1.0, 1.5]
    for deadline in heap.pop_due(10.0):
        deadline.callback()
    assert fired == ["lane-a 2", "lane-b 2", "lane-a 2.5 (out of order: heap)", "lane-a 3"]
    assert len(heap) == 0
    assert heap.next_deadline() is None


def test_cancelled_lane_entries_are_skipped() -> None:
    heap = Deadlines()
    first = heap.add(1.0, _noop, lane="t")
    second = heap.add(2.0, _noop, lane="t")
    first.cancel()
    assert len(heap) == 1
    assert heap.next_deadline() == 2.0
    second.cancel()
    assert heap.next_deadline() is None
    assert heap.pop_due(5.0) == []


def test_cancel_lets_go_of_what_the_callback_holds() -> None:
    # A finished probe cancels its timeout; the probe (socket, parser) must
    # be freed then, not when the stale entry reaches the top of the heap.
    class Probe:
        def expire(self) -> None:
            pass

    heap = Deadlines()
    probe = Probe()
    ref = weakref.ref(probe)
    heap.add(100.0, probe.expire).cancel()
    del probe
    assert ref() is None


def test_many_cancelled_entries_are_compacted_in_order() -> None:
    heap = Deadlines()
    fired: list[int] = []
    kept = [heap.add(float(i), lambda i=i: fired.append(i)) for i in range(0, 1000, 100)]
    for i in range(5000):
        heap.add(5000.0 + i, _noop).cancel()
    assert len(heap) == len(kept)
    assert len(heap._heap) < 200, "cancelled entries are dropped, not kept for hours"
    for deadline in heap.pop_due(1e9):
        deadline.callback()
    assert fired == list(range(0, 1000, 100))


def test_a_deadline_cancelled_by_an_earlier_one_of_its_turn_does_not_run(
        fake_loop: Loop) -> None:
    fired: list[str] = []
    second = fake_loop.call_later(1, lambda: fired.append("second"))
    fake_loop.call_later(0.5, second.cancel)
    fake_loop.clock.advance(2)  # type: ignore[attr-defined]
    fake_loop.run_once(max_wait=0)
    assert fired == []
    assert len(fake_loop.deadlines) == 0


def test_an_fd_closed_while_registered_and_reused_can_be_registered_again(
        real_loop: Loop) -> None:
    # Someone else's bug must not stop the loop: an fd closed without
    # unregister() leaves a stale entry; its number's next owner still registers.
    a, b = socket.socketpair()
    stale = a.fileno()
    real_loop.register(stale, lambda events: None)
    os.close(a.detach())  # closed behind the loop's back
    c, d = socket.socketpair()
    try:
        reused = c.fileno() if c.fileno() == stale else None
        if reused is None:
            pytest.skip("the fd number was not reused")
        got: list[int] = []
        real_loop.register(reused, got.append)
        d.send(b"x")
        real_loop.run_once(max_wait=1)
        assert got and got[0] & select.EPOLLIN
        real_loop.unregister(reused)
    finally:
        for sock in (b, c, d):
            sock.close()


# ---------------------------------------------------------------------------
# Loop: time
# ---------------------------------------------------------------------------


def test_call_later_fires_in_time_order_with_fake_clock(fake_loop: Loop) -> None:
    clock = fake_loop.clock
    fired: list[tuple[str, float]] = []
    fake_loop.call_later(5, lambda: fired.append(("five", clock.now())))
    fake_loop.call_later(1, lambda: fired.append(("one", clock.now())))
    fake_loop.call_later(3, lambda: fired.append(("three", clock.now())))

    fake_loop.run_until(lambda: len(fired) == 3)

    assert fired == [("one", 1001.0), ("three", 1003.0), ("five", 1005.0)]


def test_fake_clock_autojumps_a_long_timer(fake_loop: Loop) -> None:
    start = fake_loop.clock.now()
    fired: list[float] = []
    fake_loop.call_later(300, lambda: fired.append(fake_loop.clock.now()))

    real_start = time.monotonic()
    fake_loop.run_until(lambda: bool(fired))
    real_elapsed = time.monotonic() - real_start

    assert real_elapsed < 1.0
    assert fake_loop.clock.now() == start + 300
    assert fired == [start + 300]


def test_cancelled_timer_never_fires(fake_loop: Loop) -> None:
    fired: list[str] = []
    fake_loop.call_later(1, lambda: fired.append("cancelled")).cancel()
    fake_loop.call_later(2, lambda: fired.append("kept"))
    fake_loop.run_until(lambda: bool(fired))
    fake_loop.run_once(max_wait=10)
    assert fired == ["kept"]
    assert fake_loop.clock.now() == 1012.0  # 2 s to "kept", then the 10 s max_wait


def test_call_at_uses_absolute_time(fake_loop: Loop) -> None:
    fired: list[float] = []
    fake_loop.call_at(1042.0, lambda: fired.append(fake_loop.clock.now()))
    fake_loop.run_until(lambda: bool(fired))
    assert fired == [1042.0]


def test_timer_added_by_a_callback_runs_later(fake_loop: Loop) -> None:
    fired: list[tuple[str, float]] = []

    def first() -> None:
        fired.append(("first", fake_loop.clock.now()))
        fake_loop.call_later(10, lambda: fired.append(("second", fake_loop.clock.now())))

    fake_loop.call_later(1, first)
    fake_loop.run_until(lambda: len(fired) == 2)
    assert fired == [("first", 1001.0), ("second", 1011.0)]


def test_run_until_stops_as_soon_as_done(fake_loop: Loop) -> None:
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(fake_loop.clock.now())
        fake_loop.call_later(1, tick)

    fake_loop.call_later(1, tick)
    fake_loop.run_until(lambda: len(ticks) >= 3)
    assert ticks == [1001.0, 1002.0, 1003.0]
    assert fake_loop.clock.now() == 1003.0


def test_run_until_does_not_run_when_already_done(fake_loop: Loop) -> None:
    fired: list[str] = []
    fake_loop.call_later(0, lambda: fired.append("x"))
    fake_loop.run_until(lambda: True)
    assert fired == []


def test_max_wait_bounds_the_fake_jump(fake_loop: Loop) -> None:
    fired: list[str] = []
    fake_loop.call_later(100, lambda: fired.append("x"))
    fake_loop.run_once(max_wait=5)
    assert fired == []
    assert fake_loop.clock.now() == 1005.0


# ---------------------------------------------------------------------------
# Loop: fds
# ---------------------------------------------------------------------------


def test_registered_fd_callback_gets_epollin(pipe: tuple[int, int], real_loop: Loop) -> None:
    r, w = pipe
    seen: list[tuple[int, bytes]] = []
    real_loop.register(r, lambda events: seen.append((events, os.read(r, 100))))

    real_loop.run_once(max_wait=0)
    assert seen == []  # nothing written yet

    os.write(w, b"ping")
    real_loop.run_once(max_wait=1.0)
    assert len(seen) == 1
    events, data = seen[0]
    assert events & select.EPOLLIN
    assert data == b"ping"


def test_unregistered_fd_callback_is_not_called(pipe: tuple[int, int], real_loop: Loop) -> None:
    r, w = pipe
    calls: list[int] = []
    real_loop.register(r, calls.append)
    real_loop.unregister(r)
    real_loop.unregister(r)  # a second unregister is harmless

    os.write(w, b"ping")
    real_loop.run_once(max_wait=0)
    assert calls == []
    # the fd is still usable: unregister did not close it
    assert os.read(r, 10) == b"ping"


def test_register_twice_replaces_the_callback(pipe: tuple[int, int], real_loop: Loop) -> None:
    r, w = pipe
    old: list[int] = []
    new: list[int] = []
    real_loop.register(r, old.append)
    real_loop.register(r, new.append)
    os.write(w, b"x")
    real_loop.run_once(max_wait=1.0)
    assert old == []
    assert len(new) == 1


def test_fd_ready_with_fake_clock_does_not_jump(pipe: tuple[int, int], fake_loop: Loop) -> None:
    r, w = pipe
    seen: list[bytes] = []
    fake_loop.register(r, lambda _events: seen.append(os.read(r, 10)))
    fake_loop.call_later(60, _noop)
    os.write(w, b"x")
    fake_loop.run_once()
    assert seen == [b"x"]
    assert fake_loop.clock.now() == 1000.0  # the fd was served first; no time passed


# ---------------------------------------------------------------------------
# Loop: signals
# ---------------------------------------------------------------------------


def _recording_handler(_signo: int, _frame: object) -> None:
    pass


def test_signal_callback_runs_from_the_loop_not_the_handler() -> None:
    previous_handler = signal.signal(signal.SIGUSR1, _recording_handler)
    sentinel_r, sentinel_w = socket.socketpair()
    sentinel_w.setblocking(False)
    previous_wakeup = signal.set_wakeup_fd(sentinel_w.fileno())
    loop = Loop(MonotonicClock())
    try:
        calls: list[str] = []
        loop.add_signal_handler(signal.SIGUSR1, lambda: calls.append("usr1"))
        assert signal.getsignal(signal.SIGUSR1) is not _recording_handler

        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0)  # let the interpreter run the Python-level handler
        assert calls == []  # the handler itself did nothing

        loop.run_once(max_wait=1.0)
        assert calls == ["usr1"]

        loop.close()
        # close() puts back the previous handler and wakeup fd
        assert signal.getsignal(signal.SIGUSR1) is _recording_handler
        assert signal.set_wakeup_fd(sentinel_w.fileno()) == sentinel_w.fileno()
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        signal.signal(signal.SIGUSR1, previous_handler)
        sentinel_r.close()
        sentinel_w.close()


def test_repeated_signals_coalesce_into_one_callback_per_wakeup() -> None:
    previous_handler = signal.getsignal(signal.SIGUSR2)
    loop = Loop(MonotonicClock())
    try:
        calls: list[str] = []
        loop.add_signal_handler(signal.SIGUSR2, lambda: calls.append("usr2"))
        for _ in range(3):
            os.kill(os.getpid(), signal.SIGUSR2)
        loop.run_once(max_wait=1.0)
        assert calls == ["usr2"]
    finally:
        loop.close()
    assert signal.getsignal(signal.SIGUSR2) == previous_handler
