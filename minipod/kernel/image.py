"""Images as containers use them: a reference resolved, exactly, in the store
(kernel/imagestore.py), to its layers and the settings of its config; and
the busybox image built from the host.

A reference names one image: `busybox:1.28` is docker.io/library/busybox:1.28
or nothing, never another tag. An absolute path names a directory used as
the only layer (a rootfs tree, or one with config.json beside rootfs/).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tarfile
import time
from dataclasses import field
from pathlib import Path

from minipod.api import imageref
from minipod.api.errors import ImageError, MinipodError
from minipod.api.frozen import frozen
from minipod.api.ociimage import (
    ImageConfig,
    ImageFormatError,
    UserError,
    parse_config,
    parse_stop_signal,
    resolve_user,
)
from minipod.kernel.archive import store_rootfs_tar
from minipod.kernel.imagestore import ImageRecord, Store
from minipod.kernel.paths import images_root

# containerd's default when an image sets no PATH
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# characters that would break overlayfs' option string
_OVERLAY_UNSAFE = (",", ":", "\\")


def images_dir() -> Path:
    """``$MINIPOD_IMAGES`` (minipod/kernel/paths.py has the default)."""
    return Path(images_root())


def store() -> Store:
    return Store(images_dir())


@frozen
class Image:
    ref: str  # what the manifest said
    name: str  # the stored name (docker.io/library/busybox:latest), or the path
    lowers: tuple[str, ...]  # the overlay's lowerdirs, top layer first
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str = "/"
    user: str = ""  # the config's User, as written
    uid: int | None = None  # User resolved in the image's /etc/passwd and /etc/group
    gid: int | None = None
    user_error: str = ""  # a User that does not resolve: the container cannot start
    stop_signal: int | None = None  # the config's StopSignal; None: SIGTERM
    id: str = ""  # sha256 of the config (IMAGE ID); "" for a directory
    repo_digest: str = ""  # name@sha256:..., when pulled from a registry
    size: int = 0
    origin: str = ""  # registry, archive, import, build, path
    warnings: tuple[str, ...] = field(default=(), compare=False)
    # the image's /etc/passwd and /etc/group as its layers show them (None:
    # none): the container's supplementary groups and a runAsUser's group
    # come from them, as containerd reads them from the image's rootfs
    etc_passwd: str | None = field(default=None, compare=False, repr=False)
    etc_group: str | None = field(default=None, compare=False, repr=False)

    @property
    def image_id(self) -> str:
        """containerStatuses[].imageID: the repo digest, else the image id."""
        return self.repo_digest or self.id or self.name


def parse_reference(ref: str) -> imageref.ImageRef:
    try:
        return imageref.parse(ref)
    except imageref.ReferenceError as e:
        raise ImageError(str(e)) from None


def resolve(ref: str, field_path: str = "image") -> Image:
    """The stored image ``ref`` names; ImageError (listing what is stored) if
    it is not there."""
    found = lookup(ref, field_path)
    if found is not None:
        return found
    parsed = parse_reference(ref)
    stored = ", ".join(n for n, _ in list_images()[:12])
    stored = stored or "none (run: minipod image build-busybox, or minipod image pull)"
    raise ImageError(f"{field_path}: image {ref!r} ({parsed.key}) is not present in "
                     f"{images_dir()}; stored images: {stored}")


def lookup(ref: str, field_path: str = "image") -> Image | None:
    """The stored image ``ref`` names, or None; ImageError for a reference
    that is not one."""
    if ref.startswith("/"):
        return _resolve_path(ref, field_path)
    try:
        parsed = imageref.parse(ref)
    except imageref.ReferenceError as e:
        raise ImageError(f"{field_path}: {e}") from None
    st = store()
    image_id = st.refs().get(parsed.key)
    record = st.image(image_id) if image_id else None
    if record is None:
        return None
    return load_image(st, record, ref, parsed.key)


def load_image(st: Store, record: ImageRecord, ref: str, name: str) -> Image:
    try:
        config = parse_config(st.read_blob(record.id))
        for layer in record.layers:
            if not st.has_layer(layer.diff_id):
                raise ImageError(f"image {name}: layer {layer.diff_id} is missing from "
                                 f"{st.root}; pull the image again")
        lowers = st.lowerdirs(record)
    except (OSError, ImageFormatError) as e:
        raise ImageError(f"image {name}: {e}") from None
    repo_digest = next((d for d in record.repo_digests
                        if d.partition("@")[0] == name.rpartition(":")[0]
                        or d.partition("@")[0] == name.partition("@")[0]),
                       record.repo_digests[0] if record.repo_digests else "")
    return _image(ref, name, lowers, config, record=record, repo_digest=repo_digest)


def _image(ref: str, name: str, lowers: tuple[str, ...], config: ImageConfig, *,
           record: ImageRecord | None, repo_digest: str = "") -> Image:
    uid = gid = None
    user_error = ""
    passwd, group = read_image_file(lowers, "etc/passwd"), read_image_file(lowers, "etc/group")
    if config.user:
        try:
            uid, gid = resolve_user(config.user, passwd, group)
        except UserError as e:
            user_error = str(e)
    stop = None
    warnings: list[str] = []
    if config.stop_signal:
        try:
            stop = parse_stop_signal(config.stop_signal)
        except ValueError:
            warnings.append(f"{ref}: StopSignal {config.stop_signal!r} is not a signal; "
                            "SIGTERM is used")
    return Image(
        ref=ref, name=name, lowers=lowers, entrypoint=config.entrypoint, cmd=config.cmd,
        env=config.env, working_dir=config.working_dir or "/", user=config.user, uid=uid,
        gid=gid, user_error=user_error, stop_signal=stop,
        id=record.id if record else "", repo_digest=repo_digest,
        size=record.size if record else 0, origin=record.origin if record else "path",
        warnings=tuple(warnings), etc_passwd=passwd, etc_group=group,
    )


def read_image_file(lowers: tuple[str, ...], path: str, limit: int = 1 << 20) -> str | None:
    """A file of the image as its overlay shows it: the topmost layer that
    has it, unless a whiteout, a non-directory or an opaque directory above
    hides it. Symlinks are not followed (None)."""
    parts = [p for p in path.split("/") if p]
    for lower in lowers:
        current = lower
        for i, part in enumerate(parts):
            current = os.path.join(current, part)
            try:
                st = os.lstat(current)
            except (FileNotFoundError, NotADirectoryError):
                # not in this layer: an opaque directory on the way hides the lower ones
                if _opaque(os.path.dirname(current), lower):
                    return None
                break
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None  # a whiteout
            if i < len(parts) - 1:
                if not stat.S_ISDIR(st.st_mode):
                    return None
                continue
            if not stat.S_ISREG(st.st_mode):
                return None
            try:  # O_NOFOLLOW: not even a link swapped in since the lstat
                fd = os.open(current, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                return None
            with open(fd, "rb") as f:
                return f.read(limit).decode("utf-8", "replace")
    return None


def _opaque(directory: str, lower: str) -> bool:
    """Whether ``directory`` or one above it, up to ``lower``, is opaque."""
    while len(directory) > len(lower):
        try:
            if os.getxattr(directory, "trusted.overlay.opaque", follow_symlinks=False) == b"y":
                return True
        except OSError:
            pass
        directory = os.path.dirname(directory)
    return False


def list_images() -> list[tuple[str, ImageRecord]]:
    """(name, record) for every stored name, sorted; nameless images last as
    '<none>'."""
    st = store()
    records = {r.id: r for r in st.images()}
    rows = [(name, records[image_id]) for name, image_id in sorted(st.refs().items())
            if image_id in records]
    named = {image_id for _, image_id in st.refs().items()}
    rows += [("<none>", r) for r in records.values() if r.id not in named]
    return rows


def _resolve_path(path: str, field_path: str) -> Image:
    if any(c in path for c in _OVERLAY_UNSAFE):
        raise ImageError(f"{field_path}: image path {path!r} may not contain ',', ':' or '\\'")
    directory = Path(path)
    if not directory.is_dir():
        raise ImageError(f"{field_path}: image path {path!r} is not a directory")
    if (directory / "config.json").is_file() and (directory / "rootfs").is_dir():
        legacy = json.loads((directory / "config.json").read_text())
        config = ImageConfig(
            diff_ids=(), entrypoint=tuple(legacy.get("Entrypoint") or ()),
            cmd=tuple(legacy.get("Cmd") or ()),
            env=tuple((k, v) for k, _, v in (e.partition("=") for e in legacy.get("Env") or [])
                      if k),
            working_dir=legacy.get("WorkingDir") or "/", user=legacy.get("User") or "",
            stop_signal=legacy.get("StopSignal") or "")
        return _image(path, path, (str(directory / "rootfs"),), config, record=None)
    return _image(path, path, (str(directory),), ImageConfig(diff_ids=(), cmd=("sh",)),
                  record=None)


# -- building the busybox image -------------------------------------------------

_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
_GROUP = "root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n"


def find_busybox() -> Path:
    for candidate in ("/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox"):
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    found = shutil.which("busybox")
    if found:
        return Path(found)
    raise MinipodError("no busybox found on this host "
                       "(Debian/Ubuntu: apt-get install busybox-static)")


def _check_static(busybox: Path) -> None:
    with busybox.open("rb") as f:
        head = f.read(1 << 16)
    # A dynamic ELF names its interpreter in a PT_INTERP segment; static has none.
    if b"/ld-linux" in head or b"/ld-musl" in head:
        raise MinipodError(f"{busybox} is dynamically linked; install busybox-static")


def busybox_version(busybox: Path) -> str:
    out = subprocess.run([str(busybox)], capture_output=True, text=True, check=False).stdout
    first = out.splitlines()[0] if out else ""
    for word in first.split():
        if word.startswith("v") and word[1:2].isdigit():
            return word[1:].split("-")[0]
    return "unknown"


def build_busybox(busybox: Path | None = None) -> str:
    """docker.io/library/busybox:latest (and :<version>) from the host's static
    busybox: one layer, made as a tar and stored like any image (origin
    "build": it is never pulled on its name's behalf, see pull policy)."""
    busybox = busybox or find_busybox()
    _check_static(busybox)
    version = busybox_version(busybox)
    st = store()
    with st.using(), st.scratch("build") as tmp:
        rootfs = tmp / "rootfs"
        _populate_rootfs(rootfs, busybox)
        layer = tmp / "layer.tar"
        _tar_tree(rootfs, layer)
        config = {"Cmd": ["sh"], "Env": [f"PATH={DEFAULT_PATH}"], "WorkingDir": "/",
                  "Labels": {"minipod.busybox.version": version}}
        names = [f"busybox:{tag}" for tag in dict.fromkeys(["latest", version])]
        store_rootfs_tar(st, layer, config, names, origin="build")
    return version


def _tar_tree(root: Path, out: Path) -> None:
    """A layer tar of ``root`` (numeric root ownership, fixed times: the same
    busybox gives the same layer, so a rebuild shares it)."""
    def entry(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        for path in sorted(root.rglob("*")):
            tf.add(path, arcname=str(path.relative_to(root)), recursive=False, filter=entry)


def _populate_rootfs(rootfs: Path, busybox: Path) -> None:
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "proc", "sys",
              "dev", "var/tmp", "home"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    (rootfs / "var/tmp").chmod(0o1777)
    shutil.copy2(busybox, rootfs / "bin/busybox")
    (rootfs / "bin/busybox").chmod(0o755)
    # `busybox --install -s DIR` needs /proc/self/exe to be busybox; listing
    # the applets and making the links ourselves works everywhere.
    applets = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        link = rootfs / applet
        if link.name == "busybox" or link.exists():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
    (rootfs / "etc/passwd").write_text(_PASSWD)
    (rootfs / "etc/group").write_text(_GROUP)
    for name in ("hosts", "hostname", "resolv.conf"):
        (rootfs / "etc" / name).touch()


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
