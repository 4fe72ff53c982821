"""minipod.kernel.logs: CRI log records from container pipes, and read back.

The writer (LogPipe, LogFile) and the reader (CriDecoder) are one codec:
what a container wrote comes back line for line, whatever the reads and
the record boundaries were.
"""

from __future__ import annotations

import datetime
import os
import random
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from minipod.kernel.logs import (
    FULL,
    MAX_LINE,
    PARTIAL,
    CriDecoder,
    LogFile,
    LogLine,
    LogPipe,
    cri_record,
    cri_timestamp,
    rfc3339nano,
)
from minipod.loop.clock import MonotonicClock
from minipod.loop.eventloop import Loop

TIMESTAMP_RE = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z"
RECORD_RE = re.compile(rb"(" + TIMESTAMP_RE.encode() + rb") (stdout|stderr) ([PF]) (.*)")


def _records(path: Path) -> list[tuple[str, str, bytes]]:
    """(stream, tag, text) of every record; fails on a malformed one."""
    out = []
    for line in path.read_bytes().split(b"\n")[:-1]:
        match = RECORD_RE.fullmatch(line)
        assert match is not None, line[:100]
        out.append((match[2].decode(), match[3].decode(), match[4]))
    return out


@pytest.fixture
def loop() -> Iterator[Loop]:
    loop = Loop(MonotonicClock())
    yield loop
    loop.close()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "app" / "0.log"


class Writer:
    """The container's end of a pipe; closed at teardown if the test did not."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> None:
        assert os.write(self.fd, data) == len(data)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@pytest.fixture
def stdout_pipe(
    loop: Loop, log_path: Path
) -> Iterator[tuple[LogPipe, Writer, list[tuple[str, str]]]]:
    r, w = os.pipe()
    echoed: list[tuple[str, str]] = []
    log = LogFile(log_path)
    pipe = LogPipe(loop, r, "stdout", log, lambda stream, line: echoed.append((stream, line)))
    writer = Writer(w)
    yield pipe, writer, echoed
    writer.close()
    pipe.close()


def _run_until_closed(loop: Loop, pipe: LogPipe) -> None:
    for _ in range(100):
        if pipe.fd < 0:
            return
        loop.run_once(max_wait=1.0)
    raise AssertionError("the pipe never reached EOF")


# ---------------------------------------------------------------------------
# timestamps
# ---------------------------------------------------------------------------


def test_cri_timestamp_of_a_given_time() -> None:
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC)
    assert cri_timestamp(when) == "2024-01-02T03:04:05.123456000Z"


def test_cri_timestamp_keeps_nine_digits_for_whole_seconds() -> None:
    when = datetime.datetime(2024, 12, 31, 23, 59, 59, 0, tzinfo=datetime.UTC)
    assert cri_timestamp(when) == "2024-12-31T23:59:59.000000000Z"


def test_cri_timestamp_now_is_rfc3339_utc() -> None:
    before = datetime.datetime.now(datetime.UTC)
    stamp = cri_timestamp()
    after = datetime.datetime.now(datetime.UTC)
    assert re.fullmatch(TIMESTAMP_RE, stamp)
    parsed = datetime.datetime.strptime(stamp[:-4], "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.UTC
    )
    assert before.replace(microsecond=0) <= parsed <= after


# ---------------------------------------------------------------------------
# LogFile
# ---------------------------------------------------------------------------


def test_log_file_is_private_and_closes_after_the_last_stream(log_path: Path) -> None:
    log = LogFile(log_path)
    assert stat.S_IMODE(log_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_path.parent.stat().st_mode) == 0o700
    log.open_streams = 2
    log.write("stderr", b"oops", "F")
    log.release()
    log.write("stdout", b"still open", "F")
    log.release()
    with pytest.raises(OSError):
        log.write("stdout", b"closed", "F")
    assert _records(log_path) == [("stderr", "F", b"oops"), ("stdout", "F", b"still open")]


def test_log_file_appends(log_path: Path) -> None:
    first = LogFile(log_path)
    first.write("stdout", b"one", "F")
    first.release()
    second = LogFile(log_path)
    second.write("stdout", b"two", "F")
    second.release()
    assert [text for _, _, text in _records(log_path)] == [b"one", b"two"]


# ---------------------------------------------------------------------------
# LogPipe
# ---------------------------------------------------------------------------


def test_lines_become_full_records(
    loop: Loop, log_path: Path, stdout_pipe: tuple[LogPipe, Writer, list[tuple[str, str]]]
) -> None:
    pipe, writer, echoed = stdout_pipe
    writer.write(b"hello\nworld\n")
    loop.run_once(max_wait=1.0)
    writer.write(b"\n")  # an empty line is a record too
    writer.close()
    _run_until_closed(loop, pipe)

    assert _records(log_path) == [
        ("stdout", "F", b"hello"),
        ("stdout", "F", b"world"),
        ("stdout", "F", b""),
    ]
    assert echoed == [("stdout", "hello"), ("stdout", "world"), ("stdout", "")]


def test_record_line_format(
    loop: Loop, log_path: Path, stdout_pipe: tuple[LogPipe, Writer, list[tuple[str, str]]]
) -> None:
    pipe, writer, _ = stdout_pipe
    writer.write(b"a b  c\n")
    writer.close()
    _run_until_closed(loop, pipe)
    content = log_path.read_bytes()
    assert re.fullmatch(rb"\S+ stdout F a b  c\n", content)


def test_line_split_across_reads_is_one_record(
    loop: Loop, log_path: Path, stdout_pipe: tuple[LogPipe, Writer, list[tuple[str, str]]]
) -> None:
    _, writer, _ = stdout_pipe
    writer.write(b"hel")
    loop.run_once(max_wait=1.0)
    assert _records(log_path) == []  # nothing until the line ends
    writer.write(b"lo\n")
    loop.run_once(max_wait=1.0)
    assert _records(log_path) == [("stdout", "F", b"hello")]


def test_partial_last_line_is_flushed_as_full_at_eof(
    loop: Loop, log_path: Path, stdout_pipe: tuple[LogPipe, Writer, list[tuple[str, str]]]
) -> None:
    pipe, writer, echoed = stdout_pipe
    writer.write(b"done\nno newline")
    writer.close()
    _run_until_closed(loop, pipe)
    assert _records(log_path) == [("stdout", "F", b"done"), ("stdout", "F", b"no newline")]
    assert echoed[-1] == ("stdout", "no newline")


def test_long_line_is_split_into_partial_records(
    loop: Loop, log_path: Path, stdout_pipe: tuple[LogPipe, Writer, list[tuple[str, str]]]
) -> None:
    pipe, writer, _ = stdout_pipe
    line = b"a" * MAX_LINE + b"b" * MAX_LINE + b"c" * 10
    writer.write(line + b"\nnext\n")
    writer.close()
    _run_until_closed(loop, pipe)
    assert _records(log_path) == [
        ("stdout", "P", b"a" * MAX_LINE),
        ("stdout", "P", b"b" * MAX_LINE),
        ("stdout", "F", b"c" * 10),
        ("stdout", "F", b"next"),
    ]


def test_line_of_exactly_max_line_is_one_full_record(
    loop: Loop, log_path: Path, stdout_pipe: tuple[LogPipe, Writer, list[tuple[str, str]]]
) -> None:
    pipe, writer, _ = stdout_pipe
    writer.write(b"x" * MAX_LINE + b"\n")
    writer.close()
    _run_until_closed(loop, pipe)
    assert _records(log_path) == [("stdout", "F", b"x" * MAX_LINE)]


def test_long_unfinished_line_is_written_out_before_it_ends(
    loop: Loop, log_path: Path, stdout_pipe: tuple[LogPipe, Writer, list[tuple[str, str]]]
) -> None:
    _, writer, _ = stdout_pipe
    writer.write(b"a" * MAX_LINE + b"bbb")
    loop.run_once(max_wait=1.0)
    # the first MAX_LINE bytes cannot wait for a newline that may never come
    assert _records(log_path) == [("stdout", "P", b"a" * MAX_LINE)]
    writer.write(b"ccc\n")
    loop.run_once(max_wait=1.0)
    assert _records(log_path)[1:] == [("stdout", "F", b"bbbccc")]


def test_close_drains_what_is_still_in_the_pipe(
    loop: Loop, log_path: Path, stdout_pipe: tuple[LogPipe, Writer, list[tuple[str, str]]]
) -> None:
    pipe, writer, echoed = stdout_pipe
    writer.write(b"one\ntwo\nthree")
    pipe.close()  # the loop never ran: the data is only in the pipe
    assert _records(log_path) == [
        ("stdout", "F", b"one"),
        ("stdout", "F", b"two"),
        ("stdout", "F", b"three"),
    ]
    assert [line for _, line in echoed] == ["one", "two", "three"]
    assert pipe.fd == -1
    pipe.close()  # idempotent
    assert len(_records(log_path)) == 3


def test_close_unregisters_and_releases(
    loop: Loop, log_path: Path, stdout_pipe: tuple[LogPipe, Writer, list[tuple[str, str]]]
) -> None:
    pipe, writer, _ = stdout_pipe
    log = pipe.log
    assert log is not None
    pipe.close()
    with pytest.raises(BrokenPipeError):
        writer.write(b"late\n")  # the read end is closed
    loop.run_once(max_wait=0)
    assert _records(log_path) == []
    assert pipe.log is None and log.open_streams == 0
    with pytest.raises(OSError):
        log.write("stdout", b"x", "F")  # the file is closed


def test_a_run_ends_without_closing_the_stream(
    loop: Loop, log_path: Path, stdout_pipe: tuple[LogPipe, Writer, list[tuple[str, str]]]
) -> None:
    # A container's FIFO outlives its runs: end_run() writes out the run's
    # partial last line and lets its log go; the next run attaches its own.
    pipe, writer, _ = stdout_pipe
    writer.write(b"first run, no newline")
    pipe.end_run()
    assert _records(log_path) == [("stdout", "F", b"first run, no newline")]
    assert pipe.open and pipe.log is None
    second = LogFile(log_path.with_name("1.log"))
    pipe.attach(second)
    writer.write(b"second run\n")
    loop.run_once(max_wait=0)
    assert _records(log_path.with_name("1.log")) == [("stdout", "F", b"second run")]
    assert len(_records(log_path)) == 1


def test_stdout_and_stderr_share_one_file(loop: Loop, log_path: Path) -> None:
    log = LogFile(log_path)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    out = LogPipe(loop, out_r, "stdout", log, None)
    err = LogPipe(loop, err_r, "stderr", log, None)
    assert log.open_streams == 2
    os.write(out_w, b"to out\n")
    os.close(out_w)
    _run_until_closed(loop, out)
    os.write(err_w, b"to err\n")  # the file is still open for stderr
    os.close(err_w)
    _run_until_closed(loop, err)
    assert _records(log_path) == [("stdout", "F", b"to out"), ("stderr", "F", b"to err")]
    assert log.open_streams == 0


def test_invalid_utf8_is_logged_raw_and_echoed_replaced(
    loop: Loop, log_path: Path, stdout_pipe: tuple[LogPipe, Writer, list[tuple[str, str]]]
) -> None:
    pipe, writer, echoed = stdout_pipe
    writer.write(b"caf\xe9\n")
    writer.close()
    _run_until_closed(loop, pipe)
    assert _records(log_path) == [("stdout", "F", b"caf\xe9")]
    assert echoed == [("stdout", "caf\ufffd")]


def test_echo_of_a_long_line_loses_nothing(
    loop: Loop, log_path: Path, stdout_pipe: tuple[LogPipe, Writer, list[tuple[str, str]]]
) -> None:
    pipe, writer, echoed = stdout_pipe
    line = "a" * MAX_LINE + "b" * 10
    writer.write(line.encode() + b"\n")
    writer.close()
    _run_until_closed(loop, pipe)
    assert [r[1] for r in _records(log_path)] == ["P", "F"]  # the file has all of it
    echoed_text = "".join(text for _, text in echoed)
    assert len(echoed_text) == len(line)  # the whole line, not only its last chunk
    assert echoed_text == line


def test_log_file_makes_its_directory_once(tmp_path: Path) -> None:
    first = LogFile(tmp_path / "logs" / "app" / "0.log")
    second = LogFile(tmp_path / "logs" / "app" / "1.log")  # a restart: the directory is there
    for log in (first, second):
        log.open_streams = 1
        log.write("stdout", b"x", "F")
        log.release()
    assert sorted(p.name for p in (tmp_path / "logs" / "app").iterdir()) == ["0.log", "1.log"]


# ---------------------------------------------------------------------------
# CriDecoder: reading (`minipod logs`)
# ---------------------------------------------------------------------------


def cri(*records: tuple[str, str, str, str]) -> bytes:
    """CRI records from (time, stream, tag, text), written out by hand (not by
    cri_record: the reader is checked against the format, not the writer)."""
    return b"".join(f"2026-11-21T09:{t}Z {s} {tag} {text}\n".encode()
                    for t, s, tag, text in records)


def test_cri_decoder_streams_and_odd_records() -> None:
    decoder = CriDecoder()
    data = cri(("00:00.1", "stdout", "P", "a"), ("00:00.2", "stderr", "P", "x"),
               ("00:00.3", "stdout", "F", "b"), ("00:00.4", "stderr", "F", "y"))
    lines = decoder.feed(data[:30]) + decoder.feed(data[30:])  # a record split across reads
    assert [(line.stream, line.text) for line in lines] == [("stdout", b"ab"), ("stderr", b"xy")]
    assert lines[0].timestamp == "2026-11-21T09:00:00.1Z"
    assert decoder.feed(b"not a cri line\n")[0].text == b"not a cri line"
    assert decoder.feed(b"2026-11-21T09:00:00.5Z stdout F\n")[0].text == b""  # empty line
    assert decoder.feed(b"2026-11-21T09:00:00.6Z stdout P unfinished\n2026-11") == []
    assert [line.text for line in decoder.finish()] == [b"2026-11", b"unfinished"]


@pytest.mark.parametrize(("cri_stamp", "nano"), [
    ("2026-11-21T09:13:54.084811000Z", "2026-11-21T09:13:54.084811Z"),
    ("2026-11-21T09:13:54.000000000Z", "2026-11-21T09:13:54Z"),
    ("2026-11-21T09:13:54.123456789Z", "2026-11-21T09:13:54.123456789Z"),
    ("2026-11-21T09:13:54.500000000+02:00", "2026-11-21T09:13:54.5+02:00"),
])
def test_rfc3339nano(cri_stamp: str, nano: str) -> None:
    assert rfc3339nano(cri_stamp) == nano


def test_decoder_reads_what_cri_record_writes() -> None:
    stamp = "2026-11-21T09:13:54.084811000Z"
    data = b"".join([
        cri_record(stamp, "stdout", FULL, b"a b  c "),
        cri_record(stamp, "stderr", FULL, b""),
        cri_record(stamp, "stdout", PARTIAL, b"one "),
        cri_record("2026-11-21T09:13:55.000000000Z", "stdout", FULL, b"line"),
        cri_record(stamp, "stderr", FULL, b"caf\xe9\r"),
    ])
    assert CriDecoder().feed(data) == [
        LogLine(stamp, "stdout", b"a b  c "),
        LogLine(stamp, "stderr", b""),
        LogLine(stamp, "stdout", b"one line"),  # a joined line has its first part's time
        LogLine(stamp, "stderr", b"caf\xe9\r"),
    ]


def test_decoder_does_not_care_how_the_bytes_are_cut() -> None:
    data = cri(("00:00.1", "stdout", "P", "a"), ("00:00.2", "stderr", "F", "x y"),
               ("00:00.3", "stdout", "F", "b"), ("00:00.4", "stdout", "F", ""))
    whole = CriDecoder()
    expected = whole.feed(data) + whole.finish()
    for size in (1, 2, 7, 31):
        decoder = CriDecoder()
        lines = [line for i in range(0, len(data), size)
                 for line in decoder.feed(data[i:i + size])]
        assert lines + decoder.finish() == expected


@pytest.mark.parametrize(("when", "nano"), [
    (datetime.datetime(2026, 11, 21, 9, 13, 54, 84811, tzinfo=datetime.UTC),
     "2026-11-21T09:13:54.084811Z"),
    (datetime.datetime(2026, 11, 21, 9, 13, 54, 120000, tzinfo=datetime.UTC),
     "2026-11-21T09:13:54.12Z"),
    (datetime.datetime(2026, 11, 21, 9, 13, 54, 0, tzinfo=datetime.UTC),
     "2026-11-21T09:13:54Z"),
])
def test_written_timestamps_read_back_as_the_kubelet_prints_them(
        when: datetime.datetime, nano: str) -> None:
    stamp = cri_timestamp(when)
    [line] = CriDecoder().feed(cri_record(stamp, "stdout", FULL, b"x"))
    assert line.timestamp == stamp
    assert rfc3339nano(line.timestamp) == nano


# ---------------------------------------------------------------------------
# round trips: a container's output through the writer, back through the reader
# ---------------------------------------------------------------------------

# lines around MAX_LINE, empty ones, bytes that are not UTF-8, spaces that the
# record's own separators must not eat
LINES = [b"hello", b"", b"a b  c ", b" lead", b"x" * (MAX_LINE - 1), b"y" * MAX_LINE,
         b"z" * (MAX_LINE + 1), bytes(range(1, 10)) * (3 * MAX_LINE // 9 + 5), b"caf\xe9",
         b"\tP F stdout \r", b""]


def _decode_file(path: Path) -> list[LogLine]:
    decoder = CriDecoder()
    data = path.read_bytes()
    return [line for i in range(0, len(data), 4093)
            for line in decoder.feed(data[i:i + 4093])] + decoder.finish()


def test_round_trip_of_one_stream(loop: Loop, log_path: Path,
                                  stdout_pipe: tuple[LogPipe, Writer, list[tuple[str, str]]]
                                  ) -> None:
    pipe, writer, _ = stdout_pipe
    data = b"".join(line + b"\n" for line in LINES) + b"no newline at the end"
    cuts = random.Random(13)
    i = 0
    while i < len(data):  # written as a program would, in pieces of any size
        n = cuts.randint(1, 5000)
        writer.write(data[i:i + n])
        loop.run_once(max_wait=0)
        i += n
    writer.close()
    _run_until_closed(loop, pipe)
    records = _records(log_path)
    assert {len(text) for _, tag, text in records if tag == PARTIAL} == {MAX_LINE}
    lines = _decode_file(log_path)
    assert [line.text for line in lines] == [*LINES, b"no newline at the end"]
    assert {line.stream for line in lines} == {"stdout"}
    assert all(re.fullmatch(TIMESTAMP_RE, line.timestamp) for line in lines)


def test_round_trip_of_two_streams_in_one_file(loop: Loop, log_path: Path) -> None:
    """A long stdout line is cut around a stderr line written meanwhile: the
    reader joins stdout's pieces and leaves stderr's line whole."""
    log = LogFile(log_path)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    out = LogPipe(loop, out_r, "stdout", log, None)
    err = LogPipe(loop, err_r, "stderr", log, None)
    try:
        os.write(out_w, b"a" * MAX_LINE + b"bbb")  # MAX_LINE cannot wait: one P record
        loop.run_once(max_wait=1.0)
        os.write(err_w, b"to err\n")
        loop.run_once(max_wait=1.0)
        os.write(out_w, b"ccc\nafter\n")
        loop.run_once(max_wait=1.0)
    finally:
        os.close(out_w)
        os.close(err_w)
        _run_until_closed(loop, out)
        _run_until_closed(loop, err)
    assert [(stream, tag) for stream, tag, _ in _records(log_path)] == [
        ("stdout", "P"), ("stderr", "F"), ("stdout", "F"), ("stdout", "F")]
    first_piece = log_path.read_bytes().split(b" ", 1)[0].decode()
    assert [(line.stream, line.text) for line in _decode_file(log_path)] == [
        ("stderr", b"to err"), ("stdout", b"a" * MAX_LINE + b"bbbccc"), ("stdout", b"after")]
    assert _decode_file(log_path)[1].timestamp == first_piece
