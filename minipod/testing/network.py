"""A network namespace of the test's own, for a Node with the pod network.

The pod network (a bridge, a veth pair per pod, routes, nftables rules for
Services and hostPorts) is made by the node's supervisor in the network
namespace it runs in. A test that wants it makes a NetworkNamespace and
gives it to its Node: everything is then made there, nothing on the host,
and test traffic goes to addresses inside it (the pods', the Services')
or to loopback. At the end ``problems`` says what is left in it (a link
but lo, an address, a route, an nftables table) and ``remove`` deletes it.

Made with iproute2 (`ip netns add`: a bind mount under /run/netns), so
`ip netns exec NAME ...` works on it while a test runs.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path


class NetworkNamespace:
    """A named network namespace with loopback up; a context manager that
    removes it."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"mpt-{uuid.uuid4().hex[:10]}"
        self.made = False

    @property
    def path(self) -> Path:
        return Path("/run/netns") / self.name

    def create(self) -> NetworkNamespace:
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        self.made = True
        self.run("ip", "link", "set", "lo", "up", check=True)
        return self

    def __enter__(self) -> NetworkNamespace:
        return self.create()

    def __exit__(self, *_exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        if self.made:
            subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)
            self.made = False

    def run(self, *argv: str, timeout: float = 30, check: bool = False,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """``argv`` on the host, in this namespace (nsenter --net)."""
        out = subprocess.run(["nsenter", f"--net={self.path}", *argv], capture_output=True,
                             text=True, timeout=timeout, input=input)
        if check and out.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} (in netns {self.name}) exited "
                                 f"{out.returncode}: {out.stderr.strip()}")
        return out

    def _ip_json(self, *argv: str) -> list[dict[str, object]]:
        out = self.run("ip", "-j", *argv, check=True).stdout
        found: list[dict[str, object]] = json.loads(out or "[]")
        return found

    def links(self) -> list[str]:
        return sorted(str(link["ifname"]) for link in self._ip_json("link", "show"))

    def addresses(self) -> list[str]:
        found = []
        for link in self._ip_json("addr", "show"):
            if link.get("ifname") == "lo":
                continue
            infos = link.get("addr_info")
            for info in infos if isinstance(infos, list) else []:
                found.append(f"{info['local']}/{info['prefixlen']}")
        return sorted(found)

    def routes(self) -> list[str]:
        """Every route of every table but those the kernel keeps for loopback."""
        return sorted(f"{r.get('type', 'unicast')} {r.get('dst')} dev {r.get('dev')}"
                      for r in self._ip_json("route", "show", "table", "all")
                      if r.get("dev") != "lo")

    def nft_ruleset(self) -> str:
        return self.run("nft", "list", "ruleset", check=True).stdout.strip()

    def problems(self) -> list[str]:
        """What is left in it but loopback."""
        found = []
        if self.links() != ["lo"]:
            found.append(f"links left in netns {self.name}: {self.links()}")
        if self.addresses():
            found.append(f"addresses left in netns {self.name}: {self.addresses()}")
        if self.routes():
            found.append(f"routes left in netns {self.name}: {self.routes()}")
        if self.nft_ruleset():
            found.append(f"nftables left in netns {self.name}: {self.nft_ruleset()}")
        return found


__all__ = ["NetworkNamespace"]
