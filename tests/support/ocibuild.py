"""Test images made by hand: layer tars entry by entry (whiteouts, opaque
directories, hard links, symlinks, setuid files, xattrs, hostile names),
written as OCI layouts that skopeo pushes to a test registry."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass
class Entry:
    name: str
    kind: str = "file"  # file, dir, symlink, hardlink, chr, fifo
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    link: str = ""
    xattrs: dict[str, bytes] = field(default_factory=dict)
    mtime: int = 1_700_000_000


def f(name: str, data: bytes | str = b"", mode: int = 0o644, **kw: Any) -> Entry:
    return Entry(name, "file", data.encode() if isinstance(data, str) else data, mode, **kw)


def d(name: str, mode: int = 0o755, **kw: Any) -> Entry:
    return Entry(name, "dir", mode=mode, **kw)


def sym(name: str, target: str, **kw: Any) -> Entry:
    return Entry(name, "symlink", link=target, mode=0o777, **kw)


def hard(name: str, target: str, **kw: Any) -> Entry:
    return Entry(name, "hardlink", link=target, **kw)


def layer_tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.mode, info.uid, info.gid, info.mtime = e.mode, e.uid, e.gid, e.mtime
            info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                                for k, v in e.xattrs.items()}
            data = None
            if e.kind == "file":
                info.size = len(e.data)
                data = io.BytesIO(e.data)
            elif e.kind == "dir":
                info.type = tarfile.DIRTYPE
            elif e.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.link
            elif e.kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, e.link
            elif e.kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif e.kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tf.addfile(info, data)
    return buf.getvalue()


def compress(tar: bytes, how: str) -> tuple[bytes, str]:
    if how == "gzip":
        return gzip.compress(tar, mtime=0), OCI_LAYER + "+gzip"
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(tar), OCI_LAYER + "+zstd"
    return tar, OCI_LAYER


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    """An OCI image layout directory being written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        self.index: list[dict[str, Any]] = []

    def blob(self, data: bytes) -> str:
        dg = digest(data)
        (self.path / "blobs" / "sha256" / dg[7:]).write_bytes(data)
        return dg

    def image(self, layers: list[list[Entry]], config: dict[str, Any] | None = None,
              compression: str | list[str] = "gzip", arch: str = "amd64",
              variant: str = "") -> dict[str, Any]:
        """Write one image's blobs; returns its manifest descriptor (not yet indexed)."""
        hows = compression if isinstance(compression, list) else [compression] * len(layers)
        descriptors, diff_ids = [], []
        for entries, how in zip(layers, hows, strict=True):
            tar = layer_tar(entries)
            blob, media = compress(tar, how)
            descriptors.append({"mediaType": media, "digest": self.blob(blob),
                                "size": len(blob)})
            diff_ids.append(digest(tar))
        cfg = {"architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
               "config": config if config is not None else {"Cmd": ["/bin/sh"]},
               "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        if variant:
            cfg["variant"] = variant
        cfg_raw = json.dumps(cfg).encode()
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": self.blob(cfg_raw),
                               "size": len(cfg_raw)},
                    "layers": descriptors}
        raw = json.dumps(manifest).encode()
        platform = {"architecture": arch, "os": "linux"}
        if variant:
            platform["variant"] = variant
        return {"mediaType": OCI_MANIFEST, "digest": self.blob(raw), "size": len(raw),
                "platform": platform}

    def tag(self, descriptor: dict[str, Any], tag: str) -> None:
        entry = dict(descriptor)
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.index.append(entry)
        self.write_index()

    def multi(self, descriptors: list[dict[str, Any]]) -> dict[str, Any]:
        raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                          "manifests": descriptors}).encode()
        return {"mediaType": OCI_INDEX, "digest": self.blob(raw), "size": len(raw)}

    def write_index(self) -> None:
        (self.path / "index.json").write_text(json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.index}))


BUSYBOX_APPLETS = ("sh", "cat", "echo", "id", "ls", "env", "pwd", "sleep", "stat", "test",
                   "true", "wget", "httpd", "kill", "readlink", "getfattr")


def busybox_layer(busybox: str = "/bin/busybox") -> list[Entry]:
    """A layer with the host's static busybox and a few applets, so test
    images can run shell commands."""
    entries = [d("bin"), f("bin/busybox", Path(busybox).read_bytes(), 0o755),
               d("etc"), d("tmp", 0o1777)]
    entries += [sym(f"bin/{applet}", "busybox") for applet in BUSYBOX_APPLETS]
    return entries


def add_tar_layer(layout: Layout, tar: Path, how: str = "zstd") -> tuple[dict[str, Any], str]:
    """A layer from a tar file on disk (a whole rootfs): (descriptor, diff_id)."""
    h = hashlib.sha256()
    raw = tar.read_bytes()
    h.update(raw)
    blob, media = compress(raw, how)
    return {"mediaType": media, "digest": layout.blob(blob), "size": len(blob)}, \
        "sha256:" + h.hexdigest()


def image_of_layers(layout: Layout, layers: list[tuple[dict[str, Any], str]],
                    config: dict[str, Any], arch: str = "amd64") -> dict[str, Any]:
    cfg = {"architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
           "config": config,
           "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in layers]}}
    cfg_raw = json.dumps(cfg).encode()
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": layout.blob(cfg_raw),
                           "size": len(cfg_raw)},
                "layers": [descriptor for descriptor, _ in layers]}
    raw = json.dumps(manifest).encode()
    return {"mediaType": OCI_MANIFEST, "digest": layout.blob(raw), "size": len(raw)}


def entries_layer(layout: Layout, entries: list[Entry], how: str = "gzip"
                  ) -> tuple[dict[str, Any], str]:
    tar = layer_tar(entries)
    blob, media = compress(tar, how)
    return {"mediaType": media, "digest": layout.blob(blob), "size": len(blob)}, digest(tar)
