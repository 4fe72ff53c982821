"""Whether systemd delegated our cgroup to us: light enough (os and re only)
for the command to ask before it loads anything else (a foreground `up` that
must run itself again in a delegated scope does it first: server/systemd.py).
kernel/cgroups.py asks it too, to find its base."""

from __future__ import annotations

import contextlib
import os
import re

CGROUP_FS = "/sys/fs/cgroup"
# the units minipod starts, always with Delegate=yes (server/systemd.py)
OUR_UNITS = re.compile(r"(minipod@.*|minipod-supervisor-.*)\.service|minipod-up-[0-9]+\.scope")


def delegated(path: str) -> bool:
    """systemd marks a cgroup it delegated with an extended attribute (since
    systemd 251; our own units are known by name on older ones)."""
    for name in ("trusted.delegate", "user.delegate"):
        with contextlib.suppress(OSError):
            if os.getxattr(path, name) == b"1":
                return True
    return bool(OUR_UNITS.fullmatch(os.path.basename(path)))


def systemd_cgroup(proc_cgroup: str) -> str | None:
    """The directory of our cgroup in the hierarchy systemd organizes: the
    unified one (v2 and hybrid hosts) or v1's name=systemd; None if neither."""
    paths = {}
    for line in proc_cgroup.splitlines():
        number, controllers, path = line.split(":", 2)
        if number == "0" and not controllers:
            paths["unified"] = path
        elif "name=systemd" in controllers.split(","):
            paths["systemd"] = path
    if "unified" in paths and os.path.isfile(f"{CGROUP_FS}/cgroup.controllers"):
        return CGROUP_FS + paths["unified"]
    if "systemd" in paths:
        return f"{CGROUP_FS}/systemd{paths['systemd']}"
    if "unified" in paths:  # hybrid: systemd's own tree is the unified one
        return f"{CGROUP_FS}/unified{paths['unified']}"
    return None


def in_delegated_cgroup(proc_cgroup: str | None = None) -> bool:
    """Whether this process is in a cgroup systemd delegated (or in its
    supervisor leaf)."""
    if proc_cgroup is None:
        with open("/proc/self/cgroup") as f:
            proc_cgroup = f.read()
    path = systemd_cgroup(proc_cgroup)
    if path is None:
        return False
    return delegated(path) or (os.path.basename(path) == "supervisor"
                               and delegated(os.path.dirname(path)))
