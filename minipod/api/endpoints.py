"""A Service's endpoints, from the pods its selector matches: the
EndpointSlice controller's rules, and kube-proxy's choice among them.

- A pod counts if it is in the Service's namespace, matches the selector,
  has an address and has not finished (Succeeded or Failed).
- Its conditions: ready is the pod's Ready condition (readiness probes, a
  container that exited); terminating is a deletion under way; serving is
  ready but for the deletion.
- A targetPort given by name is looked up among the pod's container ports
  (name and protocol); a pod without it is no endpoint of that port.
- kube-proxy sends traffic to the ready endpoints; with none, to those that
  are serving and terminating (ProxyTerminatingEndpoints); with none of
  either, the Service refuses connections. publishNotReadyAddresses makes
  every endpoint count as ready.
"""

from __future__ import annotations

from collections.abc import Iterable

from minipod.api.frozen import frozen
from minipod.api.model import ContainerPort, Service, ServicePort


@frozen
class PodView:
    """What the endpoints need of a pod."""

    name: str
    namespace: str
    labels: dict[str, str]
    ip: str | None
    ready: bool
    terminating: bool
    finished: bool  # phase Succeeded or Failed
    ports: tuple[ContainerPort, ...]  # every container's, init containers' too


@frozen
class Endpoint:
    ip: str
    port: int
    pod: str
    ready: bool
    serving: bool
    terminating: bool

    def to_json(self) -> dict[str, object]:
        return {"ip": self.ip, "port": self.port, "pod": self.pod, "ready": self.ready,
                "serving": self.serving, "terminating": self.terminating}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Endpoint:
        return cls(str(data["ip"]), int(str(data["port"])), str(data.get("pod", "")),
                   bool(data.get("ready")), bool(data.get("serving")),
                   bool(data.get("terminating")))


def port_key(port: ServicePort) -> str:
    """A Service port's name in the endpoints and the rules: its name, or its number."""
    return port.name or str(port.port)


def selects(service: Service, pod: PodView) -> bool:
    if service.selector is None or pod.namespace != service.namespace:
        return False
    return all(pod.labels.get(k) == v for k, v in service.selector.items())


def target_port(port: ServicePort, pod: PodView) -> int | None:
    target = port.target
    if isinstance(target, int):
        return target
    for container_port in pod.ports:
        if container_port.name == target and container_port.protocol == port.protocol:
            return container_port.container_port
    return None


def endpoints(service: Service, pods: Iterable[PodView]) -> dict[str, list[Endpoint]]:
    """Every endpoint of each of the Service's ports, by port_key, in pod order.
    A headless Service without ports still has its pods' addresses (for DNS),
    under the key "" with port 0."""
    ports = service.ports or (ServicePort(0),)
    found: dict[str, list[Endpoint]] = {port_key(p) if p.port else "": [] for p in ports}
    for pod in pods:
        if not selects(service, pod) or pod.ip is None or pod.finished:
            continue
        ready = service.publish_not_ready_addresses or (pod.ready and not pod.terminating)
        serving = service.publish_not_ready_addresses or pod.ready
        for port in ports:
            number = target_port(port, pod) if port.port else 0
            if number is not None:
                found[port_key(port) if port.port else ""].append(
                    Endpoint(pod.ip, number, pod.name, ready, serving, pod.terminating))
    return found


def routed(found: list[Endpoint]) -> list[Endpoint]:
    """The endpoints kube-proxy sends new connections to."""
    ready = [e for e in found if e.ready]
    if ready:
        return ready
    return [e for e in found if e.serving and e.terminating]
