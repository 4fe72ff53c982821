"""The pause program's own contract (k8s pause.c), run directly."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import minipod.kernel.sandbox
from minipod.api.errors import StartError
from minipod.kernel.sandbox import stop_pause
from minipod.kernel.spawn import Child, spawn_program

pytestmark = pytest.mark.root

PAUSE = str(minipod.kernel.sandbox.PAUSE_BINARY)


def test_version_flag() -> None:
    out = subprocess.run([PAUSE, "-v"], capture_output=True, text=True, timeout=5)
    assert out.returncode == 0
    assert out.stdout.startswith("minipod-pause ")


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT])
def test_exits_0_on_term_and_int(signo: int) -> None:
    proc = subprocess.Popen([PAUSE])
    pidfd = os.pidfd_open(proc.pid)
    try:
        _wait_blocked(proc.pid, signo)
        signal.pidfd_send_signal(pidfd, signo)
        assert proc.wait(timeout=5) == 0
    finally:
        os.close(pidfd)


def test_reaps_zombie_children() -> None:
    # pause is made the parent of children that exit at once: exec pause from a
    # shell that has already started them.
    script = "sleep 0.05 & sleep 0.05 & sleep 0.05 & exec " + PAUSE
    proc = subprocess.Popen(["sh", "-c", script])
    try:
        deadline = time.monotonic() + 5
        children: list[str] = []
        while time.monotonic() < deadline:
            children = _children(proc.pid)
            if not children and _started_after(proc.pid, 0.3):
                break
            time.sleep(0.05)
        assert children == [], f"zombies left: {children}"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_resident_size_is_small() -> None:
    """Not a timing test: memory is a property of the binary we ship. The
    budget is issue 5's (300 kB); BENCHMARKS.md records the figure."""
    proc = subprocess.Popen([PAUSE])
    try:
        _wait_blocked(proc.pid, signal.SIGTERM)
        rss_kb = int(next(line.split()[1] for line in Path(f"/proc/{proc.pid}/status")
                          .read_text().splitlines() if line.startswith("VmRSS:")))
        assert rss_kb <= 300, rss_kb
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def _sigblk(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return int(line.split()[1], 16)
    return 0


def _wait_blocked(pid: int, signo: int) -> None:
    """pause blocks its signals (for the signalfd) once set up: wait for that."""
    deadline = time.monotonic() + 5
    while not _sigblk(pid) & (1 << (signo - 1)):
        assert time.monotonic() < deadline, "pause never set up its signal mask"
        time.sleep(0.01)


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def _started_after(pid: int, seconds: float) -> bool:
    ticks = os.sysconf("SC_CLK_TCK")
    start = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - start > seconds


def _spawn_sandbox(hostname: str) -> Child:
    with open("/dev/null", "r+b") as null:
        fd = null.fileno()
        return spawn_program([PAUSE, "--sandbox", hostname], (fd, fd, fd), "start pause")


def test_sandbox_makes_named_namespaces_with_loopback_up() -> None:
    """--sandbox: new uts, ipc and net namespaces, the hostname set and lo up,
    all done when spawn_program returns (pause closed its report pipe)."""
    hostname = f"sandbox-{os.getpid()}"
    child = _spawn_sandbox(hostname)
    try:
        for ns in ("uts", "ipc", "net"):
            assert os.stat(f"/proc/{child.pid}/ns/{ns}").st_ino != os.stat(f"/proc/self/ns/{ns}").st_ino
        inside = ["nsenter", f"--net=/proc/{child.pid}/ns/net", f"--uts=/proc/{child.pid}/ns/uts"]
        out = subprocess.run([*inside, "hostname"], capture_output=True, text=True, timeout=10)
        assert out.stdout.strip() == hostname
        # lo read back over netlink (pyroute2), in pause's network namespace
        check = "from minipod.kernel.net import link_is_up; print(link_is_up('lo'))"
        out = subprocess.run([*inside, sys.executable, "-P", "-c", check],
                             capture_output=True, text=True, timeout=30)
        assert out.stdout.strip() == "True", out.stderr
        assert os.getsid(child.pid) == child.pid  # out of our session: Ctrl-C misses it
    finally:
        stop_pause(child)


def test_sandbox_failure_reports_the_step_and_errno() -> None:
    """A hostname the kernel refuses (> 64 bytes): pause reports on its pipe
    and exits 4; the caller gets a StartError naming the step, nothing runs."""
    with pytest.raises(StartError) as caught:
        _spawn_sandbox("h" * 100)
    assert "set hostname" in str(caught.value)
    assert caught.value.errno == errno.EINVAL


def test_missing_program_is_a_start_error(tmp_path: Path) -> None:
    with pytest.raises(StartError) as caught:
        spawn_program([str(tmp_path / "none")], (0, 1, 2), "start pause")
    assert caught.value.errno == errno.ENOENT
