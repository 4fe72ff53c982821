"""Services inside the supervisor: the endpoints controller and kube-proxy
of one node.

A Service applied here gets its cluster IP and node ports (claimed once, kept
until it is deleted), its record (services/, read by `get services`, cluster
DNS and the Service variables of every supervisor), and the nftables rules
that send its traffic to its endpoints: the ready pods of this supervisor
that its selector matches (api/endpoints.py). Whenever a pod changes
(a container exits, a readiness probe turns, a pod is deleted or replaced),
the supervisor pokes this controller; on the next turn of the loop it works
the endpoints out again, and a Service whose endpoints changed gets its new
rules in one nftables transaction and its endpoints record rewritten. So a
pod that dies leaves its Services within the turn that hears of its exit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from minipod.api.endpoints import Endpoint, PodView, endpoints, port_key, routed
from minipod.api.errors import FieldError, MinipodError, SpecError
from minipod.api.manifest import parse_objects
from minipod.api.model import Service, ServicePort
from minipod.api.record import (
    EndpointsRecord,
    ServicePortRecord,
    ServiceRecord,
    SupervisorRef,
)
from minipod.api.serviceenv import service_env
from minipod.api.servicespec import NODE_PORT_MAX, NODE_PORT_MIN
from minipod.api.status import rfc3339
from minipod.kernel import podnet
from minipod.kernel.nft import NftError
from minipod.kernel.state import (
    endpoints_dir,
    endpoints_record_path,
    ensure_dir,
    service_record_path,
    services_dir,
    write_json_atomic,
)
from minipod.loop.eventloop import Deadline, Loop
from minipod.runtime.network import NodeNetwork
from minipod.runtime.pod import PodRunner
from minipod.runtime.proxy import ServicePortRules, service_rules

log = logging.getLogger(__name__)

KUBERNETES_IP_INDEX = 1  # the "kubernetes" Service's address in a cluster: never handed out


class ServiceHost(Protocol):
    loop: Loop
    pods: dict[str, PodRunner]

    def identity(self) -> SupervisorRef: ...


@dataclasses.dataclass
class ServiceState:
    service: Service
    cluster_ip: str  # "None" when headless
    node_ports: dict[str, int]  # port_key -> node port
    created: float
    found: dict[str, list[Endpoint]] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.service.namespace}/{self.service.name}"

    @property
    def owner(self) -> str:
        return f"service/{self.key}"


def _state(view: PodView) -> tuple[object, ...]:
    """What a pod's endpoints depend on; first, whether it can take traffic."""
    routable = view.ip is not None and view.ready and not view.terminating and not view.finished
    return (routable, view.ip, view.ready, view.terminating, view.finished)


def pod_view(runner: PodRunner) -> PodView:
    """What the endpoints need of a running pod."""
    alive = runner.sandbox is not None and runner.sandbox.pause.pidfd >= 0
    ready = runner.initialized and bool(runner.apps) and all(r.ready for r in runner.apps) \
        and all(r.ready for r in runner.inits if r.sidecar)
    ports = tuple(p for r in runner.runs for p in r.spec.ports)
    return PodView(runner.pod.name, runner.pod.namespace, runner.pod.labels,
                   runner.net.ip if runner.net is not None and alive else None,
                   ready and alive, runner.terminating, runner.final_phase is not None, ports)


class ServiceController:
    def __init__(self, sup: ServiceHost, network: NodeNetwork) -> None:
        self.sup = sup
        self.network = network
        self.services: dict[str, ServiceState] = {}
        self._pending: Deadline | None = None
        self._seen: dict[str, tuple[object, ...]] = {}  # pod key -> _state(), last seen

    # -- apply and delete -------------------------------------------------------------
    def apply(self, services: list[Service]) -> list[str]:
        """Create or update each Service; kubectl's lines. SpecError (nothing
        changed for that Service) for what the API server's allocators refuse."""
        if services and not self.network.enabled:
            raise SpecError(f"service/{services[0].name}: Services need the pod network, "
                            "which is off (MINIPOD_POD_NETWORK=none)")
        said = []
        for service in services:
            key = f"{service.namespace}/{service.name}"
            old = self.services.get(key)
            if old is not None and _same(old.service, service):
                said.append(f"service/{service.name} unchanged")  # kubectl apply's word
                continue
            self._check_free(service, old)
            state = self._allocate(service, old)
            self.services[key] = state
            self._write_record(state)
            self._sync_one(state, force=True)
            said.append(f"service/{service.name} {'configured' if old else 'created'}")
        return said

    def _check_free(self, service: Service, old: ServiceState | None) -> None:
        """A Service of that name that another supervisor runs is refused."""
        if old is not None:
            return
        path = service_record_path(service.namespace, service.name)
        if path.exists():
            raise SpecError(f'services "{service.name}" already exists (another supervisor '
                            f"serves it; minipod delete service {service.name} -n "
                            f"{service.namespace})", source=service.source)

    def _allocate(self, service: Service, old: ServiceState | None) -> ServiceState:
        """The cluster IP and node ports: kept from ``old``, asked for, or handed out."""
        owner = f"{service.namespace}/{service.name}"
        errors: list[FieldError] = []
        if old is not None and service.cluster_ip and service.cluster_ip != old.cluster_ip:
            errors.append(FieldError("spec.clusterIP", f'Invalid value: "{service.cluster_ip}":'
                                     " field is immutable"))
        if old is not None:
            cluster_ip, claimed_ip = old.cluster_ip, None
        else:
            cluster_ip, claimed_ip = self._cluster_ip(service, owner, errors)
        node_ports, claimed_ports = self._node_ports(service, old, owner, errors)
        if errors:
            if claimed_ip:
                podnet.release("service-ips", claimed_ip, owner)
            for port in claimed_ports:
                podnet.release("node-ports", str(port), owner)
            raise SpecError(errors, source=service.source)
        if old is not None:  # node ports the new spec dropped
            for key, port in old.node_ports.items():
                if node_ports.get(key) != port and port not in node_ports.values():
                    podnet.release("node-ports", str(port), owner)
        return ServiceState(service, cluster_ip, node_ports,
                            old.created if old else time.time(), old.found if old else {})

    def _cluster_ip(self, service: Service, owner: str, errors: list[FieldError]
                    ) -> tuple[str, str | None]:
        """(the cluster IP, the one claimed now if any)."""
        if service.headless:
            return "None", None
        config = self.network.ensure()
        if service.cluster_ip:
            error = self._claim_ip(service.cluster_ip, config.service_cidr, config.dns_ip,
                                   owner)
            if error:
                errors.append(FieldError("spec.clusterIPs", f'Invalid value: ["'
                                         f'{service.cluster_ip}"]: failed to allocate IP '
                                         f"{service.cluster_ip}: {error}"))
                return service.cluster_ip, None
            return service.cluster_ip, service.cluster_ip
        reserved = (str(ipaddress.IPv4Network(config.service_cidr)[KUBERNETES_IP_INDEX]),
                    config.dns_ip)
        try:
            claimed = podnet.claim_address("service-ips", config.service_cidr, owner, reserved)
        except podnet.NetworkError as e:
            errors.append(FieldError("spec.clusterIPs", str(e)))
            return "", None
        return claimed, claimed

    @staticmethod
    def _claim_ip(address: str, cidr: str, dns_ip: str, owner: str) -> str | None:
        network = ipaddress.IPv4Network(cidr)
        if ipaddress.IPv4Address(address) not in network or address in (
                str(network.network_address), str(network.broadcast_address)):
            return (f"provided IP is not in the valid range. The range of valid IPs is "
                    f"{cidr}")
        if address == dns_ip or not podnet.claim("service-ips", address, owner):
            return "provided IP is already allocated"
        return None

    def _node_ports(self, service: Service, old: ServiceState | None, owner: str,
                    errors: list[FieldError]) -> tuple[dict[str, int], list[int]]:
        if service.type != "NodePort":
            return {}, []
        kept = old.node_ports if old else {}
        result: dict[str, int] = {}
        claimed: list[int] = []
        with podnet.locked():
            for index, port in enumerate(service.ports):
                key = port_key(port)
                wanted = port.node_port or kept.get(key)
                if wanted is not None and wanted in kept.values():
                    result[key] = wanted  # ours already
                    continue
                if wanted is not None:
                    if podnet.claim("node-ports", str(wanted), owner):
                        result[key] = wanted
                        claimed.append(wanted)
                    else:
                        errors.append(FieldError(f"spec.ports[{index}].nodePort",
                                                 f"Invalid value: {wanted}: provided port is "
                                                 "already allocated"))
                    continue
                found = self._free_node_port(owner)
                if found is None:
                    errors.append(FieldError(f"spec.ports[{index}].nodePort",
                                             "no free node port left"))
                    continue
                result[key] = found
                claimed.append(found)
        return result, claimed

    @staticmethod
    def _free_node_port(owner: str) -> int | None:
        span = NODE_PORT_MAX - NODE_PORT_MIN + 1
        start = int(time.monotonic_ns() // 1000) % span  # the API server starts at random
        for step in range(span):
            port = NODE_PORT_MIN + (start + step) % span
            if podnet.claim("node-ports", str(port), owner):
                return port
        return None

    def set_metadata(self, key: str, labels: dict[str, str] | None,
                     annotations: dict[str, str] | None) -> bool:
        """`label` and `annotate`: the Service's new labels or annotations, in
        its record (its selector, addresses and endpoints are not touched)."""
        state = self.services.get(key)
        if state is None:
            return False
        service = state.service
        state.service = dataclasses.replace(
            service, labels=service.labels if labels is None else dict(labels),
            annotations=service.annotations if annotations is None else dict(annotations))
        self._write_record(state)
        return True

    def delete(self, key: str) -> bool:
        state = self.services.pop(key, None)
        if state is None:
            return False
        remove_service(state.service.namespace, state.service.name, self.network.proxy)
        return True

    def delete_all(self) -> None:
        for key in list(self.services):
            self.delete(key)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    # -- adoption ---------------------------------------------------------------------
    def adopt(self, record: ServiceRecord) -> None:
        """A Service whose supervisor died: its rules kept working meanwhile;
        its endpoints are this supervisor's pods from now on."""
        manifest = parse_objects(json.dumps(record.manifest), "service record")
        [service] = manifest.services
        self.network.ensure()
        node_ports = {p.name or str(p.port): p.node_port for p in record.ports
                      if p.node_port is not None}
        state = ServiceState(service, record.cluster_ip, node_ports, record.created)
        self.services[state.key] = state
        self._write_record(state)
        self._sync_one(state, force=True)

    # -- endpoints --------------------------------------------------------------------
    def poke(self) -> None:
        """Work the endpoints out again on the next turn (pod changes come in bursts)."""
        if self._pending is None and self.services:
            self._pending = self.sup.loop.call_later(0, self._sync)

    def pod_changed(self, runner: PodRunner) -> None:
        """A pod that could take traffic and no longer can (its server died, its
        readiness probe failed) leaves its Services now, in this turn, before
        whatever its change leads to (a restart takes milliseconds); any other
        change waits for the next turn, with the others of this one."""
        if not self.services:
            return
        now = _state(pod_view(runner))
        was = self._seen.get(runner.key)
        if was == now:
            return  # nothing an endpoint depends on changed (a probe count, a log line)
        if was is not None and was[0] and not now[0]:
            if self._pending is not None:
                self._pending.cancel()
            self._sync()
        else:
            self._seen[runner.key] = now
            self.poke()

    def pod_gone(self, key: str) -> None:
        self._seen.pop(key, None)
        self.poke()

    def _sync(self, leaving: str | None = None) -> None:
        self._pending = None
        views = []
        for key, runner in self.sup.pods.items():
            found = pod_view(runner)
            if key == leaving:
                found = dataclasses.replace(found, terminating=True)
            self._seen[key] = _state(found)
            views.append(found)
        for state in list(self.services.values()):
            self._sync_one(state, views)

    def sync_now(self, leaving: str) -> None:
        """Work the endpoints out now, with the pod ``leaving`` (a key)
        terminating: it is about to be deleted."""
        if self.services:
            if self._pending is not None:
                self._pending.cancel()
            self._sync(leaving)

    def _sync_one(self, state: ServiceState, views: list[PodView] | None = None,
                  force: bool = False) -> None:
        if views is None:
            views = [pod_view(r) for r in self.sup.pods.values()]
        found = endpoints(state.service, views)
        if found == state.found and not force:
            return
        state.found = found
        try:
            self.network.proxy.install(state.owner, service_rules(self._port_rules(state)))
        except NftError as e:  # the old rules stay: better stale than none
            log.error("service %s: nftables: %s", state.key, e)
        self._write_endpoints(state)

    def _port_rules(self, state: ServiceState) -> list[ServicePortRules]:
        service = state.service
        cluster_ip = None if state.cluster_ip == "None" else state.cluster_ip
        return [ServicePortRules(service.namespace, service.name, port_key(p),
                                 p.protocol.lower(), cluster_ip, p.port,
                                 state.node_ports.get(port_key(p)),
                                 tuple(routed(state.found.get(port_key(p), []))))
                for p in service.ports]

    # -- records ------------------------------------------------------------------------
    def _write_record(self, state: ServiceState) -> None:
        service = state.service
        ports = [ServicePortRecord(p.name, p.protocol, p.port, p.target,
                                   state.node_ports.get(port_key(p))) for p in service.ports]
        manifest = {"apiVersion": "v1", "kind": "Service",
                    "metadata": _metadata(service), "spec": service.manifest_spec}
        record = ServiceRecord(service.name, service.namespace, service.type, state.cluster_ip,
                               ports, service.selector, state.created, self.sup.identity(),
                               api_object(service, state.cluster_ip, ports, state.created),
                               manifest)
        ensure_dir(services_dir())
        write_json_atomic(service_record_path(service.namespace, service.name),
                          record.to_json())

    def _write_endpoints(self, state: ServiceState) -> None:
        service = state.service
        record = EndpointsRecord(service.name, service.namespace,
                                 {k: [e.to_json() for e in v] for k, v in state.found.items()},
                                 time.time())
        ensure_dir(endpoints_dir())
        write_json_atomic(endpoints_record_path(service.namespace, service.name),
                          record.to_json())

    def env(self, namespace: str) -> dict[str, str]:
        """The Service variables for a container of ``namespace``, from every
        supervisor's Services (the records), as they are now."""
        found = self.network.catalog.in_namespace(namespace)
        return service_env((r.name, r.cluster_ip, _ports_of(r)) for r in found)


def _same(old: Service, new: Service) -> bool:
    """Applied as it runs: the same object, wherever it was read from."""
    return dataclasses.replace(old, source="") == dataclasses.replace(new, source="") \
        and old.manifest_spec == new.manifest_spec


def _ports_of(record: ServiceRecord) -> tuple[ServicePort, ...]:
    return tuple(ServicePort(p.port, p.protocol, p.name) for p in record.ports)


def _metadata(service: Service) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": service.name, "namespace": service.namespace}
    if service.labels:
        meta["labels"] = dict(service.labels)
    if service.annotations:
        meta["annotations"] = dict(service.annotations)
    return meta


def api_object(service: Service, cluster_ip: str, ports: list[ServicePortRecord],
               created: float) -> dict[str, Any]:
    """The Service as the API server would return it (`get svc -o yaml`)."""
    spec: dict[str, Any] = {
        "type": service.type, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
        "internalTrafficPolicy": "Cluster",
        "ports": [{**({"name": p.name} if p.name else {}), "protocol": p.protocol,
                   "port": p.port, "targetPort": p.target_port,
                   **({"nodePort": p.node_port} if p.node_port else {})} for p in ports],
    }
    if service.selector is not None:
        spec["selector"] = dict(service.selector)
    if service.type == "NodePort":
        spec["externalTrafficPolicy"] = service.manifest_spec.get("externalTrafficPolicy",
                                                                  "Cluster")
    if service.publish_not_ready_addresses:
        spec["publishNotReadyAddresses"] = True
    meta = {**_metadata(service), "creationTimestamp": rfc3339(created)}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec,
            "status": {"loadBalancer": {}}}


def remove_service(namespace: str, name: str, proxy: Any,
                   on_error: Callable[[str], None] = log.error) -> None:
    """Everything of a Service: its rules, addresses, ports and records (also
    used by `minipod delete service` for a Service whose supervisor is gone)."""
    owner = f"{namespace}/{name}"
    try:
        proxy.remove(f"service/{owner}")
    except (NftError, MinipodError) as e:
        on_error(f"service {owner}: nftables: {e}")
    with podnet.locked():
        for kind in ("service-ips", "node-ports"):
            for item in podnet.claimed(kind):
                if podnet.owner_of(kind, item) == owner:
                    podnet.release(kind, item, owner)
    for path in (service_record_path(namespace, name), endpoints_record_path(namespace, name)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
