"""minipod.probes.net.http1: the httpGet probe's response reader, fed bytes by hand."""

from __future__ import annotations

import pytest

from minipod.probes.net.http1 import MAX_HEAD, BodyError, HeadError, NoResponse, ResponseReader

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def read(*pieces: bytes, limit: int = 10240, eof: bool = False) -> ResponseReader:
    """Feed the pieces in order (then EOF); the reader must be complete."""
    reader = ResponseReader(limit)
    complete = False
    for piece in pieces:
        complete = reader.feed(piece)
    if eof:
        complete = reader.feed_eof()
    assert complete
    assert reader.complete
    return reader


def every_split(data: bytes) -> list[list[bytes]]:
    return [[data[:i], data[i:]] for i in range(1, len(data))]


# -- the common response ------------------------------------------------------------

def test_one_read_with_content_length() -> None:
    reader = read(OK)
    assert (reader.status, reader.reason, reader.body) == (200, "OK", b"ok")
    assert reader.header(b"content-type") == b"text/plain"
    assert reader.header(b"location") is None


@pytest.mark.parametrize("pieces", every_split(OK))
def test_split_anywhere(pieces: list[bytes]) -> None:
    reader = read(*pieces)
    assert (reader.status, reader.body) == (200, b"ok")


def test_one_byte_at_a_time() -> None:
    reader = ResponseReader(10240)
    results = [reader.feed(OK[i:i + 1]) for i in range(len(OK))]
    assert results == [False] * (len(OK) - 1) + [True]
    assert reader.body == b"ok"


def test_not_complete_until_the_body_is_in() -> None:
    reader = ResponseReader(10240)
    assert not reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
    assert reader.status == 200, "the head is readable before the body"
    assert reader.feed(b"cde")
    assert reader.body == b"abcde"


def test_bytes_after_the_body_are_not_the_body() -> None:
    reader = read(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
    assert reader.body == b"ok"
    assert reader.feed(b"more")  # complete stays complete
    assert reader.body == b"ok"


def test_bare_lf_line_ends_and_header_details() -> None:
    reader = read(b"HTTP/1.0 404 Not Found\nX-A:  spaced  \nX-Fold: one\n two\n"
                  b"Location: /x\nlocation: /y\nContent-Length: 3\n\nabc")
    assert (reader.status, reader.reason, reader.body) == (404, "Not Found", b"abc")
    assert reader.header(b"x-a") == b"spaced"
    assert reader.header(b"x-fold") == b"one two"
    assert reader.header(b"location") == b"/x", "the first value of a repeated field"


def test_status_line_without_reason() -> None:
    assert read(b"HTTP/1.1 204\r\n\r\n").status == 204


# -- bodies without a Content-Length ------------------------------------------------------------

def test_body_until_close() -> None:
    reader = ResponseReader(10240)
    assert not reader.feed(b"HTTP/1.0 200 OK\r\n\r\nread until")
    assert not reader.feed(b" the end")
    assert reader.feed_eof()
    assert reader.body == b"read until the end"


def test_no_body_for_204_304_and_head_only_statuses() -> None:
    for code in (204, 304):
        reader = read(f"HTTP/1.1 {code} X\r\nContent-Length: 5\r\n\r\n".encode())
        assert reader.body == b""


def test_chunked() -> None:
    data = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n"
            b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n")
    assert read(data).body == b"hello, world"


@pytest.mark.parametrize("pieces", every_split(
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n1\r\nx\r\n0\r\n\r\n"))
def test_chunked_split_anywhere(pieces: list[bytes]) -> None:
    assert read(*pieces).body == b"0123456789x"


def test_chunked_truncated_is_unexpected_eof() -> None:
    reader = ResponseReader(10240)
    reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
    with pytest.raises(BodyError, match=r"^unexpected EOF$"):
        reader.feed_eof()


@pytest.mark.parametrize(("chunks", "message"), [
    (b"zz\r\n", "invalid byte in chunk length"),
    (b"\r\n", "invalid byte in chunk length"),
    (b"2\r\nokXX\r\n", "malformed chunked encoding"),
])
def test_chunked_framing_errors(chunks: bytes, message: str) -> None:
    reader = ResponseReader(10240)
    with pytest.raises(BodyError, match=message):
        reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)


def test_other_transfer_codings_are_refused() -> None:
    with pytest.raises(HeadError, match='unsupported transfer encoding: "gzip"'):
        ResponseReader(10240).feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")


# -- the 10 KiB cap --------------------------------------------------------------------------

def test_oversized_body_is_cut_at_the_limit() -> None:
    reader = ResponseReader(10)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
    assert reader.feed(head + b"x" * 5) is False
    assert reader.feed(b"y" * 50), "reaching the cap completes it: the rest is never read"
    assert reader.body == b"xxxxxyyyyy"


def test_cap_applies_to_chunked_and_close_delimited_bodies() -> None:
    chunked = read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + b"z" * 32,
                   limit=8)
    assert chunked.body == b"z" * 8
    until_close = read(b"HTTP/1.1 200 OK\r\n\r\n" + b"w" * 32, limit=8)
    assert until_close.body == b"w" * 8


# -- interim responses -------------------------------------------------------------------------

def test_1xx_responses_are_skipped() -> None:
    reader = read(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
                  OK)
    assert (reader.status, reader.body) == (200, b"ok")
    assert reader.header(b"link") is None


def test_a_lone_1xx_leaves_no_status() -> None:
    reader = ResponseReader(10240)
    assert not reader.feed(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert reader.status == 0


# -- redirects: the reader only reports; the probe follows ------------------------------------

def test_redirect_head_is_readable_before_its_body() -> None:
    reader = ResponseReader(10240)
    reader.feed(b"HTTP/1.1 301 Moved Permanently\r\nLocation: /ok\r\nContent-Length: 7\r\n\r\n")
    assert (reader.status, reader.header(b"location")) == (301, b"/ok")
    assert not reader.complete


# -- what cannot be read -----------------------------------------------------------------------

@pytest.mark.parametrize(("head", "message"), [
    (b"SSH-2.0-OpenSSH\r\n\r\n", 'malformed HTTP response "SSH-2.0-OpenSSH"'),
    (b"HTTP/1.1 2000 OK\r\n\r\n", 'malformed HTTP status code "2000"'),
    (b"HTTP/1.1 abc OK\r\n\r\n", 'malformed HTTP status code "abc"'),
    (b"HTTP/x 200 OK\r\n\r\n", 'malformed HTTP version "HTTP/x"'),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed MIME header line: no colon here"),
    (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "malformed MIME header line: Bad Name: x"),
    (b"HTTP/1.1 200 OK\r\nName : x\r\n\r\n", "malformed MIME header line: Name : x"),
    (b"HTTP/1.1 200 OK\r\n folded first\r\n\r\n", "malformed MIME header initial line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: x1\r\n\r\n", 'bad Content-Length "x1"'),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
     'multiple Content-Length headers; got \\["1" "2"\\]'),
])
def test_bad_heads(head: bytes, message: str) -> None:
    reader = ResponseReader(10240)
    with pytest.raises(HeadError, match=message):
        reader.feed(head)


def test_equal_repeated_content_lengths_are_one() -> None:
    reader = read(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")
    assert reader.body == b"ok"


def test_a_head_that_never_ends_is_refused() -> None:
    reader = ResponseReader(10240)
    reader.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(HeadError, match="headers exceeded"):
        for _ in range(MAX_HEAD // 1000 + 2):
            reader.feed(b"X-Filler: " + b"f" * 988 + b"\r\n")


def test_eof_before_anything_is_plain_eof() -> None:
    reader = ResponseReader(10240)
    with pytest.raises(NoResponse, match=r"^EOF$"):
        reader.feed_eof()
    partial = ResponseReader(10240)
    partial.feed(b"HTTP/1.1 20")
    with pytest.raises(NoResponse):
        partial.feed_eof()


def test_eof_inside_the_head_or_the_body() -> None:
    head = ResponseReader(10240)
    head.feed(b"HTTP/1.1 200 OK\r\nContent-Le")
    with pytest.raises(HeadError, match=r"^unexpected EOF$"):
        head.feed_eof()
    body = ResponseReader(10240)
    body.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
    with pytest.raises(BodyError, match=r"^unexpected EOF$"):
        body.feed_eof()
