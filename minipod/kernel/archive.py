"""Bringing images in without a registry, and the step every way in shares.

- load: a docker-archive (what `docker save` and `podman save` write), an
  OCI archive (a tar of an OCI layout) or an OCI layout directory;
- import: a root file system tarball becomes a one-layer image (as `podman
  import`), with optional Dockerfile-style changes (CMD, ENTRYPOINT, ENV,
  WORKDIR, USER, STOPSIGNAL);
- commit_image: blobs in place, layers unpacked, the record written, then
  the names pointed at it (pull.py ends with it too).

An archive is read as a tar, member by member: only the files an image is
made of are read (by name, symlinks between members resolved inside the
archive), and nothing of it is extracted as a tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from minipod.api import imageref
from minipod.api.errors import ImageError
from minipod.api.ociimage import (
    INDEX_TYPES,
    MEDIA_OCI_CONFIG,
    MEDIA_OCI_LAYER,
    MEDIA_OCI_MANIFEST,
    Descriptor,
    ImageFormatError,
    choose_platform,
    host_platform,
    media_type_of,
    parse_config,
    parse_index,
    parse_manifest,
)
from minipod.kernel import layers as lay
from minipod.kernel.imagestore import ImageRecord, LayerRef, Store, sha256_bytes

Progress = Callable[[str], None]


def normalize_name(name: str) -> str:
    """A name to store an image under: docker.io/library/busybox:latest."""
    try:
        ref = imageref.parse(name)
    except imageref.ReferenceError as e:
        raise ImageError(str(e)) from None
    if ref.digest:
        raise ImageError(f"{name}: a name to give an image cannot be a digest")
    return ref.tagged


def commit_image(st: Store, config_raw: bytes, layers: list[Descriptor], names: list[str],
                 origin: str, *, manifest_raw: bytes | None = None,
                 repo_digests: list[str] | None = None,
                 say: Progress | None = None) -> ImageRecord:
    """Store an image whose layer blobs are in the store already: unpack each
    layer (once), write the record, then point ``names`` at it."""
    config = parse_config(config_raw)
    if len(config.diff_ids) != len(layers):
        raise ImageError(f"the config lists {len(config.diff_ids)} layers, the manifest "
                         f"{len(layers)}")
    image_id = st.put_blob_bytes(config_raw)
    manifest_digest = st.put_blob_bytes(manifest_raw) if manifest_raw is not None else ""
    refs = [LayerRef(diff_id, d.digest, d.media_type, d.size)
            for diff_id, d in zip(config.diff_ids, layers, strict=True)]
    for i, layer in enumerate(refs):
        started = time.monotonic()
        if st.ensure_layer(layer) and say is not None:
            say(f"unpacked layer {i + 1}/{len(refs)} {layer.digest[7:19]} "
                f"in {time.monotonic() - started:.2f}s")
    old = st.image(image_id)
    digests = list(dict.fromkeys([*(old.repo_digests if old else []), *(repo_digests or [])]))
    record = ImageRecord(image_id, refs, manifest_digest or (old.manifest_digest if old else ""),
                         digests, origin if old is None else old.origin, config.created,
                         time.time())
    st.save_image(record)
    with st.refs_locked() as table:
        for name in names:
            table[name] = image_id
    return record


# -- import ----------------------------------------------------------------------------

def _arch() -> str:
    return host_platform(platform.machine()).architecture


def store_rootfs_tar(st: Store, tar: Path, config_fields: dict[str, Any], names: list[str],
                     origin: str) -> ImageRecord:
    """A one-layer image of a root file system tar (plain, gzip or zstd) that
    sits in the store's tmp/ (it is moved into blobs/)."""
    stats = lay.LayerStats()
    with lay.open_blob(str(tar), None, None, stats):
        pass  # read through: the digests
    media = MEDIA_OCI_LAYER + {"gzip": "+gzip", "zstd": "+zstd"}.get(stats.compression, "")
    digest = st.put_blob_file(tar, stats.digest)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    config = {"created": created, "architecture": _arch(), "os": "linux",
              "config": config_fields,
              "rootfs": {"type": "layers", "diff_ids": [stats.diff_id]},
              "history": [{"created": created, "created_by": f"minipod image {origin}"}]}
    config_raw = json.dumps(config, separators=(",", ":")).encode()
    layer = Descriptor(media, digest, stats.compressed_size)
    manifest = {"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST,
                "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": sha256_bytes(config_raw),
                           "size": len(config_raw)},
                "layers": [{"mediaType": media, "digest": digest, "size": layer.size}]}
    manifest_raw = json.dumps(manifest, separators=(",", ":")).encode()
    return commit_image(st, config_raw, [layer], [normalize_name(n) for n in names], origin,
                        manifest_raw=manifest_raw)


def parse_changes(changes: list[str]) -> dict[str, Any]:
    """`podman import --change` instructions: CMD, ENTRYPOINT, ENV, WORKDIR,
    USER, STOPSIGNAL, LABEL (JSON or shell form, as a Dockerfile)."""
    config: dict[str, Any] = {"Env": [], "Labels": {}}
    for change in changes:
        word, _, rest = change.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        if word in ("CMD", "ENTRYPOINT"):
            try:
                value = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
            except ValueError:
                raise ImageError(f"--change {change!r}: not a JSON list") from None
            config["Cmd" if word == "CMD" else "Entrypoint"] = value
        elif word == "ENV":
            pairs = shlex.split(rest)
            if len(pairs) == 2 and "=" not in pairs[0]:
                pairs = [f"{pairs[0]}={pairs[1]}"]
            config["Env"] += [p for p in pairs if "=" in p]
        elif word == "LABEL":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                config["Labels"][key] = value
        elif word in ("WORKDIR", "USER", "STOPSIGNAL"):
            config[{"WORKDIR": "WorkingDir", "USER": "User",
                    "STOPSIGNAL": "StopSignal"}[word]] = rest
        else:
            raise ImageError(f"--change {change!r}: {word} is not one of CMD, ENTRYPOINT, "
                             "ENV, LABEL, WORKDIR, USER, STOPSIGNAL")
    if not any(e.startswith("PATH=") for e in config["Env"]):
        config["Env"].insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
                                ":/sbin:/bin")
    return config


def import_rootfs(st: Store, source: Path, name: str | None, changes: list[str]
                  ) -> ImageRecord:
    config = parse_changes(changes)
    with st.using(), st.scratch("import") as tmp:
        copy = tmp / "layer"
        shutil.copyfile(source, copy)
        return store_rootfs_tar(st, copy, config, [name] if name else [], "import")


# -- load --------------------------------------------------------------------------------

class _Source:
    """An archive's or a layout's files, by name."""

    def exists(self, name: str) -> bool:
        raise NotImplementedError

    def open(self, name: str) -> IO[bytes]:
        raise NotImplementedError

    def read(self, name: str, limit: int = 16 << 20) -> bytes:
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ImageError(f"{name}: larger than {limit} bytes")
        return data


class _DirSource(_Source):
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        parts = lay.entry_parts(name)
        path = self.root.joinpath(*parts)
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise ImageError(f"{name}: outside the layout")
        return path

    def exists(self, name: str) -> bool:
        try:
            return self._path(name).is_file()
        except lay.LayerError:
            return False

    def open(self, name: str) -> IO[bytes]:
        try:
            return self._path(name).open("rb")
        except lay.LayerError as e:
            raise ImageError(str(e)) from None


class _TarSource(_Source):
    def __init__(self, path: Path) -> None:
        try:
            self.tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by _source()
            self.members = {"/".join(lay.entry_parts(m.name)): m for m in self.tar.getmembers()
                            if not m.name.startswith("/") and ".." not in m.name.split("/")}
        except (tarfile.TarError, OSError) as e:
            raise ImageError(f"{path}: not an image archive ({e})") from None

    def _member(self, name: str) -> tarfile.TarInfo:
        key = "/".join(lay.entry_parts(name))
        for _ in range(8):  # docker save links identical layers to each other
            member = self.members.get(key)
            if member is None:
                raise ImageError(f"{name}: not in the archive")
            if member.isreg():
                return member
            if member.issym():
                base = key.rpartition("/")[0]
                joined = os.path.normpath(os.path.join(base, member.linkname))
                if joined.startswith(("..", "/")):
                    raise ImageError(f"{name}: a link out of the archive")
                key = joined
                continue
            if member.islnk():
                key = "/".join(lay.entry_parts(member.linkname))
                continue
            raise ImageError(f"{name}: not a file in the archive")
        raise ImageError(f"{name}: too many links")

    def exists(self, name: str) -> bool:
        try:
            self._member(name)
            return True
        except (ImageError, lay.LayerError):
            return False

    def open(self, name: str) -> IO[bytes]:
        f = self.tar.extractfile(self._member(name))
        assert f is not None
        return f


@contextlib.contextmanager
def _source(path: Path) -> Iterator[_Source]:
    if path.is_dir():
        yield _DirSource(path)
        return
    source = _TarSource(path)
    try:
        yield source
    finally:
        source.tar.close()


def _blob_in(st: Store, source: _Source, name: str, digest: str | None, tmp: Path) -> str:
    """Copy an archive member into blobs/ (verified against ``digest``)."""
    if digest is not None and st.has_blob(digest):
        return digest
    target = tmp / f"blob-{os.urandom(6).hex()}"
    with source.open(name) as f, open(target, "wb") as out:
        shutil.copyfileobj(f, out, 1 << 20)
    return st.put_blob_file(target, digest)


def load(st: Store, path: Path, say: Progress | None = None) -> list[tuple[ImageRecord, list[str]]]:
    """Load every image of an archive or layout: [(record, names)]."""
    if not path.exists():
        raise ImageError(f"{path}: no such file or directory")
    with st.using(), st.scratch("load") as tmp, _source(path) as source:
        try:
            if source.exists("manifest.json") and not (path.is_dir()
                                                        and source.exists("index.json")):
                return _load_docker(st, source, tmp, say)
            if source.exists("index.json"):
                return _load_oci(st, source, tmp, say)
        except (ImageFormatError, KeyError, TypeError, ValueError) as e:
            raise ImageError(f"{path}: {e}") from None
    raise ImageError(f"{path}: neither a docker-archive (manifest.json) nor an OCI "
                     "layout (index.json)")


def _load_docker(st: Store, source: _Source, tmp: Path, say: Progress | None
                 ) -> list[tuple[ImageRecord, list[str]]]:
    entries = json.loads(source.read("manifest.json"))
    if not isinstance(entries, list):
        raise ImageError("manifest.json: not a list")
    loaded = []
    for entry in entries:
        config_raw = source.read(entry["Config"])
        layers = []
        for layer_name in entry["Layers"]:
            digest = _blob_in(st, source, layer_name, None, tmp)
            size = st.blob_path(digest).stat().st_size
            layers.append(Descriptor(MEDIA_OCI_LAYER, digest, size))
        names = [normalize_name(n) for n in entry.get("RepoTags") or []]
        record = commit_image(st, config_raw, layers, names, "archive", say=say)
        loaded.append((record, names))
    return loaded


def _load_oci(st: Store, source: _Source, tmp: Path, say: Progress | None
              ) -> list[tuple[ImageRecord, list[str]]]:
    index_raw = source.read("index.json")
    loaded = []
    for entry in parse_index(index_raw):
        names = _oci_names(entry)
        descriptor = entry
        raw = source.read(_blob_name(descriptor.digest))
        if sha256_bytes(raw) != descriptor.digest:
            raise ImageError(f"{descriptor.digest}: the blob's digest differs")
        if media_type_of(raw) in INDEX_TYPES:
            descriptor = choose_platform(raw, host_platform(platform.machine()))
            raw = source.read(_blob_name(descriptor.digest))
            if sha256_bytes(raw) != descriptor.digest:
                raise ImageError(f"{descriptor.digest}: the blob's digest differs")
        manifest = parse_manifest(raw)
        config_raw = source.read(_blob_name(manifest.config.digest))
        if sha256_bytes(config_raw) != manifest.config.digest:
            raise ImageError(f"{manifest.config.digest}: the config's digest differs")
        for layer in manifest.layers:
            _blob_in(st, source, _blob_name(layer.digest), layer.digest, tmp)
        record = commit_image(st, config_raw, list(manifest.layers), names, "archive",
                              manifest_raw=raw, say=say)
        loaded.append((record, names))
    return loaded


def _blob_name(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    return f"blobs/{algorithm}/{value}"


def _oci_names(entry: Descriptor) -> list[str]:
    """The name an OCI layout gives a manifest: containerd's full-name
    annotation, else the ref.name when it is a whole reference (a bare tag
    names no repository: the image is loaded without a name)."""
    for key in ("io.containerd.image.name", "org.opencontainers.image.ref.name"):
        value = entry.annotations.get(key, "")
        if value and ("/" in value or ":" in value):
            with contextlib.suppress(ImageError):
                return [normalize_name(value)]
    return []
