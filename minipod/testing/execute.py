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

from minipod.api.frozen import frozen
from minipod.api.record import PodRecord
from minipod.cli.exec_cmd import open_exec_target
from minipod.probes.execprobe import ExecFailed, ExecTarget, start_attached

_CHUNK = 65536


@frozen
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
    with _Pipes(stdin is not None) as pipes:
        try:
            child = start_attached(target, argv, stdin=pipes.child_in, stdout=pipes.child_out,
                                   stderr=pipes.child_err)
        except ExecFailed as e:
            return ExecResult(argv, e.exit_code, "", f"exec {argv[0]!r}: {e.strerror}")
        pipes.close_child_ends()
        reaped = False
        try:
            pipes.collect(child.pidfd, stdin or b"", time.monotonic() + timeout)
            result = os.waitid(os.P_PIDFD, child.pidfd, os.WEXITED)
            reaped = True
        except TimeoutError:
            raise TimeoutError(f"exec {' '.join(argv)!r}: still running after {timeout:g}s "
                               "(killed)") from None
        finally:
            if not reaped:
                # Always reaped: a zombie of ours in the container's pid
                # namespace would keep that namespace's init from finishing
                # its exit, and the pod from ever stopping. setsid made the
                # command the leader of its group: the group goes.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitid(os.P_PIDFD, child.pidfd, os.WEXITED)
            os.close(child.pidfd)
    assert result is not None
    code = result.si_status if result.si_code == os.CLD_EXITED else 128 + result.si_status
    return ExecResult(argv, code, pipes.out.decode(errors="replace"),
                      pipes.err.decode(errors="replace"))


class _Pipes:
    """The command's stdout and stderr (and stdin) pipes: every fd closed at
    the end of the ``with``, whatever happened."""

    def __init__(self, with_stdin: bool) -> None:
        self._fds: list[int] = []
        self.out, self.err = bytearray(), bytearray()
        self.out_r, self.child_out = self._pipe()
        self.err_r, self.child_err = self._pipe()
        self.child_in, self.in_w = self._pipe() if with_stdin else (-1, -1)

    def _pipe(self) -> tuple[int, int]:
        r, w = os.pipe2(os.O_CLOEXEC)
        self._fds += [r, w]
        return r, w

    def __enter__(self) -> _Pipes:
        return self

    def __exit__(self, *_exc: object) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()

    def close(self, fd: int) -> None:
        if fd in self._fds:
            os.close(fd)
            self._fds.remove(fd)

    def close_child_ends(self) -> None:
        for fd in (self.child_out, self.child_err, self.child_in):
            self.close(fd)

    def collect(self, pidfd: int, data: bytes, deadline: float) -> None:
        """Feed ``data`` to stdin (closed once fed: the command's EOF), read
        both pipes until the command has exited and they are drained.
        TimeoutError at ``deadline``."""
        into = {self.out_r: self.out, self.err_r: self.err}
        for fd in (*into, self.in_w):
            if fd >= 0:
                os.set_blocking(fd, False)
        pending = memoryview(data)
        if not pending:
            self.close(self.in_w)
        reading = set(into)
        while True:
            ready = self._poll(reading, pidfd, deadline)
            if ready.get(self.in_w):
                pending = self._feed(pending)
            for fd in [fd for fd in reading if ready.get(fd)]:
                if not _drain(fd, into[fd]):
                    reading.discard(fd)
            if pidfd in ready:
                for fd in reading:
                    _drain(fd, into[fd])  # what it wrote before it exited
                return
            if not reading:  # both closed: only its exit is left to wait for
                select.select([pidfd], [], [], max(deadline - time.monotonic(), 0))

    def _poll(self, reading: set[int], pidfd: int, deadline: float) -> dict[int, int]:
        poller = select.poll()
        for fd in (*reading, pidfd):
            poller.register(fd, select.POLLIN)
        if self.in_w in self._fds:
            poller.register(self.in_w, select.POLLOUT)
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return dict(poller.poll(left * 1000))

    def _feed(self, pending: memoryview) -> memoryview:
        try:
            pending = pending[os.write(self.in_w, pending):]
        except BrokenPipeError:  # it does not read its stdin: nothing more to give
            pending = pending[len(pending):]
        if not pending:
            self.close(self.in_w)
        return pending


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


__all__ = ["ExecResult", "exec_in"]
