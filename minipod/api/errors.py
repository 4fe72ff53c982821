"""The exception hierarchy.

One base, MinipodError; each subclass also inherits the builtin it refines
(the pynacl habit), so ``except OSError`` or ``except ValueError`` keeps working.
The CLI maps SpecError (bad input) to exit code 2 and every other MinipodError
to exit code 1.
"""

from __future__ import annotations

import errno as errno_mod
import os

from minipod.api.frozen import frozen
from minipod.api.text import printable


class MinipodError(Exception):
    """Base of every error minipod raises on purpose."""


@frozen
class FieldError:
    """One problem in a manifest, at a field path such as spec.containers[0].name.

    Both are kept printable (api/text.py): a value quoted back from the
    manifest may hold a newline, a NUL or an escape sequence, and an error
    is one line of text whatever the manifest says."""

    path: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", printable(self.path))
        object.__setattr__(self, "message", printable(self.message))

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(MinipodError, ValueError):
    """A manifest (or a command-line argument) is invalid. Nothing was created."""

    def __init__(self, errors: list[FieldError] | FieldError | str, source: str = "") -> None:
        if isinstance(errors, str):
            errors = [FieldError("", errors)]
        elif isinstance(errors, FieldError):
            errors = [errors]
        self.errors = list(errors)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        return "\n".join(prefix + str(e) for e in self.errors)


class ImageError(SpecError):
    """An image reference does not resolve to a stored image."""


class StartError(MinipodError, OSError):
    """A step of starting a pod failed; everything created so far was rolled back.

    ``step`` names what was being done (e.g. "mount overlay rootfs"),
    ``errno`` is the kernel's answer when there was one.
    """

    def __init__(self, step: str, errno: int = 0, detail: str = "") -> None:
        self.step = step
        message = detail or (os.strerror(errno) if errno else "failed")
        super().__init__(errno, message)
        self.strerror = message

    def __str__(self) -> str:
        name = errno_mod.errorcode.get(self.errno or 0, "")
        code = f" ({name})" if name else ""
        return f"{self.step}: {self.strerror}{code}"


class StateError(MinipodError, RuntimeError):
    """The state directory says something we cannot act on (pod exists, unknown pod...)."""


class ContainerConfigError(MinipodError):
    """A container cannot be made as its spec asks (the kubelet's
    CreateContainerConfigError: runAsNonRoot and an image that runs as root;
    or, with ``reason`` CreateContainerError, the runtime's refusal: a
    seccomp profile that is missing or bad). The container waits in that
    reason and is tried again later; nothing was started."""

    def __init__(self, message: str, reason: str = "CreateContainerConfigError") -> None:
        super().__init__(message)
        self.reason = reason
