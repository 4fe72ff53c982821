"""Netlink, through pyroute2: the only module that imports it.

pause brings a pod's loopback up itself (csrc/pause.c: one ioctl, no Python
on the pod's start path); this reads a namespace's links back over netlink,
which is how the tests check what pause did. pyroute2 takes ~0.2 s to
import, so nothing on a start, stop or probe path may import this module.
"""

from __future__ import annotations

from typing import Any

from pyroute2 import IPRoute


def link_is_up(name: str = "lo") -> bool:
    """Whether link ``name`` of the caller's network namespace is up."""
    ipr: Any
    with IPRoute() as ipr:
        links = ipr.get_links(ifname=name)
        return bool(links) and links[0].get("state") == "up"
