"""Netlink, through pyroute2: the only module that imports it.

pyroute2 takes ~0.2 s to import, so it is imported once, lazily, in the
parent before sandboxes are forked; the children then find it loaded.
"""

from __future__ import annotations

from typing import Any


def preload() -> None:
    import pyroute2  # noqa: F401


def loopback_up() -> None:
    """Bring up lo in the network namespace the calling process is in."""
    from pyroute2 import IPRoute

    ipr: Any
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname="lo")[0]  # a list, even for one match
        ipr.link("set", index=index, state="up")


def link_is_up(name: str = "lo") -> bool:
    from pyroute2 import IPRoute

    ipr: Any
    with IPRoute() as ipr:
        links = ipr.get_links(ifname=name)
        return bool(links) and links[0].get("state") == "up"
