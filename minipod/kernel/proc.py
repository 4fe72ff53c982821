"""Processes as the kernel names them: a pid plus its start time (one process,
even after pid reuse), its namespaces, its exit status when it is not our
child, and a hold on its mount namespace."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from minipod.api.record import ProcessRef
from minipod.kernel.spawn import ExitStatus

# One exited child of ours reaped: (pid, status), or None when none is left.
ReapSource = Callable[[], tuple[int, ExitStatus] | None]


def process_identity(pid: int) -> dict[str, Any]:
    """pid plus its start time: together they name one process, even after pid reuse."""
    with contextlib.suppress(psutil.Error):
        return {"pid": pid, "startTime": psutil.Process(pid).create_time()}
    return {"pid": pid, "startTime": None}


def same_process(ref: ProcessRef) -> bool:
    """Whether ``ref`` (a pid and its start time) still names a live process."""
    if not ref.pid or ref.start_time is None:
        return False
    try:
        process = psutil.Process(ref.pid)
        # a zombie is dead: a SIGKILLed supervisor whose parent does not reap
        return bool(abs(process.create_time() - ref.start_time) < 0.05
                    and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def open_if_same(ref: ProcessRef) -> int | None:
    """A pidfd of ``ref``'s process if it is still the one we knew; else None."""
    if not same_process(ref) or ref.pid is None:
        return None
    try:
        pidfd = os.pidfd_open(ref.pid)
    except ProcessLookupError:
        return None
    if not same_process(ref):  # raced with an exit and a reuse
        os.close(pidfd)
        return None
    return pidfd


def namespace_inodes(pid: int) -> dict[str, int]:
    """Inode of each namespace of ``pid``: equal numbers are one shared namespace."""
    found = {}
    for name in ("net", "ipc", "uts", "pid", "mnt", "cgroup", "user"):
        with contextlib.suppress(OSError):
            found[name] = os.stat(f"/proc/{pid}/ns/{name}").st_ino
    return found


def hold_mount_ns(pid: int) -> int:
    """An fd of ``pid``'s mount namespace (-1 if it is gone already).

    A container's processes are the only users of its mount namespace, so
    when the last one dies the kernel tears the namespace down in its exit
    path, before its parent is told: it unmounts the overlay (which syncs
    the upper layer's file system), /proc, /sys and /dev, and waits out an
    RCU grace period. That is ~0.6 ms between a kill -9 and our wake-up.
    With the namespace held here, the exit leaves that work to our close()
    of this fd, which a restart does after the new run has exec'd
    (_on_container_exit)."""
    try:
        return os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


def foreign_exit_status(pid: int, start_time: float) -> ExitStatus:
    """The exit status of a zombie we are not the parent of (/proc/PID/stat
    field 52), if it is still the process we knew; the kubelet's
    ContainerStatusUnknown (137) when it is gone already."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = os.sysconf("SC_CLK_TCK")
        started = psutil.boot_time() + int(fields[19]) / ticks
        if abs(started - start_time) < 0.05:
            status = int(fields[49])
            if os.WIFSIGNALED(status):
                return ExitStatus(128 + os.WTERMSIG(status), os.WTERMSIG(status))
            return ExitStatus(os.WEXITSTATUS(status))
    except (OSError, ValueError, IndexError):
        pass
    return ExitStatus(137, None, unknown=True)


def reap_one() -> tuple[int, ExitStatus] | None:
    """Reap any one exited child (ours, or an orphan we inherited as a
    subreaper): its pid and status, or None if no child has exited."""
    try:
        result = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG)
    except ChildProcessError:
        return None
    if result is None:
        return None
    return result.si_pid, ExitStatus.from_waitid(result)
