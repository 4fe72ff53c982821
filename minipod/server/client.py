"""The full CLI's half of the control socket: one request, one reply, in the
wire format of protocol.py. Light on purpose: every CLI command that talks
to a supervisor imports this and nothing of the supervisor itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minipod.api.errors import MinipodError
from minipod.server.protocol import ProtocolError, exchange


def request(socket_path: Path, message: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Send one request to the supervisor at ``socket_path``, wait for its reply.

    OSError if none listens there or the connection fails (TimeoutError after
    ``timeout`` seconds); MinipodError, in one line, if what comes back is not
    a reply.
    """
    try:
        return exchange(str(socket_path), message, timeout)
    except ProtocolError as e:
        raise MinipodError(f"supervisor at {socket_path}: {e}") from None
