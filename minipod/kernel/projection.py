"""The kubelet's atomic writer (pkg/volume/util/atomic_writer.go): the files
of a configMap, secret, downwardAPI or projected volume, replaced all at
once so that a reader in the container sees the old set or the new one,
never a mix.

    <volume>/..2024_05_01_10_00_00.123456789/   the files of one version
    <volume>/..data -> ..2024_05_01_10_00_00.123456789
    <volume>/<key>  -> ..data/<key>          (one per top-level name)

An update writes a new timestamped directory, points a new symlink
..data_tmp at it and renames that over ..data (rename(2) is atomic), then
adds the user-visible symlinks of new names, removes those of names that
are gone, and removes the old directory. A subPath mount of one file binds
that version's file, and so keeps it (as under the kubelet, it is not
updated). Names starting with ".." are the writer's own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

DATA_DIR = "..data"
_DATA_TMP = "..data_tmp"

Payload = dict[str, tuple[bytes, int]]  # path -> (content, mode)


def write_payload(target: Path, payload: Payload) -> bool:
    """Make ``target`` show ``payload``; False if it did already (nothing written)."""
    old_dir = _current(target)
    if old_dir is not None and _matches(target / old_dir, payload):
        return False
    ts_dir = _new_timestamp_dir(target)
    try:
        for path, (content, mode) in payload.items():
            file = ts_dir / path
            file.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
            try:
                view = memoryview(content)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.chmod(file, mode)  # the umask must not take bits off
        tmp = target / _DATA_TMP
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(ts_dir.name, tmp)
        os.rename(tmp, target / DATA_DIR)
    except BaseException:
        shutil.rmtree(ts_dir, ignore_errors=True)
        raise
    wanted = {path.split("/", 1)[0] for path in payload}
    for name in wanted:
        link = target / name
        if not link.is_symlink():
            os.symlink(f"{DATA_DIR}/{name}", link)
    for entry in os.listdir(target):
        if not entry.startswith("..") and entry not in wanted:
            _remove(target / entry)
    if old_dir is not None:
        shutil.rmtree(target / old_dir, ignore_errors=True)
    return True


def _current(target: Path) -> str | None:
    try:
        return os.readlink(target / DATA_DIR)
    except (FileNotFoundError, OSError):
        return None


def _new_timestamp_dir(target: Path) -> Path:
    """``..YYYY_MM_DD_HH_MM_SS.<n>`` (the kubelet's MkdirTemp pattern), 0755."""
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    for serial in range(1000):
        path = target / f"{stamp}{time.time_ns() % 10**9 + serial}"
        try:
            path.mkdir(mode=0o755)
        except FileExistsError:
            continue
        os.chmod(path, 0o755)
        return path
    raise FileExistsError(f"{target}: no free timestamped directory name")


def _matches(directory: Path, payload: Payload) -> bool:
    """The version in ``directory`` has exactly these files, contents and modes."""
    found: set[str] = set()
    for root, _dirs, files in os.walk(directory):
        for name in files:
            found.add(os.path.relpath(os.path.join(root, name), directory))
    if found != set(payload):
        return False
    for path, (content, mode) in payload.items():
        file = directory / path
        try:
            if os.stat(file).st_mode & 0o7777 != mode or file.read_bytes() != content:
                return False
        except OSError:
            return False
    return True


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)
