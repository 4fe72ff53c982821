"""OCI and Docker image documents, read (pure): manifests, indexes (manifest
lists) and the platform one resolves to, image configs, the image User and
StopSignal fields.

Docker's schema2 and the OCI image spec share one shape; only the media
types differ, and both are accepted wherever one is.
"""

from __future__ import annotations

import json
import re
import signal
from dataclasses import field
from typing import Any

from minipod.api.frozen import frozen

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"

INDEX_TYPES = (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST)
MANIFEST_TYPES = (MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST)
# layer media types minipod can unpack (plain, gzip, zstd; foreign layers are
# Windows' and never apply on Linux)
_LAYER_PREFIXES = (MEDIA_OCI_LAYER, MEDIA_DOCKER_LAYER,
                   "application/vnd.oci.image.layer.nondistributable.v1.tar")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")

# Go's GOARCH for Python's platform.machine() (containerd's platforms package)
_ARCHES = {"x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", "v8"),
           "arm64": ("arm64", "v8"), "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
           "i686": ("386", ""), "i386": ("386", ""), "ppc64le": ("ppc64le", ""),
           "s390x": ("s390x", ""), "riscv64": ("riscv64", "")}


class ImageFormatError(ValueError):
    """A document that is not what it claims to be, or none minipod can use."""


@frozen
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform(machine: str) -> Platform:
    """This host's platform, from ``os.uname().machine``."""
    arch, variant = _ARCHES.get(machine, (machine, ""))
    return Platform("linux", arch, variant)


def platform_matches(want: Platform, have: Platform) -> bool:
    """containerd's platforms.Only: the same OS and architecture; for arm64
    "v8" and no variant are the same; an entry without a variant fits."""
    if want.os != have.os or want.architecture != have.architecture:
        return False
    if not have.variant or have.variant == want.variant:
        return True
    return want.architecture == "arm64" and {want.variant, have.variant} <= {"", "v8"}


@frozen
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict, compare=False)


@frozen
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


def _load(raw: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageFormatError(f"{what}: not JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ImageFormatError(f"{what}: not a JSON object")
    return doc


def _descriptor(obj: Any, what: str) -> Descriptor:
    if not isinstance(obj, dict):
        raise ImageFormatError(f"{what}: not a descriptor")
    digest, size = obj.get("digest"), obj.get("size")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ImageFormatError(f"{what}: digest {digest!r} is not sha256:<64 hex>")
    if not isinstance(size, int) or size < 0:
        raise ImageFormatError(f"{what}: size {size!r} is not a byte count")
    platform = None
    if isinstance(obj.get("platform"), dict):
        p = obj["platform"]
        platform = Platform(str(p.get("os", "")), str(p.get("architecture", "")),
                            str(p.get("variant", "")))
    found = obj.get("annotations")
    annotations = {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}
    return Descriptor(str(obj.get("mediaType", "")), digest, size, platform, annotations)


def media_type_of(raw: bytes) -> str:
    """The media type a manifest or index says it is (the field, else its shape)."""
    doc = _load(raw, "manifest")
    media = doc.get("mediaType")
    if isinstance(media, str) and media:
        return media
    if "manifests" in doc:
        return MEDIA_OCI_INDEX
    if doc.get("schemaVersion") == 1:
        return "application/vnd.docker.distribution.manifest.v1+json"
    return MEDIA_OCI_MANIFEST


def is_index(raw: bytes) -> bool:
    return media_type_of(raw) in INDEX_TYPES


def parse_index(raw: bytes) -> list[Descriptor]:
    doc = _load(raw, "index")
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise ImageFormatError("index: no manifests list")
    return [_descriptor(m, f"index.manifests[{i}]") for i, m in enumerate(manifests)]


def choose_platform(raw: bytes, want: Platform) -> Descriptor:
    """The manifest of an index for ``want``; ImageFormatError lists what there is."""
    entries = parse_index(raw)
    for entry in entries:
        if entry.media_type in INDEX_TYPES:
            continue
        # attestation manifests (buildkit's) carry platform unknown/unknown
        if entry.platform is not None and platform_matches(want, entry.platform):
            return entry
    offered = ", ".join(str(e.platform) for e in entries
                        if e.platform is not None and e.platform.os != "unknown")
    raise ImageFormatError(f"no image for platform {want} in the index "
                           f"(it has: {offered or 'no platforms'})")


def parse_manifest(raw: bytes) -> Manifest:
    media = media_type_of(raw)
    if media not in MANIFEST_TYPES:
        raise ImageFormatError(f"unsupported manifest type {media!r} "
                               "(minipod reads OCI and Docker schema2 manifests)")
    doc = _load(raw, "manifest")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ImageFormatError("manifest: no layers list")
    found = tuple(_descriptor(layer, f"manifest.layers[{i}]") for i, layer in enumerate(layers))
    for i, layer in enumerate(found):
        if layer.media_type and not layer.media_type.startswith(_LAYER_PREFIXES):
            raise ImageFormatError(f"manifest.layers[{i}]: media type {layer.media_type!r} "
                                   "is not an image layer minipod can unpack")
    return Manifest(media, _descriptor(doc.get("config"), "manifest.config"), found)


# -- the image config -------------------------------------------------------------

@frozen
class ImageConfig:
    """What the runtime takes from an image's config."""

    diff_ids: tuple[str, ...]
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str = ""
    user: str = ""
    stop_signal: str = ""
    labels: dict[str, str] = field(default_factory=dict, compare=False)
    created: str = ""
    os: str = "linux"
    architecture: str = ""


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ImageFormatError(f"config: {what} is not a list of strings")
    return tuple(value)


def parse_config(raw: bytes) -> ImageConfig:
    doc = _load(raw, "config")
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict):
        raise ImageFormatError("config: no rootfs")
    diff_ids = _strings(rootfs.get("diff_ids"), "rootfs.diff_ids")
    for diff_id in diff_ids:
        if not _DIGEST.fullmatch(diff_id):
            raise ImageFormatError(f"config: diff_id {diff_id!r} is not sha256:<64 hex>")
    conf = doc.get("config") or {}
    if not isinstance(conf, dict):
        raise ImageFormatError("config: config is not an object")
    # an entry without '=' sets nothing (containerd drops it too)
    env = tuple((k, v) for k, eq, v in (e.partition("=") for e in _strings(conf.get("Env"), "Env"))
                if k and eq)
    labels = conf.get("Labels") if isinstance(conf.get("Labels"), dict) else {}
    return ImageConfig(
        diff_ids=diff_ids,
        entrypoint=_strings(conf.get("Entrypoint"), "Entrypoint"),
        cmd=_strings(conf.get("Cmd"), "Cmd"),
        env=env,
        working_dir=str(conf.get("WorkingDir") or ""),
        user=str(conf.get("User") or ""),
        stop_signal=str(conf.get("StopSignal") or ""),
        labels={str(k): str(v) for k, v in (labels or {}).items()},
        created=str(doc.get("created") or ""),
        os=str(doc.get("os") or "linux"),
        architecture=str(doc.get("architecture") or ""),
    )


def parse_stop_signal(text: str) -> int:
    """An image's StopSignal: SIGQUIT, QUIT, 3, SIGRTMIN+3 (moby's signal.ParseSignal)."""
    value = text.strip().upper()
    if value.isdigit():
        number = int(value)
        if 0 < number < signal.NSIG:
            return number
        raise ValueError(f"invalid signal: {text}")
    name = value if value.startswith("SIG") else f"SIG{value}"
    match = re.fullmatch(r"SIGRTM(IN|AX)([+-]\d+)?", name)
    if match:
        base = signal.SIGRTMIN if match.group(1) == "IN" else signal.SIGRTMAX
        number = base + int(match.group(2) or 0)
        if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
            return number
        raise ValueError(f"invalid signal: {text}")
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ValueError(f"invalid signal: {text}") from None


# -- User: name or uid, with a group, against the image's /etc/passwd and /etc/group --

class UserError(ValueError):
    """An image User that does not resolve in the image (CreateContainerError)."""


def _entries(text: str | None, fields: int) -> list[list[str]]:
    found = []
    for line in (text or "").splitlines():
        parts = line.split(":")
        if len(parts) >= fields and not line.startswith("#"):
            found.append(parts)
    return found


def resolve_user(spec: str, passwd: str | None, group: str | None
                 ) -> tuple[int, int | None]:
    """(uid, gid) for an image's User, as containerd's WithUser reads it:
    "uid", "uid:gid", "name", "name:group", "uid:group", "name:gid". A name
    is looked up in the image's /etc/passwd (a group in /etc/group); a bare
    uid keeps gid None, and the launcher then takes the uid's primary group
    from the container's /etc/passwd (0 if it has none)."""
    user, _, grp = spec.partition(":")
    users = _entries(passwd, 4)
    if user.isdigit():
        uid = int(user)
        gid = None
    else:
        entry = next((e for e in users if e[0] == user), None)
        if entry is None:
            raise UserError(f"unable to find user {user}: no matching entries in passwd file")
        uid, gid = int(entry[2]), int(entry[3])
    if grp:
        if grp.isdigit():
            gid = int(grp)
        else:
            found = next((e for e in _entries(group, 3) if e[0] == grp), None)
            if found is None:
                raise UserError(f"unable to find group {grp}: no matching entries "
                                "in group file")
            gid = int(found[2])
    return uid, gid


def primary_group(uid: int, passwd: str | None) -> int:
    """The gid of ``uid`` in the image's /etc/passwd, else 0 (containerd's
    WithUserID)."""
    for entry in _entries(passwd, 4):
        if entry[2].isdigit() and int(entry[2]) == uid and entry[3].isdigit():
            return int(entry[3])
    return 0


def supplementary_groups(user: str, passwd: str | None, group: str | None
                         ) -> tuple[int, ...]:
    """containerd's WithAdditionalGIDs: the gids of the image's /etc/group
    entries that list ``user`` (a name, or a uid named in /etc/passwd) as a
    member, except the group named as the user. A uid /etc/passwd does not
    name has none."""
    name = user
    if user.isdigit():
        entry = next((e for e in _entries(passwd, 4)
                      if e[2].isdigit() and int(e[2]) == int(user)), None)
        if entry is None:
            return ()
        name = entry[0]
    return tuple(int(e[2]) for e in _entries(group, 4)
                 if e[0] != name and e[2].isdigit() and name in e[3].split(","))
