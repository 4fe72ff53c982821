"""Netlink through pyroute2: the only module that imports it.

The node's side of the pod network: the bridge, its address and the routes
of the pod and service ranges, and the check that those ranges shadow none
of the node's routes. kernel/podnet.py runs this module as a program
(``python -m minipod.kernel.net up|down``) when the network must be made or
removed, once per boot at most: pyroute2 takes 150 to 300 ms and ~25 MB to
import, more than a supervisor costs, so no supervisor imports it, and
nothing on a start, stop or probe path does. A pod's own veth pair and
addresses are made by its pause process (csrc/pause.c --net).

The bridge:
- its MAC is fixed (0a:58 and the gateway's address) rather than taken from
  the lowest port's, which would change as pods come and go and leave every
  pod's ARP entry for its gateway stale;
- it forwards (net.ipv4.conf.<bridge>.forwarding, a setting of this interface
  only, which goes with it): pods have /32 addresses and reach each other
  through the node (csrc/pause.c says why);
- route_localnet on it lets a hostPort answer on 127.0.0.1, as the CNI
  portmap plugin does: the DNAT'd packet leaves through the bridge with its
  loopback source, which the masquerade rule then rewrites;
- the service range is routed to it, so a Service address is reachable from
  the node even without a default route, and one that has no rule goes
  nowhere rather than out of the node's default route.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
import time
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from minipod.kernel.podnet import POD_CIDRS, SERVICE_CIDRS, NetworkError, gateway_of, pick_cidr


def link_is_up(name: str = "lo") -> bool:
    """Whether link ``name`` of the caller's network namespace is up."""
    ipr: Any
    with IPRoute() as ipr:
        links = ipr.get_links(ifname=name)
        return bool(links) and links[0].get("state") == "up"


def node_routes(ipr: Any) -> list[ipaddress.IPv4Network]:
    """Every IPv4 route of the node, of every table (policy routing counts)."""
    found = []
    for route in ipr.route("dump", family=socket.AF_INET):
        dst = route.get("dst") or "0.0.0.0"
        found.append(ipaddress.IPv4Network(f"{dst}/{route['dst_len']}", strict=False))
    return found


def mac_of(address: str) -> str:
    """0a:58 and the four bytes of ``address`` (the pods' MACs are made alike)."""
    return "0a:58:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(address).packed)


def sysctl(path: str, value: str) -> None:
    # /proc/sys/net follows the writer's network namespace: this is the
    # bridge's own setting in the namespace the bridge is in
    with open(f"/proc/sys/net/ipv4/conf/{path}", "w") as f:
        f.write(value)


def bridge_up(name: str, pod_cidr: str, service_cidr: str) -> dict[str, str]:
    """Make the bridge (or take the one that is there) and say what it is."""
    ipr: Any
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            return _existing(ipr, found[0], name, service_cidr)
        routes = node_routes(ipr)
        pods = pick_cidr(None if pod_cidr == "auto" else pod_cidr, POD_CIDRS, routes,
                         "pod CIDR")
        services = pick_cidr(None if service_cidr == "auto" else service_cidr,
                             SERVICE_CIDRS, [*routes, pods], "service CIDR")
        gateway = gateway_of(str(pods))
        ipr.link("add", ifname=name, kind="bridge", address=mac_of(gateway))
        try:
            index = _wait_for_link(ipr, name)
            ipr.addr("add", index=index, address=gateway, prefixlen=pods.prefixlen)
            sysctl(f"{name}/forwarding", "1")
            sysctl(f"{name}/route_localnet", "1")
            ipr.link("set", index=index, state="up")
            ipr.route("add", dst=str(services), oif=index, prefsrc=gateway, scope="link")
        except BaseException:
            ipr.link("del", index=ipr.link_lookup(ifname=name)[0])
            raise
        return {"bridge": name, "podCIDR": str(pods), "serviceCIDR": str(services),
                "gateway": gateway}


def _existing(ipr: Any, index: int, name: str, service_cidr: str) -> dict[str, str]:
    """A bridge of that name is there (a network whose config.json is gone):
    its address says the pod range; the route it carries, the service range."""
    addresses = ipr.get_addr(index=index, family=socket.AF_INET)
    if not addresses:
        raise NetworkError(f"bridge {name} exists but has no IPv4 address: remove it "
                           f"(ip link del {name})")
    gateway = addresses[0].get_attr("IFA_LOCAL")
    pods = ipaddress.IPv4Network(f"{gateway}/{addresses[0]['prefixlen']}", strict=False)
    services = None
    for route in ipr.route("dump", family=socket.AF_INET):
        dst = route.get("dst")
        if route.get("oif") != index or route.get("table") != 254 or route["type"] != 1:
            continue  # only the main table's unicast routes through the bridge
        if dst and ipaddress.IPv4Network(f"{dst}/{route['dst_len']}") != pods:
            services = f"{dst}/{route['dst_len']}"
    if services is None:
        services = str(pick_cidr(None if service_cidr == "auto" else service_cidr,
                                 SERVICE_CIDRS, [*node_routes(ipr), pods], "service CIDR"))
        ipr.route("add", dst=services, oif=index, prefsrc=gateway, scope="link")
    return {"bridge": name, "podCIDR": str(pods), "serviceCIDR": services, "gateway": gateway}


def _wait_for_link(ipr: Any, name: str, timeout: float = 2.0) -> int:
    """RTNL changes are not visible at once to every reader (STYLE 5.11)."""
    deadline = time.monotonic() + timeout
    while True:
        found = ipr.link_lookup(ifname=name)
        if found:
            return int(found[0])
        if time.monotonic() > deadline:
            raise NetworkError(f"bridge {name} did not appear")
        time.sleep(0.005)


def bridge_down(name: str) -> dict[str, str]:
    """Delete the bridge; its address and routes go with it. Pods' veths are
    gone already (each with its pod's network namespace)."""
    ipr: Any
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            try:
                ipr.link("del", index=found[0])
            except NetlinkError as e:
                if e.code != 19:  # ENODEV: someone else removed it just now
                    raise
    return {"bridge": name}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minipod.kernel.net")
    sub = parser.add_subparsers(dest="verb", required=True)
    up = sub.add_parser("up")
    up.add_argument("--bridge", required=True)
    up.add_argument("--pod-cidr", default="auto")
    up.add_argument("--service-cidr", default="auto")
    down = sub.add_parser("down")
    down.add_argument("--bridge", required=True)
    args = parser.parse_args(argv)
    try:
        if args.verb == "up":
            answer = bridge_up(args.bridge, args.pod_cidr, args.service_cidr)
        else:
            answer = bridge_down(args.bridge)
    except (NetworkError, NetlinkError, OSError) as e:
        print(f"{args.verb} {args.bridge}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
