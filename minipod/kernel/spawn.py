"""Starting a program that sets itself up, with errors reported back; a
child process and how it ended.

The protocol is CPython subprocess's: the program gets the write end of a
CLOEXEC pipe. If a step of its set-up fails it writes {step, errno, message}
there and exits; once it is ready it closes the pipe, and we read EOF. So
"unshare failed in the new sandbox" reaches us as a StartError naming the
step and the errno. (A container's own start reports through
csrc/mp_start.c's spec instead: launch.py.)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from minipod.api.errors import StartError
from minipod.kernel import sys as msys


@dataclass
class ExitStatus:
    exit_code: int
    signal: int | None = None
    unknown: bool = False  # an adopted process that vanished before we saw its status

    @classmethod
    def from_waitid(cls, result: Any) -> ExitStatus:
        if result.si_code == os.CLD_EXITED:
            return cls(result.si_status)
        return cls(128 + result.si_status, result.si_status)  # the shell's convention

    @property
    def reason(self) -> str:
        if self.unknown:
            return "ContainerStatusUnknown"
        return "Completed" if self.exit_code == 0 else "Error"


@dataclass
class Child:
    pid: int
    pidfd: int


def _await_report(pid: int, r: int, what: str, pidfd: int = -1) -> Child:
    """Read the child's report pipe to EOF (closes ``r``): empty is success."""
    try:
        if pidfd < 0:
            pidfd = os.pidfd_open(pid)
        report = _read_all(r)
    finally:
        os.close(r)
    if report:
        os.waitpid(pid, 0)
        os.close(pidfd)
        raise _start_error(report, what)
    return Child(pid, pidfd)


def spawn_program(argv: list[str], stdio: tuple[int, int, int], what: str,
                  cgroup: tuple[int, tuple[str, ...]] | None = None) -> Child:
    """posix_spawn a program that sets itself up and reports as the top
    says: ``--report FD`` names a pipe it writes {step, errno,
    message} to on failure, and closes once it is ready. No fork of this
    process (csrc/mp_cgroup.c's mp_spawn clones with CLONE_VM|CLONE_VFORK,
    as posix_spawn does), in a session of its own, default signals, empty
    mask, stdio as given, an empty environment; born in ``cgroup`` (the
    placement of kernel/cgroups.py's Cgroup: a v2 directory fd, the files to
    enter it by) when given."""
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        cgroup_fd, cgroup_files = cgroup if cgroup is not None else (-1, ())
        try:
            spawned = msys.spawn([argv[0], "--report", str(w), *argv[1:]], stdio, w,
                                 cgroup_fd=cgroup_fd, cgroup_files=cgroup_files)
        except OSError as e:
            step = e.strerror.split(":")[0] if e.strerror else "spawn"
            target = e.filename or argv[0]
            raise StartError(f"{what}: {step} {target}", e.errno or 0) from e
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    return _await_report(spawned.pid, r, what, spawned.pidfd)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _start_error(report: bytes, what: str) -> StartError:
    try:
        data = json.loads(report)
        return StartError(f"{what}: {data['step']}", int(data["errno"]), data["message"])
    except (ValueError, KeyError):
        return StartError(what, 0, report.decode(errors="replace"))
