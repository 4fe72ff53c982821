"""minipod.probes.net.engine (csrc/mp_prober.c): httpGet and tcpSocket probes run in C.

The engine judges only the plain 2xx answer and hands everything else to
netprobe's Python, which goes on from where the engine stopped. So the
differential tests here send the same bytes through both and expect the same
result and words; the worker tests check what Python hears (a settled
worker's successes are counted, not reported) and that nothing is left.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import probeservers
import pytest
from probeservers import Netns, netns_running, open_fds

from minipod.api.model import HTTPGetAction, Probe, TCPSocketAction
from minipod.kernel.ns import home_netns_fd
from minipod.loop.eventloop import Loop
from minipod.probes.net import engine as netengine
from minipod.probes.net import netprobe
from minipod.probes.worker import FAILURE, SUCCESS, Outcome, ProbeWorker

pytestmark = pytest.mark.root

BUSYBOX = "/bin/busybox"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


@pytest.fixture
def loop() -> Iterator[Loop]:
    loop = Loop()
    yield loop
    loop.close()


def fds_before() -> set[str]:
    """open_fds() with the process-wide fd of the home netns open (the first
    engine opens it, for good) and earlier tests' garbage collected."""
    home_netns_fd()
    gc.collect()
    return open_fds()


def engine_probe(loop: Loop, prepared: netprobe.Prepared, limit: float = 5.0) -> Outcome:
    """One probe through the engine: a schedule whose first tick is due now."""
    outcomes: list[Outcome] = []
    schedule = prepared.schedule(loop.clock.now(), 3600.0, 0, outcomes.append)
    assert schedule is not None, "the engine took the probe"
    give_up = loop.call_later(limit, lambda: outcomes.append(Outcome("test", "gave up")))
    try:
        loop.run_until(lambda: bool(outcomes))
    finally:
        give_up.cancel()
        schedule.stop()
        prepared.close()
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


def python_probe(loop: Loop, prepared: netprobe.Prepared) -> Outcome:
    try:
        return probeservers.run_probe(loop, prepared)
    finally:
        prepared.close()


def http(loop: Loop, port: int, path: str = "/", timeout: float = 1.0) -> netprobe.HTTPGet:
    return netprobe.prepare_http(loop, None, timeout, "http", "127.0.0.1", port, path, (), engine=netengine.schedule)


# -- the same bytes, judged by C and by Python -----------------------------------

ANSWERS = {
    "plain": OK,
    "no reason": b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",
    "bare LF": b"HTTP/1.0 204 No Content\nServer: x\n\n",
    "empty body": b"HTTP/1.1 299 Whatever\r\nContent-Length: 0\r\n\r\n",
    "two equal lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length:  2 \r\n\r\nok",
    "extra bytes": OK + b"garbage after the body",
    "folded field": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok",
    "bad field name": b"HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 2\r\n\r\nok",
    "two lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
    "bad length": b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok",
    "short body": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "gzip coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok",
    "to the close": b"HTTP/1.1 200 OK\r\n\r\nbody to the close",
    "interim then 200": b"HTTP/1.1 100 Continue\r\n\r\n" + OK,
    "redirect away": b"HTTP/1.1 302 Found\r\nLocation: http://elsewhere/\r\nContent-Length: 0\r\n\r\n",
    "server error": b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\noops",
    "not http": b"SSH-2.0-OpenSSH_9.2\r\n",
    "bad version": b"HTTP/x.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "big body": b"HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n" + b"x" * 20000,
    "nothing": b"",
}


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_engine_and_python_agree(loop: Loop, name: str) -> None:
    with probeservers.scripted_server(ANSWERS[name], then_close=True) as port:
        by_python = python_probe(loop, http(loop, port))
        by_engine = engine_probe(loop, http(loop, port))
    assert by_engine.result == by_python.result, (by_engine, by_python)
    if by_python.result != SUCCESS:  # a success's text (the body) is nowhere shown
        assert by_engine.message == by_python.message


def test_a_held_connection_is_judged_without_waiting_for_the_close(loop: Loop) -> None:
    with probeservers.scripted_server(OK, then_close=False) as port:
        assert engine_probe(loop, http(loop, port, timeout=30)) == Outcome(SUCCESS)


def test_no_answer_expires_with_gos_words(loop: Loop) -> None:
    with probeservers.scripted_server(OK, then_close=False, delay=3) as port:
        outcome = engine_probe(loop, http(loop, port, "/slow", timeout=0.3))
    assert outcome == Outcome(FAILURE, f'Get "http://127.0.0.1:{port}/slow": context deadline '
                                       "exceeded (Client.Timeout exceeded while awaiting headers)")


def test_a_refused_dial(loop: Loop) -> None:
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))  # nobody listens here
        port = reserved.getsockname()[1]
        outcome = engine_probe(loop, http(loop, port, "/x"))
        tcp = engine_probe(loop, netprobe.prepare_tcp(loop, None, 1.0, "127.0.0.1", port, engine=netengine.schedule))
    assert outcome == Outcome(FAILURE, f'Get "http://127.0.0.1:{port}/x": dial tcp '
                                       f"127.0.0.1:{port}: connect: connection refused")
    assert tcp == Outcome(FAILURE, f"dial tcp 127.0.0.1:{port}: connect: connection refused")


def test_https_stays_in_python(loop: Loop) -> None:
    prepared = netprobe.prepare_http(loop, None, 1.0, "https", "127.0.0.1", 443, "/", (), engine=netengine.schedule)
    assert prepared.schedule(loop.clock.now(), 1.0, 0, lambda o: None) is None
    prepared.close()


# -- workers -------------------------------------------------------------------------

def run_worker(loop: Loop, probe: Probe, prepared: netprobe.Prepared, probes: int,
               kind: str = "readiness") -> tuple[ProbeWorker, list[Outcome]]:
    """A worker whose prober is ``prepared``, run through the ticks of its
    first ``probes`` probes (and 0.3 s for the last answer). By the clock: a
    quiet success does not wake the loop's Python, so no predicate on the
    worker's counts would be looked at in time."""
    outcomes: list[Outcome] = []
    worker = ProbeWorker(loop, kind, probe, prepared,
                         on_outcome=lambda w, o: outcomes.append(o),
                         on_result=lambda w, r: None)
    start = loop.clock.now()
    worker.start(start)
    end = loop.call_at(start + (probes - 1) * probe.period_seconds + 0.3, lambda: None)
    loop.run_until(lambda: end.cancelled or loop.clock.now() >= end.when)
    return worker, outcomes


def test_a_settled_worker_hears_only_what_changes(loop: Loop) -> None:
    before = fds_before()
    with probeservers.scripted_server(OK, then_close=True) as port:
        probe = Probe(handler=HTTPGetAction(port=port), period_seconds=1, success_threshold=2)
        worker, outcomes = run_worker(loop, probe, http(loop, port), probes=4)
        assert worker.result == SUCCESS
        # two successes to reach the threshold; the next two change nothing
        assert outcomes == [Outcome(SUCCESS)] * 2
        assert (worker.probes, worker.skipped) == (4, 0)
        worker.stop()
    assert open_fds() == before, "the engine, its epoll and the kept socket are gone"
    assert probeservers.time_wait_on(port) == []


def count_turns(loop: Loop) -> list[int]:
    """[n]: how many times the loop's run_once came back to Python."""
    turns = [0]
    run_once = loop.run_once

    def counted(max_wait: float | None = None) -> None:
        run_once(max_wait)
        turns[0] += 1

    loop.run_once = counted  # type: ignore[method-assign]
    return turns


def test_quiet_successes_do_not_wake_the_loops_python(loop: Loop) -> None:
    # as the supervisor's loop: signals come through its wakeup fd (without
    # one, the wait comes back every Loop.SIGNAL_CHECK seconds)
    loop.add_signal_handler(signal.SIGUSR2, lambda: None)
    turns = count_turns(loop)
    settled_at: list[int] = []
    with probeservers.scripted_server(OK, then_close=True) as port:
        probe = Probe(handler=HTTPGetAction(port=port), period_seconds=1)
        worker = ProbeWorker(loop, "liveness", probe, http(loop, port),
                             on_outcome=lambda w, o: settled_at.append(turns[0]),
                             on_result=lambda w, r: None)
        start = loop.clock.now()
        worker.start(start)
        end = loop.call_at(start + 3.3, lambda: None)
        loop.run_until(lambda: loop.clock.now() >= end.when)
        worker.stop()
    assert worker.probes == 4 and len(settled_at) == 1, "one success heard, three quiet"
    # the three quiet ticks and their answers were turned in C: the loop
    # came back only for its own deadline
    assert turns[0] - settled_at[0] <= 2, turns


def test_the_loop_hears_its_own_fds_deadlines_and_signals_while_the_engine_waits(
        loop: Loop) -> None:
    heard: list[str] = []
    ours, theirs = socket.socketpair()
    with ours, theirs, probeservers.scripted_server(OK, then_close=True) as port:
        probe = Probe(handler=HTTPGetAction(port=port), period_seconds=1)
        worker = ProbeWorker(loop, "liveness", probe, http(loop, port),
                             on_outcome=lambda w, o: None, on_result=lambda w, r: None)
        worker.start(loop.clock.now())
        loop.register(ours.fileno(), lambda events: heard.append(ours.recv(16).decode()))
        loop.add_signal_handler(signal.SIGUSR1, lambda: heard.append("signal"))
        loop.call_later(1.2, lambda: theirs.send(b"fd"))
        loop.call_later(2.2, lambda: threading.Timer(
            0.1, os.kill, (os.getpid(), signal.SIGUSR1)).start())
        give_up = loop.call_later(10, lambda: heard.append("gave up"))
        loop.run_until(lambda: len(heard) >= 2)
        give_up.cancel()
        loop.unregister(ours.fileno())
        worker.stop()
    assert heard == ["fd", "signal"]
    assert worker.probes >= 3, "the engine probed meanwhile"


def settled_worker(loop: Loop, port: int) -> ProbeWorker:
    """A liveness worker whose first success was heard: its next ones are quiet."""
    outcomes: list[Outcome] = []
    probe = Probe(handler=HTTPGetAction(port=port), period_seconds=1)
    worker = ProbeWorker(loop, "liveness", probe, http(loop, port),
                         on_outcome=lambda w, o: outcomes.append(o),
                         on_result=lambda w, r: None)
    worker.start(loop.clock.now())
    give_up = loop.call_later(5, lambda: outcomes.append(Outcome("test", "gave up")))
    loop.run_until(lambda: bool(outcomes))
    give_up.cancel()
    assert outcomes == [Outcome(SUCCESS)]
    return worker


def test_a_wait_through_the_engine_keeps_the_loops_time(loop: Loop) -> None:
    with probeservers.scripted_server(OK, then_close=True) as port:
        worker = settled_worker(loop, port)
        begin = loop.clock.now()
        loop.run_once(max_wait=0.2)  # then only quiet turns
        waited = loop.clock.now() - begin
        worker.stop()
    assert waited >= 0.2, "came back before its time was up"


def test_a_signal_handler_runs_while_the_engine_waits_without_a_wakeup_fd(
        loop: Loop) -> None:
    heard: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda signo, frame: heard.append(signo))
    try:
        with probeservers.scripted_server(OK, then_close=True) as port:
            worker = settled_worker(loop, port)
            threading.Timer(1.3, os.kill, (os.getpid(), signal.SIGUSR1)).start()
            give_up = loop.call_later(10, lambda: heard.append(0))
            loop.run_until(lambda: bool(heard))
            give_up.cancel()
            worker.stop()
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert heard == [signal.SIGUSR1]


def test_every_failure_is_heard(loop: Loop) -> None:
    answer = b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy"
    with probeservers.scripted_server(answer, then_close=True) as port:
        probe = Probe(handler=HTTPGetAction(port=port), period_seconds=1, failure_threshold=5)
        worker, outcomes = run_worker(loop, probe, http(loop, port), probes=3, kind="liveness")
        worker.stop()
    assert outcomes == [Outcome(FAILURE, "HTTP probe failed with statuscode: 503")] * 3


def test_a_tcp_worker(loop: Loop) -> None:
    before = fds_before()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        prepared = netprobe.prepare_tcp(loop, None, 1.0, "127.0.0.1", port, engine=netengine.schedule)
        probe = Probe(handler=TCPSocketAction(port=port), period_seconds=1)
        worker, outcomes = run_worker(loop, probe, prepared, probes=3, kind="liveness")
        worker.stop()
        assert outcomes == [Outcome(SUCCESS)]
        assert worker.probes == 3
    assert open_fds() == before


def test_a_worker_stopped_while_python_holds_its_probe(loop: Loop) -> None:
    before = fds_before()
    with probeservers.scripted_server(b"HTTP/1.1 200 OK\r\n", then_close=False) as port:
        outcomes: list[Outcome] = []
        worker = ProbeWorker(loop, "readiness",
                             Probe(handler=HTTPGetAction(port=port), period_seconds=1,
                                   timeout_seconds=5),
                             http(loop, port, timeout=5),
                             on_outcome=lambda w, o: outcomes.append(o),
                             on_result=lambda w, r: None)
        worker.start(loop.clock.now())
        # half a head: handed to Python, which waits for the rest
        for _ in range(50):
            loop.run_once(max_wait=0.02)
        assert outcomes == []
        assert worker.probes == 1
        worker.stop()
    assert outcomes == []
    assert open_fds() == before


# -- inside a network namespace ------------------------------------------------------

@pytest.fixture
def httpd_netns(tmp_path: os.PathLike[str]) -> Iterator[tuple[Netns, int]]:
    with socket.socket() as reserved:  # nothing on the host listens on this port
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]
        root = os.path.join(tmp_path, "www")
        os.mkdir(root)
        with open(os.path.join(root, "index.html"), "w") as page:
            page.write("inside\n")
        with netns_running([BUSYBOX, "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", root],
                           port) as ns:
            yield ns, port


def test_the_engine_dials_inside_the_pods_netns(
        loop: Loop, httpd_netns: tuple[Netns, int]) -> None:
    ns, port = httpd_netns
    own = os.readlink("/proc/thread-self/ns/net")
    inside = netprobe.prepare_http(loop, ns.fd, 1.0, "http", "127.0.0.1", port,
                                   "/index.html", (), engine=netengine.schedule)
    assert engine_probe(loop, inside).result == SUCCESS
    assert os.readlink("/proc/thread-self/ns/net") == own, "the engine came home"
    host = engine_probe(loop, http(loop, port, "/index.html"))
    assert host.result == FAILURE and "connection refused" in host.message


def test_engines_are_per_loop_and_go_with_their_last_probe(loop: Loop) -> None:
    with probeservers.scripted_server(OK, then_close=True) as port:
        first = http(loop, port)
        done: Callable[[Outcome], None] = lambda o: None  # noqa: E731
        one = first.schedule(loop.clock.now() + 60, 60.0, 0, done)
        second = http(loop, port)
        two = second.schedule(loop.clock.now() + 60, 60.0, 0, done)
        assert one is not None and two is not None
        assert one.engine is two.engine
        assert netengine._engines.get(loop) is one.engine
        other = Loop()
        try:
            third = http(other, port)
            three = third.schedule(other.clock.now() + 60, 60.0, 0, done)
            assert three is not None and three.engine is not one.engine
            three.stop()
            third.close()
        finally:
            other.close()
        one.stop()
        assert netengine._engines.get(loop) is two.engine
        two.stop()
        assert netengine._engines.get(loop) is None
        first.close()
        second.close()


# -- answers that came before the timeout, read after it (review of 0fc0c50) ----------

@contextlib.contextmanager
def answering_server(reply: bytes, count: int) -> Iterator[tuple[int, threading.Event]]:
    """Answers each request with ``reply`` at once and holds the connection
    (a backlog for ``count`` of them); the event is set once ``count``
    answers went out."""
    answered = threading.Event()
    answers = itertools.count(1)

    def one_more() -> None:
        if next(answers) >= count:
            answered.set()

    with probeservers.scripted_server(reply, then_close=False, backlog=2 * count,
                                      sent=one_more) as port:
        yield port, answered


def test_answers_that_came_in_time_count_after_a_stall_of_many_probes(loop: Loop) -> None:
    """More answers wait than one epoll_wait of the engine takes (64): every one
    came long before its timeout, and none may be judged a timeout because the
    loop came back late (the Python path reads them all before its timers)."""
    count = 150
    timeout = 0.3
    outcomes: list[Outcome] = []
    with answering_server(OK, count) as (port, answered):
        prepared = [http(loop, port, timeout=timeout) for _ in range(count)]
        now = loop.clock.now()
        schedules = [p.schedule(now, 3600.0, 0, outcomes.append) for p in prepared]
        try:
            for schedule in schedules:
                assert schedule is not None
                schedule.quiet(True)  # settled workers: successes are not reported
            give_up = loop.clock.now() + 5
            while (sum(s.counts()[0] for s in schedules) < count  # type: ignore[union-attr]
                   and loop.clock.now() < give_up):
                loop.run_once(max_wait=0.01)
            assert answered.wait(5), "the server answered every probe"
            time.sleep(timeout + 0.2)  # the loop stalls past every probe's timeout
            end = loop.clock.now() + 0.3
            while loop.clock.now() < end:
                loop.run_once(max_wait=0.02)
        finally:
            for schedule in schedules:
                if schedule is not None:
                    schedule.stop()
            for p in prepared:
                p.close()
    assert [o for o in outcomes if o.result != SUCCESS] == []


def test_an_answer_python_reads_that_came_in_time_counts_after_a_stall(loop: Loop) -> None:
    """A chunked 200 (handed to Python as ANSWERED) that came before the
    timeout, read by a loop turn after it: the Python path reads it first."""
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    timeout = 0.3
    outcomes: list[Outcome] = []
    with answering_server(chunked, 1) as (port, answered):
        prepared = http(loop, port, timeout=timeout)
        schedule = prepared.schedule(loop.clock.now(), 3600.0, 0, outcomes.append)
        assert schedule is not None
        try:
            give_up = loop.clock.now() + 5
            while schedule.counts()[0] < 1 and loop.clock.now() < give_up:
                loop.run_once(max_wait=0.01)
            assert answered.wait(5)
            time.sleep(timeout + 0.2)
            end = loop.clock.now() + 0.3
            while not outcomes and loop.clock.now() < end:
                loop.run_once(max_wait=0.02)
        finally:
            schedule.stop()
            prepared.close()
    assert outcomes == [Outcome(SUCCESS, "ok")]


def test_an_engine_that_cannot_be_made_leaves_the_probes_to_python(
        loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    """EMFILE (or ENOMEM) making the engine's epoll or timerfd: the Python path
    words a socket it cannot make as a probe failure; the hand-over must not
    raise out of the loop (that ends the supervisor)."""
    from minipod.kernel import sys as mpsys

    def no_engine(home_fd: int) -> None:
        raise OSError(24, "mp_prober_new: Too many open files")

    monkeypatch.setattr(mpsys, "Prober", no_engine)
    with probeservers.scripted_server(OK, then_close=True) as port:
        probe = Probe(handler=HTTPGetAction(port=port), period_seconds=1)
        worker, outcomes = run_worker(loop, probe, http(loop, port), probes=1)
        worker.stop()
    assert outcomes == [Outcome(SUCCESS, "ok")]
    assert netengine._engines.get(loop) is None


def test_a_tick_due_when_a_late_turn_expires_the_last_probe_still_probes(loop: Loop) -> None:
    """timeoutSeconds < periodSeconds, and the loop comes back after both the
    timeout and the next tick: the Python path expires the probe, then probes
    at that (late) tick; the engine must not skip it."""
    with probeservers.scripted_server(b"", then_close=False, delay=30) as port:
        probe = Probe(handler=HTTPGetAction(port=port), period_seconds=2, timeout_seconds=1,
                      failure_threshold=10)
        outcomes: list[Outcome] = []
        worker = ProbeWorker(loop, "readiness", probe, http(loop, port, timeout=1),
                             on_outcome=lambda w, o: outcomes.append(o),
                             on_result=lambda w, r: None)
        start = loop.clock.now()
        worker.start(start)
        while worker.probes < 1 and loop.clock.now() < start + 1:
            loop.run_once(max_wait=0.01)
        time.sleep(2.3 - (loop.clock.now() - start))  # past the timeout and tick 1
        while loop.clock.now() < start + 3.5:  # before tick 2
            loop.run_once(max_wait=0.02)
        counts = (worker.probes, worker.skipped)
        worker.stop()
    assert len(outcomes) == 2 and all(o.result == FAILURE for o in outcomes), outcomes
    assert counts == (2, 0)


def test_a_report_that_raises_does_not_strand_the_others(loop: Loop) -> None:
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))  # refused: each probe reports at once
        port = reserved.getsockname()[1]
        first, second = http(loop, port), http(loop, port)
        heard: list[Outcome] = []

        raised: list[Outcome] = []

        def boom(outcome: Outcome) -> None:
            if not raised:
                raised.append(outcome)
                raise RuntimeError("a bug in the pod's code")

        now = loop.clock.now()
        one = first.schedule(now, 1.0, 0, boom)
        two = second.schedule(now, 1.0, 0, heard.append)
        assert one is not None and two is not None
        with pytest.raises(RuntimeError):
            loop.run_until(lambda: False)  # both reports come in one turn
        assert heard == [], "the second report came after the one that raised"
        give_up = loop.call_later(5, lambda: heard.append(Outcome("test", "gave up")))
        loop.run_until(lambda: bool(heard))  # its next tick still probes
        give_up.cancel()
        one.stop()
        two.stop()
        first.close()
        second.close()
    assert heard[0].result == FAILURE and "connection refused" in heard[0].message
