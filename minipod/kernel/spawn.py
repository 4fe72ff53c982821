"""Forking a child that sets itself up and execs, with errors reported back.

The protocol is CPython subprocess's: the child gets the write end of a
CLOEXEC pipe. If any step fails it writes {step, errno, message} there and
_exits 127; if exec succeeds the kernel closes the pipe, and the parent reads
EOF. So "pivot_root failed inside the new namespaces" reaches the parent as a
StartError naming the step and the errno, never as a traceback from a child.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from minipod.api.errors import StartError
from minipod.kernel import sys as msys
from minipod.loop.eventloop import detach_wakeup_fd_in_child

EXIT_SETUP_FAILED = 127


class Steps:
    """The step a child is at, so a failure can say where it happened."""

    def __init__(self) -> None:
        self.now = "start"

    def __call__(self, step: str) -> None:
        self.now = step


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


ChildMain = Callable[[Steps, int], NoReturn]  # (steps, error-pipe fd)


def spawn(child_main: ChildMain, what: str) -> Child:
    """Fork; run child_main in the child; return once it exec'd (or raise StartError)."""
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(r)
        _run_child(child_main, w)
    os.close(w)
    return _await_report(pid, r, what)


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
    """posix_spawn a program that sets itself up and reports like a forked
    child does: ``--report FD`` names a pipe it writes {step, errno,
    message} to on failure, and closes once it is ready. No fork of this
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


def _run_child(child_main: ChildMain, errfd: int) -> NoReturn:  # pragma: no cover
    steps = Steps()
    try:
        detach_wakeup_fd_in_child()
        child_main(steps, errfd)
    except BaseException as e:  # everything is reported; nothing escapes the child
        _report(errfd, steps.now, e)
    finally:
        os._exit(EXIT_SETUP_FAILED)


def _report(errfd: int, step: str, e: BaseException) -> None:
    if isinstance(e, OSError) and e.errno:
        message = os.strerror(e.errno)
        if e.filename:
            message += f": {e.filename}"
        err = e.errno
    else:
        message, err = f"{type(e).__name__}: {e}", 0
    try:
        os.write(errfd, json.dumps({"step": step, "errno": err, "message": message}).encode())
    except OSError:
        pass  # the parent is gone; there is nobody to tell


def reset_signals() -> None:
    """Default dispositions and an empty mask, as a fresh process expects.

    CPython ignores SIGPIPE and SIGXFSZ and may have handlers installed; exec
    keeps an ignored disposition, so without this a container's app would
    start with SIGPIPE ignored.
    """
    for signo in range(1, signal.NSIG):
        if signo in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(signo, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # real-time signals glibc reserves for itself: below
    msys.default_signals()  # those two as well, with the raw syscall
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def close_fds_except(keep: tuple[int, ...]) -> None:
    """Close every fd >= 3 but ``keep`` (fork without exec keeps them all)."""
    low = 3
    for fd in sorted(k for k in keep if k >= low):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _max_fd())


def _max_fd() -> int:
    try:
        return max(int(name) for name in os.listdir("/proc/self/fd")) + 1
    except (OSError, ValueError):
        return os.sysconf("SC_OPEN_MAX")
