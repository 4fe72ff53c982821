"""minipod.server.protocol: the control socket's JSON lines, from both ends.

The codec against the json module (the same text on the wire), the framing
rules (one line each way, MAX_LINE), what a client makes of a server that
answers wrong (one line of error, no traceback), and the server's side of a
connection (control.Connection) against a stand-in loop.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from minipod.api.errors import MinipodError
from minipod.server import client, control, protocol
from minipod.server.protocol import ProtocolError

MESSAGES: list[dict[str, Any]] = [
    {"op": "ping"},
    {"op": "apply", "text": 'kind: Pod\nmetadata: {name: "caf\u00e9 \\"q\\""}\n',
     "source": "/tmp/pod.yaml", "backoff": None, "images": "/var/lib/minipod/images"},
    {"op": "delete", "namespace": "default", "name": "web", "grace": 0},
    {"ok": True, "said": ["pod/a created", "deployment.apps/web created"], "warnings": []},
    {"ok": True, "pid": 4242, "pods": ["default/a", "prod/b"]},
    {"ok": False, "code": 2, "error": "f.yaml: a: bad\nf.yaml: b: worse"},
    {"nested": {"a": {"b": [1, -2, 3.25, 1e300, [], {}, [None, True, False]]}}},
    {"\u00e9\x00\t": "\U0001f600 \\ \" \n", "": ""},
]


# -- JSON --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "plain", "caf\u00e9\n\t\"quoted\" \\ \x00 \U0001f600", None, True, False, 0, -7,
    1.5, -0.0, 10**30, [1, "a", None], (1, 2),
    {"op": "apply", "nested": {"a": None, "b": {"c": "d"}}},
    *MESSAGES,
])
def test_encode_writes_what_json_dumps_writes(value: Any) -> None:
    assert protocol.encode(value) == json.dumps(value)


@pytest.mark.parametrize("message", MESSAGES)
def test_messages_round_trip(message: dict[str, Any]) -> None:
    assert protocol.decode(protocol.encode(message)) == message
    assert protocol.parse(protocol.frame(message), "reply") == message


@pytest.mark.parametrize("value", [object(), b"bytes", {1, 2}, {"path": Path("/x")}])
def test_encode_refuses_what_json_cannot_hold(value: object) -> None:
    with pytest.raises(TypeError, match="cannot encode"):
        protocol.encode(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, {"x": -math.inf}])
def test_encode_refuses_what_is_not_json(value: object) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        protocol.encode(value)


def test_encode_after_a_failure_sees_no_false_cycle() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    shared = {"a": 1}
    with pytest.raises(ValueError, match="Circular"):
        protocol.encode(loop)
    with pytest.raises(TypeError):
        protocol.encode({"s": shared, "bad": object()})
    assert protocol.encode({"s": shared, "again": shared}) == '{"s": {"a": 1}, "again": {"a": 1}}'


@pytest.mark.parametrize("text", [
    '{"ok": true, "said": ["pod/a created"], "code": 2, "x": null, "f": 1.5e3}\n',
    ' {"error": "caf\\u00e9 \\"q\\"", "list": [1, [2, {}]]} ',
    '"just a string"', "-12", "[NaN, Infinity, -Infinity]",
])
def test_decode_reads_what_json_loads_reads(text: str) -> None:
    decoded = protocol.decode(text)
    expected = json.loads(text)
    assert json.dumps(decoded) == json.dumps(expected)  # NaN != NaN, its text is equal


@pytest.mark.parametrize(("text", "says"), [
    ("", "the text is not JSON (at character 0)"),
    ("   ", "the text is not JSON (at character 3)"),
    ("{", "the text is not JSON (Expecting property name enclosed in double quotes"),
    ('{"a": 1} x', "the text is not one JSON value (more after character 8)"),
    ("nope", "the text is not JSON (at character 0)"),
    ('{"a": "unterminated', "the text is not JSON (Unterminated string"),
    ("[" * 100000, "the text is not JSON we read (nested too deeply)"),
    ("9" * 5000, "the text is not JSON (Exceeds the limit"),
])
def test_decode_refuses_what_is_not_json_in_one_line(text: str, says: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.decode(text)
    assert str(caught.value).startswith(says)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


# -- lines ---------------------------------------------------------------------------


def test_frame_is_one_ascii_line() -> None:
    line = protocol.frame({"text": "a\nb \u00e9 \U0001f600"})
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert line.isascii()


def test_parse_takes_the_first_line_only() -> None:
    assert protocol.parse(b'{"a": 1}\n{"b": 2}\n', "reply") == {"a": 1}
    assert protocol.parse(bytearray(b'{"a": 1}\r\n'), "request") == {"a": 1}


@pytest.mark.parametrize(("data", "says"), [
    (b"", "no reply: the connection closed without one"),
    (b'{"ok": tr', "the reply was cut short: 9 bytes without a newline"),
    (b'{"ok": true}', "the reply was cut short: 12 bytes without a newline"),
    (b"garbage\n", "the reply is not JSON (at character 0)"),
    (b"<html>500</html>\n", "the reply is not JSON (at character 0)"),
    (b'{"ok": true} {}\n', "the reply is not one JSON value (more after character 12)"),
    (b"[1, 2]\n", "the reply is not a JSON object but an array"),
    (b'"ok"\n', "the reply is not a JSON object but a string"),
    (b"null\n", "the reply is not a JSON object but null"),
    (b"true\n", "the reply is not a JSON object but true"),
    (b"3\n", "the reply is not a JSON object but a number"),
    (b'{"a": "\xff"}\n', "the reply is not UTF-8 (at byte 7)"),
])
def test_parse_says_what_is_wrong_in_one_line(data: bytes, says: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.parse(data, "reply")
    assert str(caught.value) == says


def test_a_line_longer_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "MAX_LINE", 20)
    message = {"text": "x" * 8}  # {"text": "xxxxxxxx"} is 20 bytes: it fits
    assert protocol.parse(protocol.frame(message), "request") == message
    with pytest.raises(ProtocolError, match="a message of 21 bytes is longer than the 20"):
        protocol.frame({"text": "x" * 9})
    with pytest.raises(ProtocolError, match="the request is longer than the 20 bytes"):
        protocol.parse(b'{"text": "xxxxxxxxx"}\n', "request")
    with pytest.raises(ProtocolError, match="the request is longer than the 20 bytes"):
        protocol.parse(b"x" * 21, "request")


def test_the_daemon_socket_is_under_the_state_root(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))
    assert protocol.daemon_socket_path() == str(tmp_path / "supervisors" / "daemon.sock")
    monkeypatch.setenv("MINIPOD_ROOT", "")  # empty is unset, as for every command
    assert protocol.daemon_socket_path() == "/run/minipod/supervisors/daemon.sock"
    monkeypatch.delenv("MINIPOD_ROOT")
    assert protocol.daemon_socket_path() == "/run/minipod/supervisors/daemon.sock"


# -- a client against a server that answers right, or wrong ---------------------------


class ScriptedServer:
    """Accepts one connection on ``path``, reads the request line, then
    sends ``answer`` (raw bytes) and closes; keeps what it read."""

    def __init__(self, path: Path, answer: bytes, *, hold: threading.Event | None = None
                 ) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.answer, self.hold = answer, hold
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            while b"\n" not in self.received:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                self.received += chunk
            if self.hold is not None:
                self.hold.wait(10)
            with contextlib.suppress(OSError):  # a client that gave up has gone
                conn.sendall(self.answer)

    def close(self) -> None:
        self.thread.join(timeout=10)
        self.listener.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(answer: bytes, **kw: Any) -> ScriptedServer:
        server = ScriptedServer(tmp_path / f"s{len(servers)}.sock", answer, **kw)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_exchange_sends_one_line_and_reads_the_reply(
        serve: Callable[..., ScriptedServer], tmp_path: Path) -> None:
    server = serve(b'{"ok": true, "pods": ["default/a"]}\n')
    message = MESSAGES[1]
    assert protocol.exchange(str(tmp_path / "s0.sock"), message, 5) == \
        {"ok": True, "pods": ["default/a"]}
    server.close()
    assert server.received == json.dumps(message).encode() + b"\n"


def test_exchange_reads_a_reply_longer_than_one_read(
        serve: Callable[..., ScriptedServer], tmp_path: Path) -> None:
    said = [f"pod/p{i} created" for i in range(20000)]  # ~360 kB
    serve(protocol.frame({"ok": True, "said": said}))
    assert protocol.exchange(str(tmp_path / "s0.sock"), {"op": "apply"}, 5)["said"] == said


@pytest.mark.parametrize(("answer", "says"), [
    (b"", "no reply: the connection closed without one"),
    (b'{"ok": tru', "the reply was cut short: 10 bytes without a newline"),
    (b"Traceback (most recent call last):\n", "the reply is not JSON (at character 0)"),
    (b"\x00\x01\x02\n", "the reply is not JSON (at character 0)"),
])
def test_exchange_with_a_bad_answer_is_a_protocol_error(
        serve: Callable[..., ScriptedServer], tmp_path: Path, answer: bytes, says: str) -> None:
    serve(answer)
    with pytest.raises(ProtocolError) as caught:
        protocol.exchange(str(tmp_path / "s0.sock"), {"op": "ping"}, 5)
    assert str(caught.value) == says


def test_exchange_stops_reading_past_the_limit(
        serve: Callable[..., ScriptedServer], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "MAX_LINE", 1000)
    serve(b"x" * 200000)  # no newline, ever: the client stops at the limit
    with pytest.raises(ProtocolError, match="the reply is longer than the 1000 bytes"):
        protocol.exchange(str(tmp_path / "s0.sock"), {"op": "ping"}, 5)


def test_exchange_with_nobody_listening_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        protocol.exchange(str(tmp_path / "none.sock"), {"op": "ping"}, 5)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "stale.sock"))
    stale.close()  # the file stays, nobody listens: a supervisor that died
    with pytest.raises(ConnectionRefusedError):
        protocol.exchange(str(tmp_path / "stale.sock"), {"op": "ping"}, 5)


def test_exchange_times_out(serve: Callable[..., ScriptedServer], tmp_path: Path) -> None:
    hold = threading.Event()
    serve(b'{"ok": true}\n', hold=hold)
    try:
        with pytest.raises(TimeoutError):
            protocol.exchange(str(tmp_path / "s0.sock"), {"op": "ping"}, 0.2)
    finally:
        hold.set()


def test_the_full_client_says_which_supervisor_answered_wrong(
        serve: Callable[..., ScriptedServer], tmp_path: Path) -> None:
    serve(b"<html>\n")
    path = tmp_path / "s0.sock"
    with pytest.raises(MinipodError) as caught:
        client.request(path, {"op": "ping"}, timeout=5)
    assert str(caught.value) == f"supervisor at {path}: the reply is not JSON (at character 0)"
    serve(b"")
    with pytest.raises(MinipodError, match="no reply: the connection closed without one"):
        client.request(tmp_path / "s1.sock", {"op": "ping"}, timeout=5)
    with pytest.raises(OSError):  # nobody there: the callers' "not running"
        client.request(tmp_path / "none.sock", {"op": "ping"}, timeout=5)


# -- the server's side: control.Connection --------------------------------------------


class FakeLoop:
    def __init__(self) -> None:
        self.callbacks: dict[int, Callable[[int], None]] = {}

    def register(self, fd: int, callback: Callable[[int], None]) -> None:
        self.callbacks[fd] = callback

    def unregister(self, fd: int) -> None:
        del self.callbacks[fd]


class FakeControl:
    """What Connection needs of a ControlServer: sup.loop and handle()."""

    def __init__(self) -> None:
        self.sup = self  # Connection reads server.sup.loop
        self.loop = FakeLoop()
        self.handled: list[dict[str, Any]] = []

    def handle(self, request: dict[str, Any], reply: control.Reply) -> None:
        self.handled.append(request)
        reply({"ok": True, "echo": request})


def converse(sent: bytes, *, shut: bool = True) -> tuple[FakeControl, bytes]:
    """Send ``sent`` to a Connection, turn its loop until it answered, read the answer."""
    fake = FakeControl()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours:
        control.Connection(fake, theirs)  # type: ignore[arg-type]  # duck-typed stand-in
        ours.sendall(sent)
        if shut:
            ours.shutdown(socket.SHUT_WR)
        while fake.loop.callbacks:
            for callback in list(fake.loop.callbacks.values()):
                callback(0)
        ours.settimeout(5)
        answer = b""
        while chunk := ours.recv(65536):
            answer += chunk
    assert theirs.fileno() == -1  # closed after its one reply
    return fake, answer


def test_the_server_reads_one_request_and_answers_one_line() -> None:
    fake, answer = converse(protocol.frame(MESSAGES[1]), shut=False)
    assert fake.handled == [MESSAGES[1]]
    assert answer == protocol.frame({"ok": True, "echo": MESSAGES[1]})
    assert answer == json.dumps({"ok": True, "echo": MESSAGES[1]}).encode() + b"\n"


@pytest.mark.parametrize(("sent", "error"), [
    (b"nonsense\n", "bad request: the request is not JSON (at character 0)"),
    (b"[1]\n", "bad request: the request is not a JSON object but an array"),
    (b'{"op": "ping"', "bad request: the request was cut short: 13 bytes without a newline"),
    (b"", "bad request: no request: the connection closed without one"),
])
def test_the_server_answers_a_bad_request_and_handles_nothing(sent: bytes, error: str) -> None:
    fake, answer = converse(sent)
    assert fake.handled == []
    assert protocol.parse(answer, "reply") == {"ok": False, "error": error}


def test_the_server_stops_reading_a_request_past_the_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "MAX_LINE", 10000)
    fake, answer = converse(b"x" * 15000, shut=False)  # no newline, client still there
    assert fake.handled == []
    assert protocol.parse(answer, "reply") == {
        "ok": False, "error": "bad request: the request is longer than the 10000 bytes "
                              "a line may hold"}
