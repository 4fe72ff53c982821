"""The client's half of the control socket: one JSON request line, one JSON
reply line. Light on purpose: every CLI command that talks to a supervisor
imports this and nothing of the supervisor itself."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from minipod.api.errors import MinipodError


def request(socket_path: Path, message: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Client side: send one request, wait for the reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as conn:
        conn.settimeout(timeout)
        conn.connect(str(socket_path))
        conn.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while b"\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    if not data:
        raise MinipodError(f"supervisor at {socket_path} closed the connection")
    answer: dict[str, Any] = json.loads(data)
    return answer
