"""The supervisor's bookkeeping of pidfds, against real processes."""

from __future__ import annotations

import logging
import os
import socket
import subprocess

import pytest

from minipod.loop import Loop
from minipod.spawn import Child
from minipod.supervisor import Supervisor

pytestmark = pytest.mark.root


def test_unwatch_of_an_adopted_process_frees_its_fd_number(caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    """An adopted process is watched by its pidfd alone (watch_foreign). Its
    unwatch must free the loop's slot: once the pidfd is closed, the next fd
    with that number (a client's connection, in the daemon) must register.
    Before the fix the daemon died there with ENOENT from epoll_ctl; the loop
    now survives such a slip with a warning, so the test asserts there is none."""
    sup = Supervisor(Loop(), lambda _event: None, echo_logs=False)
    proc = subprocess.Popen(["sleep", "60"])
    try:
        child = Child(proc.pid, os.pidfd_open(proc.pid))
        sup.watch_foreign(child, 0.0, lambda _status: None)
        sup.unwatch(child)
        number = child.pidfd
        os.close(child.pidfd)
        a, b = socket.socketpair()
        try:
            if a.fileno() != number:  # the kernel hands out the lowest free number
                os.dup2(a.fileno(), number)
            with caplog.at_level(logging.WARNING, logger="minipod.loop"):
                sup.loop.register(number, lambda _events: None)
                sup.loop.unregister(number)
            assert "closed while registered" not in caplog.text
        finally:
            if a.fileno() != number:
                os.close(number)
            a.close()
            b.close()
    finally:
        proc.kill()
        proc.wait()
        sup.loop.close()
