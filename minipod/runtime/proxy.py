"""kube-proxy's nftables mode, for one node: Services and hostPorts as DNAT
rules in the table ``ip minipod``.

The table (made once, with the network) has a few verdict maps consulted
from the nat hooks, the same shape as kube-proxy's:

    service-ips            clusterIP . protocol . port  -> goto service-...
    service-nodeports      protocol . nodePort          -> goto service-...   (node's addresses)
    hostports              hostIP . protocol . port     -> goto hostport-...
    hostports-any          protocol . port              -> goto hostport-...  (every address)
    no-endpoint-services, no-endpoint-nodeports         -> goto reject-chain (filter hooks)

A Service port with endpoints is a chain ``service-<hash>-<ns>/<name>/<proto>/<port>``
that picks one at random (``numgen random mod N vmap``) and goes to its
``endpoint-...`` chain, which DNATs to the pod. Traffic whose source is the
endpoint itself (a pod reaching itself through its Service), or the node's
loopback (a hostPort on 127.0.0.1), is marked for masquerade, as kube-proxy
and the portmap plugin do.

Every map element carries its owner in a comment ("service/ns/name",
"pod/ns/name"), and every chain's name says it (nft 1.0.6's JSON leaves a
chain's comment out), so a supervisor that adopts a Service after a crash
reads back what is installed (nft's JSON) and changes only what differs;
another supervisor's objects are never touched. Each change is one transaction
(libnftables, ~0.2 ms), so a Service never has half its endpoints.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from minipod.api.endpoints import Endpoint
from minipod.api.frozen import frozen
from minipod.api.record import NetworkRecord
from minipod.kernel.nft import NftError

TABLE = "ip minipod"
MASQUERADE_MARK = "0x4000"  # kube-proxy's
NODE = "node"  # the owner of the table's own objects


class NftRunner(Protocol):
    def run(self, commands: str) -> str: ...
    def json(self, command: str) -> Any: ...


@dataclass
class Rules:
    """What one owner (a Service, a pod's hostPorts) wants in the table."""

    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> rules
    elements: dict[tuple[str, str], str] = field(default_factory=dict)  # (map, key) -> verdict


def base_ruleset(config: NetworkRecord) -> str:
    """The table, its maps and hooks: made once per network (nft syntax)."""
    bridge, pods, gateway = config.bridge, config.pod_cidr, config.gateway
    egress = ([f'add rule {TABLE} nat-postrouting ip saddr {pods} oifname != "{bridge}" '
               "masquerade",
               f'add rule {TABLE} filter-forward iifname "{bridge}" oifname != "{bridge}" accept']
              if config.egress else
              # no traffic of a pod leaves the node unless egress was asked for
              [f'add rule {TABLE} filter-forward iifname "{bridge}" oifname != "{bridge}" '
               "drop"])
    lines = [
        f"add table {TABLE}",
        f"add map {TABLE} service-ips {{ type ipv4_addr . inet_proto . inet_service : verdict ; }}",
        f"add map {TABLE} service-nodeports {{ type inet_proto . inet_service : verdict ; }}",
        f"add map {TABLE} no-endpoint-services "
        "{ type ipv4_addr . inet_proto . inet_service : verdict ; }",
        f"add map {TABLE} no-endpoint-nodeports {{ type inet_proto . inet_service : verdict ; }}",
        f"add map {TABLE} hostports {{ type ipv4_addr . inet_proto . inet_service : verdict ; }}",
        f"add map {TABLE} hostports-any {{ type inet_proto . inet_service : verdict ; }}",
        f"add chain {TABLE} services",
        f"add rule {TABLE} services ip daddr . meta l4proto . th dport vmap @service-ips",
        f"add rule {TABLE} services fib daddr type local ip daddr != 127.0.0.0/8 "
        "meta l4proto . th dport vmap @service-nodeports",
        f"add rule {TABLE} services ip daddr . meta l4proto . th dport vmap @hostports",
        f"add rule {TABLE} services fib daddr type local meta l4proto . th dport "
        "vmap @hostports-any",
        f"add chain {TABLE} nat-prerouting {{ type nat hook prerouting priority dstnat ; }}",
        f"add rule {TABLE} nat-prerouting jump services",
        f"add chain {TABLE} nat-output {{ type nat hook output priority -100 ; }}",
        f"add rule {TABLE} nat-output jump services",
        f"add chain {TABLE} nat-postrouting {{ type nat hook postrouting priority srcnat ; }}",
        f"add rule {TABLE} nat-postrouting meta mark & {MASQUERADE_MARK} == {MASQUERADE_MARK} "
        "masquerade",
        f"add chain {TABLE} reject-chain",
        f"add rule {TABLE} reject-chain reject",
        f"add chain {TABLE} endpoints-check",
        f"add rule {TABLE} endpoints-check ip daddr . meta l4proto . th dport "
        "vmap @no-endpoint-services",
        f"add rule {TABLE} endpoints-check fib daddr type local ip daddr != 127.0.0.0/8 "
        "meta l4proto . th dport vmap @no-endpoint-nodeports",
        f"add chain {TABLE} filter-forward {{ type filter hook forward priority filter ; }}",
        f"add rule {TABLE} filter-forward ct state new jump endpoints-check",
        f'add rule {TABLE} filter-forward iifname "{bridge}" oifname != "{bridge}" '
        "ct state established,related accept",
        *egress,
        f"add chain {TABLE} filter-input {{ type filter hook input priority filter ; }}",
        f"add rule {TABLE} filter-input ct state new jump endpoints-check",
        f"add chain {TABLE} filter-output {{ type filter hook output priority filter ; }}",
        f"add rule {TABLE} filter-output ct state new jump endpoints-check",
        # cluster DNS: the responder in the supervisors listens on the bridge
        f"add chain {TABLE} cluster-dns",
        f"add rule {TABLE} cluster-dns meta l4proto udp dnat to {gateway}:53",
        f"add rule {TABLE} cluster-dns meta l4proto tcp dnat to {gateway}:53",
        f"add element {TABLE} service-ips {{ {config.dns_ip} . udp . 53 : goto cluster-dns, "
        f"{config.dns_ip} . tcp . 53 : goto cluster-dns }}",
    ]
    return "\n".join(lines) + "\n"


def _hash(text: str) -> str:
    """kube-proxy's habit: a short base32 hash keeps names unique and short."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest())[:8].decode()


def service_chain(owner_path: str) -> str:
    return f"service-{_hash(owner_path)}-{owner_path}"


def _dnat(protocol: str, ip: str, port: int) -> tuple[str, ...]:
    return (f"ip saddr {ip} meta mark set meta mark | {MASQUERADE_MARK}",
            f"meta l4proto {protocol} dnat to {ip}:{port}")


@frozen
class ServicePortRules:
    """One port of a Service, as the proxy needs it."""

    namespace: str
    name: str
    port_key: str  # port_key() of api/endpoints.py
    protocol: str  # tcp, udp, sctp
    cluster_ip: str | None  # None: headless
    port: int
    node_port: int | None
    endpoints: tuple[Endpoint, ...]  # routed() ones


def service_rules(ports: Iterable[ServicePortRules]) -> Rules:
    rules = Rules()
    for p in ports:
        if p.cluster_ip is None:
            continue
        path = f"{p.namespace}/{p.name}/{p.protocol}/{p.port_key}"
        key = f"{p.cluster_ip} . {p.protocol} . {p.port}"
        node_key = f"{p.protocol} . {p.node_port}" if p.node_port else None
        if not p.endpoints:
            rules.elements[("no-endpoint-services", key)] = "goto reject-chain"
            if node_key:
                rules.elements[("no-endpoint-nodeports", node_key)] = "goto reject-chain"
            continue
        chain = service_chain(path)
        targets = []
        for endpoint in p.endpoints:
            name = f"endpoint-{_hash(path + endpoint.ip)}-{path}__{endpoint.ip}/{endpoint.port}"
            rules.chains[name] = _dnat(p.protocol, endpoint.ip, endpoint.port)
            targets.append(name)
        if len(targets) == 1:
            rules.chains[chain] = (f"goto {targets[0]}",)
        else:
            choices = ", ".join(f"{i} : goto {t}" for i, t in enumerate(targets))
            rules.chains[chain] = (f"numgen random mod {len(targets)} vmap {{ {choices} }}",)
        rules.elements[("service-ips", key)] = f"goto {chain}"
        if node_key:
            rules.elements[("service-nodeports", node_key)] = f"goto {chain}"
    return rules


@frozen
class HostPortRule:
    host_ip: str  # "": every address
    host_port: int
    protocol: str  # tcp, udp, sctp
    pod_ip: str
    container_port: int


def host_port_rules(namespace: str, pod: str, ports: Iterable[HostPortRule]) -> Rules:
    rules = Rules()
    for p in ports:
        path = f"{namespace}/{pod}/{p.protocol}/{p.host_ip or '0.0.0.0'}/{p.host_port}"
        chain = f"hostport-{_hash(path)}-{path}"
        # the node's own loopback as source needs masquerading: the pod could
        # not answer 127.0.0.1 (route_localnet on the bridge lets it leave)
        rules.chains[chain] = (f"ip saddr 127.0.0.0/8 meta mark set meta mark | {MASQUERADE_MARK}",
                               *_dnat(p.protocol, p.pod_ip, p.container_port))
        if p.host_ip:
            rules.elements[("hostports", f"{p.host_ip} . {p.protocol} . {p.host_port}")] = \
                f"goto {chain}"
        else:
            rules.elements[("hostports-any", f"{p.protocol} . {p.host_port}")] = f"goto {chain}"
    return rules


class Proxy:
    """The table as this supervisor knows it: what is installed, by owner."""

    def __init__(self, nft: NftRunner) -> None:
        self.nft = nft
        self.chains: dict[str, str] = {}  # name -> owner
        self.contents: dict[str, tuple[str, ...] | None] = {}  # None: not known (read back)
        self.elements: dict[tuple[str, str], tuple[str, str]] = {}  # -> (owner, verdict)

    # -- the table ----------------------------------------------------------------
    def table_exists(self) -> bool:
        try:
            self.nft.run(f"list table {TABLE}")
        except NftError:
            return False
        return True

    def ensure_table(self, config: NetworkRecord) -> None:
        """Make the table if it is not there, then read back what it holds."""
        if not self.table_exists():
            self.nft.run(base_ruleset(config))
        self.read_back()

    def delete_table(self) -> None:
        if self.table_exists():
            self.nft.run(f"delete table {TABLE}")
        self.chains.clear()
        self.contents.clear()
        self.elements.clear()

    def read_back(self) -> None:
        """The installed chains and elements, with their owners (nft's JSON)."""
        self.chains.clear()
        self.contents.clear()
        self.elements.clear()
        listing = self.nft.json(f"list table {TABLE}").get("nftables", [])
        for item in listing:
            chain = item.get("chain")
            if chain is not None:
                self.chains[chain["name"]] = owner_of_chain(chain["name"])
                self.contents[chain["name"]] = None
            found = item.get("map")
            if found is not None:
                for key, verdict in found.get("elem", []):
                    self._read_element(found["name"], key, verdict)

    def _read_element(self, map_name: str, key: Any, verdict: Any) -> None:
        owner = NODE
        if isinstance(key, dict) and "elem" in key:
            owner = key["elem"].get("comment") or NODE
            key = key["elem"]["val"]
        parts = key["concat"] if isinstance(key, dict) and "concat" in key else [key]
        text = " . ".join(str(p) for p in parts)
        jump = verdict.get("goto") or verdict.get("jump") or {}
        self.elements[(map_name, text)] = (owner, f"goto {jump.get('target', '')}")

    def owners(self) -> set[str]:
        found = set(self.chains.values()) | {o for o, _ in self.elements.values()}
        found.discard(NODE)
        return found

    # -- changes ------------------------------------------------------------------
    def install(self, owner: str, wanted: Rules) -> bool:
        """Make ``owner``'s objects what ``wanted`` says, in one transaction.
        Returns whether anything had to change."""
        old_chains = {n for n, o in self.chains.items() if o == owner}
        old_elements = {k: v for k, (o, v) in self.elements.items() if o == owner}
        commands = self._chain_commands(old_chains, wanted)
        commands += _element_commands(owner, old_elements, wanted)
        for name in sorted(old_chains - set(wanted.chains), key=_chains_last):
            commands += [f"flush chain {TABLE} {name}", f"delete chain {TABLE} {name}"]
        if not commands:
            return False
        self.nft.run("\n".join(commands) + "\n")
        for name in old_chains - set(wanted.chains):
            self.chains.pop(name, None)
            self.contents.pop(name, None)
        for name, rules in wanted.chains.items():
            self.chains[name] = owner
            self.contents[name] = rules
        for element in old_elements:
            self.elements.pop(element, None)
        for element, verdict in wanted.elements.items():
            self.elements[element] = (owner, verdict)
        return True

    def _chain_commands(self, old_chains: set[str], wanted: Rules) -> list[str]:
        """New chains first (a rule may jump to one), then the rules of those
        whose rules changed (or are not known: read back after a crash)."""
        commands = [f"add chain {TABLE} {name}" for name in wanted.chains
                    if name not in old_chains]
        for name, rules in wanted.chains.items():
            if name in old_chains and self.contents.get(name) == rules:
                continue
            if name in old_chains:
                commands.append(f"flush chain {TABLE} {name}")
            commands += [f"add rule {TABLE} {name} {rule}" for rule in rules]
        return commands

    def remove(self, owner: str) -> bool:
        return self.install(owner, Rules())


def _element_commands(owner: str, old: dict[tuple[str, str], str], wanted: Rules) -> list[str]:
    commands = [f"delete element {TABLE} {map_name} {{ {key} }}"
                for (map_name, key), verdict in old.items()
                if wanted.elements.get((map_name, key)) != verdict]
    commands += [f'add element {TABLE} {map_name} {{ {key} comment "{owner}" : {verdict} }}'
                 for (map_name, key), verdict in wanted.elements.items()
                 if old.get((map_name, key)) != verdict]
    return commands


_CHAIN_OWNERS = {"service": "service", "endpoint": "service", "hostport": "pod"}


def owner_of_chain(name: str) -> str:
    """``service-HASH-ns/name/...`` and the like -> "service/ns/name"."""
    kind, _, rest = name.partition("-")
    _, _, path = rest.partition("-")
    parts = path.split("/")
    if kind not in _CHAIN_OWNERS or len(parts) < 2:
        return NODE
    return f"{_CHAIN_OWNERS[kind]}/{parts[0]}/{parts[1]}"


def _chains_last(name: str) -> tuple[int, str]:
    """Delete the chains that jump first (service-), those jumped to last."""
    return (0 if name.startswith(("service-", "hostport-")) else 1, name)
