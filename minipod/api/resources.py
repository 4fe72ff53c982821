"""A container's `resources`: requests and limits of cpu and memory, checked
and defaulted as the API server does, and the pod's QoS class and totals as
the kubelet works them out. Pure: kernel/cgroups.py turns them into cgroup
files.

Sources (Kubernetes): ValidateResourceRequirements and
validateContainerResourceName (pkg/apis/core/validation), SetDefaults_Pod
(requests default to limits, pkg/apis/core/v1/defaults.go), ComputePodQOS
(pkg/apis/core/helper/qos), PodRequests and PodLimits (component-helpers
resource), which ResourceConfigForPod (pkg/kubelet/cm) sizes a pod's
cgroup with.

This module owns the `resources` field: a validator with its own module
sees only the mapping and its field path (spec.py hands them over).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from decimal import Decimal
from typing import Any, Literal

from minipod.api.errors import FieldError
from minipod.api.frozen import frozen
from minipod.api.quantity import Quantity, QuantityError, quantity_from_manifest

SUPPORTED = ("cpu", "memory")
# the other names a container may ask for (IsStandardContainerResourceName)
_CONTAINER_RESOURCES = ("ephemeral-storage",)
# standard names that are not a container's (IsStandardResourceName): quota objects
_STANDARD_RESOURCES = frozenset({
    "cpu", "memory", "ephemeral-storage", "storage", "pods", "services",
    "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
    "requests.cpu", "requests.memory", "requests.ephemeral-storage", "requests.storage",
    "limits.cpu", "limits.memory", "limits.ephemeral-storage",
})
NOT_SUPPORTED = "not supported by minipod (supported: cpu, memory)"

QoSClass = Literal["Guaranteed", "Burstable", "BestEffort"]


@frozen
class Resources:
    """One container's requests and limits of cpu and memory, after the API
    server's defaulting (a limit with no request is the request too)."""

    requests: Mapping[str, Quantity] = field(default_factory=dict)
    limits: Mapping[str, Quantity] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.requests and not self.limits

    def request_milli_cpu(self) -> int:
        q = self.requests.get("cpu")
        return q.milli_value() if q is not None else 0

    def limit_milli_cpu(self) -> int:
        q = self.limits.get("cpu")
        return q.milli_value() if q is not None else 0

    def memory_limit(self) -> int:
        q = self.limits.get("memory")
        return q.value() if q is not None else 0

    def to_api(self) -> dict[str, dict[str, str]]:
        """The field as `get -o yaml` shows it (defaulted, canonical quantities)."""
        body: dict[str, dict[str, str]] = {}
        for key, values in (("limits", self.limits), ("requests", self.requests)):
            if values:
                body[key] = {name: str(q) for name, q in values.items()}
        return body


NO_RESOURCES = Resources()


def parse_requirements(data: Mapping[Any, Any], path: str) -> tuple[Resources, list[FieldError]]:
    """``resources`` (its keys checked already: limits, requests) at ``path``:
    the defaulted Resources and the errors, one per bad entry."""
    errors: list[FieldError] = []
    limits = _resource_list(data.get("limits"), f"{path}.limits", errors)
    requests = _resource_list(data.get("requests"), f"{path}.requests", errors)
    for name, limit in limits.items():
        request = requests.get(name)
        if request is not None and limit < request:
            errors.append(FieldError(
                f"{path}.requests", f'Invalid value: "{request}": '
                f"must be less than or equal to {name} limit of {limit}"))
    # SetDefaults_Pod: a limit with no request is the request as well
    return Resources({**limits, **requests}, limits), errors


def _resource_list(value: object, path: str, errors: list[FieldError]) -> dict[str, Quantity]:
    """One ResourceList (name -> quantity) of the names minipod supports."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(FieldError(path, f"must be a mapping (got {_kind(value)})"))
        return {}
    found: dict[str, Quantity] = {}
    for name, raw in value.items():
        where = f"{path}[{name}]"
        if not isinstance(name, str):
            errors.append(FieldError(path, f"resource names must be strings (got {_kind(name)})"))
            continue
        message = _name_error(name)
        if message:
            errors.append(FieldError(where, message))
            continue
        try:
            quantity = quantity_from_manifest(raw)
        except QuantityError as e:
            errors.append(FieldError(where, f'Invalid value: "{_shown(raw)}": {e}'))
            continue
        if quantity.amount < 0:
            errors.append(FieldError(where, f'Invalid value: "{quantity}": '
                                            "must be greater than or equal to 0"))
            continue
        found[name] = quantity
    return found


def _name_error(name: str) -> str | None:
    """None for cpu and memory; else the API server's complaint about the
    name, or, for a name it takes, that minipod does not."""
    if name in SUPPORTED:
        return None
    if "/" in name or name in _CONTAINER_RESOURCES or name.startswith("hugepages-"):
        return NOT_SUPPORTED  # ephemeral-storage, hugepages-2Mi, example.com/gpu
    if name in _STANDARD_RESOURCES:
        return f'Invalid value: "{name}": must be a standard resource for containers'
    return f'Invalid value: "{name}": must be a standard resource type or fully qualified'


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- the pod as a whole ------------------------------------------------------------


def qos_class(containers: Iterable[Resources]) -> QoSClass:
    """ComputePodQOS over every container, init containers included: totals of
    the positive cpu and memory requests and limits; Guaranteed when every
    container limits both and the totals of requests equal those of limits."""
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for res in containers:
        for name, q in res.requests.items():
            if q.amount > 0:
                requests[name] = requests.get(name, Decimal(0)) + q.amount
        limited = set()
        for name, q in res.limits.items():
            if q.amount > 0:
                limited.add(name)
                limits[name] = limits.get(name, Decimal(0)) + q.amount
        if not limited >= set(SUPPORTED):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests.keys() == limits.keys() \
            and all(limits[n] == v for n, v in requests.items()):
        return "Guaranteed"
    return "Burstable"


@frozen
class PodTotals:
    """What the pod as a whole asks for (PodRequests, PodLimits) and whether
    every container limits cpu and memory (ResourceConfigForPod's
    cpuLimitsDeclared, memoryLimitsDeclared)."""

    milli_cpu_request: int
    milli_cpu_limit: int
    memory_limit: int
    cpu_limits_declared: bool
    memory_limits_declared: bool


def pod_totals(apps: Iterable[Resources], inits: Iterable[tuple[Resources, bool]]) -> PodTotals:
    """``inits`` in spec order, each with whether it is a sidecar: a pod needs
    its app containers and sidecars at once, and at most one regular init
    container (with the sidecars started before it) beside them."""
    apps = list(apps)
    inits = list(inits)
    every = [*apps, *(r for r, _ in inits)]

    def total(get: Callable[[Resources], int]) -> int:
        running = sum(get(r) for r in apps)
        sidecars, peak = 0, 0
        for res, sidecar in inits:
            if sidecar:
                running += get(res)
                sidecars += get(res)
                peak = max(peak, sidecars)
            else:
                peak = max(peak, get(res) + sidecars)
        return max(running, peak)

    return PodTotals(
        total(Resources.request_milli_cpu), total(Resources.limit_milli_cpu),
        total(Resources.memory_limit),
        all(r.limit_milli_cpu() > 0 for r in every),
        all(r.memory_limit() > 0 for r in every))
