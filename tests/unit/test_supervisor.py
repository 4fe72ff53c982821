"""The Supervisor without a kernel: pods on fake effects, exits from a fake
reap source, the loop on a FakeClock.

What is checked is the supervisor's own work: one reap loop that hands each
exit to whoever watches that pid (and passes over orphans), start_pods'
all-or-nothing rollback, deletion, finished pods, and the bound on events.
"""

from __future__ import annotations

import collections
import gc
import os
import signal
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeEffects
from hostcheck import report

from minipod.api.backoff import BackoffPolicy
from minipod.api.errors import StartError
from minipod.api.events import Event
from minipod.api.model import Container, Pod, PodSpec
from minipod.kernel.image import Image
from minipod.kernel.spawn import ExitStatus
from minipod.loop.clock import FakeClock
from minipod.loop.eventloop import Loop
from minipod.runtime.podview import pod_record
from minipod.runtime.supervisor import Supervisor

IMAGE = Image(ref="busybox", name="busybox:latest", lowers=("/nonexistent",), cmd=("sh",))


class FakeReaper:
    """The reap source: exits queued by the test, handed out one per call."""

    def __init__(self) -> None:
        self.queue: collections.deque[tuple[int, ExitStatus]] = collections.deque()
        self.calls = 0

    def __call__(self) -> tuple[int, ExitStatus] | None:
        self.calls += 1
        return self.queue.popleft() if self.queue else None


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[Supervisor, FakeEffects, FakeReaper, list[Event]]]:
    fx, reaper, events = FakeEffects(tmp_path), FakeReaper(), []
    sup = Supervisor(Loop(FakeClock()), events.append, echo_logs=False,
                     backoff=BackoffPolicy(10, 300), socket_path=tmp_path / "s.sock",
                     effects=fx, reap_one=reaper)
    yield sup, fx, reaper, events
    sup.rollback()
    sup.loop.close()
    fx.close()


def pod(name: str, *apps: str, policy: str = "Always") -> Pod:
    spec = PodSpec(containers=tuple(Container(a, "busybox") for a in apps or ("app",)),
                   restart_policy=policy)  # type: ignore[arg-type]
    return Pod(name=name, spec=spec)


def images(*pods: Pod) -> dict[str, dict[str, Image]]:
    return {f"{p.namespace}/{p.name}": {c.name: IMAGE for c in p.spec.containers}
            for p in pods}


def pid_of(sup: Supervisor, key: str, container: str = "app") -> int:
    run = next(r for r in sup.pods[key].runs if r.name == container)
    assert run.child is not None
    return run.child.pid


def test_an_exit_goes_to_its_pod_and_orphans_are_passed_over(parts) -> None:  # type: ignore[no-untyped-def]
    sup, fx, reaper, _events = parts
    a, b = pod("a"), pod("b")
    sup.start_pods([a, b], images(a, b))
    assert fx.spawned == ["app", "app"]
    reaper.queue.extend([(99999, ExitStatus(0)),  # an orphan we inherited
                         (pid_of(sup, "default/b"), ExitStatus(3))])
    sup.reap()
    assert reaper.calls == 3, "reaped until the source had nothing more"
    run_b = sup.pods["default/b"].apps[0]
    assert run_b.restart_count == 1 and run_b.last_state is not None
    assert run_b.last_state.exit_code == 3
    assert sup.pods["default/a"].apps[0].restart_count == 0


def test_start_pods_rolls_back_what_the_call_started(parts) -> None:  # type: ignore[no-untyped-def]
    sup, fx, _reaper, _events = parts
    old = pod("old")
    sup.start_pods([old], images(old))
    a, b = pod("a"), pod("b")
    fx.fail_sandbox.add("b")
    with pytest.raises(StartError):
        sup.start_pods([a, b], images(a, b))
    assert sorted(sup.pods) == ["default/old"], "only this call's pods rolled back"
    assert fx.torn_down == ["a"]


def test_delete_stops_the_pod_and_answers_once_it_is_gone(parts) -> None:  # type: ignore[no-untyped-def]
    sup, fx, reaper, _events = parts
    p = pod("p")
    sup.start_pods([p], images(p))
    done: list[bool] = []
    assert sup.delete_pod("default/p", 5, lambda: done.append(True))
    assert fx.signals == [("app", signal.SIGTERM)] and not done
    reaper.queue.append((pid_of(sup, "default/p"), ExitStatus(143, 15)))
    sup.reap()
    assert done == [True] and sup.pods == {}
    assert fx.torn_down == ["p"]
    assert not sup.delete_pod("default/p", None, lambda: None), "a second delete finds nothing"


def test_a_finished_pod_goes_and_a_failed_one_is_reported(parts) -> None:  # type: ignore[no-untyped-def]
    sup, _fx, reaper, events = parts
    ok, bad = pod("ok", policy="Never"), pod("bad", policy="Never")
    sup.start_pods([ok, bad], images(ok, bad))
    reaper.queue.extend([(pid_of(sup, "default/ok"), ExitStatus(0)),
                         (pid_of(sup, "default/bad"), ExitStatus(2))])
    sup.reap()
    assert sup.pods == {}
    assert sup.failures == ["pod default/bad failed: container app exited with code 2"]
    assert [e.reason for e in events if e.reason == "PodCompleted"] == ["PodCompleted"] * 2


def test_events_go_to_the_sink_and_the_supervisor_keeps_none(parts) -> None:  # type: ignore[no-untyped-def]
    """A live pod whose probe fails every second sends an event a second for
    as long as it runs: the supervisor must not grow with them (the soak's
    RSS slope, ~0.6 KB a cycle, was its keeper pod's events kept here)."""
    sup, _fx, _reaper, _events = parts
    seen = []
    sup.sink = lambda event: seen.append(event.message[-1:])  # keeps a char, not the event

    def emit(n: int) -> None:
        sup.emit(Event(float(n), "Warning", "Unhealthy", "pod/p",
                       f"Readiness probe failed: dial tcp 127.0.0.1:8080: connection refused {n}"))

    for n in range(100):  # warm-up: the caches of a first call
        emit(n)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(10_000):
            emit(n)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(seen) == 10_100
    grown -= 10_000 * 8  # the sink's list of pointers (its chars are interned)
    assert grown < 8 * 1024, f"the supervisor kept {grown} bytes over 10,000 events"


# -- issue 15 -----------------------------------------------------------------------------


def test_a_grace_period_of_int64_max_stops_and_a_second_delete_shortens_it(parts) -> None:  # type: ignore[no-untyped-def]
    """Finding 1: a terminationGracePeriodSeconds of 2**63-1 (accepted by the
    API server) no longer overflows a timer; `delete --grace-period 0` while
    it waits kills at once instead of hanging for centuries."""
    sup, fx, reaper, _events = parts
    spec = PodSpec(containers=(Container("app", "busybox"),),
                   termination_grace_period_seconds=2**63 - 1)
    p = Pod(name="p", spec=spec)
    sup.start_pods([p], images(p))
    done: list[str] = []
    assert sup.delete_for_client("default/p", None, lambda: done.append("first")) == "deleting"
    assert fx.signals == [("app", signal.SIGTERM)]
    sup.loop.run_once(max_wait=0)  # a deadline 292 years away: no OverflowError
    assert sup.delete_for_client("default/p", 0, lambda: done.append("second")) == "already"
    assert fx.signals == [("app", signal.SIGTERM), ("app", signal.SIGKILL)]
    reaper.queue.append((pid_of(sup, "default/p"), ExitStatus(137, 9)))
    sup.reap()
    assert done == ["first"] and sup.pods == {}


def test_two_deletes_of_one_pod_one_deleted_the_other_not_found(parts) -> None:  # type: ignore[no-untyped-def]
    """Finding 5: kubectl's second delete of a pod being deleted is NotFound."""
    sup, _fx, reaper, _events = parts
    p = pod("p")
    sup.start_pods([p], images(p))
    said: list[str] = []
    assert sup.delete_for_client("default/p", None, lambda: said.append("deleted")) \
        == "deleting"
    assert sup.delete_for_client("default/p", None, lambda: said.append("deleted")) \
        == "already"
    reaper.queue.append((pid_of(sup, "default/p"), ExitStatus(143, 15)))
    sup.reap()
    assert said == ["deleted"]
    assert sup.delete_for_client("default/p", None, lambda: None) == "not found"


def test_probe_output_is_escaped_in_events(parts) -> None:  # type: ignore[no-untyped-def]
    """Finding 5: raw bytes a probe's server sends reach no log unescaped."""
    sup, _fx, _reaper, events = parts
    p = pod("p")
    sup.start_pods([p], images(p))
    sup.pods["default/p"].event("Warning", "Unhealthy", "probe said \x1b[2J\x00\x07\nfake line")
    line = events[-1].line()
    assert "\x1b" not in line and "\x00" not in line and "\n" not in line
    assert events[-1].message == "probe said \\x1b[2J\\x00\\x07\\nfake line"


class LeanEffects(FakeEffects):
    """FakeEffects that keep nothing per pod (no lists of what was done, no
    pipes for mount holds), so that what grows is the supervisor's alone."""

    def create_sandbox(self, pod: Pod, attach: Any = None, intent: Any = None) -> Any:
        box = super().create_sandbox(pod, attach, intent)
        self.sandboxes.clear()
        self.nets.clear()
        return box

    def start_container(self, box: Any, run: Any, plan: Any, binds: Any) -> Any:
        child = super().start_container(box, run, plan, binds)
        self.spawned.clear()
        self.plans.clear()
        self.names.clear()
        self.names[child.pid] = run.name
        return child

    def open_stream(self, box: Any, container: str, stream: str) -> int:
        r, w = os.pipe2(os.O_CLOEXEC)
        os.close(w)
        return r

    def teardown_sandbox(self, box: Any) -> None:
        super().teardown_sandbox(box)
        self.torn_down.clear()

    def hold_mount_ns(self, pid: int) -> int:
        return -1

    def signal(self, child: Any, signo: int) -> None:
        pass

    def save_record(self, runner: Any) -> None:
        pod_record(runner)  # rendered, as the kernel's effects do, and dropped


def test_memory_is_flat_over_ten_thousand_pods(parts) -> None:  # type: ignore[no-untyped-def]
    """Finding 4: a pod created and deleted leaves nothing in the supervisor.
    On 7e0d174 each cycle kept ~5.6 KB: the pod's events (Supervisor.events,
    never pruned) and its last printed row (_shown)."""
    sup, _fx, reaper, _events = parts
    sup.effects = LeanEffects(_fx.tmp)
    sup.status_sink = lambda _line: None
    sup.sink = lambda _event: None  # the fixture's list would keep every event

    def cycle(n: int) -> None:
        p = pod(f"p{n}")
        sup.start_pods([p], images(p))
        key = f"default/p{n}"
        sup.pods[key].event("Warning", "Unhealthy", "x" * 200)
        pid = pid_of(sup, key)
        sup.delete_pod(key, 1, lambda: None)
        reaper.queue.append((pid, ExitStatus(143, 15)))
        sup.reap()
        sup.loop.run_once(max_wait=0)

    for n in range(500):  # warm-up: caches, free lists, the heap's size
        cycle(n)
    gc.collect()
    blocks = sys.getallocatedblocks()
    for n in range(500, 10_500):
        cycle(n)
    gc.collect()
    kept_blocks = sys.getallocatedblocks() - blocks
    # where the bytes go, if any: tracemalloc over a shorter run (it is slow)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(10_500, 11_500):
            cycle(n)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    report("memory (fakes)", {"pods_created_and_deleted": 10_000,
                              "blocks_kept": kept_blocks,
                              "bytes_kept_over_1000_pods_tracemalloc": grown})
    assert sup.pods == {} and sup._shown == {}
    assert kept_blocks < 2000, f"{kept_blocks} blocks kept over 10,000 pods"
    assert grown < 16 * 1024, f"{grown} bytes kept over 1,000 pods ({grown / 1000:.1f}/pod)"
