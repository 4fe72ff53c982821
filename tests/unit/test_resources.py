"""Quantities as the API server parses and prints them; a container's
`resources` checked, defaulted and refused by name; the QoS class and the
pod's totals; the kubelet's mapping of them onto cgroup files."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import yaml

from minipod.api.downward import PodFacts, resolve_env
from minipod.api.errors import SpecError
from minipod.api.manifest import parse_pods
from minipod.api.quantity import FORMAT_WRONG, SUFFIX, QuantityError, parse_quantity
from minipod.api.resources import NOT_SUPPORTED, Resources, pod_totals, qos_class
from minipod.kernel.cgroups import (
    CgroupLimits,
    container_limits,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    pod_limits,
    shares_to_weight,
)

# -- quantities ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "shown", "milli", "value"), [
    ("1", "1", 1000, 1),
    ("0", "0", 0, 0),
    ("100m", "100m", 100, 1),
    ("0.5", "500m", 500, 1),
    (".5", "500m", 500, 1),
    ("1.5", "1500m", 1500, 2),
    ("1.0", "1", 1000, 1),
    ("1000m", "1", 1000, 1),
    ("0.1m", "100u", 1, 1),  # MilliValue rounds up
    ("64Mi", "64Mi", 64 * 2**20 * 1000, 64 * 2**20),
    ("1.5Gi", "1536Mi", 1536 * 2**20 * 1000, 1536 * 2**20),
    ("1024Mi", "1Gi", 2**30 * 1000, 2**30),
    ("0.5Ki", "512", 512_000, 512),  # below 1Ki BinarySI prints as DecimalSI
    ("500M", "500M", 500 * 10**9, 500 * 10**6),
    ("2k", "2k", 2_000_000, 2000),
    ("1e3", "1e3", 1_000_000, 1000),  # kept as written: it is canonical
    ("1.5e3", "1500", 1_500_000, 1500),
    ("1E", "1E", 10**21, 10**18),
    ("1e-10", "1e-9", 1, 1),  # rounded up to a nanounit
    ("+1", "+1", 1000, 1),  # ParseQuantity keeps a canonical string as it came
    ("-1", "-1", -1000, -1),
    ("123456789012345678901234567890Gi", str(2**63 - 1), (2**63 - 1) * 1000, 2**63 - 1),
])
def test_quantities_as_the_api_server(text: str, shown: str, milli: int, value: int) -> None:
    q = parse_quantity(text)
    assert (str(q), q.milli_value(), q.value()) == (shown, milli, value)


@pytest.mark.parametrize(("text", "message"), [
    ("", FORMAT_WRONG), ("abc", FORMAT_WRONG), ("1.5.5", FORMAT_WRONG), ("1Kb", FORMAT_WRONG),
    ("1 Gi", FORMAT_WRONG), ("1e", SUFFIX), ("1m3", SUFFIX), ("1ee3", SUFFIX),
])
def test_not_quantities(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert str(info.value) == message


def test_format_message_is_the_api_servers() -> None:
    assert FORMAT_WRONG == ("quantities must match the regular expression "
                            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


# -- the field -------------------------------------------------------------------------


def pod(resources: Any, *, init: Any = None) -> str:
    doc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "app", "image": "busybox", "resources": resources}]},
    }
    if init is not None:
        doc["spec"]["initContainers"] = [{"name": "setup", "image": "busybox",
                                          "resources": init}]
    return yaml.safe_dump(doc)


def resources_of(resources: Any) -> Resources:
    (parsed,) = parse_pods(pod(resources))
    return parsed.spec.containers[0].resources


def errors_of(resources: Any) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_pods(pod(resources))
    return [str(e) for e in info.value.errors]


def test_empty_resources_are_accepted() -> None:
    assert resources_of({}).empty
    assert resources_of(None).empty
    assert resources_of({"limits": {}, "requests": None}).empty


def test_requests_default_to_limits() -> None:
    res = resources_of({"limits": {"cpu": "500m", "memory": "128Mi"},
                        "requests": {"cpu": "250m"}})
    assert {k: str(v) for k, v in res.requests.items()} == {"cpu": "250m", "memory": "128Mi"}
    assert res.to_api() == {"limits": {"cpu": "500m", "memory": "128Mi"},
                            "requests": {"cpu": "250m", "memory": "128Mi"}}


def test_numbers_are_quantities() -> None:
    res = resources_of({"limits": {"cpu": 0.5, "memory": 1073741824}})
    assert (res.limit_milli_cpu(), res.memory_limit()) == (500, 2**30)


@pytest.mark.parametrize(("resources", "expected"), [
    ({"limits": {"ephemeral-storage": "1Gi"}},
     f"spec.containers[0].resources.limits[ephemeral-storage]: {NOT_SUPPORTED}"),
    ({"requests": {"hugepages-2Mi": "2Mi"}},
     f"spec.containers[0].resources.requests[hugepages-2Mi]: {NOT_SUPPORTED}"),
    ({"limits": {"nvidia.com/gpu": 1}},
     f"spec.containers[0].resources.limits[nvidia.com/gpu]: {NOT_SUPPORTED}"),
    ({"limits": {"pods": 1}}, 'spec.containers[0].resources.limits[pods]: Invalid value: '
                              '"pods": must be a standard resource for containers'),
    ({"limits": {"cpus": 1}}, 'spec.containers[0].resources.limits[cpus]: Invalid value: '
                              '"cpus": must be a standard resource type or fully qualified'),
    ({"limits": {"memory": "lots"}},
     f'spec.containers[0].resources.limits[memory]: Invalid value: "lots": {FORMAT_WRONG}'),
    ({"limits": {"memory": True}},
     f'spec.containers[0].resources.limits[memory]: Invalid value: "True": {FORMAT_WRONG}'),
    ({"requests": {"cpu": "-1"}}, 'spec.containers[0].resources.requests[cpu]: '
                                  'Invalid value: "-1": must be greater than or equal to 0'),
    ({"limits": {"cpu": "1"}, "requests": {"cpu": "1500m"}},
     'spec.containers[0].resources.requests: Invalid value: "1500m": '
     "must be less than or equal to cpu limit of 1"),
    ({"limits": {"memory": "1Gi"}, "requests": {"memory": "2Gi"}},
     'spec.containers[0].resources.requests: Invalid value: "2Gi": '
     "must be less than or equal to memory limit of 1Gi"),
    ({"limits": "1"}, "spec.containers[0].resources.limits: must be a mapping (got str)"),
    ({"claims": [{"name": "gpu"}]},
     "spec.containers[0].resources.claims: not supported by minipod"),
    ({"limit": {"cpu": 1}},
     'spec.containers[0].resources.limit: unknown field "limit"; did you mean "limits"?'),
])
def test_bad_resources(resources: Any, expected: str) -> None:
    assert expected in errors_of(resources)


def test_every_bad_entry_is_reported() -> None:
    errors = errors_of({"limits": {"cpu": "x", "memory": "-1", "ephemeral-storage": "1"}})
    assert len(errors) == 3


# -- QoS and the pod's totals ------------------------------------------------------------


def res(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None
        ) -> Resources:
    lim = {k: parse_quantity(v) for k, v in (limits or {}).items()}
    req = {k: parse_quantity(v) for k, v in (requests or {}).items()}
    return Resources({**lim, **req}, lim)


GUARANTEED = res(limits={"cpu": "500m", "memory": "64Mi"})


@pytest.mark.parametrize(("containers", "qos"), [
    ([Resources()], "BestEffort"),
    ([Resources(), Resources()], "BestEffort"),
    ([res(limits={"cpu": "0", "memory": "0"})], "BestEffort"),  # zero counts as none
    ([GUARANTEED], "Guaranteed"),
    ([GUARANTEED, GUARANTEED], "Guaranteed"),
    ([res({"cpu": "0.5"}, {"cpu": "500m", "memory": "64Mi"})], "Guaranteed"),  # 0.5 == 500m
    ([res({"cpu": "100m"}, {"cpu": "500m", "memory": "64Mi"})], "Burstable"),
    ([res(limits={"memory": "64Mi"})], "Burstable"),
    ([GUARANTEED, Resources()], "Burstable"),
    ([res({"cpu": "100m"})], "Burstable"),
])
def test_qos_class(containers: list[Resources], qos: str) -> None:
    assert qos_class(containers) == qos


def test_qos_class_of_a_pod_counts_its_init_containers() -> None:
    (parsed,) = parse_pods(pod({"limits": {"cpu": "1", "memory": "1Gi"}}, init={}))
    spec = parsed.spec
    assert qos_class(c.resources for c in (*spec.containers, *spec.init_containers)) \
        == "Burstable"


def test_pod_totals_take_the_largest_init_container() -> None:
    apps = [res(limits={"cpu": "200m", "memory": "64Mi"})] * 2
    big_init = res(limits={"cpu": "1", "memory": "32Mi"})
    totals = pod_totals(apps, [(big_init, False)])
    assert (totals.milli_cpu_request, totals.milli_cpu_limit, totals.memory_limit) \
        == (1000, 1000, 128 * 2**20)
    assert totals.cpu_limits_declared and totals.memory_limits_declared


def test_pod_totals_count_sidecars_beside_the_apps_and_later_inits() -> None:
    app = res(limits={"cpu": "100m", "memory": "10Mi"})
    sidecar = res(limits={"cpu": "300m", "memory": "10Mi"})
    init = res(limits={"cpu": "350m", "memory": "10Mi"})
    # the init runs after the sidecar started: 300 + 350; apps and sidecar: 100 + 300
    totals = pod_totals([app], [(sidecar, True), (init, False)])
    assert totals.milli_cpu_request == 650
    totals = pod_totals([app], [(init, False), (sidecar, True)])
    assert totals.milli_cpu_request == 400


def test_limits_declared_only_when_every_container_has_one() -> None:
    totals = pod_totals([GUARANTEED, res({"cpu": "1"})], [])
    assert not totals.cpu_limits_declared and not totals.memory_limits_declared


# -- the kubelet's mapping onto cgroup files ----------------------------------------------


@pytest.mark.parametrize(("milli", "shares"), [
    (0, 2), (1, 2), (2, 2), (100, 102), (250, 256), (1000, 1024), (10**6, 262144)])
def test_shares(milli: int, shares: int) -> None:
    assert milli_cpu_to_shares(milli) == shares


@pytest.mark.parametrize(("milli", "quota"), [(0, 0), (1, 1000), (10, 1000), (500, 50000),
                                              (2500, 250000)])
def test_quota(milli: int, quota: int) -> None:
    assert milli_cpu_to_quota(milli) == quota


@pytest.mark.parametrize(("shares", "weight"), [(2, 1), (1024, 39), (102, 4), (262144, 10000)])
def test_weight(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


def test_container_limits() -> None:
    assert container_limits(Resources()) == CgroupLimits(2, None, None)
    limits = container_limits(res({"cpu": "250m"}, {"cpu": "500m", "memory": "64Mi"}))
    assert limits == CgroupLimits(256, 50000, 64 * 2**20, swap_off=True)
    assert limits.writes(1) == [
        ("cpu", "cpu.shares", "256"), ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpu", "cpu.cfs_quota_us", "50000"), ("memory", "memory.limit_in_bytes", "67108864"),
        ("memory", "memory.memsw.limit_in_bytes", "67108864")]
    assert limits.writes(2) == [
        ("cpu", "cpu.weight", "10"), ("cpu", "cpu.max", "50000 100000"),
        ("memory", "memory.max", "67108864"), ("memory", "memory.swap.max", "0")]


def test_container_limits_take_shares_from_the_limit_without_request() -> None:
    no_request = Resources({}, {"cpu": parse_quantity("1")})
    assert container_limits(no_request).cpu_shares == 1024


def test_pod_limits_by_qos() -> None:
    totals = pod_totals([res({"cpu": "100m"}, {"cpu": "1", "memory": "1Gi"}),
                         res({"cpu": "100m"})], [])
    burstable = pod_limits("Burstable", totals, -1)
    assert burstable == CgroupLimits(204, None, None)  # not every container has limits
    assert pod_limits("BestEffort", totals, 1024) == CgroupLimits(2, pids=1024)
    guaranteed = pod_totals([GUARANTEED, GUARANTEED], [])
    assert pod_limits("Guaranteed", guaranteed, -1) == CgroupLimits(1024, 100000,
                                                                   128 * 2**20)
    assert Decimal(1) == parse_quantity("1000m").amount


# -- the downward API reads them ----------------------------------------------------------


def test_resource_field_refs_read_the_containers_requests_and_limits() -> None:
    (parsed,) = parse_pods(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{
            "name": "app", "image": "busybox",
            "resources": {"limits": {"cpu": "500m", "memory": "64Mi"},
                          "requests": {"cpu": "250m"}},
            "env": [{"name": n, "valueFrom": {"resourceFieldRef": {"resource": r, "divisor": d}}}
                    for n, r, d in (("CPU_LIMIT", "limits.cpu", "1m"),
                                    ("CPU_REQUEST", "requests.cpu", "1m"),
                                    ("MEM_LIMIT", "limits.memory", "1Mi"),
                                    ("MEM_REQUEST", "requests.memory", "1Mi"))]}]}}))
    facts = PodFacts("p", "default", "uid", allocatable={"cpu": 2000, "memory": 1 << 30})
    env = resolve_env(parsed.spec.containers[0], facts, lambda *_: None)
    # a request defaulted from its limit is that limit (SetDefaults_Pod)
    assert env == {"CPU_LIMIT": "500", "CPU_REQUEST": "250", "MEM_LIMIT": "64",
                   "MEM_REQUEST": "64"}
