"""Thin typed wrappers over minipod._native (cffi) for syscalls CPython 3.11 lacks.

The only module that imports _native. Every -errno from C becomes an OSError
carrying the path or namespace it concerned, so messages stay concrete.
"""

from __future__ import annotations

import os

from minipod import _native  # type: ignore[attr-defined]

_lib = _native.lib
_ffi = _native.ffi

CLONE_NEWNS: int = _lib.CLONE_NEWNS
CLONE_NEWUTS: int = _lib.CLONE_NEWUTS
CLONE_NEWIPC: int = _lib.CLONE_NEWIPC
CLONE_NEWPID: int = _lib.CLONE_NEWPID
CLONE_NEWNET: int = _lib.CLONE_NEWNET
CLONE_NEWCGROUP: int = _lib.CLONE_NEWCGROUP
CLONE_NEWUSER: int = _lib.CLONE_NEWUSER

MS_RDONLY: int = _lib.MS_RDONLY
MS_NOSUID: int = _lib.MS_NOSUID
MS_NODEV: int = _lib.MS_NODEV
MS_NOEXEC: int = _lib.MS_NOEXEC
MS_REMOUNT: int = _lib.MS_REMOUNT
MS_BIND: int = _lib.MS_BIND
MS_REC: int = _lib.MS_REC
MS_PRIVATE: int = _lib.MS_PRIVATE
MS_SLAVE: int = _lib.MS_SLAVE
MS_STRICTATIME: int = _lib.MS_STRICTATIME
MS_RELATIME: int = _lib.MS_RELATIME

MNT_DETACH: int = _lib.MNT_DETACH
MNT_FORCE: int = _lib.MNT_FORCE


def _check(ret: int, what: str, path: str | None = None) -> int:
    if ret < 0:
        err = -ret
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return ret


def _cstr(value: str | None) -> object:
    return _ffi.NULL if value is None else value.encode()


def setns(fd: int, nstype: int, name: str | None = None) -> None:
    """Join the namespace behind ``fd`` (nstype 0 accepts any kind)."""
    _check(_lib.mp_setns(fd, nstype), "setns", name)


def unshare(flags: int) -> None:
    _check(_lib.mp_unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None = None,
          flags: int = 0, data: str | None = None) -> None:
    ret = _lib.mp_mount(_cstr(source), target.encode(), _cstr(fstype), flags, _cstr(data))
    _check(ret, f"mount {fstype or source or ''} on {target}".replace("  ", " "), target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_lib.mp_umount2(target.encode(), flags), "umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_lib.mp_pivot_root(new_root.encode(), put_old.encode()), "pivot_root", new_root)
