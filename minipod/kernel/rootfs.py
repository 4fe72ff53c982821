"""A container's filesystem, built inside its own mount namespace.

Runs in the forked child, in this order (bubblewrap's and crun's recipe):
  1. unshare(CLONE_NEWNS) and make / recursively private *before* mounting
     anything, so nothing we mount propagates back to the host;
  2. open every bind source as an O_PATH fd while host paths still resolve;
  3. mount the overlay (image lower, per-run upper) and pivot_root into it,
     the old root parked at /.minipod-oldroot (bubblewrap's oldroot);
  4. mount /proc, /sys (read-only), a tmpfs /dev with the usual nodes, devpts,
     the pod's /dev/shm and an mqueue for the pod's ipc namespace;
  5. bind /etc/hosts, /etc/hostname, /etc/resolv.conf and the volumes, the
     targets resolved *inside* the new root, so a symlink in the image cannot
     point a mount at the host;
  6. detach the old root. Only now: a bind from an O_PATH fd needs the
     source's mount still attached to the namespace (else EINVAL).
All of it disappears with the mount namespace: no host mount is left behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from minipod.kernel import sys as msys
from minipod.kernel.spawn import Steps

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_SYMLINKS = (
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
    ("/proc/kcore", "core"),
)
NOSUID_NODEV_NOEXEC = msys.MS_NOSUID | msys.MS_NODEV | msys.MS_NOEXEC


@dataclass(frozen=True)
class BindMount:
    source: str  # host path
    target: str  # absolute path inside the container
    read_only: bool = False
    is_file: bool = False


@dataclass(frozen=True)
class RootfsPlan:
    lower: str  # the image rootfs, read-only
    upper: str
    work: str
    merged: str
    shm_dir: str
    binds: tuple[BindMount, ...] = field(default=())


def build_rootfs(plan: RootfsPlan, steps: Steps) -> None:
    """Steps 1-5 above. On return the process is inside its new root."""
    steps("unshare mount namespace")
    msys.unshare(msys.CLONE_NEWNS)
    steps("make / private")
    msys.mount(None, "/", None, msys.MS_REC | msys.MS_PRIVATE)
    sources = _open_sources(plan, steps)
    steps("mount overlay rootfs")
    options = f"lowerdir={plan.lower},upperdir={plan.upper},workdir={plan.work}"
    msys.mount("overlay", plan.merged, "overlay", 0, options)
    _pivot_into(plan.merged, steps)
    _mount_proc_sys(steps)
    _mount_dev(sources, plan.shm_dir, steps)
    for bind in plan.binds:
        steps(f"bind mount {bind.source} on {bind.target}")
        _bind(sources[bind.source], bind.target, bind.read_only, bind.is_file)
    for fd in sources.values():
        os.close(fd)
    _detach_old_root(steps)


def _open_sources(plan: RootfsPlan, steps: Steps) -> dict[str, int]:
    paths = [f"/dev/{d}" for d in DEVICES] + [plan.shm_dir] + [b.source for b in plan.binds]
    fds: dict[str, int] = {}
    for path in paths:
        if path not in fds:
            steps(f"open {path}")
            fds[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
    return fds


OLD_ROOT = "/.minipod-oldroot"


def _pivot_into(new_root: str, steps: Steps) -> None:
    steps("pivot_root")
    put_old = new_root + OLD_ROOT
    os.mkdir(put_old, 0o700)  # lands in the writable layer, removed below
    msys.pivot_root(new_root, put_old)
    os.chdir("/")


def _detach_old_root(steps: Steps) -> None:
    # / is already rprivate, so the lazy unmount does not propagate to the host.
    steps("detach old root")
    msys.umount2(OLD_ROOT, msys.MNT_DETACH)
    os.rmdir(OLD_ROOT)


def _mount_proc_sys(steps: Steps) -> None:
    steps("mount /proc")
    _mkdir_in_root("/proc")
    msys.mount("proc", "/proc", "proc", NOSUID_NODEV_NOEXEC)
    steps("mount /sys")
    _mkdir_in_root("/sys")
    msys.mount("sysfs", "/sys", "sysfs", NOSUID_NODEV_NOEXEC | msys.MS_RDONLY)


def _mount_dev(sources: dict[str, int], shm_dir: str, steps: Steps) -> None:
    steps("mount /dev")
    _mkdir_in_root("/dev")
    msys.mount("tmpfs", "/dev", "tmpfs", msys.MS_NOSUID | msys.MS_STRICTATIME,
               "mode=755,size=65536k")
    for name in DEVICES:
        steps(f"bind /dev/{name}")
        _bind(sources[f"/dev/{name}"], f"/dev/{name}", read_only=False, is_file=True)
    for target, name in DEV_SYMLINKS:
        os.symlink(target, f"/dev/{name}")
    steps("mount /dev/pts")
    os.mkdir("/dev/pts", 0o755)
    msys.mount("devpts", "/dev/pts", "devpts", msys.MS_NOSUID | msys.MS_NOEXEC,
               "newinstance,ptmxmode=0666,mode=0620,gid=5")
    steps("bind /dev/shm")
    os.mkdir("/dev/shm", 0o1777)
    # The pod's one /dev/shm: POSIX shm is shared by the pod's containers, as
    # System V shm is through the shared ipc namespace.
    msys.mount(f"/proc/self/fd/{sources[shm_dir]}", "/dev/shm", None, msys.MS_BIND)
    steps("mount /dev/mqueue")
    os.mkdir("/dev/mqueue", 0o1777)
    # mqueue shows the queues of the ipc namespace we are in: the pod's.
    msys.mount("mqueue", "/dev/mqueue", "mqueue", NOSUID_NODEV_NOEXEC)


def _bind(source_fd: int, target: str, read_only: bool, is_file: bool) -> None:
    if is_file:
        _mkfile_in_root(target)
    else:
        _mkdir_in_root(target)
    # /proc/self/fd/N names the O_PATH fd opened before pivot_root (runc's trick).
    msys.mount(f"/proc/self/fd/{source_fd}", target, None, msys.MS_BIND | msys.MS_REC)
    if read_only:
        msys.mount(None, target, None,
                   msys.MS_BIND | msys.MS_REMOUNT | msys.MS_RDONLY | msys.MS_REC)


def _mkdir_in_root(path: str) -> None:
    # We are already inside the new root, so even an absolute symlink in the
    # image resolves inside the container.
    os.makedirs(path, mode=0o755, exist_ok=True)


def _mkfile_in_root(path: str) -> None:
    parent = str(PurePosixPath(path).parent)
    _mkdir_in_root(parent)
    if not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
