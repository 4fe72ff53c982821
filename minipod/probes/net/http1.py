"""Reading an HTTP/1.x response for the httpGet probe, without h11.

A probe reads one response per connection (the kubelet disables keep-alive)
and keeps at most 10 KiB of its body. So this reader is fed bytes as they
come and only knows what that needs: the status line, the header fields,
and where the body ends (Content-Length, chunked, or the close of the
connection), read up to a cap. It runs for every probe, so the common case
(the whole response in one read, with a Content-Length) is a few bytes
operations.

The rules and the words of the errors are Go's (net/http's ReadResponse and
transfer.go, net/textproto), since the kubelet's messages end up in events:

- a status line is "HTTP/x.y NNN reason"; 1xx responses but 101 are skipped,
  as Go's transport does;
- 1xx, 204 and 304 have no body; chunked wins over Content-Length; any other
  transfer coding is an error; without either, the body runs to the close;
- header lines may end with a bare LF; a line that starts with a blank
  continues the previous field.

HeadError is a response that cannot be read at all (the probe words it
"net/http: HTTP/1.x transport connection broken: ..."); BodyError is a body
that ends badly ("unexpected EOF"). A reader that is complete ignores
whatever comes after.
"""

from __future__ import annotations

import re

MAX_HEAD = 64 * 1024  # h11's limit was 16 KiB; Go's 10 MiB is more than a probe needs

_NEED_HEAD, _BODY_LENGTH, _BODY_CHUNKED, _BODY_CLOSE, _DONE = range(5)
_CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER = range(4)
_HEX = frozenset(b"0123456789abcdefABCDEF")
_TOKEN = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# The common head, whole in the first read: a status line that is not 1xx and
# plain "token: value" lines. What this does not match takes the general path
# (_head_end, _read_head), which reads it the same way or words what is wrong.
_QUICK_HEAD = re.compile(rb"HTTP/[0-9]\.[0-9] ([02-9][0-9]{2})(?: ([^\r\n]*))?\r?\n"
                         rb"((?:[-!#$%&'*+.^_`|~0-9A-Za-z]+:[^\r\n]*\r?\n)*)\r?\n")
_QUICK_FIELD = re.compile(rb"([-!#$%&'*+.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n]*?)[ \t]*\r?\n")


class HeadError(Exception):
    """The status line or the header is not one Go would accept."""


class NoResponse(HeadError):
    """The connection closed before a status line: Go's plain "EOF"."""


class BodyError(Exception):
    """The body ended before its framing said it would, or is framed badly."""


class ResponseReader:
    """One response, fed in pieces: feed() until it returns True (complete).

    After the head: ``status``, ``reason`` and ``headers`` (names lower-case,
    in order). ``body`` holds at most ``limit`` bytes; reaching the limit
    completes the response (what follows is never read, as with Go's
    io.LimitReader).
    """

    __slots__ = ("_buf", "_chunk_left", "_chunk_state", "_left", "_limit", "_state", "body",
                 "headers", "reason", "status")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buf = b""
        self._state = _NEED_HEAD
        self._left = 0  # Content-Length still to come
        self._chunk_state = _CHUNK_SIZE
        self._chunk_left = 0
        self.status = 0  # 0 until the head is read
        self.reason = ""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""

    @property
    def complete(self) -> bool:
        return self._state == _DONE

    def header(self, name: bytes) -> bytes | None:
        """The first value of a field, by its lower-case name."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    # -- feeding ---------------------------------------------------------------
    def feed(self, data: bytes) -> bool:
        """Take the next bytes of the connection; True once the response is complete."""
        state = self._state
        if state == _DONE:
            return True
        if state == _NEED_HEAD:
            if not self._buf:
                quick = _QUICK_HEAD.match(data)
                if quick is not None:
                    self.status = int(quick[1])
                    self.reason = _text(quick[2] or b"")
                    self.headers = [(name.lower(), value)
                                    for name, value in _QUICK_FIELD.findall(quick[3])]
                    state = self._state = self._framing()
                    end = quick.end()
                    left = self._left
                    if state == _BODY_LENGTH and left <= self._limit and len(data) - end >= left:
                        self.body = data[end:end + left]  # the whole body came too
                        self._state = _DONE
                        return True
                    return self._body(data[end:])
            buf = self._buf + data if self._buf else data
            end, skip = _head_end(buf)
            while end >= 0:
                if self._read_head(buf[:end]):
                    return self._body(buf[end + skip:])
                buf = buf[end + skip:]  # a 1xx response: the real one follows
                end, skip = _head_end(buf)
            if len(buf) > MAX_HEAD:
                raise HeadError(f"server response headers exceeded {MAX_HEAD} bytes; aborted")
            self._buf = buf
            return False
        return self._body(data)

    def feed_eof(self) -> bool:
        """The peer closed. True if that completes the response (a body to the close)."""
        if self._state == _BODY_CLOSE:
            self._state = _DONE
        elif self._state == _NEED_HEAD:
            if b"\n" in self._buf:  # the status line came, the rest of the head did not
                raise HeadError("unexpected EOF")
            raise NoResponse("EOF")
        elif self._state != _DONE:
            raise BodyError("unexpected EOF")
        return True

    # -- the head --------------------------------------------------------------
    def _read_head(self, head: bytes) -> bool:
        """Parse one head; False for an interim (1xx) response to skip."""
        lines = head.split(b"\n")
        status_line = lines[0].removesuffix(b"\r")
        status, reason = _status_line(status_line)
        if 100 <= status < 200 and status != 101:
            return False
        self.status, self.reason = status, reason
        self.headers = _fields(lines[1:])
        self._buf = b""
        self._state = self._framing()
        return True

    def _framing(self) -> int:
        status = self.status
        if status < 200 or status in (204, 304):
            return _DONE
        coding = None
        lengths = []
        for key, value in self.headers:
            if key == b"content-length":
                lengths.append(value)
            elif key == b"transfer-encoding" and coding is None:
                coding = value
        if coding is not None:
            if coding.lower() != b"chunked":
                raise HeadError(f'unsupported transfer encoding: "{_text(coding)}"')
            return _BODY_CHUNKED
        if not lengths:
            return _BODY_CLOSE
        first = lengths[0].strip()
        if any(value.strip() != first for value in lengths[1:]):
            quoted = " ".join(f'"{_text(v.strip())}"' for v in lengths)
            raise HeadError(f"http: message cannot contain multiple Content-Length headers; "
                            f"got [{quoted}]")
        if not first.isdigit() or len(first) > 18:
            raise HeadError(f'bad Content-Length "{_text(first)}"')
        self._left = int(first)
        return _BODY_LENGTH if self._left else _DONE

    # -- the body --------------------------------------------------------------
    def _body(self, data: bytes) -> bool:
        state = self._state
        if state == _BODY_LENGTH:
            if len(data) > self._left:
                data = data[:self._left]  # a server's extra bytes are not the body's
            self._left -= len(data)
            self._keep(data)
            if self._left == 0:
                self._state = _DONE
        elif state == _BODY_CLOSE:
            self._keep(data)
        elif state == _BODY_CHUNKED:
            self._chunked(data)
        return self._state == _DONE

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        room = self._limit - len(self.body)
        self.body += data[:room]
        if len(data) >= room:
            self._state = _DONE  # the cap is reached: the rest is never read

    def _chunked(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        pos = 0
        while self._state == _BODY_CHUNKED:
            cstate = self._chunk_state
            if cstate == _CHUNK_DATA:
                piece = buf[pos:pos + self._chunk_left]
                if not piece:
                    break
                pos += len(piece)
                self._chunk_left -= len(piece)
                self._keep(piece)
                if self._chunk_left == 0:
                    self._chunk_state = _CHUNK_CRLF
                continue
            end = buf.find(b"\n", pos)
            if end < 0:
                if len(buf) - pos > MAX_HEAD:
                    raise BodyError("header line too long")
                break
            line = buf[pos:end].removesuffix(b"\r")
            pos = end + 1
            if cstate == _CHUNK_SIZE:
                size = _chunk_size(line)
                if size == 0:
                    self._chunk_state = _TRAILER
                else:
                    self._chunk_left = size
                    self._chunk_state = _CHUNK_DATA
            elif cstate == _CHUNK_CRLF:
                if line:
                    raise BodyError("malformed chunked encoding")
                self._chunk_state = _CHUNK_SIZE
            elif not line:  # _TRAILER: fields until an empty line
                self._state = _DONE
        self._buf = buf[pos:] if self._state != _DONE else b""


def _head_end(buf: bytes) -> tuple[int, int]:
    """Where the head's empty line starts (after its last field's LF) and its
    length, or (-1, 0). Lines may end in CRLF or a bare LF."""
    crlf = buf.find(b"\n\r\n")
    lf = buf.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf + 1, 2
    if lf >= 0:
        return lf + 1, 1
    return -1, 0


def _status_line(line: bytes) -> tuple[int, str]:
    """Go's ReadResponse: "HTTP/1.1 200 OK" -> (200, "OK")."""
    proto, space, rest = line.partition(b" ")
    if not space:
        raise HeadError(f'malformed HTTP response "{_text(line)}"')
    code, _, reason = rest.lstrip(b" ").partition(b" ")
    if len(code) != 3 or not code.isdigit():
        raise HeadError(f'malformed HTTP status code "{_text(code)}"')
    if not _http_version(proto):
        raise HeadError(f'malformed HTTP version "{_text(proto)}"')
    return int(code), _text(reason)


def _http_version(proto: bytes) -> bool:
    # Go's ParseHTTPVersion: HTTP/1.0, HTTP/1.1, or HTTP/<digit>.<digit>
    return (len(proto) == 8 and proto.startswith(b"HTTP/") and proto[5:6].isdigit()
            and proto[6:7] == b"." and proto[7:8].isdigit())


def _fields(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    fields: list[tuple[bytes, bytes]] = []
    for raw in lines:
        line = raw.removesuffix(b"\r")
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise HeadError(f"malformed MIME header initial line: {_text(line)}")
            name, value = fields[-1]  # obs-fold: a continuation of the last field
            fields[-1] = (name, value + b" " + line.strip(b" \t"))
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or name.translate(None, _TOKEN):  # a name is a token
            raise HeadError(f"malformed MIME header line: {_text(line)}")
        fields.append((name.lower(), value.strip(b" \t")))
    return fields


def _chunk_size(line: bytes) -> int:
    size = line.partition(b";")[0].strip(b" \t")  # chunk extensions are ignored
    if not size or len(size) > 16 or not _HEX.issuperset(size):
        raise BodyError("invalid byte in chunk length")
    return int(size, 16)


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


__all__ = ["MAX_HEAD", "BodyError", "HeadError", "NoResponse", "ResponseReader"]
