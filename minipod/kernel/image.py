"""The local image store: a directory of rootfs trees with a small config.

Layout: $MINIPOD_IMAGES/<repository>/<tag>/{rootfs/, config.json}. config.json
holds what an OCI image config would (Entrypoint, Cmd, Env, WorkingDir).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from minipod.api.errors import ImageError, MinipodError
from minipod.kernel.paths import images_root

# containerd's default when an image sets no PATH
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# characters that would break overlayfs' option string
_OVERLAY_UNSAFE = (",", ":", "\\")


def images_dir() -> Path:
    """``$MINIPOD_IMAGES`` (minipod/kernel/paths.py has the default)."""
    return Path(images_root())


@dataclass(frozen=True)
class Image:
    ref: str  # what the manifest said
    name: str  # repository:tag as stored, or the path
    rootfs: Path
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    working_dir: str = "/"
    warnings: tuple[str, ...] = field(default=(), compare=False)


def parse_reference(ref: str) -> tuple[str, str]:
    """'docker.io/library/busybox:1.36' -> ('busybox', '1.36').

    The registry host (a first component with a dot or a colon, or
    'localhost') and Docker Hub's 'library/' are dropped: images are local, so
    only the repository and tag identify them.
    """
    name = ref.partition("@")[0]  # a digest cannot be checked locally; resolve() warns
    tag = "latest"
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts), tag


def list_images() -> list[tuple[str, str]]:
    root = images_dir()
    found = []
    for config in sorted(root.glob("**/config.json")):
        rel = config.parent.relative_to(root)
        if len(rel.parts) >= 2 and (config.parent / "rootfs").is_dir():
            found.append(("/".join(rel.parts[:-1]), rel.parts[-1]))
    return found


def _load(ref: str, name: str, directory: Path, warnings: tuple[str, ...] = ()) -> Image:
    config = json.loads((directory / "config.json").read_text())
    pairs = (e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
    env = tuple((name, value) for name, value in pairs)
    return Image(
        ref=ref,
        name=name,
        rootfs=directory / "rootfs",
        entrypoint=tuple(config.get("Entrypoint") or ()),
        cmd=tuple(config.get("Cmd") or ()),
        env=env,
        working_dir=config.get("WorkingDir") or "/",
        warnings=warnings,
    )


def resolve(ref: str, field_path: str = "image") -> Image:
    """Find the stored image for ``ref``; an ImageError lists what is stored."""
    if ref.startswith("/"):
        return _resolve_path(ref, field_path)
    repo, tag = parse_reference(ref)
    base = images_dir() / repo
    if (base / tag / "config.json").is_file() and "@" not in ref:
        return _load(ref, f"{repo}:{tag}", base / tag)
    if (base / "latest" / "config.json").is_file():
        # A manifest written for a cluster pins tags we cannot pull; the local
        # image of that repository stands in for it (a deliberate difference,
        # see README), and the user is told.
        what = "digest" if "@" in ref else f"tag {tag!r}"
        note = f"{ref}: {what} is not stored; using {repo}:latest"
        return _load(ref, f"{repo}:latest", base / "latest", (note,))
    stored = ", ".join(f"{r}:{t}" for r, t in list_images())
    stored = stored or "none (run: minipod image build-busybox)"
    raise ImageError(f"{field_path}: image {ref!r} not found in {images_dir()}; "
                     f"stored images: {stored}")


def _resolve_path(path: str, field_path: str) -> Image:
    if any(c in path for c in _OVERLAY_UNSAFE):
        raise ImageError(f"{field_path}: image path {path!r} may not contain ',', ':' or '\\'")
    directory = Path(path)
    if not directory.is_dir():
        raise ImageError(f"{field_path}: image path {path!r} is not a directory")
    if (directory / "config.json").is_file() and (directory / "rootfs").is_dir():
        return _load(path, path, directory)
    return Image(ref=path, name=path, rootfs=directory, cmd=("sh",))


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
    """Build images/busybox/latest (and a version tag) from the host's static busybox."""
    busybox = busybox or find_busybox()
    _check_static(busybox)
    version = busybox_version(busybox)
    target = images_dir() / "busybox"
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".build-") as tmp:
        image_dir = Path(tmp) / "image"
        _populate_rootfs(image_dir / "rootfs", busybox)
        config = {"Cmd": ["sh"], "Env": [f"PATH={DEFAULT_PATH}"], "WorkingDir": "/",
                  "Labels": {"minipod.busybox.version": version}}
        (image_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        for tag in dict.fromkeys(["latest", version]):
            dest = target / tag
            staging = Path(tmp) / f"tag-{tag}"
            shutil.copytree(image_dir, staging, symlinks=True)
            if dest.exists():
                shutil.rmtree(dest)
            staging.rename(dest)
    return version


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
