"""The full CLI's half of the control socket: one request, one reply, in the
wire format of protocol.py. Light on purpose: every CLI command that talks
to a supervisor imports this and nothing of the supervisor itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minipod.api.errors import MinipodError
from minipod.server.protocol import ProtocolError, exchange

MAX_TIMEOUT = 10.0 * 365 * 86400  # a socket timeout past this overflows; no one waits longer


class NoAnswer(MinipodError, TimeoutError):
    """The supervisor did not answer within the timeout."""


def request(socket_path: Path, message: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Send one request to the supervisor at ``socket_path``, wait for its reply.

    OSError if none listens there or the connection fails; NoAnswer after
    ``timeout`` seconds; MinipodError, in one line, if what comes back is not
    a reply (missing, cut short, not a JSON object).
    """
    try:
        return exchange(str(socket_path), message, min(timeout, MAX_TIMEOUT))
    except TimeoutError:
        raise NoAnswer(f"no answer from the supervisor at {socket_path} within "
                       f"{timeout:g} s") from None
    except ProtocolError as e:
        raise MinipodError(f"supervisor at {socket_path}: {e}") from None
