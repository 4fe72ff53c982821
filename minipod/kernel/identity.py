"""Who a container runs as: its uid, its primary group and its
supplementary groups, from the securityContext and the image's User,
/etc/passwd and /etc/group (kernel/image.py read them from its layers, never
through a symlink), by containerd's rules (WithUser, WithUserID,
WithAdditionalGIDs) and the kubelet's (api/security.py); and the host's
devices a privileged container gets.
"""

from __future__ import annotations

import os
import stat

from minipod.api import ociimage
from minipod.api.errors import StartError
from minipod.api.frozen import frozen
from minipod.api.model import SecurityContext
from minipod.api.security import Effective, supplementary_groups
from minipod.kernel.image import Image
from minipod.kernel.rootfs import HostDevice


@frozen
class Identity:
    uid: int
    gid: int
    groups: tuple[int, ...]  # setgroups' list, sorted


def resolve_identity(name: str, eff: Effective, pod: SecurityContext | None, image: Image
                     ) -> Identity:
    """The identity of container ``name``: a runAsUser replaces the image's
    user and group (the group then comes from runAsGroup, or the uid's
    primary group in the image's /etc/passwd, else 0); a runAsGroup alone
    replaces only the group; no User at all is 0:0. A User that names no
    user of the image cannot start (CreateContainerError, as StartError)."""
    if eff.run_as_user is not None:
        uid, gid = eff.run_as_user, None
    elif image.user:
        if image.user_error or image.uid is None:
            raise StartError(f"container {name}", 0,
                             image.user_error or f"unable to find user {image.user}")
        uid, gid = image.uid, image.gid
    else:
        uid, gid = 0, None
    if eff.run_as_group is not None:
        gid = eff.run_as_group
    elif gid is None:
        gid = ociimage.primary_group(uid, image.etc_passwd)
    # containerd looks up the supplementary groups of runAsUser, else of the
    # image's User (its user part), else of uid 0
    who = str(eff.run_as_user) if eff.run_as_user is not None else \
        image.user.partition(":")[0] or "0"
    member_of = ociimage.supplementary_groups(who, image.etc_passwd, image.etc_group)
    return Identity(uid, gid, supplementary_groups(gid, member_of, pod))


# containerd's HostDevices: every device node of /dev but these
_SKIPPED_DIRS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})


def host_devices(root: str = "/dev") -> tuple[HostDevice, ...]:
    """The host's device nodes, for a privileged container (containerd's
    WithHostDevices): character and block devices below /dev, but the
    console and the directories of ptys, shm, fds and mqueues."""
    found: list[HostDevice] = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return ()
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in _SKIPPED_DIRS:
                    found += host_devices(entry.path)
                continue
            # the console; ptmx: the container's is its devpts' (a symlink)
            if entry.name in ("console", "ptmx") and root == "/dev":
                continue
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            found.append(HostDevice(entry.path, st.st_mode, st.st_rdev, st.st_uid, st.st_gid))
    return tuple(found)
