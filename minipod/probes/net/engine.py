"""The network probes' engine: tcpSocket and httpGet probes run in C.

A ProbeWorker (probe.py) whose prober is a plaintext httpGet or a tcpSocket
handler (netprobe.Prepared) hands its schedule over at its first tick that
may probe. From then on csrc/mp_prober.c keeps the ticks, dials, sends the
request and judges the plain answer (a whole 2xx with a Content-Length),
for every such probe of the supervisor, in one call per loop turn. Python
hears of a probe only when it says something:

- a success, unless the worker said it is settled: another success would
  change nothing (its result is success, after successThreshold of them),
  and pod.py makes nothing of it; the worker says so again after each
  outcome it is told (Schedule.quiet);
- anything else comes as a socket handed over where the engine stopped (the
  connect in progress, the request half sent, an answer unread, the timeout
  passed) or as the dial's errno; netprobe's NetProbe of the kind goes on
  from there (NetProbe._resume), so every failure is read and worded by the
  same code as before, and redirects, chunked bodies and 1xx answers too.

One engine per loop, made with its first probe and freed with its last: its
epoll fd sits in the loop, and holds a timerfd set to the engine's next tick
or timeout, so the loop has no deadline of the engine's to move with every
probe. While it lives, the loop waits through it (Loop.wait_with): a
wake-up that only the engine's fd made is turned in C, and the loop's Python
runs only when the engine reports, another fd is ready, a deadline of the
loop's is due or a signal comes. Times cross as CLOCK_MONOTONIC nanoseconds
(the loop's clock; a loop on a FakeClock probes in Python).
"""

from __future__ import annotations

import os
import select
import weakref
from collections.abc import Callable
from typing import Any

from minipod.kernel import sys as mpsys
from minipod.kernel.ns import home_netns_fd
from minipod.loop.eventloop import Loop
from minipod.probes.net import netprobe
from minipod.probes.worker import SUCCESS, Outcome

_SUCCESS = Outcome(SUCCESS)
_NS = 1_000_000_000


class ProbeEngine:
    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self._c = mpsys.Prober(home_netns_fd())
        self._success = mpsys.PROBER_SUCCESS
        self._schedules: dict[int, Schedule] = {}
        self._turning = False
        # ids removed during this turn's reports: the engine may hand out an
        # id again before the rest of the batch is read
        self._gone: set[int] = set()
        loop.register(self._c.fd, self._on_ready, select.EPOLLIN)
        loop.wait_with(self._wait)

    def add(self, prepared: netprobe.Prepared, peer: Any, request: bytes, *, first: float,
            period: float, tick: int, done: Callable[[Outcome], None]) -> Schedule:
        netns = -1 if prepared.netns_fd is None else prepared.netns_fd
        spare = prepared.take_spare(peer.family)
        try:
            probe_id = self._c.add(netns, peer.family, peer.packed, peer.port, peer.scope_id,
                                   request, round(first * _NS), round(period * _NS),
                                   round(prepared.timeout * _NS), tick, False, spare)
        except OSError:
            if spare >= 0:
                os.close(spare)  # the engine took it only if the add succeeded
            if not self._schedules and not self._turning:
                self.close()
            raise
        schedule = Schedule(self, probe_id, prepared, peer.family, done)
        self._schedules[probe_id] = schedule
        return schedule

    def remove(self, schedule: Schedule) -> None:
        if self._schedules.pop(schedule.id, None) is None:
            return
        self._c.remove(schedule.id)
        if self._turning:
            self._gone.add(schedule.id)
        if not self._schedules and not self._turning:
            self.close()

    def close(self) -> None:
        if _engines.get(self.loop) is self:
            del _engines[self.loop]
        self.loop.wait_with(None)
        self.loop.unregister(self._c.fd)  # before the engine closes it
        self._c.close()

    # -- the loop's side -----------------------------------------------------
    def _wait(self, epfd: int, timeout: float) -> list[tuple[int, int]]:
        # Most wake-ups at 1000 probes a second are this engine's alone, and
        # end in a quiet turn: in C they cost ~15 us less each than a trip
        # through the loop here.
        try:
            return self._c.wait(epfd, timeout)
        finally:
            # also when a signal handler raised as the wait came back: the
            # reports hold sockets and probes that must not be stranded
            count = self._c.take_reported()
            if count:
                self._run(count)

    def _on_ready(self, _events: int) -> None:
        self._run(self._c.turn())

    def _run(self, count: int) -> None:
        c = self._c
        self._turning = True
        try:
            while True:
                self._reports(count)
                if count < c.CAP:
                    break
                count = c.turn()
        finally:
            self._turning = False
            self._gone.clear()
            if not self._schedules:
                self.close()

    def _reports(self, count: int) -> None:
        out = self._c.out
        i = 0
        try:
            while i < count:
                i += 1
                self._report(out[i - 1])
        finally:
            # A report that raised (NetnsStuckError stops the supervisor) must
            # not strand the rest: their sockets closed, their probes back.
            for j in range(i, count):
                report = out[j]
                if report.fd >= 0:
                    os.close(report.fd)
                if report.what != self._success and report.id not in self._gone:
                    self._c.give_back(report.id, -1)

    def _report(self, report: Any) -> None:
        schedule = None if report.id in self._gone else self._schedules.get(report.id)
        if schedule is None:  # stopped by an earlier report of this turn
            if report.fd >= 0:
                os.close(report.fd)
            return
        if report.what == self._success:
            schedule.done(_SUCCESS)
            return
        schedule.resume(netprobe.Resume(report.what, report.fd, report.err, report.step,
                                        report.sent, report.deadline / _NS))


class Schedule:
    """A worker's probes, run by the engine: what ProbeWorker holds instead of
    its own timer."""

    def __init__(self, engine: ProbeEngine, probe_id: int, prepared: netprobe.Prepared,
                 family: int, done: Callable[[Outcome], None]) -> None:
        self.engine = engine
        self.id = probe_id
        self.done = done
        self._prepared = prepared
        self._family = family
        self._quiet = False
        self._in_python: netprobe.NetProbe | None = None
        self._stopped = False

    def quiet(self, quiet: bool) -> None:
        """Whether a success need not be reported (the worker is settled)."""
        if quiet != self._quiet and not self._stopped:
            self._quiet = quiet
            self.engine._c.quiet(self.id, quiet)

    def counts(self) -> tuple[int, int]:
        """(probes started, ticks skipped)."""
        return (0, 0) if self._stopped else self.engine._c.counts(self.id)

    def stop(self) -> None:
        """No more probes; one handed to Python is cancelled (its socket then
        goes to the Prepared, which the worker closes)."""
        if self._stopped:
            return
        probe, self._in_python = self._in_python, None
        if probe is not None:
            probe.cancel()
        self.engine.remove(self)
        self._stopped = True

    def resume(self, resume: netprobe.Resume) -> None:
        probe = self._prepared.resume(self._finished, resume)
        if not probe.finished:
            self._in_python = probe

    def _finished(self, outcome: Outcome) -> None:
        # The probe's socket, ended and kept by the Prepared, goes back with it.
        self._in_python = None
        if not self._stopped:
            self.engine._c.give_back(self.id, self._prepared.take_spare(self._family))
        self.done(outcome)


_engines: weakref.WeakKeyDictionary[Loop, ProbeEngine] = weakref.WeakKeyDictionary()


def schedule(prepared: netprobe.Prepared, peer: Any, request: bytes, *, first: float,
             period: float, tick: int, done: Callable[[Outcome], None]) -> Schedule:
    """Run a worker's probes in ``prepared.loop``'s engine from tick ``tick`` on
    (due now): the probes of ``peer`` with ``request`` (b"": tcpSocket)."""
    engine = _engines.get(prepared.loop)
    if engine is None:
        engine = _engines[prepared.loop] = ProbeEngine(prepared.loop)
    return engine.add(prepared, peer, request, first=first, period=period, tick=tick, done=done)


__all__ = ["ProbeEngine", "Schedule", "schedule"]
