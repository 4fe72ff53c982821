"""The image store: content-addressed blobs, each layer unpacked once and
shared, image records and the names that point at them.

Layout ($MINIPOD_IMAGES, default /var/lib/minipod/images; root's alone):

    blobs/sha256/<hex>       every blob by its digest, verified: layers as the
                             registry served them, configs, manifests, indexes
    layers/<hex>/diff/       one layer (<hex> of its diff_id) unpacked in
                             overlayfs' form; never written again once here
    layers/<hex>/layer.json  its digest, sizes, what was skipped
    l/<short>                a short symlink to layers/<hex>/diff: what a
                             container's overlay lists as a lowerdir
    chains/<hex>/diff/       the bottom layers of an image with too many for
                             one overlay mount, merged (chain id <hex>)
    images/<hex>.json        an image (<hex> of its config digest, the IMAGE
                             ID): manifest digest, layers, sizes, origin
    refs.json                name:tag and name@digest -> image id
    tmp/<id>/, tmp/<id>.lock a pull, load or unpack in progress
    lock, refs.lock, locks/  flock(2) files (below)

Concurrency, with flock(2) (released by the kernel when a process dies):
- a pull, load or import holds ``lock`` shared for its whole run; rm and
  prune take it exclusive, so they never remove a layer a pull is about to
  use, and wait for pulls in flight;
- a layer is unpacked under ``locks/<hex>`` exclusive: a second pull of the
  same layer waits for the first and then finds it there;
- work happens in ``tmp/<id>/`` (locked by ``tmp/<id>.lock``) and reaches
  its final name by one rename(2): a killed pull leaves only a tmp directory
  whose lock is free, which the next pull (or prune) removes; nothing
  half-written is ever under layers/, images/ or blobs/;
- refs.json and image records are written whole and renamed into place, the
  refs under ``refs.lock``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minipod.api.errors import ImageError
from minipod.kernel import layers as lay

SCHEMA = 1
SHORT_LINK = 12  # hex characters of a layer's short link (l/<short>)
# overlayfs takes its options in one page (4096 bytes) with upperdir= and
# workdir= (paths in the pod's directory, ~250 bytes): the lowerdir list gets
# the rest, with room to spare; and at most 500 lower layers (OVL_MAX_STACK).
LOWERDIR_BUDGET = 3000
MAX_LOWERS = 500


def hex_of(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64 or not all(c in "0123456789abcdef"
                                                            for c in value):
        raise ImageError(f"not a sha256 digest: {digest!r}")
    return value


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


@dataclass
class LayerRef:
    diff_id: str
    digest: str  # the blob's
    media_type: str = ""
    size: int = 0  # the blob's

    def to_json(self) -> dict[str, Any]:
        return {"diffID": self.diff_id, "digest": self.digest, "mediaType": self.media_type,
                "size": self.size}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> LayerRef:
        return cls(obj["diffID"], obj["digest"], obj.get("mediaType", ""), obj.get("size", 0))


@dataclass
class ImageRecord:
    """One image as stored: images/<hex of id>.json."""

    id: str  # the config's digest
    layers: list[LayerRef]
    manifest_digest: str = ""  # of the platform manifest
    repo_digests: list[str] = field(default_factory=list)  # name@digest, as pulled
    origin: str = "registry"  # registry, archive, import, build
    created: str = ""  # the config's
    stored: float = 0.0  # when it came here

    @property
    def size(self) -> int:
        """What crictl's SIZE shows: the layers as served (compressed)."""
        return sum(layer.size for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        return {"schemaVersion": SCHEMA, "id": self.id, "manifestDigest": self.manifest_digest,
                "repoDigests": self.repo_digests, "origin": self.origin,
                "created": self.created, "stored": self.stored,
                "layers": [layer.to_json() for layer in self.layers]}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ImageRecord:
        return cls(obj["id"], [LayerRef.from_json(x) for x in obj["layers"]],
                   obj.get("manifestDigest", ""), list(obj.get("repoDigests", [])),
                   obj.get("origin", "registry"), obj.get("created", ""),
                   obj.get("stored", 0.0))


class Store:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # -- paths -----------------------------------------------------------------------
    @property
    def blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def blob_path(self, digest: str) -> Path:
        return self.blobs / hex_of(digest)

    def layer_dir(self, diff_id: str) -> Path:
        return self.root / "layers" / hex_of(diff_id)

    def image_path(self, image_id: str) -> Path:
        return self.root / "images" / f"{hex_of(image_id)}.json"

    def ensure(self) -> None:
        """Make the store's directories (root's alone)."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        for sub in ("blobs/sha256", "layers", "l", "chains", "images", "tmp", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- locks -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _flock(self, path: Path, mode: int) -> Iterator[int]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def using(self) -> Iterator[None]:
        """Held (shared) by a pull, load or import for its whole run."""
        self.ensure()
        with self._flock(self.root / "lock", fcntl.LOCK_SH):
            self.clean_tmp()
            yield

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Held by rm and prune: no pull is in flight meanwhile."""
        self.ensure()
        with self._flock(self.root / "lock", fcntl.LOCK_EX):
            yield

    @contextlib.contextmanager
    def refs_locked(self) -> Iterator[dict[str, str]]:
        """refs.json to change: written back on a normal exit."""
        self.ensure()
        with self._flock(self.root / "refs.lock", fcntl.LOCK_EX):
            refs = self.refs()
            before = dict(refs)
            yield refs
            if refs != before:
                write_atomic(self.root / "refs.json",
                             (json.dumps(refs, indent=1, sort_keys=True) + "\n").encode())

    @contextlib.contextmanager
    def scratch(self, prefix: str) -> Iterator[Path]:
        """A private directory under tmp/, removed at the end (or, if this
        process dies, by the next clean_tmp())."""
        self.ensure()
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        # locked under another name, then renamed: clean_tmp() never sees a
        # lock file that is not locked yet
        new = self.tmp / f"{name}.locknew"
        with self._flock(new, fcntl.LOCK_EX):
            os.rename(new, self.tmp / f"{name}.lock")
            directory = self.tmp / name
            directory.mkdir()
            try:
                yield directory
            finally:
                shutil.rmtree(directory, ignore_errors=True)
                with contextlib.suppress(FileNotFoundError):
                    (self.tmp / f"{name}.lock").unlink()

    def clean_tmp(self) -> list[str]:
        """Remove what dead pulls left in tmp/ (their locks are free)."""
        removed = []
        locks = [*self.tmp.glob("*.lock"), *self.tmp.glob("*.locknew")] \
            if self.tmp.is_dir() else []
        for lock in sorted(locks):
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # alive
            try:
                if lock.suffix == ".lock":
                    shutil.rmtree(lock.with_suffix(""), ignore_errors=True)
                    removed.append(lock.stem)
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
            finally:
                os.close(fd)
        return removed

    # -- blobs -------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def put_blob_bytes(self, data: bytes) -> str:
        digest = sha256_bytes(data)
        path = self.blob_path(digest)
        if not path.exists():
            write_atomic(path, data)
        return digest

    def put_blob_file(self, source: Path, digest: str | None = None) -> str:
        """Move ``source`` (in tmp/, same file system) in as a blob, after
        checking its digest."""
        found = sha256_file(source)
        if digest is not None and found != digest:
            raise ImageError(f"blob digest mismatch: expected {digest}, got {found}")
        path = self.blob_path(found)
        if path.exists():
            source.unlink()
        else:
            os.rename(source, path)
        return found

    def read_blob(self, digest: str) -> bytes:
        data = self.blob_path(digest).read_bytes()
        if sha256_bytes(data) != digest:
            raise ImageError(f"blob {digest} is corrupt in {self.blobs}")
        return data

    # -- layers ------------------------------------------------------------------------
    def has_layer(self, diff_id: str) -> bool:
        return (self.layer_dir(diff_id) / "layer.json").is_file()

    def layer_info(self, diff_id: str) -> dict[str, Any]:
        return json.loads((self.layer_dir(diff_id) / "layer.json").read_text())  # type: ignore[no-any-return]

    def ensure_layer(self, layer: LayerRef,
                     progress: Callable[[int], None] | None = None) -> bool:
        """Unpack ``layer`` from its blob unless it is there; True if unpacked now.
        Two processes unpacking the same layer: the second waits, then finds it."""
        if self.has_layer(layer.diff_id):
            return False
        hexid = hex_of(layer.diff_id)
        with self._flock(self.root / "locks" / f"{hexid}.lock", fcntl.LOCK_EX):
            if self.has_layer(layer.diff_id):
                return False
            with self.scratch(f"layer-{hexid[:12]}") as work:
                diff = work / "diff"
                diff.mkdir(mode=0o755)
                try:
                    stats = lay.unpack_blob(str(self.blob_path(layer.digest)), str(diff),
                                            layer.digest, layer.diff_id, progress)
                except lay.LayerError as e:
                    raise ImageError(f"layer {layer.digest}: {e}") from None
                link = self._short_link(hexid)
                info = {**stats.to_json(), "link": link, "unpacked": time.time()}
                (work / "layer.json").write_text(json.dumps(info, indent=1) + "\n")
                os.chmod(work, 0o700)
                target = self.layer_dir(layer.diff_id)
                if target.exists():  # a layer dir without layer.json: a crash's
                    shutil.rmtree(target)
                os.rename(work, target)
                work.mkdir()  # for scratch()'s clean-up
                self._make_link(link, hexid)
        return True

    def _short_link(self, hexid: str) -> str:
        for n in range(SHORT_LINK, 65):
            link = self.root / "l" / hexid[:n]
            try:
                if os.readlink(link) == f"../layers/{hexid}/diff":
                    return hexid[:n]
            except FileNotFoundError:
                return hexid[:n]
        raise ImageError(f"no short link for layer {hexid}")

    def _make_link(self, short: str, hexid: str) -> None:
        link = self.root / "l" / short
        with contextlib.suppress(FileExistsError):
            os.symlink(f"../layers/{hexid}/diff", link)

    def lowerdir(self, diff_id: str) -> str:
        """The path a container's overlay names for this layer (its short link)."""
        link = self.layer_info(diff_id).get("link")
        if link and (self.root / "l" / link).is_symlink():
            return str(self.root / "l" / link)
        return str(self.layer_dir(diff_id) / "diff")

    def lowerdirs(self, record: ImageRecord) -> tuple[str, ...]:
        """The image's lowerdirs, top layer first, as one overlay mount can take
        them: when the list would not fit (LOWERDIR_BUDGET, MAX_LOWERS), the
        bottom layers are merged once into chains/<chain id> (merge_plan)."""
        paths = [self.lowerdir(layer.diff_id) for layer in record.layers]
        chain_path = len(str(self.root / "chains" / ("0" * 64) / "diff"))
        merge = merge_plan([len(p) for p in paths], chain_path, LOWERDIR_BUDGET, MAX_LOWERS)
        if merge <= 1:
            return tuple(reversed(paths))
        chain = self.ensure_chain(record.layers[:merge])
        return (*reversed(paths[merge:]), chain)

    def ensure_chain(self, bottom: list[LayerRef]) -> str:
        """The bottom layers merged into one directory, made once per chain."""
        chain = chain_id([layer.diff_id for layer in bottom])
        hexid = hex_of(chain)
        target = self.root / "chains" / hexid
        if (target / "chain.json").is_file():
            return str(target / "diff")
        with self._flock(self.root / "locks" / f"chain-{hexid}.lock", fcntl.LOCK_EX):
            if (target / "chain.json").is_file():
                return str(target / "diff")
            with self.scratch(f"chain-{hexid[:12]}") as work:
                (work / "diff").mkdir(mode=0o755)
                lay.merge_layers([str(self.layer_dir(x.diff_id) / "diff") for x in bottom],
                                 str(work / "diff"))
                (work / "chain.json").write_text(json.dumps(
                    {"chainID": chain, "layers": [x.diff_id for x in bottom]}) + "\n")
                if target.exists():
                    shutil.rmtree(target)
                os.rename(work, target)
                work.mkdir()
        return str(target / "diff")

    # -- images and names --------------------------------------------------------------
    def refs(self) -> dict[str, str]:
        try:
            return json.loads((self.root / "refs.json").read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return {}

    def save_image(self, record: ImageRecord) -> None:
        self.ensure()
        write_atomic(self.image_path(record.id),
                     (json.dumps(record.to_json(), indent=1) + "\n").encode())

    def image(self, image_id: str) -> ImageRecord | None:
        try:
            obj = json.loads(self.image_path(image_id).read_text())
        except (FileNotFoundError, ImageError):
            return None
        return ImageRecord.from_json(obj)

    def images(self) -> list[ImageRecord]:
        found = []
        for path in sorted((self.root / "images").glob("*.json")):
            with contextlib.suppress(OSError, ValueError, KeyError):
                found.append(ImageRecord.from_json(json.loads(path.read_text())))
        return found

    def names_of(self, image_id: str) -> list[str]:
        return sorted(k for k, v in self.refs().items() if v == image_id)

    def find_id(self, text: str) -> str | None:
        """An image id from a full id, 'sha256:' optional, or a unique prefix
        of at least 4 hex characters (as crictl and podman accept)."""
        value = text.removeprefix("sha256:")
        if len(value) < 4 or not all(c in "0123456789abcdef" for c in value):
            return None
        hits = [r.id for r in self.images() if r.id.removeprefix("sha256:").startswith(value)]
        return hits[0] if len(hits) == 1 else None

    # -- removal -----------------------------------------------------------------------
    def remove_image(self, image_id: str) -> None:
        """Forget an image and its names (blobs and layers go at the next prune
        or with remove_unused)."""
        with self.refs_locked() as refs:
            for key in [k for k, v in refs.items() if v == image_id]:
                del refs[key]
        with contextlib.suppress(FileNotFoundError):
            self.image_path(image_id).unlink()

    def remove_unused(self) -> tuple[int, int]:
        """Layers, chains and blobs no image record needs: (count, bytes) freed.
        Hold exclusive() around it."""
        records = self.images()
        keep_layers = {hex_of(x.diff_id) for r in records for x in r.layers}
        keep_blobs = {hex_of(r.id) for r in records}
        keep_blobs |= {hex_of(x.digest) for r in records for x in r.layers}
        for r in records:
            for digest in (r.manifest_digest, *(d.partition("@")[2] for d in r.repo_digests)):
                if digest:
                    keep_blobs.add(hex_of(digest))
        keep_chains = set()
        for r in records:
            for n in range(2, len(r.layers) + 1):
                keep_chains.add(hex_of(chain_id([x.diff_id for x in r.layers[:n]])))
        count = freed = 0
        for directory, keep in ((self.root / "layers", keep_layers),
                                (self.root / "chains", keep_chains)):
            for path in list(directory.iterdir()) if directory.is_dir() else []:
                if path.name not in keep:
                    freed += tree_size(path)
                    shutil.rmtree(path, ignore_errors=True)
                    count += 1
        for link in list((self.root / "l").iterdir()) if (self.root / "l").is_dir() else []:
            if not link.exists():  # its layer is gone
                link.unlink()
        for blob in list(self.blobs.iterdir()) if self.blobs.is_dir() else []:
            if blob.name not in keep_blobs:
                freed += blob.stat().st_size
                blob.unlink()
                count += 1
        self.clean_tmp()
        return count, freed

    # -- disk use ----------------------------------------------------------------------
    def disk_use(self) -> dict[str, int]:
        """Bytes on disk: blobs, unpacked layers, merged chains, work in progress
        (hard links counted once, as du does)."""
        seen: set[tuple[int, int]] = set()
        return {name: tree_size(self.root / sub, seen)
                for name, sub in (("blobs", "blobs"), ("layers", "layers"),
                                  ("chains", "chains"), ("tmp", "tmp"))}


def merge_plan(lengths: list[int], merged_length: int, budget: int, max_lowers: int) -> int:
    """How many bottom layers to merge into one so that the image's lowerdir
    list (``lengths``: each path's length, bottom first; ``merged_length``:
    the merged directory's) fits ``budget`` bytes, separators included, and
    ``max_lowers`` entries: 0 when it fits as it is."""
    def fits(merged: int) -> bool:
        kept = lengths[merged:]
        count = len(kept) + (1 if merged else 0)
        size = sum(n + 1 for n in kept) + (merged_length + 1 if merged else 0) - 1
        return count <= max_lowers and size <= budget

    if fits(0):
        return 0
    for merged in range(2, len(lengths) + 1):
        if fits(merged):
            return merged
    return len(lengths)


def chain_id(diff_ids: list[str]) -> str:
    """The OCI ChainID of a stack of layers (bottom first)."""
    chain = diff_ids[0]
    for diff_id in diff_ids[1:]:
        chain = sha256_bytes(f"{chain} {diff_id}".encode())
    return chain


def tree_size(path: Path, seen: set[tuple[int, int]] | None = None) -> int:
    """Bytes of the files under ``path`` (blocks actually used)."""
    seen = set() if seen is None else seen
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [*filenames, *dirnames]:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError as e:
                if e.errno == errno.ENOENT:
                    continue
                raise
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += st.st_blocks * 512
    return total
