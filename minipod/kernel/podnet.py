"""The node's pod network, as supervisors share it: its configuration, its
lock, and the addresses and ports it hands out.

    network/config.json      the bridge, the pod and service ranges (NetworkRecord)
    network/lock             flock: making or removing the network, claims
    network/pod-ips/<ip>     one file per pod address: "<namespace>/<name> <uid>"
    network/service-ips/<ip> one per Service's cluster IP: "<namespace>/<name>"
    network/node-ports/<n>   one per NodePort
    network/host-ports/<ip>_<proto>_<port>   one per hostPort claim: "<namespace>/<name>"

Everything lives in the state directory ($MINIPOD_ROOT, /run by default), so
it lasts exactly as long as the kernel's side does (a reboot clears both),
and a supervisor that crashed leaves its pods' addresses claimed for the one
that adopts them. An address is claimed with O_CREAT | O_EXCL: many pods
starting at once, in one supervisor or several, never get the same one.

The bridge is made (and removed) by kernel/net.py, run as a program: pyroute2
takes 150 to 300 ms and 25 MB to import, which a supervisor must not pay for
something it does once per boot. Each pod's own veth pair and addresses are
made by its pause process (csrc/pause.c --net), in C, on the pod's start path.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from minipod.api.errors import MinipodError, StartError
from minipod.api.frozen import frozen
from minipod.api.record import NetworkRecord, RecordError
from minipod.kernel.state import ensure_dir, read_json, root_dir, write_json_atomic

DEFAULT_BRIDGE = "minipod0"
# Candidates, in order, when MINIPOD_POD_CIDR / MINIPOD_SERVICE_CIDR are not
# set: the first that overlaps none of the node's routes (flannel's pod range
# and kubeadm's service range come first, as a cluster user would expect).
POD_CIDRS = tuple(f"10.{n}.0.0/16" for n in range(244, 256))
SERVICE_CIDRS = tuple(f"10.{n}.0.0/16" for n in range(96, 112))
NODE_PORTS = range(30000, 32768)  # the API server's default service-node-port-range
DNS_INDEX = 10  # kube-dns is the 10th address of the service range
CLUSTER_DOMAIN = "cluster.local"


class NetworkError(MinipodError, OSError):
    """The pod network could not be made, or a claim could not be had."""


def enabled() -> bool:
    """MINIPOD_POD_NETWORK=none gives pods loopback only (as before there was a
    network); anything else, or nothing, the bridge."""
    return os.environ.get("MINIPOD_POD_NETWORK", "bridge") != "none"


def network_dir() -> Path:
    return root_dir() / "network"


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """The network's lock, across supervisors: held to make or remove the
    network and to claim ports, for microseconds unless the network is made."""
    fd = os.open(ensure_dir(network_dir()) / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def read_config() -> NetworkRecord | None:
    try:
        return NetworkRecord.from_json(read_json(network_dir() / "config.json"),
                                       str(network_dir() / "config.json"))
    except (OSError, ValueError, RecordError):
        return None


def link_exists(name: str) -> bool:
    """One ioctl, no netlink library: is there a link of that name here?"""
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


# -- choosing the ranges ---------------------------------------------------------


def pick_cidr(wanted: str | None, candidates: tuple[str, ...],
              routes: list[ipaddress.IPv4Network], what: str) -> ipaddress.IPv4Network:
    """The range to use: ``wanted`` if it overlaps no route of the node, else
    the first candidate that overlaps none. A default route (0.0.0.0/0) is
    no reason to refuse anything: every range "overlaps" it."""
    real = [r for r in routes if r.prefixlen > 0]
    if wanted:
        try:
            network = ipaddress.IPv4Network(wanted, strict=True)
        except ValueError as e:
            raise NetworkError(f"{what} {wanted!r}: {e}") from None
        if network.prefixlen > 28:
            raise NetworkError(f"{what} {wanted}: too small (a /28 at most)")
        clash = next((r for r in real if r.overlaps(network)), None)
        if clash is not None:
            raise NetworkError(f"{what} {wanted} overlaps the node's route to {clash}")
        return network
    for text in candidates:
        network = ipaddress.IPv4Network(text)
        if not any(r.overlaps(network) for r in real):
            return network
    raise NetworkError(f"every candidate {what} overlaps a route of the node "
                       f"({', '.join(candidates)}): set one")


def gateway_of(pod_cidr: str) -> str:
    return str(ipaddress.IPv4Network(pod_cidr)[1])


def dns_ip_of(service_cidr: str) -> str:
    return str(ipaddress.IPv4Network(service_cidr)[DNS_INDEX])


# -- making and removing the network ------------------------------------------------


def ensure_network() -> NetworkRecord:
    """The network, made if it is not there (the caller holds the lock).

    The first time, kernel/net.py runs as a program to make the bridge with
    pyroute2: ~0.3 s, once per boot or after the network was removed."""
    config = read_config()
    if config is not None and link_exists(config.bridge):
        return config
    bridge = config.bridge if config else os.environ.get("MINIPOD_BRIDGE") or DEFAULT_BRIDGE
    pod_cidr = config.pod_cidr if config else os.environ.get("MINIPOD_POD_CIDR", "")
    service_cidr = (config.service_cidr if config
                    else os.environ.get("MINIPOD_SERVICE_CIDR", ""))
    made = run_net_program("up", "--bridge", bridge, "--pod-cidr", pod_cidr or "auto",
                           "--service-cidr", service_cidr or "auto")
    record = NetworkRecord(
        bridge=bridge, pod_cidr=made["podCIDR"], service_cidr=made["serviceCIDR"],
        gateway=made["gateway"], dns_ip=dns_ip_of(made["serviceCIDR"]),
        egress=config.egress if config else os.environ.get("MINIPOD_POD_EGRESS") == "masquerade",
        cluster_domain=config.cluster_domain if config
        else os.environ.get("MINIPOD_CLUSTER_DOMAIN") or CLUSTER_DOMAIN)
    write_json_atomic(ensure_dir(network_dir()) / "config.json", record.to_json())
    return record


def remove_network(config: NetworkRecord) -> None:
    """The bridge (and with it its addresses and routes) and the config."""
    if link_exists(config.bridge):
        run_net_program("down", "--bridge", config.bridge)
    for name in ("config.json", "pod-ips.next", "service-ips.next"):
        with contextlib.suppress(FileNotFoundError):
            (network_dir() / name).unlink()


def in_use() -> bool:
    """Whether any pod address or Service address is still claimed."""
    return any(claimed(kind) for kind in ("pod-ips", "service-ips"))


def run_net_program(*args: str) -> dict[str, str]:
    """kernel/net.py as a program; its JSON answer, or NetworkError with its words."""
    argv = [sys.executable, "-P", "-m", "minipod.kernel.net", *args]
    # -P and a neutral cwd: the installed minipod, never a source tree
    result = subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=60)
    if result.returncode != 0:
        said = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise NetworkError(f"pod network: {said}")
    answer: dict[str, str] = json.loads(result.stdout or "{}")
    return answer


# -- claims: addresses and ports ------------------------------------------------------


def claims_dir(kind: str) -> Path:
    return network_dir() / kind


def claimed(kind: str) -> list[str]:
    try:
        return sorted(os.listdir(claims_dir(kind)))
    except FileNotFoundError:
        return []


def claim(kind: str, name: str, owner: str) -> bool:
    """Claim ``name`` (an address, a port) for ``owner``; False if it is taken."""
    path = ensure_dir(claims_dir(kind)) / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(owner + "\n")
    return True


def owner_of(kind: str, name: str) -> str | None:
    try:
        return (claims_dir(kind) / name).read_text().strip()
    except OSError:
        return None


def release(kind: str, name: str, owner: str | None = None) -> None:
    """Give ``name`` back (only if ``owner`` still holds it, when given)."""
    if owner is not None and owner_of(kind, name) not in (owner, None):
        return
    with contextlib.suppress(FileNotFoundError):
        (claims_dir(kind) / name).unlink()


def claim_address(kind: str, cidr: str, owner: str, reserved: tuple[str, ...] = ()) -> str:
    """The next free address of ``cidr`` after the last one handed out (host-local
    IPAM's habit: an address just given back is not handed out again at once,
    so a connection to a deleted pod does not reach its successor)."""
    network = ipaddress.IPv4Network(cidr)
    hosts = network.num_addresses - 2
    hint = _read_hint(kind)
    for step in range(hosts):
        address = network[1 + (hint + step) % hosts]
        text = str(address)
        if text in reserved:
            continue
        if claim(kind, text, owner):
            _write_hint(kind, (hint + step + 1) % hosts)
            return text
    raise NetworkError(f"no free address left in {cidr} ({hosts} in use)")


def _read_hint(kind: str) -> int:
    try:
        return int((network_dir() / f"{kind}.next").read_text())
    except (OSError, ValueError):
        return 0


def _write_hint(kind: str, value: int) -> None:
    # a hint only: two supervisors racing here lose nothing but the order
    path = network_dir() / f"{kind}.next"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(str(value))
    os.rename(tmp, path)


@frozen
class PodNet:
    """A sandbox's network: its /etc files, and for pause (--net) where the
    pod goes. No address: the pod has loopback only (the network is off)."""

    resolv_conf: str
    ip: str | None = None
    gateway: str = ""
    bridge: str = ""
    hosts_entry: str = ""  # the kubelet's "<podIP>\t<hostname>" line

    def pause_args(self, veth: str) -> list[str]:
        if self.ip is None:
            return []
        return ["--net", self.bridge, veth, self.ip, self.gateway]


@frozen
class HostPort:
    """One hostPort of a pod: the node's side of it and the pod's."""

    host_ip: str  # "" means every address of the node (0.0.0.0)
    host_port: int
    protocol: str  # TCP, UDP or SCTP
    container_port: int

    @property
    def claim_name(self) -> str:
        return f"{self.host_ip or '0.0.0.0'}_{self.protocol}_{self.host_port}"

    def to_json(self) -> dict[str, object]:
        return {"hostIP": self.host_ip, "hostPort": self.host_port, "protocol": self.protocol,
                "containerPort": self.container_port}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> HostPort:
        return cls(str(data.get("hostIP", "")), int(str(data["hostPort"])),
                   str(data.get("protocol", "TCP")), int(str(data["containerPort"])))


def host_port_conflict(port: HostPort, taken: list[str]) -> str | None:
    """The claim ``port`` conflicts with, if any: the kubelet's HostPortInfo
    rule, where 0.0.0.0 conflicts with every address of the same port and
    protocol, and a given address with itself and 0.0.0.0."""
    for name in taken:
        ip, _, rest = name.partition("_")
        protocol, _, number = rest.partition("_")
        if protocol != port.protocol or number != str(port.host_port):
            continue
        mine = port.host_ip or "0.0.0.0"
        if "0.0.0.0" in (ip, mine) or ip == mine:
            return name
    return None


def claim_host_ports(ports: list[HostPort], owner: str) -> str | None:
    """Claim every port for ``owner`` (under the lock), or none of them: the
    first conflicting one, described, if any is taken."""
    taken = claimed("host-ports")
    done: list[HostPort] = []
    for port in ports:
        clash = host_port_conflict(port, taken)
        if clash is not None or not claim("host-ports", port.claim_name, owner):
            for claimed_port in done:
                release("host-ports", claimed_port.claim_name, owner)
            return f"{port.host_port}/{port.protocol}"
        taken.append(port.claim_name)
        done.append(port)
    return None


def veth_name(uid: str, attempt: int) -> str:
    """The node's end of a pod's veth pair: unique per sandbox (a replaced
    sandbox's old pair may still be going away), at most 15 characters."""
    return f"mp{uid.replace('-', '')[:9]}{attempt % 100:02d}"


def start_error(step: str, e: Exception) -> StartError:
    return StartError(step, getattr(e, "errno", 0) or 0, str(e))
