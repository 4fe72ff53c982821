"""The work of `minipod port-forward pod/NAME|deploy/NAME|svc/NAME [LOCAL:]REMOTE...`
(minipod/cli/portforward.py parses it), as
kubectl does it: listen on 127.0.0.1 and ::1 (or --address), and relay each
connection to localhost:REMOTE inside the pod's network namespace, the way
the CRI's port forwarding reaches a pod (a server bound to the pod's
loopback is reachable too; the pod network need not be on).

deploy/NAME and svc/NAME pick one pod, as kubectl does (a running, ready one
first), and svc/NAME takes REMOTE as the Service's port (number or name) and
forwards to its targetPort on that pod. One epoll loop serves every listener
and connection; the bytes go through splice(2) (kernel/relay.py). Ctrl-C
stops it; so does the pod going away ("lost connection to pod").
"""

from __future__ import annotations

import argparse
import errno
import os
import select
import signal
import socket
import sys

from minipod.api.errors import MinipodError, StateError
from minipod.api.frozen import frozen
from minipod.api.model import LabelSelector, LabelSelectorRequirement
from minipod.api.record import PodRecord, RecordError
from minipod.cli.views.output import ViewError
from minipod.cli.views.resources import resource
from minipod.kernel.proc import open_if_same
from minipod.kernel.records import (
    read_pod_record,
    read_service_record,
    read_workload_record,
)
from minipod.kernel.relay import Relay, socket_in
from minipod.kernel.state import (
    pods_dir,
    service_record_path,
    workload_record_path,
)
from minipod.loop.eventloop import Loop


@frozen
class Forward:
    local: int  # 0: any free port
    remote: int
    shown: str  # the REMOTE as given, for messages


def cmd_port_forward(args: argparse.Namespace) -> int:
    record, forwards = resolve(args.namespace, args.target, args.ports)
    addresses = listen_addresses(args.address)
    return PortForward(record, forwards, addresses).serve()


# -- which pod, which ports ----------------------------------------------------------


def resolve(namespace: str, target: str, ports: list[str]) -> tuple[PodRecord, list[Forward]]:
    word, slash, name = target.partition("/")
    if not slash:
        word, name = "pod", target
    try:
        kind = resource(word).kind  # kubectl's words, the same as every verb's
    except ViewError as e:
        raise MinipodError(str(e).removeprefix("error: ")) from None
    specs = [_parse_port(text) for text in ports]
    if kind == "Pod":
        return _pod(namespace, name), [_numeric(s) for s in specs]
    if kind == "Service":
        return _service(namespace, name, specs)
    if kind in ("Deployment", "ReplicaSet"):
        return _workload(namespace, kind, name), [_numeric(s) for s in specs]
    raise MinipodError(f"cannot attach to {resource(word).qualified}: port-forward takes "
                       "pods, deployments, replicasets and services")


def _parse_port(text: str) -> tuple[int | None, str]:
    """(local, remote) of [LOCAL:]REMOTE: local None for "REMOTE" (the same
    port), 0 for ":REMOTE" (any free port)."""
    local, colon, remote = text.rpartition(":")
    if not remote:
        raise MinipodError(f"error parsing port {text!r}: remote port is empty")
    if not colon:
        return None, remote
    if local and not local.isdigit():
        raise MinipodError(f'Error parsing local port \'{local}\': strconv.ParseUint: parsing '
                           f'"{local}": invalid syntax')
    number = int(local) if local else 0
    if number > 65535:
        raise MinipodError(f"Error parsing local port '{local}': must be 0-65535")
    return number, remote


def _numeric(spec: tuple[int | None, str]) -> Forward:
    local, remote = spec
    if not remote.isdigit() or not 0 < int(remote) <= 65535:
        raise MinipodError(f"Error parsing remote port '{remote}': must be a number "
                           "between 1 and 65535")
    return Forward(int(remote) if local is None else local, int(remote), remote)


def _pod(namespace: str, name: str) -> PodRecord:
    try:
        record = read_pod_record(pods_dir() / f"{namespace}_{name}")
    except RecordError as e:
        raise StateError(str(e)) from None
    if record is None:
        raise StateError(f'pods "{name}" not found')
    if record.phase != "Running":
        raise StateError("unable to forward port because pod is not running. Current "
                         f"status={record.phase}")
    return record


def _pods_matching(namespace: str, selector: LabelSelector) -> list[PodRecord]:
    found = []
    for directory in sorted(pods_dir().glob(f"{namespace}_*")):
        try:
            record = read_pod_record(directory)
        except RecordError:
            continue
        labels = (record.api_object.get("metadata") or {}).get("labels") or {} \
            if record else {}
        if record is not None and selector.matches(labels):
            found.append(record)
    return found


def _pick(pods: list[PodRecord], what: str) -> PodRecord:
    """kubectl's choice among a selector's pods: running and ready first, then
    the oldest."""
    running = [p for p in pods if p.phase == "Running"]
    if not running:
        raise StateError(f"no running pod found for {what}" if pods
                         else f"no pods found for {what}")
    def ready(p: PodRecord) -> bool:
        done, total = p.ready.split("/") if "/" in p.ready else ("0", "1")
        return done == total

    return sorted(running, key=lambda p: (not ready(p), p.created, p.name))[0]


def _workload(namespace: str, kind: str, name: str) -> PodRecord:
    record = read_workload_record(workload_record_path(namespace, kind, name))
    if record is None:
        raise StateError(f'{kind.lower()}s.apps "{name}" not found')
    selector = LabelSelector(
        dict(record.selector.get("matchLabels") or {}),
        tuple(LabelSelectorRequirement(r["key"], r["operator"], tuple(r.get("values") or ()))
              for r in record.selector.get("matchExpressions") or ()))
    return _pick(_pods_matching(namespace, selector), f"{kind.lower()}/{name}")


def _service(namespace: str, name: str, specs: list[tuple[int | None, str]]
             ) -> tuple[PodRecord, list[Forward]]:
    try:
        service = read_service_record(service_record_path(namespace, name))
    except RecordError as e:
        raise StateError(str(e)) from None
    if service is None:
        raise StateError(f'services "{name}" not found')
    if not service.selector:
        raise StateError(f"invalid service '{name}': Service is defined without a selector")
    pod = _pick(_pods_matching(namespace, LabelSelector(dict(service.selector))),
                f"service/{name}")
    forwards = []
    for local, remote in specs:
        port = next((p for p in service.ports
                     if str(p.port) == remote or (p.name and p.name == remote)), None)
        if port is None:
            raise StateError(f"Service {name} does not have a service port {remote}")
        target = port.target_port or port.port
        if isinstance(target, str):  # a container port's name, on the chosen pod
            target = _container_port(pod, target, port.protocol, name)
        forwards.append(Forward(port.port if local is None else local, target, remote))
    return pod, forwards


def _container_port(pod: PodRecord, name: str, protocol: str, service: str) -> int:
    for container in (pod.api_object.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    raise StateError(f"Pod '{pod.name}' does not have a named port '{name}' (Service "
                     f"{service})")


def listen_addresses(text: str) -> list[str]:
    found: list[str] = []
    for item in (a.strip() for a in text.split(",")):
        if item == "localhost":
            found += ["127.0.0.1", "::1"]
        elif item:
            try:
                socket.inet_pton(socket.AF_INET6 if ":" in item else socket.AF_INET, item)
            except OSError:
                raise MinipodError(f"{item} is not a valid IP") from None
            found.append(item)
    return list(dict.fromkeys(found))


# -- serving ------------------------------------------------------------------------


class PortForward:
    def __init__(self, pod: PodRecord, forwards: list[Forward], addresses: list[str]) -> None:
        self.pod = pod
        self.forwards = forwards
        self.addresses = addresses
        self.loop = Loop()
        self.listeners: list[tuple[socket.socket, Forward]] = []
        self.relays: set[Relay] = set()
        self.pending: dict[int, socket.socket] = {}
        self.netns = -1
        self.pause = -1
        self.done = False
        self.status = 0

    def serve(self) -> int:
        if self.pod.pause.pid is None or (pause := open_if_same(self.pod.pause)) is None:
            raise StateError("lost connection to pod")
        self.pause = pause
        try:
            self.netns = os.open(f"/proc/{self.pod.pause.pid}/ns/net",
                                 os.O_RDONLY | os.O_CLOEXEC)
            self._listen()
            self.loop.add_signal_handler(signal.SIGINT, self.stop)
            self.loop.add_signal_handler(signal.SIGTERM, self.stop)
            self.loop.register(self.pause, lambda _e: self.lost())
            self.loop.run_until(lambda: self.done)
        finally:
            self.close()
        return self.status

    def _listen(self) -> None:
        for forward in self.forwards:
            port = forward.local
            bound = 0
            for address in self.addresses:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK
                                     | socket.SOCK_CLOEXEC)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    sock.bind((address, port))
                except OSError as e:
                    sock.close()
                    if e.errno == errno.EADDRNOTAVAIL and address == "::1":
                        continue  # no IPv6 loopback here: kubectl goes on without it
                    raise MinipodError(f"unable to listen on port {port or forward.shown}: "
                                       f"Listeners failed to create with the following "
                                       f"errors: [unable to create listener: Error listen "
                                       f"tcp{6 if family == socket.AF_INET6 else 4} "
                                       f"{_hostport(address, port)}: bind: {e.strerror}]") \
                        from None
                sock.listen(128)
                port = sock.getsockname()[1]  # a port picked for ":REMOTE" is kept for ::1
                shown = f"[{address}]" if ":" in address else address
                print(f"Forwarding from {shown}:{port} -> {forward.remote}", flush=True)
                self.listeners.append((sock, Forward(port, forward.remote, forward.shown)))
                self._watch_listener(sock, forward)
                bound += 1
            if not bound:
                raise MinipodError(f"unable to listen on any of the requested ports: "
                                   f"[{forward.shown}]")

    def _watch_listener(self, sock: socket.socket, forward: Forward) -> None:
        def readable(_events: int) -> None:
            self._accept(sock, forward)

        self.loop.register(sock.fileno(), readable)

    def _accept(self, listener: socket.socket, forward: Forward) -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.setblocking(False)
        print(f"Handling connection for {listener.getsockname()[1]}", flush=True)
        self._dial(conn, forward, [socket.AF_INET, socket.AF_INET6], [])

    def _dial(self, conn: socket.socket, forward: Forward, families: list[int],
              failures: list[str]) -> None:
        """localhost:REMOTE in the pod: 127.0.0.1, then ::1 (containerd's order)."""
        if not families:
            self._failed(conn, forward, failures)
            return
        family, rest = families[0], families[1:]
        address = "127.0.0.1" if family == socket.AF_INET else "::1"
        try:
            upstream = socket_in(self.netns, family)
        except OSError as e:
            self._dial(conn, forward, rest, [*failures, f"socket: {e.strerror}"])
            return
        error = upstream.connect_ex((address, forward.remote))
        if error not in (0, errno.EINPROGRESS):
            upstream.close()
            self._dial(conn, forward, rest, [*failures, _dial_error(family, address,
                                                                     forward.remote, error)])
            return
        fd = upstream.fileno()
        self.pending[fd] = upstream

        def connected(_events: int) -> None:
            self.loop.unregister(fd)
            self.pending.pop(fd, None)
            result = upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if result:
                upstream.close()
                self._dial(conn, forward, rest,
                           [*failures, _dial_error(family, address, forward.remote, result)])
                return
            self.relays.add(Relay(self.loop, conn, upstream, self.relays.discard))

        self.loop.register(fd, connected, select.EPOLLOUT)

    def _failed(self, conn: socket.socket, forward: Forward, failures: list[str]) -> None:
        conn.close()
        print(f"E an error occurred forwarding {forward.local} -> {forward.remote}: error "
              f"forwarding port {forward.remote} to pod {self.pod.name}, uid {self.pod.uid}: "
              f"failed to connect to localhost:{forward.remote} inside the pod's network "
              f"namespace: {' '.join(failures)}", file=sys.stderr, flush=True)

    def lost(self) -> None:
        print("error: lost connection to pod", file=sys.stderr, flush=True)
        self.status = 1
        self.done = True

    def stop(self) -> None:
        self.done = True

    def close(self) -> None:
        for relay in list(self.relays):
            relay.close()
        for fd, sock in list(self.pending.items()):
            self.loop.unregister(fd)
            sock.close()
        for sock, _ in self.listeners:
            self.loop.unregister(sock.fileno())
            sock.close()
        self.listeners.clear()
        for fd in (self.netns, self.pause):
            if fd >= 0:
                if fd == self.pause:
                    self.loop.unregister(fd)
                os.close(fd)
        self.netns = self.pause = -1
        self.loop.close()


def _dial_error(family: int, address: str, port: int, error: int) -> str:
    net = "tcp4" if family == socket.AF_INET else "tcp6"
    shown = address if family == socket.AF_INET else f"[{address}]"
    return (f"{'IPv4' if family == socket.AF_INET else 'IPv6'}: dial {net} {shown}:{port}: "
            f"connect: {os.strerror(error).lower()}")


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


__all__ = ["PortForward", "cmd_port_forward", "listen_addresses", "resolve"]
