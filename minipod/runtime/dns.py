"""Cluster DNS: a small responder in the supervisor's loop, on dnslib.

Pods' resolv.conf names the cluster DNS address (the 10th of the service
range, as kube-dns's); the table's cluster-dns chain DNATs it to the bridge's
address, port 53, where every supervisor with the network listens
(SO_REUSEPORT, so several can). They answer alike: the Services they know
are the records on disk, of every supervisor (ServiceCatalog).

- ``<svc>.<ns>.svc.<domain>``: A, the cluster IP (a headless Service: the
  addresses of its ready endpoints); SRV ``_<port>._<proto>.<svc>...`` for
  named ports; ``<a-b-c-d>.<ns>.pod.<domain>``: A a.b.c.d (CoreDNS's "pods
  insecure"). TTL 5 s, CoreDNS's. Any other name in the cluster domain:
  NXDOMAIN, with the zone's SOA, authoritatively.
- Any other name is forwarded over UDP to the node's resolvers (the
  kubelet's --resolv-conf, MINIPOD_RESOLV_CONF), without ever blocking the
  loop: the query goes out under a new id, the answer comes back through
  epoll, and a resolver silent for 2 s is replaced by the next (SERVFAIL
  when none is left).
- Queries come over UDP and TCP (one query per TCP connection is enough
  for the stub resolvers of glibc, musl and busybox).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE, RR, SOA, SRV, A, DNSLabel, DNSRecord

from minipod.api.endpoints import Endpoint, routed
from minipod.api.record import RecordError, ServiceRecord
from minipod.kernel.records import read_endpoints_record, read_service_record
from minipod.kernel.state import (
    endpoints_record_path,
    services_dir,
)
from minipod.loop.eventloop import Deadline, Loop

log = logging.getLogger(__name__)

TTL = 5  # seconds, CoreDNS's kubernetes plugin
FORWARD_TIMEOUT = 2.0  # seconds per upstream resolver
MAX_PENDING = 4096  # forwarded queries in flight, at most


class ServiceCatalog:
    """Every Service of the node, from the records of every supervisor, read
    again only when the services directory changed."""

    def __init__(self) -> None:
        self._stamp: int | None = None
        self._records: dict[str, ServiceRecord] = {}

    def records(self) -> dict[str, ServiceRecord]:
        directory = services_dir()
        try:
            stamp = os.stat(directory).st_mtime_ns
        except FileNotFoundError:
            self._stamp, self._records = None, {}
            return self._records
        if stamp != self._stamp:
            found: dict[str, ServiceRecord] = {}
            for entry in sorted(os.scandir(directory), key=lambda e: e.name):
                if not entry.name.endswith(".json"):
                    continue
                try:
                    record = read_service_record(directory / entry.name)
                except RecordError as e:
                    log.error("%s", e)
                    continue
                if record is not None:
                    found[record.key] = record
            self._stamp, self._records = stamp, found
        return self._records

    def lookup(self, namespace: str, name: str) -> ServiceRecord | None:
        return self.records().get(f"{namespace}/{name}")

    def in_namespace(self, namespace: str) -> list[ServiceRecord]:
        return [r for r in self.records().values() if r.namespace == namespace]

    def endpoint_ips(self, namespace: str, name: str) -> list[str]:
        """The addresses a headless Service's name resolves to: its routed
        endpoints' (of any port), each once."""
        try:
            record = read_endpoints_record(endpoints_record_path(namespace, name))
        except RecordError:
            return []
        if record is None:
            return []
        ips: dict[str, None] = {}
        for found in record.ports.values():
            for endpoint in routed([Endpoint.from_json(e) for e in found]):
                ips[endpoint.ip] = None
        return list(ips)


def upstream_servers(path: str, avoid: set[str]) -> list[str]:
    """The node's nameservers (IPv4 and IPv6 alike), but never ourselves."""
    try:
        text = open(path).read()  # noqa: SIM115 - read whole, closed by refcount
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver" and fields[1] not in avoid:
            try:
                ipaddress.ip_address(fields[1])
            except ValueError:
                continue
            found.append(fields[1])
    return found


Send = Callable[[bytes], None]


@dataclass
class _Forward:
    query: bytes  # as the client sent it
    client_id: int
    send: Send
    servers: list[str]
    timer: Deadline | None = None
    tried: int = 0
    ids: list[int] = field(default_factory=list)


class ClusterDNS:
    def __init__(self, loop: Loop, address: str, catalog: ServiceCatalog, domain: str, *,
                 resolv_conf: str, port: int = 53) -> None:
        self.loop = loop
        self.address, self.port = address, port
        self.catalog = catalog
        self.domain = DNSLabel(domain.strip(".") + ".")
        self.resolv_conf = resolv_conf
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._upstream: dict[int, socket.socket] = {}  # family -> our socket
        self._pending: dict[int, _Forward] = {}
        self._conns: dict[int, socket.socket] = {}

    # -- sockets --------------------------------------------------------------------
    def open(self) -> None:
        udp = self._socket(socket.SOCK_DGRAM)
        tcp = self._socket(socket.SOCK_STREAM)
        tcp.listen(64)
        self._udp, self._tcp = udp, tcp
        self.loop.register(udp.fileno(), self._on_udp)
        self.loop.register(tcp.fileno(), self._on_accept)

    def _socket(self, kind: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # every supervisor of the node listens here, and answers alike
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self.address, self.port))
        except OSError:
            sock.close()
            raise
        return sock

    def close(self) -> None:
        for forward in self._pending.values():
            if forward.timer is not None:
                forward.timer.cancel()
        self._pending.clear()
        for sock in [self._udp, self._tcp, *self._upstream.values(), *self._conns.values()]:
            if sock is not None:
                self.loop.unregister(sock.fileno())
                sock.close()
        self._udp = self._tcp = None
        self._upstream.clear()
        self._conns.clear()

    def _on_udp(self, _events: int) -> None:
        assert self._udp is not None
        udp = self._udp
        while True:
            try:
                data, client = udp.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return

            def send(reply: bytes, client: tuple[str, int] = client) -> None:
                with contextlib.suppress(OSError):  # a client gone is no error of ours
                    udp.sendto(reply, client)

            self.handle(data, send)

    def _on_accept(self, _events: int) -> None:
        assert self._tcp is not None
        try:
            conn, _ = self._tcp.accept()
        except OSError:
            return
        conn.setblocking(False)
        buffer = bytearray()
        fd = conn.fileno()
        self._conns[fd] = conn

        def done() -> None:
            if self._conns.pop(fd, None) is not None:
                self.loop.unregister(fd)
                conn.close()

        def send(reply: bytes) -> None:
            with contextlib.suppress(OSError):
                conn.setblocking(True)
                conn.settimeout(1.0)
                conn.sendall(struct.pack("!H", len(reply)) + reply)
            done()

        def readable(_events: int) -> None:
            try:
                data = conn.recv(65537)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            buffer.extend(data)
            if len(buffer) >= 2 and len(buffer) >= 2 + struct.unpack("!H", buffer[:2])[0]:
                size = struct.unpack("!H", buffer[:2])[0]
                self.loop.unregister(fd)
                self.handle(bytes(buffer[2:2 + size]), send)
            elif not data:
                done()

        self.loop.register(fd, readable)

    # -- answering ------------------------------------------------------------------
    def handle(self, data: bytes, send: Send) -> None:
        try:
            query = DNSRecord.parse(data)
        except Exception:  # dnslib raises its own DNSError and struct/index errors
            if len(data) >= 2:
                send(data[:2] + b"\x81\x01" + b"\x00" * 8)  # FORMERR, no sections
            return
        if not query.questions:
            reply = query.reply()
            reply.header.rcode = RCODE.FORMERR
            send(reply.pack())
            return
        reply = self.answer(query)
        if reply is not None:
            send(reply.pack())
        else:
            self.forward(data, query.header.id, send)

    def answer(self, query: DNSRecord) -> DNSRecord | None:
        """The answer for a name of the cluster domain; None for any other name."""
        question = query.q
        name = DNSLabel(str(question.qname).lower())
        if not name.matchSuffix(self.domain):
            return None
        reply = query.reply(ra=1, aa=1)
        labels = [label.decode() for label in name.stripSuffix(self.domain).label]
        records = self._records(labels, question.qtype)
        if records is None:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self._soa())
        else:
            for record in records:
                reply.add_answer(record)
            if not records:  # the name exists, not with that type
                reply.add_auth(self._soa())
        return reply

    def _records(self, labels: list[str], qtype: int) -> list[RR] | None:
        """The answers for ``labels`` (the name less the cluster domain); None
        when the name does not exist."""
        fqdn = ".".join([*labels, str(self.domain).rstrip(".")]) + "."
        if len(labels) == 3 and labels[2] == "pod":  # a-b-c-d.<ns>.pod
            try:
                address = ipaddress.IPv4Address(labels[0].replace("-", "."))
            except ValueError:
                return None
            return [RR(fqdn, QTYPE.A, rdata=A(str(address)), ttl=TTL)] if qtype in (
                QTYPE.A, QTYPE.ANY) else []
        if len(labels) == 3 and labels[2] == "svc":  # <svc>.<ns>.svc
            service = self.catalog.lookup(labels[1], labels[0])
            if service is None:
                return None
            if qtype not in (QTYPE.A, QTYPE.ANY):
                return []
            if service.cluster_ip == "None":
                ips = self.catalog.endpoint_ips(service.namespace, service.name)
            else:
                ips = [service.cluster_ip]
            return [RR(fqdn, QTYPE.A, rdata=A(ip), ttl=TTL) for ip in ips]
        if len(labels) == 5 and labels[4] == "svc" and labels[0].startswith("_") \
                and labels[1].startswith("_"):  # _<port>._<proto>.<svc>.<ns>.svc
            service = self.catalog.lookup(labels[3], labels[2])
            if service is None:
                return None
            target = ".".join([*labels[2:], str(self.domain).rstrip(".")]) + "."
            ports = [p for p in service.ports if p.name == labels[0][1:]
                     and p.protocol.lower() == labels[1][1:]]
            if not ports:
                return None
            if qtype not in (QTYPE.SRV, QTYPE.ANY):
                return []
            return [RR(fqdn, QTYPE.SRV, rdata=SRV(0, 100, p.port, target), ttl=TTL)
                    for p in ports]
        return None

    def _soa(self) -> RR:
        zone = str(self.domain)
        return RR(zone, QTYPE.SOA, ttl=TTL,
                  rdata=SOA(f"ns.dns.{zone}", f"hostmaster.{zone}",
                            (1, 7200, 1800, 86400, TTL)))

    # -- forwarding -----------------------------------------------------------------
    def forward(self, data: bytes, client_id: int, send: Send) -> None:
        servers = upstream_servers(self.resolv_conf, {self.address})
        if not servers or len(self._pending) >= MAX_PENDING:
            send(_servfail(data))
            return
        forward = _Forward(data, client_id, send, servers)
        self._send_upstream(forward)

    def _send_upstream(self, forward: _Forward) -> None:
        if forward.tried >= len(forward.servers):
            for old in forward.ids:
                self._pending.pop(old, None)
            forward.send(_servfail(forward.query))
            return
        server = forward.servers[forward.tried]
        forward.tried += 1
        new_id = random.randrange(1 << 16)
        while new_id in self._pending:
            new_id = random.randrange(1 << 16)
        forward.ids.append(new_id)
        self._pending[new_id] = forward
        family = socket.AF_INET6 if ":" in server else socket.AF_INET
        try:
            self._upstream_socket(family).sendto(struct.pack("!H", new_id) + forward.query[2:],
                                                 (server, 53))
        except OSError:
            self._send_upstream(forward)  # unreachable: the next one
            return
        if forward.timer is not None:
            forward.timer.cancel()
        forward.timer = self.loop.call_later(FORWARD_TIMEOUT,
                                             lambda: self._send_upstream(forward))

    def _upstream_socket(self, family: int) -> socket.socket:
        sock = self._upstream.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK
                                 | socket.SOCK_CLOEXEC)
            self._upstream[family] = sock

            def readable(_events: int, sock: socket.socket = sock) -> None:
                self._on_upstream(sock)

            self.loop.register(sock.fileno(), readable)
        return sock

    def _on_upstream(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(data) < 12:
                continue
            forward = self._pending.get(struct.unpack("!H", data[:2])[0])
            if forward is None:
                continue  # late, or not ours
            for old in forward.ids:
                self._pending.pop(old, None)
            if forward.timer is not None:
                forward.timer.cancel()
            forward.send(struct.pack("!H", forward.client_id) + data[2:])


def _servfail(query: bytes) -> bytes:
    try:
        reply = DNSRecord.parse(query).reply()
        reply.header.rcode = RCODE.SERVFAIL
        packed: bytes = reply.pack()
        return packed
    except Exception:  # an unparsable query was answered FORMERR before
        return query[:2] + b"\x81\x82" + b"\x00" * 8


