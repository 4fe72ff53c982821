"""Image layers: a layer blob (a tar, plain, gzip or zstd) unpacked into a
directory in overlayfs' form, and layers merged for images with too many.

The unpack is the security boundary between a registry and this host, so it
trusts nothing in the tar (containers/storage's overlay driver and
containerd's applier guard the same things):

- a name that is absolute or has a '..' component refuses the layer (the
  whole pull fails, naming the entry): nothing is written outside the layer;
- every path is walked from the layer's root one component at a time with
  O_NOFOLLOW | O_DIRECTORY, so a symlink made by an earlier entry (``a ->
  /etc``, then ``a/passwd``) refuses the layer instead of being followed;
  a hard link must name an earlier entry of the same layer by the same rules;
- symlinks are made as written: their targets are resolved only inside the
  container's own root, at run time;
- character and block devices are not created (counted in the layer's
  record): a container gets its /dev from minipod, never from an image;
- OCI whiteouts become overlayfs' own: ``.wh.NAME`` a 0/0 character device
  NAME, ``.wh..wh..opq`` the ``trusted.overlay.opaque`` xattr on its
  directory; ``trusted.*`` xattrs from the tar are dropped, so a layer cannot
  forge overlay metadata of its own;
- ownership (numeric uid/gid), modes with setuid/setgid/sticky bits, mtimes,
  hard links, symlinks, FIFOs and ``user.``/``security.`` xattrs (file
  capabilities) are kept.

Every blob is read once: its sha256 (the digest the manifest names) and the
sha256 of the uncompressed tar (the config's diff_id) are checked as it
streams, and a mismatch refuses it.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import gzip
import hashlib
import io
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import zstandard

CHUNK = 1 << 20
OPAQUE_XATTR = "trusted.overlay.opaque"
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
# xattr namespaces a layer may set; trusted.* (overlay's own) and the rest of
# system.* are dropped
_XATTR_ALLOWED = ("user.", "security.", "system.posix_acl_access", "system.posix_acl_default")
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class LayerError(Exception):
    """A layer that is refused: a hostile or broken tar, or a wrong digest."""


@dataclass
class LayerStats:
    """What an unpack found, kept in the layer's record."""

    diff_id: str = ""
    digest: str = ""  # of the blob as read (compressed)
    compressed_size: int = 0
    size: int = 0  # bytes of regular files
    entries: int = 0
    skipped_devices: list[str] = field(default_factory=list)
    compression: str = "none"

    def to_json(self) -> dict[str, Any]:
        return {"diffID": self.diff_id, "digest": self.digest,
                "compressedSize": self.compressed_size, "size": self.size,
                "entries": self.entries, "skippedDevices": self.skipped_devices[:20],
                "skippedDeviceCount": len(self.skipped_devices),
                "compression": self.compression}


# -- reading a blob: decompress and hash as it streams -------------------------------

class _Hashing(io.RawIOBase):
    """A readable stream that hashes and counts what passes through."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.hash.update(data)
        self.count += n
        return n

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hash.update(data)
        self.count += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def _decompressor(head: bytes, raw: IO[bytes]) -> tuple[str, IO[bytes]]:
    """The blob's compression, from its magic bytes (media types can lie)."""
    if head.startswith(_GZIP_MAGIC):
        return "gzip", gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if head.startswith(_ZSTD_MAGIC):
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_size=CHUNK,
                                                            read_across_frames=True)
        return "zstd", reader
    return "none", raw


class _Peekable(io.RawIOBase):
    def __init__(self, raw: IO[bytes], head: bytes) -> None:
        self.raw, self.head = raw, head

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size < 0 or size >= len(self.head):
                data, self.head = self.head, b""
                more = self.raw.read(size - len(data) if size >= 0 else -1)
                return data + more
            data, self.head = self.head[:size], self.head[size:]
            return data
        return self.raw.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


@contextlib.contextmanager
def open_blob(path: str, digest: str | None, diff_id: str | None,
              stats: LayerStats) -> Iterator[IO[bytes]]:
    """The uncompressed tar stream of a blob; on leaving, the rest is read
    and both digests checked (LayerError on a mismatch)."""
    with open(path, "rb", buffering=0) as f:
        compressed = _Hashing(f)
        head = compressed.read(4)
        stats.compression, stream = _decompressor(head, _Peekable(compressed, head))  # type: ignore[arg-type]
        tar = _Hashing(stream)
        yield io.BufferedReader(tar, CHUNK)
        tar.drain()  # padding after the end-of-archive blocks counts too
        compressed.drain()
    stats.digest = "sha256:" + compressed.hash.hexdigest()
    stats.diff_id = "sha256:" + tar.hash.hexdigest()
    stats.compressed_size = compressed.count
    if digest is not None and stats.digest != digest:
        raise LayerError(f"blob digest mismatch: expected {digest}, got {stats.digest}")
    if diff_id is not None and stats.diff_id != diff_id:
        raise LayerError(f"layer diff_id mismatch: the config says {diff_id}, "
                         f"the blob's tar is {stats.diff_id}")


# -- writing a layer ---------------------------------------------------------------

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def entry_parts(name: str) -> tuple[str, ...]:
    """A tar name as path components inside the layer; LayerError for a name
    that would leave it."""
    if name.startswith("/"):
        raise LayerError(f"tar entry {name!r}: absolute path")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise LayerError(f"tar entry {name!r}: '..' in path")
    if any("\0" in p for p in parts):
        raise LayerError(f"tar entry {name!r}: NUL in path")
    return parts


class _Tree:
    """The directory being written, reached only through fds opened with
    O_NOFOLLOW from its root (a small cache of directory fds: tars list a
    directory's entries together)."""

    def __init__(self, root: str) -> None:
        self.root_fd = os.open(root, _DIR_FLAGS)
        self.tar_fd = -1  # the tar being unpacked, for copy_file_range
        self._fds: dict[tuple[str, ...], int] = {}

    def close(self) -> None:
        self.forget()
        os.close(self.root_fd)

    def forget(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def dir_fd(self, parts: tuple[str, ...], name: str, create: bool = True) -> int:
        """An fd of the directory ``parts``, made (0755 root) where missing;
        valid until the next trim()."""
        return self._dir_fd(parts, name, create)

    def trim(self) -> None:
        """Between entries: keep the cache of directory fds small."""
        if len(self._fds) >= 256:
            self.forget()

    def _dir_fd(self, parts: tuple[str, ...], name: str, create: bool) -> int:
        if not parts:
            return self.root_fd
        fd = self._fds.get(parts)
        if fd is not None:
            return fd
        parent = self._dir_fd(parts[:-1], name, create)
        component = parts[-1]
        try:
            fd = os.open(component, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(component, 0o755, dir_fd=parent)
            fd = os.open(component, _DIR_FLAGS, dir_fd=parent)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                what = "a symlink" if _is_link(parent, component) else "not a directory"
                raise LayerError(f"tar entry {name!r}: {'/'.join(parts)} is {what}; "
                                 "nothing is written through it") from None
            raise
        self._fds[parts] = fd
        return fd

    def forget_under(self, parts: tuple[str, ...]) -> None:
        """Close the cached fds of ``parts`` and below (it is being removed)."""
        for key in [k for k in self._fds if k[:len(parts)] == parts]:
            os.close(self._fds.pop(key))

    def clear(self, parent: int, component: str, parts: tuple[str, ...],
              keep_dir: bool = False) -> str | None:
        """Make room for a new entry: remove what is there (a directory only
        unless ``keep_dir``). Returns the kind that was there, if any."""
        try:
            st = os.lstat(component, dir_fd=parent)
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return "dir"
            self.forget_under(parts)  # cached fds below it are stale
            shutil.rmtree(component, dir_fd=parent)
            return "dir"
        os.unlink(component, dir_fd=parent)
        return "whiteout" if _is_whiteout(st) else "other"


def _is_link(parent: int, component: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(component, dir_fd=parent).st_mode)
    except OSError:
        return False


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _xattrs(member: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    found = []
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            found.append((key[len("SCHILY.xattr."):],
                          value.encode("utf-8", "surrogateescape")))
        elif key.startswith("LIBARCHIVE.xattr."):
            found.append((key[len("LIBARCHIVE.xattr."):], base64.b64decode(value + "==")))
    return [(k, v) for k, v in found if k.startswith(_XATTR_ALLOWED)]


def _set_xattrs(target: int | str, xattrs: list[tuple[str, bytes]]) -> None:
    for name, value in xattrs:
        try:
            if isinstance(target, int):
                os.setxattr(target, name, value)
            else:
                os.setxattr(target, name, value, follow_symlinks=False)
        except OSError as e:
            # SELinux labels and the like on a file system (or kernel) that
            # does not keep them: the file is still right without them.
            if e.errno not in (errno.EOPNOTSUPP, errno.EPERM, errno.EINVAL):
                raise


def unpack(tar_path: str, root: str, stats: LayerStats,
           progress: Callable[[int], None] | None = None) -> None:
    """Write the entries of the tar at ``tar_path`` (uncompressed, verified)
    into ``root`` (an empty directory) in overlayfs' form; LayerError for an
    entry that is refused. File contents go from the tar to each file by
    copy_file_range(2), in the kernel."""
    tree = _Tree(root)
    dir_times: list[tuple[tuple[str, ...], float]] = []
    try:
        with open(tar_path, "rb") as raw, tarfile.open(fileobj=raw, mode="r:") as tf:
            tree.tar_fd = raw.fileno()
            for member in tf:
                tree.trim()
                stats.entries += 1
                _write_entry(tf, member, tree, stats, dir_times)
                if progress is not None:
                    progress(stats.size)
        for parts, mtime in reversed(dir_times):
            _set_dir_time(tree, parts, mtime)
    except tarfile.TarError as e:
        raise LayerError(f"not a valid tar: {e}") from None
    finally:
        tree.close()


def _write_entry(tf: tarfile.TarFile, m: tarfile.TarInfo, tree: _Tree,  # noqa: PLR0912
                 stats: LayerStats, dir_times: list[tuple[tuple[str, ...], float]]) -> None:
    # one branch per kind of tar entry, in the order the module's docstring gives
    parts = entry_parts(m.name)
    if not parts:
        return  # the layer's root: the overlay's root is the run's upper dir
    base = parts[-1]
    if base.startswith(WHITEOUT_PREFIX):
        _whiteout(tree, parts, m.name)
        return
    parent = tree.dir_fd(parts[:-1], m.name)
    if m.isdir():
        there = tree.clear(parent, base, parts, keep_dir=True)
        if there != "dir":
            os.mkdir(base, 0o700, dir_fd=parent)
        fd = os.open(base, _DIR_FLAGS, dir_fd=parent)
        try:
            _own(fd, m)
            _set_xattrs(fd, _xattrs(m))
        finally:
            os.close(fd)
        dir_times.append((parts, m.mtime))
        return
    if m.ischr() or m.isblk():
        stats.skipped_devices.append("/".join(parts))
        return
    tree.clear(parent, base, parts)
    if m.isreg():
        _write_file(tf, m, tree, parent, base=base, stats=stats)
    elif m.issym():
        os.symlink(m.linkname, base, dir_fd=parent)
        os.chown(base, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
        _set_xattrs(f"/proc/self/fd/{parent}/{base}", [x for x in _xattrs(m)
                                                       if x[0].startswith("security.")])
        os.utime(base, ns=(_ns(m.mtime), _ns(m.mtime)), dir_fd=parent, follow_symlinks=False)
    elif m.islnk():
        target = entry_parts(m.linkname)
        if not target:
            raise LayerError(f"tar entry {m.name!r}: hard link to the layer's root")
        try:
            source_dir = tree.dir_fd(target[:-1], m.name, create=False)
            st = os.lstat(target[-1], dir_fd=source_dir)
        except FileNotFoundError:
            raise LayerError(f"tar entry {m.name!r}: hard link to {m.linkname!r}, "
                             "which is not in this layer") from None
        if stat.S_ISDIR(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            raise LayerError(f"tar entry {m.name!r}: hard link to {m.linkname!r}, "
                             "which is not a file")
        os.link(target[-1], base, src_dir_fd=source_dir, dst_dir_fd=parent,
                follow_symlinks=False)
    elif m.isfifo():
        os.mkfifo(base, 0o600, dir_fd=parent)
        fd = os.open(base, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=parent)
        try:
            _own(fd, m)
        finally:
            os.close(fd)
    else:
        raise LayerError(f"tar entry {m.name!r}: unknown type {m.type!r}")


def _whiteout(tree: _Tree, parts: tuple[str, ...], name: str) -> None:
    base = parts[-1]
    parent = tree.dir_fd(parts[:-1], name)
    if base == OPAQUE_MARKER:
        os.setxattr(parent, OPAQUE_XATTR, b"y")
        return
    if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
        return  # aufs' own bookkeeping (.wh..wh.plnk and the like)
    hidden = base[len(WHITEOUT_PREFIX):]
    if hidden in ("", ".", ".."):
        raise LayerError(f"tar entry {name!r}: bad whiteout")
    try:
        os.lstat(hidden, dir_fd=parent)
        return  # OCI: a whiteout hides only what lower layers have
    except FileNotFoundError:
        pass
    os.mknod(hidden, stat.S_IFCHR | 0o600, os.makedev(0, 0), dir_fd=parent)


def _write_file(tf: tarfile.TarFile, m: tarfile.TarInfo, tree: _Tree, parent: int, *,
                base: str, stats: LayerStats) -> None:
    fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=parent)
    try:
        if m.issparse():  # tarfile knows the map of holes
            source = tf.extractfile(m)
            assert source is not None
            while chunk := source.read(CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        else:
            _copy_range(tree.tar_fd, fd, m.offset_data, m.size)
        stats.size += m.size
        _own(fd, m)
        _set_xattrs(fd, _xattrs(m))
        os.utime(fd, ns=(_ns(m.mtime), _ns(m.mtime)))
    finally:
        os.close(fd)


def _copy_range(src: int, dst: int, offset: int, size: int) -> None:
    done = 0
    while done < size:
        n = os.copy_file_range(src, dst, size - done, offset + done)
        if n == 0:
            raise LayerError("the tar ends inside a file")
        done += n


def _own(fd: int, m: tarfile.TarInfo) -> None:
    os.fchown(fd, m.uid, m.gid)
    os.fchmod(fd, m.mode & 0o7777)  # after chown, which clears setuid and setgid


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _set_dir_time(tree: _Tree, parts: tuple[str, ...], mtime: float) -> None:
    try:
        parent = tree.dir_fd(parts[:-1], "/".join(parts), create=False)
        os.utime(parts[-1], ns=(_ns(mtime), _ns(mtime)), dir_fd=parent, follow_symlinks=False)
    except (OSError, LayerError):
        pass  # replaced by a later entry of the tar: nothing to date


def unpack_blob(blob: str, root: str, digest: str | None, diff_id: str | None,
                progress: Callable[[int], None] | None = None) -> LayerStats:
    """Verify and unpack one blob into ``root`` (an empty directory). The blob
    is read whole and both digests checked before a single entry is written:
    a compressed one is decompressed to ``root``.tar on the way (removed at
    the end), a plain tar is used where it lies."""
    stats = LayerStats()
    tar = root.rstrip("/") + ".tar"
    try:
        with open_blob(blob, digest, diff_id, stats) as stream:
            if stats.compression == "none":
                while stream.read(CHUNK):
                    pass
            else:
                with open(tar, "wb") as out:
                    while chunk := stream.read(CHUNK):
                        out.write(chunk)
        unpack(blob if stats.compression == "none" else tar, root, stats, progress)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tar)
    return stats


# -- merging layers (images with more layers than one overlay mount takes) -----------

def merge_layers(lowers_bottom_up: list[str], target: str) -> None:
    """Apply overlay-form layer trees, bottom first, onto ``target`` (an
    empty directory), as overlayfs would show them: whiteouts delete, opaque
    directories hide what is below them. Files are hard links to the
    layers' own (read-only, so sharing their inodes is safe; a file that
    cannot take another link is copied)."""
    for layer in lowers_bottom_up:
        _merge_dir(layer, target)


def _merge_dir(source: str, target: str) -> None:
    with os.scandir(source) as entries:
        for entry in entries:
            src = entry.path
            dst = os.path.join(target, entry.name)
            st = entry.stat(follow_symlinks=False)
            if _is_whiteout(st):
                _remove(dst)
                continue
            if stat.S_ISDIR(st.st_mode):
                opaque = _get_xattr(src, OPAQUE_XATTR) == b"y"
                if opaque or not os.path.isdir(dst) or os.path.islink(dst):
                    _remove(dst)
                    os.mkdir(dst, 0o700)
                _copy_meta(src, dst, st)
                _merge_dir(src, dst)
                os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
                continue
            _remove(dst)
            try:
                os.link(src, dst, follow_symlinks=False)
            except OSError as e:
                if e.errno != errno.EMLINK:
                    raise
                shutil.copy2(src, dst, follow_symlinks=False)


def _remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _get_xattr(path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def _copy_meta(src: str, dst: str, st: os.stat_result) -> None:
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    for name in os.listxattr(src, follow_symlinks=False):
        if name.startswith(_XATTR_ALLOWED):
            _set_xattrs(dst, [(name, os.getxattr(src, name, follow_symlinks=False))])
