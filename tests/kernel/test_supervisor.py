"""The supervisor's bookkeeping of pidfds, against real processes."""

from __future__ import annotations

import logging
import os
import resource
import socket
import subprocess
import sys

import pytest

from minipod.kernel.spawn import Child
from minipod.loop.eventloop import Loop
from minipod.runtime.supervisor import Supervisor

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
            with caplog.at_level(logging.WARNING, logger="minipod.loop.eventloop"):
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


def test_the_supervisor_raises_its_soft_nofile_limit_to_the_hard_one() -> None:
    """Ten fds a pod: a soft limit of 1024 (a stock host's) would stop a
    supervisor near a hundred pods. Run in a child, so ours stays as it is."""
    code = ("import resource\n"
            "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
            "from minipod.runtime.supervisor import raise_nofile_limit\n"
            "raised = raise_nofile_limit()\n"
            "print(raised, *resource.getrlimit(resource.RLIMIT_NOFILE), hard)\n")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    raised, soft, hard, hard_before = (int(v) for v in out.stdout.split())
    assert hard == hard_before  # the administrator's ceiling is left alone
    assert raised == soft == (hard if hard != resource.RLIM_INFINITY else soft) and soft > 256
