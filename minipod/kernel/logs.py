"""Container output as CRI log files: written from the containers' pipes by
the supervisor (LogPipe, LogFile), read back by `minipod logs` (CriDecoder).

The format is the kubelet's (CRI): ``<RFC3339Nano> <stream> <P|F> <text>``,
one record per line of output; a line longer than MAX_LINE is cut into P
(partial) records ended by an F (full) one, and the reader joins them again.
Writer and reader live here together so the format has one home:
cri_record() writes a record, CriDecoder reads it.

The reader is pure (bytes in, lines out) and light to import: `minipod logs`
loads this module, so the event loop is only a type here.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from minipod.api.frozen import frozen

if TYPE_CHECKING:
    from minipod.loop.eventloop import Loop

MAX_LINE = 16 * 1024
STREAMS = ("stdout", "stderr")
PARTIAL, FULL = "P", "F"  # the tag of a record: the line goes on in the next, or ends here
EchoFn = Callable[[str, str], None]  # (stream, line)


def cri_timestamp(now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def cri_record(stamp: str, stream: str, tag: str, text: bytes) -> bytes:
    """One record, newline included: ``text`` is a line, or a piece of one
    (``tag`` PARTIAL), without its newline."""
    return f"{stamp} {stream} {tag} ".encode() + text + b"\n"


# -- writing: the supervisor's side ----------------------------------------------------


# The kubelet's defaults (containerLogMaxSize, containerLogMaxFiles): a run's
# log is rotated once it would pass 10 MiB, and 5 files are kept, the
# current one included.
MAX_SIZE = 10 * 1024 * 1024
MAX_FILES = 5
ROTATED_STAMP = "%Y%m%d-%H%M%S"  # <attempt>.log.20240501-100000, as the kubelet names them


class LogFile:
    """One container run's log file, shared by its stdout and stderr pipes,
    rotated as the kubelet's container log manager rotates it: when a record
    would take the file past ``max_size``, the file is renamed to
    ``<name>.<YYYYmmdd-HHMMSS>`` (``.N`` added if that name is taken) and a
    new one started; the oldest rotated files go so that ``max_files`` are
    left. A rotation falls between two records, so a reader that finishes
    the renamed file and goes on with the new one loses and repeats nothing.
    Rotated files are not compressed (the kubelet gzips all but the newest)."""

    def __init__(self, path: Path, max_size: int = MAX_SIZE, max_files: int = MAX_FILES) -> None:
        self.path = path
        self.max_size, self.max_files = max_size, max(max_files, 1)
        try:
            self._fd = self._open(path)
        except FileNotFoundError:  # the container's first run: no log directory yet
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._fd = self._open(path)
        self._size = os.fstat(self._fd).st_size
        self.open_streams = 0

    @staticmethod
    def _open(path: Path) -> int:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)

    def write(self, stream: str, text: bytes, tag: str) -> None:
        record = cri_record(cri_timestamp(), stream, tag, text)
        if self._size and self._size + len(record) > self.max_size and self._fd >= 0:
            self._rotate()
        os.write(self._fd, record)
        self._size += len(record)

    def _rotate(self) -> None:
        stamp = time.strftime(ROTATED_STAMP, time.gmtime())
        # a second rotation within the second gets .1, .2...: after the
        # newest of that second, even when older ones were deleted since
        serials = [_serial(p.name) for p in rotated_files(self.path)
                   if p.name.startswith(f"{self.path.name}.{stamp}")]
        name = f"{self.path.name}.{stamp}" if not serials else \
            f"{self.path.name}.{stamp}.{max(serials) + 1}"
        os.rename(self.path, self.path.with_name(name))
        os.close(self._fd)
        self._fd = self._open(self.path)
        self._size = 0
        for old in rotated_files(self.path)[:-(self.max_files - 1) or None]:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()

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
            self._write(self._pending[:MAX_LINE], PARTIAL)
            self._pending = self._pending[MAX_LINE:]

    def _emit(self, line: bytes) -> None:
        while len(line) > MAX_LINE:
            self._write(line[:MAX_LINE], PARTIAL)
            line = line[MAX_LINE:]
        self._write(line, FULL)

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


def _serial(name: str) -> int:
    """The .N after a rotated file's stamp (0 for none)."""
    parts = name.split(".")
    return int(parts[-1]) if len(parts) > 3 and parts[-1].isdigit() else 0


def rotated_files(path: Path) -> list[Path]:
    """The rotated files of the log ``path``, oldest first."""
    prefix = path.name + "."
    try:
        names = [n for n in os.listdir(path.parent) if n.startswith(prefix)]
    except FileNotFoundError:
        return []

    def key(name: str) -> tuple[str, int]:
        stamp, _, serial = name[len(prefix):].partition(".")
        return stamp, int(serial) if serial.isdigit() else 0

    return [path.parent / n for n in sorted(names, key=key)]


def log_files(path: Path) -> list[Path]:
    """Every file of the log ``path``, oldest first: the rotated ones, then it."""
    return [*rotated_files(path), path]


# -- reading: `minipod logs` -----------------------------------------------------------

_STREAM_NAMES = {name.encode(): name for name in STREAMS}
_PARTIAL_TAG = PARTIAL.encode()


@frozen
class LogLine:
    timestamp: str  # the CRI one, RFC3339Nano with 9 digits
    stream: str
    text: bytes


class CriDecoder:
    """CRI log records to lines: `<RFC3339Nano> <stream> <P|F> <text>`; P
    (partial) records are joined with the records that follow on the same
    stream, up to the F one."""

    def __init__(self) -> None:
        self._rest = b""
        self._partial: dict[str, tuple[str, bytearray]] = {}

    def feed(self, data: bytes) -> list[LogLine]:
        *records, self._rest = (self._rest + data).split(b"\n")
        lines = []
        for record in records:
            line = self._record(record)
            if line is not None:
                lines.append(line)
        return lines

    def finish(self) -> list[LogLine]:
        """What is left at the end: a record cut short, unfinished partial lines."""
        lines = []
        if self._rest:
            line = self._record(self._rest)
            self._rest = b""
            if line is not None:
                lines.append(line)
        for stream, (stamp, text) in self._partial.items():
            lines.append(LogLine(stamp, stream, bytes(text)))
        self._partial.clear()
        return lines

    def _record(self, record: bytes) -> LogLine | None:
        parts = record.split(b" ", 3)
        stream = _STREAM_NAMES.get(parts[1]) if len(parts) >= 3 else None
        if stream is None:
            return LogLine("", "stdout", record)  # not CRI: shown as is
        stamp = parts[0].decode(errors="replace")
        tag, text = parts[2], parts[3] if len(parts) > 3 else b""
        if stream in self._partial:
            first, buffer = self._partial[stream]
            buffer += text
        else:
            first, buffer = stamp, bytearray(text)
        if tag == _PARTIAL_TAG:
            self._partial[stream] = (first, buffer)
            return None
        self._partial.pop(stream, None)
        return LogLine(first, stream, bytes(buffer))


def rfc3339nano(cri_stamp: str) -> str:
    """Go's time.RFC3339Nano (trailing zeros of the fraction dropped), as the
    kubelet prints `--timestamps`."""
    match = re.fullmatch(r"([^.]+)\.(\d+)(Z|[+-]\d\d:\d\d)", cri_stamp)
    if match is None:
        return cri_stamp
    head, fraction, zone = match.groups()
    fraction = fraction.rstrip("0")
    return f"{head}.{fraction}{zone}" if fraction else f"{head}{zone}"
