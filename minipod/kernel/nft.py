"""nftables through libnftables, the library the nft tool is a front end of.

The same five calls Debian's python3-nftables makes (a ctypes binding of
libnftables.so.1), here because that binding is a system package a venv does
not see. A batch of commands is one netlink transaction: all of it applies,
or none. In-process it takes ~0.2 ms to change a Service's endpoints; the
nft program takes ~20 ms (a fork, an exec, its own start-up), which is why a
supervisor does not run it.

The library is opened at the first batch, not at import: a supervisor whose
pods have no network never loads it.
"""

from __future__ import annotations

import ctypes
import json
from typing import Any

from minipod.api.errors import MinipodError

LIBRARY = "libnftables.so.1"  # Debian's libnftables1, pulled in by the nftables package


class NftError(MinipodError, OSError):
    """libnftables refused a batch; nothing of it was applied."""


class Nft:
    """One libnftables context: its output and errors are kept in buffers."""

    def __init__(self) -> None:
        self._lib: Any = None
        self._ctx: int | None = None

    def _open(self) -> tuple[Any, int]:
        if self._lib is None or self._ctx is None:
            try:
                lib = ctypes.CDLL(LIBRARY, use_errno=True)
            except OSError as e:
                raise NftError(f"cannot load {LIBRARY} ({e}): install the nftables "
                               "package (scripts/setup-host.sh deps)") from None
            lib.nft_ctx_new.restype = ctypes.c_void_p
            lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
            lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
            for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
                getattr(lib, name).argtypes = [ctypes.c_void_p]
            for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
                getattr(lib, name).argtypes = [ctypes.c_void_p]
                getattr(lib, name).restype = ctypes.c_char_p
            lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
            ctx = lib.nft_ctx_new(0)  # NFT_CTX_DEFAULT
            if not ctx:
                raise NftError("nft_ctx_new failed")
            lib.nft_ctx_buffer_output(ctx)
            lib.nft_ctx_buffer_error(ctx)
            self._lib, self._ctx = lib, ctx
        return self._lib, self._ctx

    def run(self, commands: str) -> str:
        """Apply ``commands`` (nft's syntax, one per line) as one transaction;
        what nft printed. NftError with nft's own message if it refused."""
        lib, ctx = self._open()
        rc = lib.nft_run_cmd_from_buffer(ctx, commands.encode())
        output = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode(errors="replace")
        error = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace")
        if rc != 0:
            raise NftError(error.strip() or f"nft refused: {commands.splitlines()[:1]}")
        return output

    def json(self, command: str) -> Any:
        """A list command's answer as nft's JSON (libnftables-json(5))."""
        lib, ctx = self._open()
        lib.nft_ctx_output_set_flags(ctx, 1 << 4)  # NFT_CTX_OUTPUT_JSON
        try:
            text = self.run(command)
        finally:
            lib.nft_ctx_output_set_flags(ctx, 0)
        return json.loads(text) if text.strip() else {}

    def close(self) -> None:
        if self._lib is not None and self._ctx is not None:
            self._lib.nft_ctx_free(self._ctx)
        self._lib = self._ctx = None
