"""The full CLI's client of the control socket (server/client.py) against a
server that answers badly: nothing, half a line, not JSON, not an object, or
nothing in time. Each is one line of MinipodError, never a traceback
(finding 3: a full disk made `up -d` print a JSONDecodeError)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from minipod.api.errors import MinipodError
from minipod.server.client import NoAnswer, request


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """A socket that answers each connection with the next of ``answers``
    (None: no answer, the connection held open until the test ends)."""
    path = tmp_path / "s.sock"
    answers: list[bytes] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            answer = answers.pop(0)
            if answer == b"<hold>":
                held.append(conn)
                continue
            conn.sendall(answer)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, answers
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    for conn in held:
        conn.close()


@pytest.mark.parametrize(("sent", "said"), [
    (b"", "no reply: the connection closed without one"),
    (b'{"ok": tr', "cut short"),
    (b'{"ok": true', "cut short"),
    (b"<html>\n", "the reply is not JSON"),
    (b"[1, 2]\n", "not a JSON object but an array"),
    (b"\xff\xfe\n", "not UTF-8"),
])
def test_a_bad_answer_is_one_line(server: tuple[Path, list[bytes]], sent: bytes,
                                  said: str) -> None:
    path, answers = server
    answers.append(sent)
    with pytest.raises(MinipodError) as info:
        request(path, {"op": "ping"}, timeout=5)
    assert said in str(info.value) and "\n" not in str(info.value)


def test_no_answer_in_time_is_said(server: tuple[Path, list[bytes]]) -> None:
    path, answers = server
    answers.append(b"<hold>")
    with pytest.raises(NoAnswer) as info:
        request(path, {"op": "apply"}, timeout=0.2)
    assert str(info.value) == f"no answer from the supervisor at {path} within 0.2 s"


def test_a_good_answer(server: tuple[Path, list[bytes]]) -> None:
    path, answers = server
    answers.append(b'{"ok": true, "pods": []}\n')
    assert request(path, {"op": "ping"}, timeout=5) == {"ok": True, "pods": []}
