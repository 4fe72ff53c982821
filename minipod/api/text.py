"""Text from outside (a manifest, a probe's server, a container's command)
made safe for a one-line message, a log line or a terminal."""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def printable(text: str) -> str:
    """``text`` with every character that is not printable escaped as Go's %q
    writes it (\\n, \\x00, \\x1b, \\u200b): a message stays one line and
    prints no terminal escape sequence, whatever bytes a probe's server or a
    manifest put there. Printable text is returned as it is."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
