"""A command in a running container, its output captured: `minipod exec`'s
launcher (probes/execprobe.py start_attached, the container's namespaces,
root, environment and identity, as cli/exec_cmd.py opens them) on pipes of
ours instead of a terminal.

The command is this process's child, in a session of its own. Its output is
read until it has exited and its pipes are drained (what a background
process of it writes later is not waited for); at the timeout its process
group is killed.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from dataclasses import dataclass

from minipod.api.record import PodRecord
from minipod.cli.exec_cmd import open_exec_target
from minipod.probes.execprobe import ExecFailed, ExecTarget, start_attached

_CHUNK = 65536


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a container did. ``exit_code`` is 128 + the
    signal when it was killed, 126 or 127 when it could not be exec'd (as a
    shell, and `minipod exec`, say)."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self) -> ExecResult:
        """Itself, or AssertionError with the command, its code and its stderr."""
        if self.exit_code != 0:
            raise AssertionError(f"{' '.join(self.argv)!r} exited {self.exit_code}: "
                                 f"{self.stderr.strip() or self.stdout.strip()}")
        return self


def exec_in(record: PodRecord, container: str, argv: tuple[str, ...], *,
            stdin: bytes | None, timeout: float) -> ExecResult:
    """Run ``argv`` in ``container`` of the pod of ``record``; StateError when
    it does not run."""
    target = open_exec_target(record, record.namespace, record.name, container)
    try:
        return _run(target, argv, stdin, timeout)
    finally:
        target.close()
        target.pod_ns.close()


def _run(target: ExecTarget, argv: tuple[str, ...], stdin: bytes | None,
         timeout: float) -> ExecResult:
    from_child: dict[int, bytearray] = {}
    fds: list[int] = []
    try:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        fds += [out_r, out_w]
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        fds += [err_r, err_w]
        in_r, in_w = -1, -1
        if stdin is not None:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
            fds += [in_r, in_w]
        try:
            child = start_attached(target, argv, stdin=in_r, stdout=out_w, stderr=err_w)
        except ExecFailed as e:
            detail = str(e.strerror)
            return ExecResult(argv, e.exit_code, "", f"exec {argv[0]!r}: {detail}")
        for fd in (out_w, err_w, in_r):
            if fd >= 0:
                os.close(fd)
                fds.remove(fd)
        reaped = False
        try:
            from_child = _collect(child.pidfd, child.pid, out_r, err_r, in_w, stdin or b"",
                                  timeout, argv, fds)
            result = os.waitid(os.P_PIDFD, child.pidfd, os.WEXITED)
            reaped = True
        finally:
            if not reaped:
                # Always reaped: a zombie of ours in the container's pid
                # namespace would keep that namespace's init from finishing
                # its exit, and the pod from ever stopping.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitid(os.P_PIDFD, child.pidfd, os.WEXITED)
            os.close(child.pidfd)
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
    assert result is not None
    code = result.si_status if result.si_code == os.CLD_EXITED else 128 + result.si_status
    return ExecResult(argv, code, from_child[out_r].decode(errors="replace"),
                      from_child[err_r].decode(errors="replace"))


def _collect(pidfd: int, pid: int, out_r: int, err_r: int, in_w: int, data: bytes,
             timeout: float, argv: tuple[str, ...], fds: list[int]) -> dict[int, bytearray]:
    """Feed ``data`` to ``in_w`` (closed once fed: the command's EOF, and
    taken out of ``fds``, what the caller closes), read both pipes until the
    command exited and they are drained. TimeoutError (its group killed)
    after ``timeout``."""
    def close_input() -> None:
        os.close(in_w)
        fds.remove(in_w)

    got = {out_r: bytearray(), err_r: bytearray()}
    for fd in (out_r, err_r):
        os.set_blocking(fd, False)
    pending = memoryview(data)
    writing = in_w >= 0
    if writing:
        os.set_blocking(in_w, False)
        if not pending:
            close_input()
            writing = False
    deadline = time.monotonic() + timeout
    open_fds = {out_r, err_r}
    while True:
        poller = select.poll()
        for fd in open_fds:
            poller.register(fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        if writing:
            poller.register(in_w, select.POLLOUT)
        left = deadline - time.monotonic()
        if left <= 0:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # its session's group: setsid made it leader
            raise TimeoutError(f"exec {' '.join(argv)!r}: still running after {timeout:g}s "
                               "(killed)")
        ready = dict(poller.poll(left * 1000))
        if writing and ready.get(in_w):
            try:
                pending = pending[os.write(in_w, pending):]
            except BrokenPipeError:
                pending = pending[len(pending):]
            if not pending:
                close_input()
                writing = False
        for fd in list(open_fds):
            if ready.get(fd) and not _drain(fd, got[fd]):
                open_fds.discard(fd)
        if pidfd in ready or not open_fds:
            if pidfd not in ready:
                # both pipes closed: only the exit is left to wait for
                select.select([pidfd], [], [], max(deadline - time.monotonic(), 0))
                if not _exited(pidfd):
                    continue
            for fd in open_fds:
                _drain(fd, got[fd])  # what it wrote before it exited
            return got


def _drain(fd: int, into: bytearray) -> bool:
    """Read what ``fd`` has; False at its end."""
    while True:
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return True
        if not data:
            return False
        into += data


def _exited(pidfd: int) -> bool:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


__all__ = ["ExecResult", "exec_in"]
