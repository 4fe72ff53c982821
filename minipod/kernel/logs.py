"""Container output: pipes read by the supervisor, written as CRI log files.

The format is the kubelet's (CRI): ``<RFC3339Nano> <stream> <P|F> <text>``,
one line per line of output; a line longer than MAX_LINE is cut into P
(partial) records ended by an F (full) one.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from pathlib import Path

from minipod.loop.eventloop import Loop

MAX_LINE = 16 * 1024
EchoFn = Callable[[str, str], None]  # (stream, line)


def cri_timestamp(now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


class LogFile:
    """One container run's log file, shared by its stdout and stderr pipes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd = self._open(path)
        except FileNotFoundError:  # the container's first run: no log directory yet
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._fd = self._open(path)
        self.open_streams = 0

    @staticmethod
    def _open(path: Path) -> int:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)

    def write(self, stream: str, text: bytes, tag: str) -> None:
        record = f"{cri_timestamp()} {stream} {tag} ".encode() + text + b"\n"
        os.write(self._fd, record)

    def release(self) -> None:
        self.open_streams -= 1
        if self.open_streams <= 0 and self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class LogPipe:
    """The read end of one stream of one container, for the sandbox's life.

    The stream is a FIFO in the pod directory that the pause process also
    holds open (so a container never gets SIGPIPE while no supervisor reads).
    Hence no EOF between runs: each run attaches its LogFile, and at its exit
    the pipe is drained and the run's last partial line written out.
    """

    def __init__(self, loop: Loop, fd: int, stream: str, log: LogFile | None,
                 echo: EchoFn | None) -> None:
        self.loop, self.fd, self.stream, self.echo = loop, fd, stream, echo
        self.log: LogFile | None = None
        self._pending = b""
        os.set_blocking(fd, False)
        if log is not None:
            self.attach(log)
        loop.register(fd, self._on_readable)

    @property
    def open(self) -> bool:
        return self.fd >= 0

    def attach(self, log: LogFile) -> None:
        log.open_streams += 1
        self.log = log

    def end_run(self) -> None:
        """The run exited: everything it wrote goes to its log, then the log is let go."""
        if self.fd >= 0:
            self.drain()
        if self._pending:
            self._emit(self._pending)
            self._pending = b""
        if self.log is not None:
            self.log.release()
            self.log = None

    def _on_readable(self, _events: int) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        if not data:
            self.close()  # every writer, pause included, is gone
            return
        self._consume(self._pending + data)

    def drain(self) -> None:
        """Read what the pipe still holds: an exit can be noticed before the
        last output is read, and that output belongs in the log."""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            self._consume(self._pending + data)

    def _consume(self, data: bytes) -> None:
        *lines, self._pending = data.split(b"\n")
        for line in lines:
            self._emit(line)
        while len(self._pending) > MAX_LINE:
            self._write(self._pending[:MAX_LINE], "P")
            self._pending = self._pending[MAX_LINE:]

    def _emit(self, line: bytes) -> None:
        while len(line) > MAX_LINE:
            self._write(line[:MAX_LINE], "P")
            line = line[MAX_LINE:]
        self._write(line, "F")

    def _write(self, text: bytes, tag: str) -> None:
        if self.log is not None:
            self.log.write(self.stream, text, tag)
        if self.echo is not None:
            self.echo(self.stream, text.decode(errors="replace"))

    def close(self) -> None:
        if self.fd < 0:
            return
        self.end_run()
        self.loop.unregister(self.fd)
        os.close(self.fd)
        self.fd = -1
