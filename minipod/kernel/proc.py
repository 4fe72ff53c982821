"""Processes as the kernel names them: a pid plus its start time (one process,
even after pid reuse), its namespaces, its exit status when it is not our
child, and a hold on its mount namespace.

Start times are read from /proc/PID/stat and /proc/stat's btime, the same
formula psutil's create_time() uses (records written through psutil agree
to the tick), without importing psutil: that import was 14 ms of the 145 ms
of `minipod delete pod NAME` without a supervisor."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from typing import Any

from minipod.api.record import ProcessRef
from minipod.kernel.spawn import ExitStatus

# One exited child of ours reaped: (pid, status), or None when none is left.
ReapSource = Callable[[], tuple[int, ExitStatus] | None]


def process_identity(pid: int) -> dict[str, Any]:
    """pid plus its start time: together they name one process, even after pid reuse."""
    return {"pid": pid, "startTime": start_time(pid)}


def same_process(ref: ProcessRef) -> bool:
    """Whether ``ref`` (a pid and its start time) still names a live process
    (a zombie is dead: a SIGKILLed supervisor whose parent does not reap)."""
    if not ref.pid or ref.start_time is None:
        return False
    fields = _stat_fields(ref.pid)
    return fields is not None and fields[0] != "Z" and _started_at(fields, ref.start_time)


def start_time(pid: int) -> float | None:
    """When ``pid`` started, in seconds since the epoch (None: no such process)."""
    fields = _stat_fields(pid)
    return None if fields is None else _started(fields)


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from its third field (the state) on: the command's
    name before it is in parentheses and may hold any character."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2:].decode().split()
    except (OSError, ValueError):
        return None


def _started(fields: list[str]) -> float:
    return boot_time() + int(fields[19]) / _CLOCK_TICKS


def _started_at(fields: list[str], start_time: float) -> bool:
    """The process of ``fields`` is the one that started at ``start_time``
    (to the tick, give or take the float's rounding in a record)."""
    return abs(_started(fields) - start_time) < 0.05


@functools.cache
def boot_time() -> float:
    """The host's boot, in seconds since the epoch (/proc/stat's btime)."""
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime "):
                return float(line.split()[1])
    raise OSError("/proc/stat has no btime")


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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
        fields = _stat_fields(pid)
        if fields is not None and _started_at(fields, start_time):
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
