"""The pod network as one supervisor runs it: the node's network made when a
pod first needs it and removed when the last supervisor leaves it unused,
each pod's address and hostPorts, its resolv.conf, the nftables rules
(runtime/proxy.py) and the cluster DNS responder (runtime/dns.py).

Every pod start takes the network's lock for microseconds: to claim an
address (an O_EXCL file, kernel/podnet.py) and the pod's hostPorts, with the
kubelet's conflict rule. The address goes to pause (csrc/pause.c --net), which
makes the pod's veth pair and eth0; a hostPort becomes a DNAT rule.
MINIPOD_POD_NETWORK=none turns all of it off: pods have loopback only.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from minipod.api.dnsconfig import ResolvConf, parse_resolv_conf, pod_resolv_conf
from minipod.api.errors import StartError
from minipod.api.model import Pod
from minipod.api.record import NetworkRecord, PodNetworkRecord
from minipod.kernel import podnet
from minipod.kernel.nft import Nft, NftError
from minipod.kernel.podnet import HostPort, NetworkError, PodNet
from minipod.loop.eventloop import Loop
from minipod.runtime.dns import ClusterDNS, ServiceCatalog
from minipod.runtime.proxy import HostPortRule, Proxy, host_port_rules

log = logging.getLogger(__name__)

NODE_PORTS_REJECTED = ("Pod was rejected: Predicate NodePorts failed: node(s) didn't have "
                       "free ports for the requested pod ports")


def resolv_conf_path() -> str:
    """The node's resolv.conf (the kubelet's --resolv-conf): what Default pods
    get, and where cluster DNS forwards the names it does not know."""
    return os.environ.get("MINIPOD_RESOLV_CONF") or "/etc/resolv.conf"


def node_resolv_conf() -> ResolvConf:
    try:
        return parse_resolv_conf(Path(resolv_conf_path()).read_text())
    except OSError:
        return ResolvConf()


def pod_owner(pod: Pod) -> str:
    return f"{pod.namespace}/{pod.name}"


def pod_host_ports(pod: Pod) -> list[HostPort]:
    """Every hostPort of the pod's containers (init containers' too)."""
    return [HostPort(port.host_ip, port.host_port, port.protocol, port.container_port)
            for container in (*pod.spec.init_containers, *pod.spec.containers)
            for port in container.ports if port.host_port]


@dataclass
class Attachment:
    """What attach() gave a pod: its sandbox's network and the warnings the
    kubelet would record."""

    net: PodNet
    record: PodNetworkRecord | None
    warnings: list[tuple[str, str]] = field(default_factory=list)


class NodeNetwork:
    def __init__(self, loop: Loop, enabled: bool | None = None) -> None:
        self.loop = loop
        self.enabled = podnet.enabled() if enabled is None else enabled
        self.config: NetworkRecord | None = None
        self.nft = Nft()
        self.proxy = Proxy(self.nft)
        self.catalog = ServiceCatalog()
        self.dns: ClusterDNS | None = None

    # -- the node's network -----------------------------------------------------------
    def ready(self) -> NetworkRecord:
        """The network, made if needed; call with the lock held."""
        config = podnet.ensure_network()
        if config != self.config:  # made just now, or by another supervisor
            try:
                self.proxy.ensure_table(config)
            except NftError as e:
                raise NetworkError(f"pod network: nftables: {e}") from None
            self.config = config
        if self.dns is None:
            self.dns = ClusterDNS(self.loop, config.gateway, self.catalog,
                                  config.cluster_domain, resolv_conf=resolv_conf_path())
            try:
                self.dns.open()
            except OSError as e:  # pods still run; their names do not resolve
                log.error("cluster DNS cannot listen on %s:53: %s", config.gateway, e)
                self.dns = None
        return config

    def ensure(self) -> NetworkRecord:
        with podnet.locked():
            return self.ready()

    def close(self) -> None:
        """Stop serving DNS; remove the network if no pod and no Service of any
        supervisor still uses it."""
        if self.dns is not None:
            self.dns.close()
            self.dns = None
        if not self.enabled:
            return
        with podnet.locked():
            config = podnet.read_config()
            if config is None or podnet.in_use():
                return
            try:
                self.proxy.delete_table()
                podnet.remove_network(config)
            except (NftError, NetworkError) as e:
                log.error("could not remove the pod network: %s", e)
        self.config = None
        self.nft.close()

    # -- pods -----------------------------------------------------------------------
    def attach(self, pod: Pod, hostname: str) -> Attachment:
        """A pod's address, hostPorts and resolv.conf; StartError if it cannot
        have them (nothing is left claimed then)."""
        warnings: list[tuple[str, str]] = []
        if not self.enabled:
            conf, warnings = pod_resolv_conf(pod.spec, pod.namespace, None, "",
                                             node_resolv_conf())
            return Attachment(PodNet(conf.text()), None, warnings)
        owner = pod_owner(pod)
        ports = pod_host_ports(pod)
        with podnet.locked():
            try:
                config = self.ready()
                ip = podnet.claim_address("pod-ips", config.pod_cidr, owner,
                                          reserved=(config.gateway,))
            except NetworkError as e:
                raise StartError("pod network", e.errno or 0, str(e)) from None
            clash = podnet.claim_host_ports(ports, owner) if ports else None
            if clash is not None:
                podnet.release("pod-ips", ip, owner)
                raise StartError("admit pod", 0, f"{NODE_PORTS_REJECTED} (hostPort {clash} is "
                                 "taken)")
        record = PodNetworkRecord(ip, "", [p.to_json() for p in ports])
        try:
            self.install_host_ports(pod, record)
        except NftError as e:
            self.detach(pod, record)
            raise StartError("hostPort rules", 0, str(e)) from None
        conf, warnings = pod_resolv_conf(pod.spec, pod.namespace, config.dns_ip,
                                         config.cluster_domain, node_resolv_conf())
        hosts = f"{ip}\t{_hosts_names(pod, hostname, config.cluster_domain)}\n"
        return Attachment(PodNet(conf.text(), ip, config.gateway, config.bridge, hosts),
                          record, warnings)

    def install_host_ports(self, pod: Pod, record: PodNetworkRecord) -> None:
        ports = [HostPort.from_json(p) for p in record.host_ports]
        if ports:
            rules = [HostPortRule(p.host_ip, p.host_port, p.protocol.lower(), record.ip,
                                  p.container_port) for p in ports]
            self.proxy.install(f"pod/{pod_owner(pod)}",
                           host_port_rules(pod.namespace, pod.name, rules))

    def detach(self, pod: Pod, record: PodNetworkRecord | None) -> None:
        """Give back what attach() claimed (idempotent)."""
        if record is None:
            return
        owner = pod_owner(pod)
        if record.host_ports:
            try:
                self.proxy.remove(f"pod/{owner}")
            except NftError as e:
                log.error("could not remove the hostPort rules of %s: %s", owner, e)
        with podnet.locked():
            for port in record.host_ports:
                podnet.release("host-ports", HostPort.from_json(port).claim_name, owner)
            podnet.release("pod-ips", record.ip, owner)

    def adopt(self, pod: Pod, record: PodNetworkRecord) -> None:
        """A pod whose supervisor died keeps its address; its hostPort rules
        are put back as they should be (they outlived the supervisor)."""
        with podnet.locked():
            self.ready()
        self.install_host_ports(pod, record)


def release_orphan(namespace: str, name: str, record: PodNetworkRecord | None) -> None:
    """What a pod whose supervisor is gone held of the network, given back by
    the `minipod delete` that stopped it: its hostPort rules and its claims.
    (Its veth pair went with its network namespace.)"""
    if record is None:
        return
    owner = f"{namespace}/{name}"
    if record.host_ports:
        proxy = Proxy(Nft())
        try:
            if proxy.table_exists():
                proxy.read_back()
                proxy.remove(f"pod/{owner}")
        except NftError as e:
            log.error("could not remove the hostPort rules of %s: %s", owner, e)
    with podnet.locked():
        for port in record.host_ports:
            podnet.release("host-ports", HostPort.from_json(port).claim_name, owner)
        podnet.release("pod-ips", record.ip, owner)


def release_owner(namespace: str, name: str) -> None:
    """Every claim the pod ``namespace/name`` holds, and its hostPort rules,
    whether or not its record names them: a supervisor killed between
    attach() and the record's next write leaves them claimed (the pod's
    directory holds its name meanwhile, so no other pod has that owner)."""
    owner = f"{namespace}/{name}"
    held = [(kind, claim) for kind in ("pod-ips", "host-ports")
            for claim in podnet.claimed(kind) if podnet.owner_of(kind, claim) == owner]
    if not held:
        return
    if any(kind == "host-ports" for kind, _ in held):
        proxy = Proxy(Nft())
        try:
            if proxy.table_exists():
                proxy.read_back()
                proxy.remove(f"pod/{owner}")
        except NftError as e:
            log.error("could not remove the hostPort rules of %s: %s", owner, e)
    with podnet.locked():
        for kind, claim in held:
            podnet.release(kind, claim, owner)


def _hosts_names(pod: Pod, hostname: str, domain: str) -> str:
    """The kubelet's hosts line: the FQDN first when the pod has a subdomain."""
    if pod.spec.subdomain:
        return f"{hostname}.{pod.spec.subdomain}.{pod.namespace}.svc.{domain}\t{hostname}"
    return hostname


def in_range(address: str, cidr: str) -> bool:
    return ipaddress.IPv4Address(address) in ipaddress.IPv4Network(cidr)
