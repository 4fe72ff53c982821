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
import signal
from dataclasses import dataclass
from typing import Any

from minipod.api.errors import StartError


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


def _await_report(pid: int, r: int, what: str) -> Child:
    """Read the child's report pipe to EOF (closes ``r``): empty is success."""
    try:
        pidfd = os.pidfd_open(pid)
        report = _read_all(r)
    finally:
        os.close(r)
    if report:
        os.waitpid(pid, 0)
        os.close(pidfd)
        raise _start_error(report, what)
    return Child(pid, pidfd)


# Signals that may be ignored or handled here and must not stay so in a program
# we start (exec keeps SIG_IGN); glibc's own real-time signals are not settable.
_STANDARD_SIGNALS = frozenset(range(1, 32)) - {signal.SIGKILL, signal.SIGSTOP}


def spawn_program(argv: list[str], stdio: tuple[int, int, int], what: str) -> Child:
    """posix_spawn a program that sets itself up and reports as the top
    says: ``--report FD`` names a pipe it writes {step, errno, message} to
    on failure, and closes once it is ready. No fork of this
    process (glibc clones with CLONE_VM|CLONE_VFORK), in a session of its own,
    default signals, empty mask, stdio as given."""
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        os.set_inheritable(w, True)  # this thread spawns nothing else meanwhile
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(stdio)]
        try:
            pid = os.posix_spawn(argv[0], [*argv[:1], "--report", str(w), *argv[1:]], {},
                                 file_actions=actions, setsid=True, setsigmask=(),
                                 setsigdef=_STANDARD_SIGNALS)
        except OSError as e:
            raise StartError(f"{what}: exec {argv[0]}", e.errno or 0) from e
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    return _await_report(pid, r, what)


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
