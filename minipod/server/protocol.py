"""The control socket's wire format, and where the background supervisor listens.

A request is one JSON object on one line; its reply is one JSON object on
one line, after which the server closes the connection. A line is at most
MAX_LINE bytes without its newline (`up -d` sends the whole manifest: a few
hundred pods are megabytes). A line that breaks these rules raises
ProtocolError, whose message says how in one line: client.py's callers print
it as an error, control.py answers it with {"ok": false, "error": "bad
request: ..."}. Both clients (minipod/cli/main.py, the fast one, and
client.py) and the server (control.py) go through this module and no other.

Written for the fast client, which loads nothing but the C halves of the
standard library: `import json` and `import socket` (with re, enum and
selectors) would double the ~10 ms in which the interpreter starts. JSON
here is _json's encoder and scanner, which are what json.dumps and
json.loads run (the same bytes on the wire), and the socket is _socket. This
module imports os, _json, _socket and minipod.kernel.paths (which imports
os alone); tests/unit/test_quick.py checks that list.

Why DEFAULT_ROOT and DEFAULT_IMAGES are not here: kernel/state.py and
kernel/image.py build their paths on them too, and the kernel may not import
the server (layers import only downward). Their one home is
minipod/kernel/paths.py, kept as light as this module for its sake; what is
the server's own, the name of the daemon's socket, is here.
"""

# No `from __future__ import annotations` here: every annotation below is valid
# at run time, and the __future__ module is a tenth of a millisecond of the
# fast client's start-up (minipod/cli/main.py).
import _json
import _socket
import os

from minipod.kernel.paths import supervisors_path

MAX_LINE = 16 * 1024 * 1024  # bytes, without the newline
DAEMON_SOCKET = "daemon.sock"  # in $MINIPOD_ROOT/supervisors (server/daemon.py)
_RECV = 1 << 16


class ProtocolError(ValueError):
    """What came over the socket is not one line holding one JSON object."""


def daemon_socket_path() -> str:
    """``$MINIPOD_ROOT/supervisors/daemon.sock``, where the background supervisor listens."""
    return os.path.join(supervisors_path(), DAEMON_SOCKET)


# -- JSON ---------------------------------------------------------------------------


def encode(value: object) -> str:
    """``value`` as json.dumps writes it (ASCII only, ", " and ": "). TypeError
    for what JSON cannot hold, ValueError for NaN, infinities and a value
    that contains itself."""
    # a fresh markers dict each time: the C encoder leaves entries in it when
    # it fails half-way, and a reused one would then see false cycles
    encoder = _json.make_encoder({}, _unencodable, _json.encode_basestring_ascii, None,
                                 ": ", ", ", False, False, False)
    return "".join(encoder(value, 0))


def _unencodable(value: object) -> object:
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


class _Context:
    """What _json's scanner reads off a json.JSONDecoder: json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    array_hook = None  # read from Python 3.15 on
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        return float(name.replace("Infinity", "inf"))


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # duck-typed, as json's own


def decode(text: str, what: str = "the text") -> object:
    """The one JSON value ``text`` holds, white space around it allowed;
    ProtocolError, naming ``what``, for anything else."""
    start = len(text) - len(text.lstrip())
    try:
        value, end = _scan(text, start)
    except StopIteration as e:  # no JSON value starts there
        raise ProtocolError(f"{what} is not JSON (at character {e.value})") from None
    except RecursionError:
        raise ProtocolError(f"{what} is not JSON we read (nested too deeply)") from None
    except ValueError as e:  # json.JSONDecodeError: a bad string, a number too long
        raise ProtocolError(f"{what} is not JSON ({e})") from None
    if text[end:].strip():
        raise ProtocolError(f"{what} is not one JSON value (more after character {end})")
    return value


# -- lines ---------------------------------------------------------------------------


def frame(message: dict[str, object]) -> bytes:
    """``message`` as its line on the wire, newline included."""
    data = encode(message).encode("ascii")
    if len(data) > MAX_LINE:
        raise ProtocolError(f"a message of {len(data)} bytes is longer than the "
                            f"{MAX_LINE} a line may hold")
    return data + b"\n"


def parse(data: bytes | bytearray, what: str) -> dict[str, object]:
    """The message on the line ``data`` starts with: ``what`` ("request",
    "reply") names it in the ProtocolError for anything else."""
    line, newline, _ = data.partition(b"\n")
    if len(line) > MAX_LINE:
        raise ProtocolError(f"the {what} is longer than the {MAX_LINE} bytes a line may hold")
    if not newline:
        if not data:
            raise ProtocolError(f"no {what}: the connection closed without one")
        raise ProtocolError(f"the {what} was cut short: {len(data)} bytes without a newline")
    try:
        text = line.decode()
    except UnicodeDecodeError as e:
        raise ProtocolError(f"the {what} is not UTF-8 (at byte {e.start})") from None
    value = decode(text, f"the {what}")
    if not isinstance(value, dict):
        raise ProtocolError(f"the {what} is not a JSON object but {_kind(value)}")
    return value


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None or isinstance(value, bool):
        return encode(value)
    return "a number"


# -- the client's half -----------------------------------------------------------------


def exchange(path: str, message: dict[str, object],
             timeout: float | None = None) -> dict[str, object]:
    """Send ``message`` to the server at ``path``, return its reply.

    OSError if nothing listens there or the connection fails; TimeoutError
    (an OSError) if a step takes longer than ``timeout`` seconds (None: no
    limit); ProtocolError if what comes back is not one reply line.
    """
    data = frame(message)
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        conn.settimeout(timeout)
        conn.connect(path)
        conn.sendall(data)
        received = _receive_line(conn)
    finally:
        conn.close()
    return parse(received, "reply")


def _receive_line(conn: _socket.socket) -> bytes:
    """What arrives up to the first newline, or until the server closes, or
    until there is more than a line may hold."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = conn.recv(_RECV)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if b"\n" in chunk or size > MAX_LINE:
            break
    return b"".join(chunks)
