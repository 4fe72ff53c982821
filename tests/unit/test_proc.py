"""kernel/proc.py's process identity, read from /proc without psutil, agrees
with psutil's (the records written before it used psutil's), and a zombie
or a reused pid is not the process a record names."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil

from minipod.api.record import ProcessRef
from minipod.kernel import proc


def test_start_time_is_psutils_create_time() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for pid in (os.getpid(), child.pid, 1):
            assert proc.start_time(pid) == psutil.Process(pid).create_time()
        assert proc.boot_time() == psutil.boot_time()
    finally:
        child.kill()
        child.wait()


def test_a_live_process_is_the_same_and_a_later_start_is_not() -> None:
    me = proc.start_time(os.getpid())
    assert me is not None
    assert proc.same_process(ProcessRef(os.getpid(), me))
    assert not proc.same_process(ProcessRef(os.getpid(), me + 1))  # the pid reused since
    assert not proc.same_process(ProcessRef(os.getpid(), None))


def test_a_zombie_and_a_gone_pid_are_not_the_same_process() -> None:
    child = subprocess.Popen(["true"])
    ref = ProcessRef(child.pid, proc.start_time(child.pid))
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
    assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE
    assert not proc.same_process(ref)
    assert proc.foreign_exit_status(child.pid, ref.start_time or 0).exit_code == 0
    child.wait()
    assert proc.start_time(child.pid) is None
    assert not proc.same_process(ref)
    assert proc.process_identity(child.pid) == {"pid": child.pid, "startTime": None}
