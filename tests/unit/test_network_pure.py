"""The pod network's pure parts, without a kernel: Services as manifests,
resolv.conf as the kubelet composes it, the Service variables, endpoints,
env with the downward API, the nftables rules and their diffs, the ranges
and claims of kernel/podnet.py, and cluster DNS's answers."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from minipod.api.dnsconfig import ResolvConf, parse_resolv_conf, pod_resolv_conf
from minipod.api.downward import PodFacts, field_value, resolve_env
from minipod.api.endpoints import Endpoint, PodView, endpoints, routed
from minipod.api.errors import SpecError
from minipod.api.manifest import parse_objects
from minipod.api.model import (
    Container,
    ContainerPort,
    DNSConfig,
    EnvVar,
    ObjectFieldSelector,
    PodSpec,
    Service,
    ServicePort,
)
from minipod.api.record import NetworkRecord, ServicePortRecord, ServiceRecord, SupervisorRef
from minipod.api.serviceenv import service_env
from minipod.kernel import podnet
from minipod.kernel.nft import NftError
from minipod.kernel.podnet import HostPort, NetworkError, host_port_conflict, pick_cidr
from minipod.loop.clock import FakeClock
from minipod.loop.eventloop import Loop
from minipod.runtime.dns import ClusterDNS
from minipod.runtime.proxy import (
    HostPortRule,
    Proxy,
    Rules,
    ServicePortRules,
    base_ruleset,
    host_port_rules,
    owner_of_chain,
    service_rules,
)

# -- Services as manifests ---------------------------------------------------------------


def test_a_service_parses_with_its_defaults() -> None:
    manifest = parse_objects("""
apiVersion: v1
kind: Service
metadata: {name: web, labels: {tier: front}}
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http, nodePort: 30080}
  - {name: dns, port: 53, protocol: UDP}
""")
    [service] = manifest.services
    assert service.type == "NodePort" and service.selector == {"app": "web"}
    assert service.ports[0] == ServicePort(80, "TCP", "http", "http", 30080)
    assert service.ports[1].target == 53 and service.ports[1].protocol == "UDP"
    assert service.labels == {"tier": "front"} and not service.headless


def test_a_headless_service_needs_no_ports() -> None:
    [service] = parse_objects("""
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: db}}
""").services
    assert service.headless and service.ports == ()


@pytest.mark.parametrize("spec, path, message", [
    ({"ports": [{"port": 80}], "type": "LoadBalancer"}, "spec.type",
     'Unsupported value: "LoadBalancer": not supported by minipod'),
    ({"ports": [{"port": 80}], "type": "Magic"}, "spec.type",
     'Unsupported value: "Magic": supported values: "ClusterIP"'),
    ({}, "spec.ports", "Required value"),
    ({"ports": [{"port": 80}, {"port": 81}]}, "spec.ports[0].name", "Required value"),
    ({"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]}, "spec.ports[1]",
     'Duplicate value: "80/TCP"'),
    ({"ports": [{"port": 0}]}, "spec.ports[0].port", "must be between 1 and 65535"),
    ({"ports": [{"port": 80, "nodePort": 30080}]}, "spec.ports[0].nodePort",
     "Forbidden: may not be used when `type` is 'ClusterIP'"),
    ({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}, "spec.ports[0].nodePort",
     "provided port is not in the valid range. The range of valid ports is 30000-32767"),
    ({"ports": [{"port": 80, "targetPort": "8080"}]}, "spec.ports[0].targetPort",
     'Invalid value: "8080": must contain at least one letter (a-z)'),
    ({"ports": [{"port": 80}], "clusterIP": "ten"}, "spec.clusterIP",
     "must be empty, 'None', or a valid IP address"),
    ({"type": "NodePort", "ports": [{"port": 80}], "clusterIP": "None"}, "spec.clusterIP",
     "may not be set to 'None' for NodePort services"),
    ({"ports": [{"port": 80}], "sessionAffinity": "ClientIP"}, "spec.sessionAffinity",
     "not supported by minipod"),
    ({"ports": [{"port": 80}], "externalIPs": ["1.2.3.4"]}, "spec.externalIPs",
     "not supported by minipod"),
    ({"ports": [{"port": 80}], "selector": {"app": "a b"}}, "spec.selector",
     'Invalid value: "a b"'),
])
def test_bad_services(spec: dict[str, Any], path: str, message: str) -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                       "spec": spec})
    with pytest.raises(SpecError) as info:
        parse_objects(text, "svc.yaml")
    found = [e for e in info.value.errors if e.path == path]
    assert found and message in found[0].message, info.value.errors


def test_a_service_name_is_a_dns_1035_label() -> None:
    with pytest.raises(SpecError) as info:
        parse_objects('{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1web"},'
                      ' "spec": {"ports": [{"port": 80}]}}')
    assert info.value.errors[0].path == "metadata.name"
    assert "a DNS-1035 label" in info.value.errors[0].message


def test_pod_spec_fields_of_the_network() -> None:
    [pod] = parse_objects("""
apiVersion: v1
kind: Pod
metadata: {name: p, labels: {app: x}}
spec:
  dnsPolicy: None
  dnsConfig: {nameservers: [1.1.1.1], searches: [a.example], options: [{name: ndots, value: "1"}]}
  enableServiceLinks: false
  containers:
  - name: c
    image: busybox
    env: [{name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
    ports: [{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1}]
""").pods
    assert pod.spec.dns_policy == "None" and not pod.spec.enable_service_links
    assert pod.spec.dns_config == DNSConfig(("1.1.1.1",), ("a.example",), (("ndots", "1"),))
    container = pod.spec.containers[0]
    assert container.env[0].value_from == ObjectFieldSelector("status.podIP")
    assert container.ports[0] == ContainerPort(80, None, "TCP", 8080, "127.0.0.1")


# -- resolv.conf ---------------------------------------------------------------------------

NODE = parse_resolv_conf("# comment\nnameserver 192.0.2.1\nnameserver 192.0.2.2\n"
                         "search corp.example. lab.example\noptions timeout:2 rotate\n")


def test_the_node_resolv_conf_is_read_as_the_kubelet_does() -> None:
    assert ResolvConf(("192.0.2.1", "192.0.2.2"), ("corp.example", "lab.example"),
                              ("timeout:2", "rotate")) == NODE


def test_cluster_first() -> None:
    conf, warnings = pod_resolv_conf(PodSpec(()), "shop", "10.96.0.10", "cluster.local", NODE)
    assert conf.text() == ("search shop.svc.cluster.local svc.cluster.local cluster.local "
                           "corp.example lab.example\nnameserver 10.96.0.10\n"
                           "options ndots:5\n")
    assert warnings == []


def test_cluster_first_without_cluster_dns_falls_back_to_default() -> None:
    conf, warnings = pod_resolv_conf(PodSpec(()), "shop", None, "cluster.local", NODE)
    assert conf == NODE
    assert warnings[0][0] == "MissingClusterDNS"
    assert 'cannot create Pod using "ClusterFirst" policy' in warnings[0][1]


def test_none_and_dns_config_merge() -> None:
    spec = PodSpec((), dns_policy="None", dns_config=DNSConfig(
        ("1.1.1.1",), ("x.example",), (("ndots", "2"), ("edns0", None))))
    conf, _ = pod_resolv_conf(spec, "default", "10.96.0.10", "cluster.local", NODE)
    assert conf.text() == "search x.example\nnameserver 1.1.1.1\noptions ndots:2 edns0\n"
    spec = PodSpec((), dns_config=DNSConfig(("10.96.0.10", "1.1.1.1"), ("svc.cluster.local",),
                                            (("ndots", "1"),)))
    conf, _ = pod_resolv_conf(spec, "ns", "10.96.0.10", "cluster.local", ResolvConf())
    assert conf.nameservers == ("10.96.0.10", "1.1.1.1")  # no duplicates
    assert conf.searches == ("ns.svc.cluster.local", "svc.cluster.local", "cluster.local")
    assert conf.options == ("ndots:1",)  # the pod's value wins


def test_limits_cut_with_a_warning() -> None:
    spec = PodSpec((), dns_policy="Default", dns_config=DNSConfig(
        ("1.1.1.1", "1.1.1.2"), tuple(f"d{i}.example" for i in range(40))))
    conf, warnings = pod_resolv_conf(spec, "ns", None, "cluster.local", NODE)
    assert conf.nameservers == ("192.0.2.1", "192.0.2.2", "1.1.1.1")
    assert len(conf.searches) == 32
    assert [w[0] for w in warnings] == ["DNSConfigForming", "DNSConfigForming"]


# -- Service variables and env ---------------------------------------------------------------


def test_service_env_as_the_kubelet_makes_it() -> None:
    env = service_env([("web-front", "10.96.0.12", (ServicePort(80, "TCP", "http"),
                                                    ServicePort(53, "UDP", "dns"))),
                       ("db", "None", (ServicePort(5432),))])
    assert env == {
        "WEB_FRONT_SERVICE_HOST": "10.96.0.12", "WEB_FRONT_SERVICE_PORT": "80",
        "WEB_FRONT_SERVICE_PORT_HTTP": "80", "WEB_FRONT_SERVICE_PORT_DNS": "53",
        "WEB_FRONT_PORT": "tcp://10.96.0.12:80",
        "WEB_FRONT_PORT_80_TCP": "tcp://10.96.0.12:80", "WEB_FRONT_PORT_80_TCP_PROTO": "tcp",
        "WEB_FRONT_PORT_80_TCP_PORT": "80", "WEB_FRONT_PORT_80_TCP_ADDR": "10.96.0.12",
        "WEB_FRONT_PORT_53_UDP": "udp://10.96.0.12:53", "WEB_FRONT_PORT_53_UDP_PROTO": "udp",
        "WEB_FRONT_PORT_53_UDP_PORT": "53", "WEB_FRONT_PORT_53_UDP_ADDR": "10.96.0.12",
    }


def test_env_expands_against_service_variables_and_leaves_field_refs_alone() -> None:
    """api/downward.py's resolve_env with the Service variables: a value
    expands against the container's own variables, then the Service ones; a
    fieldRef's value is taken as it is; status.podIP is the pod's address."""
    container = Container("app", "busybox", env=(
        EnvVar("A", "$(WEB_SERVICE_HOST):$(WEB_SERVICE_PORT)"),
        EnvVar("IP", value_from=ObjectFieldSelector("status.podIP")),
        EnvVar("LABEL", value_from=ObjectFieldSelector("metadata.labels['x']")),
        EnvVar("B", "$(IP) $(A)"), EnvVar("WEB_SERVICE_PORT", "8080"),
        EnvVar("IPS", value_from=ObjectFieldSelector("status.podIPs"))))
    pod = PodFacts("p", "default", "uid-1", labels={"x": "$(A)"}, pod_ips=("10.244.0.5",))
    env = resolve_env(container, pod, lambda *_: None,
                      services={"WEB_SERVICE_HOST": "10.96.0.1", "WEB_SERVICE_PORT": "80"})
    assert env["A"] == "10.96.0.1:80" and env["LABEL"] == "$(A)"
    assert env["B"] == "10.244.0.5 10.96.0.1:80"
    assert env["IPS"] == "10.244.0.5"
    assert env["WEB_SERVICE_PORT"] == "8080"  # the container's own wins
    assert env["WEB_SERVICE_HOST"] == "10.96.0.1"


def test_field_values() -> None:
    pod = PodFacts("p", "default", "uid-1", labels={"app": "web"}, annotations={"team": "a"},
                   pod_ips=("10.244.0.9",), host_ips=("192.0.2.10",))
    assert field_value("status.podIP", pod) == "10.244.0.9"
    assert field_value("status.hostIP", pod) == "192.0.2.10"
    assert field_value("metadata.labels['app']", pod) == "web"
    assert field_value("metadata.annotations['team']", pod) == "a"
    assert field_value("metadata.labels['gone']", pod) == ""
    # a pod with only loopback has no address: "", as before the kubelet knows one
    assert field_value("status.podIP", PodFacts("p", "default", "uid-1")) == ""


# -- endpoints -------------------------------------------------------------------------------

SERVICE = Service("web", (ServicePort(80, "TCP", "http", "http"), ServicePort(9000, name="raw")),
                  selector={"app": "web"})


def view(name: str, ip: str | None = "10.244.0.2", *, ready: bool = True,
         terminating: bool = False, labels: dict[str, str] | None = None,
         ports: tuple[ContainerPort, ...] = (ContainerPort(8080, "http"),),
         namespace: str = "default", finished: bool = False) -> PodView:
    return PodView(name, namespace, labels if labels is not None else {"app": "web"}, ip,
                   ready, terminating, finished, ports)


def test_endpoints_follow_the_selector_readiness_and_named_ports() -> None:
    found = endpoints(SERVICE, [
        view("a", "10.244.0.2"), view("b", "10.244.0.3", ready=False),
        view("c", "10.244.0.4", ports=()), view("d", None), view("e", labels={"app": "db"}),
        view("f", namespace="other"), view("g", "10.244.0.7", finished=True)])
    assert [(e.pod, e.port, e.ready) for e in found["http"]] == [
        ("a", 8080, True), ("b", 8080, False)]
    assert [(e.pod, e.port) for e in found["raw"]] == [("a", 9000), ("b", 9000), ("c", 9000)]
    assert [e.pod for e in routed(found["http"])] == ["a"]


def test_terminating_endpoints_serve_only_when_none_is_ready() -> None:
    found = endpoints(SERVICE, [view("a", "10.244.0.2", terminating=True),
                                view("b", "10.244.0.3", ready=False)])["http"]
    assert [e.pod for e in routed(found)] == ["a"]
    assert found[0].serving and found[0].terminating and not found[0].ready
    found = endpoints(SERVICE, [view("a", terminating=True, ready=False)])["http"]
    assert routed(found) == []


def test_publish_not_ready_addresses() -> None:
    service = Service("web", (ServicePort(80),), selector={"app": "web"},
                      publish_not_ready_addresses=True)
    assert [e.ready for e in endpoints(service, [view("b", ready=False)])["80"]] == [True]


def test_a_headless_service_without_ports_has_addresses() -> None:
    service = Service("db", (), selector={"app": "web"}, cluster_ip="None")
    assert [e.ip for e in endpoints(service, [view("a")])[""]] == ["10.244.0.2"]


# -- nftables rules --------------------------------------------------------------------------


def ep(ip: str, port: int = 8080) -> Endpoint:
    return Endpoint(ip, port, "p", True, True, False)


def test_service_rules_balance_over_endpoints_and_reject_without() -> None:
    rules = service_rules([
        ServicePortRules("default", "web", "http", "tcp", "10.96.0.5", 80, 30080,
                         (ep("10.244.0.2"), ep("10.244.0.3"))),
        ServicePortRules("default", "web", "dns", "udp", "10.96.0.5", 53, None, ())])
    [service] = [n for n in rules.chains if n.startswith("service-")]
    assert service.endswith("-default/web/tcp/http")
    assert rules.chains[service][0].startswith("numgen random mod 2 vmap { 0 : goto endpoint-")
    endpoint = next(n for n in rules.chains if n.endswith("__10.244.0.3/8080"))
    assert rules.chains[endpoint] == ("ip saddr 10.244.0.3 meta mark set meta mark | 0x4000",
                                      "meta l4proto tcp dnat to 10.244.0.3:8080")
    assert rules.elements == {
        ("service-ips", "10.96.0.5 . tcp . 80"): f"goto {service}",
        ("service-nodeports", "tcp . 30080"): f"goto {service}",
        ("no-endpoint-services", "10.96.0.5 . udp . 53"): "goto reject-chain"}
    assert {owner_of_chain(n) for n in rules.chains} == {"service/default/web"}


def test_host_port_rules() -> None:
    rules = host_port_rules("default", "p1", [
        HostPortRule("", 8080, "tcp", "10.244.0.2", 80),
        HostPortRule("127.0.0.1", 9090, "udp", "10.244.0.2", 90)])
    assert set(rules.elements) == {("hostports-any", "tcp . 8080"),
                                   ("hostports", "127.0.0.1 . udp . 9090")}
    chain = next(iter(rules.chains))
    assert owner_of_chain(chain) == "pod/default/p1"
    assert rules.chains[chain][0] == "ip saddr 127.0.0.0/8 meta mark set meta mark | 0x4000"


class FakeNft:
    def __init__(self) -> None:
        self.batches: list[str] = []
        self.fail = False

    def run(self, commands: str) -> str:
        if self.fail:
            raise NftError("Could not process rule: No such file or directory")
        self.batches.append(commands)
        return ""

    def json(self, command: str) -> Any:
        return {"nftables": [
            {"chain": {"name": "service-AAAA-default/web/tcp/80"}},
            {"chain": {"name": "services"}},
            {"map": {"name": "service-ips", "elem": [
                [{"elem": {"val": {"concat": ["10.96.0.5", "tcp", 80]},
                           "comment": "service/default/web"}},
                 {"goto": {"target": "service-AAAA-default/web/tcp/80"}}],
                [{"concat": ["10.96.0.10", "udp", 53]}, {"goto": {"target": "cluster-dns"}}]]}},
        ]}


def test_the_proxy_changes_only_what_differs_in_one_batch() -> None:
    nft = FakeNft()
    proxy = Proxy(nft)
    first = service_rules([ServicePortRules("default", "web", "80", "tcp", "10.96.0.5", 80,
                                            None, (ep("10.244.0.2"), ep("10.244.0.3")))])
    assert proxy.install("service/default/web", first)
    assert len(nft.batches) == 1 and nft.batches[0].count("add chain") == 3
    assert not proxy.install("service/default/web", first)  # nothing changed: no batch
    second = service_rules([ServicePortRules("default", "web", "80", "tcp", "10.96.0.5", 80,
                                             None, (ep("10.244.0.3"),))])
    assert proxy.install("service/default/web", second)
    batch = nft.batches[-1].splitlines()
    assert batch[0].startswith("flush chain ip minipod service-")  # refilled...
    assert batch[1].startswith("add rule ip minipod service-") and "goto endpoint-" in batch[1]
    # ...and the gone endpoint's chain emptied and deleted last
    assert batch[-2].startswith("flush chain ip minipod endpoint-") and "10.244.0.2" in batch[-2]
    assert batch[-1] == batch[-2].replace("flush", "delete", 1)
    assert proxy.remove("service/default/web")
    assert proxy.owners() == set()


def test_the_proxy_reads_back_owners_and_a_failed_batch_changes_nothing() -> None:
    nft = FakeNft()
    proxy = Proxy(nft)
    proxy.read_back()
    assert proxy.owners() == {"service/default/web"}
    assert proxy.elements[("service-ips", "10.96.0.10 . udp . 53")] == ("node",
                                                                        "goto cluster-dns")
    nft.fail = True
    with pytest.raises(NftError):
        proxy.remove("service/default/web")
    assert proxy.owners() == {"service/default/web"}  # as installed, still


def test_base_ruleset_egress() -> None:
    config = NetworkRecord("mp0", "10.244.0.0/16", "10.96.0.0/16", "10.244.0.1", "10.96.0.10")
    closed = base_ruleset(config)
    assert 'iifname "mp0" oifname != "mp0" drop' in closed and "ip saddr 10.244" not in closed
    opened = base_ruleset(NetworkRecord("mp0", "10.244.0.0/16", "10.96.0.0/16", "10.244.0.1",
                                        "10.96.0.10", egress=True))
    assert 'ip saddr 10.244.0.0/16 oifname != "mp0" masquerade' in opened
    assert "10.96.0.10 . udp . 53 : goto cluster-dns" in opened
    assert Rules() == Rules()


# -- ranges and claims -----------------------------------------------------------------------


def nets(*texts: str) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(t) for t in texts]


def test_pick_cidr_avoids_the_node_routes() -> None:
    routes = nets("0.0.0.0/0", "10.244.0.0/16", "10.245.3.0/24", "192.168.1.0/24")
    assert str(pick_cidr(None, podnet.POD_CIDRS, routes, "pod CIDR")) == "10.246.0.0/16"
    assert str(pick_cidr("10.200.0.0/16", podnet.POD_CIDRS, routes, "pod CIDR")) == \
        "10.200.0.0/16"
    with pytest.raises(NetworkError, match=r"overlaps the node's route to 10\.244\.0\.0/16"):
        pick_cidr("10.244.8.0/24", podnet.POD_CIDRS, routes, "pod CIDR")
    with pytest.raises(NetworkError, match="too small"):
        pick_cidr("10.1.1.0/30", podnet.POD_CIDRS, routes, "pod CIDR")
    with pytest.raises(NetworkError, match="every candidate"):
        pick_cidr(None, ("10.244.0.0/16",), routes, "pod CIDR")


def test_host_port_conflicts_follow_the_kubelet() -> None:
    taken = ["0.0.0.0_TCP_8080", "127.0.0.1_UDP_53"]
    assert host_port_conflict(HostPort("", 8080, "TCP", 80), taken) == "0.0.0.0_TCP_8080"
    assert host_port_conflict(HostPort("10.0.0.1", 8080, "TCP", 80), taken)
    assert host_port_conflict(HostPort("", 8080, "UDP", 80), taken) is None
    assert host_port_conflict(HostPort("", 53, "UDP", 53), taken) == "127.0.0.1_UDP_53"
    assert host_port_conflict(HostPort("127.0.0.2", 53, "UDP", 53), taken) is None


def test_claims_are_exclusive_and_rotate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))
    first = podnet.claim_address("pod-ips", "10.244.0.0/29", "default/a", ("10.244.0.1",))
    second = podnet.claim_address("pod-ips", "10.244.0.0/29", "default/b", ("10.244.0.1",))
    assert (first, second) == ("10.244.0.2", "10.244.0.3")
    podnet.release("pod-ips", first, "default/someone-else")  # not theirs to give back
    assert podnet.owner_of("pod-ips", first) == "default/a"
    podnet.release("pod-ips", first, "default/a")
    # the next one, not the one just given back (a deleted pod's connections)
    assert podnet.claim_address("pod-ips", "10.244.0.0/29", "default/c", ()) == "10.244.0.4"
    for owner in ("d", "e", "f"):
        podnet.claim_address("pod-ips", "10.244.0.0/29", owner, ("10.244.0.1",))
    with pytest.raises(NetworkError, match="no free address"):
        podnet.claim_address("pod-ips", "10.244.0.0/29", "g", ("10.244.0.1",))
    assert podnet.claim_host_ports([HostPort("", 80, "TCP", 80), HostPort("", 81, "TCP", 81)],
                                   "default/a") is None
    assert podnet.claim_host_ports([HostPort("", 82, "TCP", 82), HostPort("", 80, "TCP", 80)],
                                   "default/b") == "80/TCP"
    assert podnet.claimed("host-ports") == ["0.0.0.0_TCP_80", "0.0.0.0_TCP_81"]  # none of b's


def test_veth_names_fit_ifnamsiz() -> None:
    name = podnet.veth_name("0f7c2b1e-8d1a-4b7e-9a1c-1234567890ab", 123)
    assert len(name) <= 15 and name.startswith("mp")
    assert podnet.veth_name("0f7c2b1e-8d1a", 1) != podnet.veth_name("0f7c2b1e-8d1a", 2)


# -- cluster DNS ---------------------------------------------------------------------------


class Catalog:
    def __init__(self) -> None:
        ref = SupervisorRef(1, 1.0, "")
        self.services = {
            "default/web": ServiceRecord("web", "default", "ClusterIP", "10.96.0.12",
                                         [ServicePortRecord("http", "TCP", 80, 8080)], {}, 0.0,
                                         ref),
            "default/db": ServiceRecord("db", "default", "ClusterIP", "None", [], {}, 0.0, ref),
        }

    def lookup(self, namespace: str, name: str) -> ServiceRecord | None:
        return self.services.get(f"{namespace}/{name}")

    def endpoint_ips(self, namespace: str, name: str) -> list[str]:
        return ["10.244.0.5", "10.244.0.6"]


def ask(name: str, qtype: str = "A") -> DNSRecord:
    dns = ClusterDNS(Loop(FakeClock()), "10.244.0.1", Catalog(),  # type: ignore[arg-type]
                     "cluster.local", resolv_conf="/nonexistent")
    sent: list[bytes] = []
    dns.handle(DNSRecord.question(name, qtype).pack(), sent.append)
    return DNSRecord.parse(sent[0])


def test_dns_answers_services_pods_and_srv() -> None:
    reply = ask("web.default.svc.cluster.local")
    assert [str(r.rdata) for r in reply.rr] == ["10.96.0.12"] and reply.header.aa
    assert [str(r.rdata) for r in ask("DB.default.svc.cluster.local").rr] == [
        "10.244.0.5", "10.244.0.6"]  # headless: the endpoints
    assert [str(r.rdata) for r in ask("10-244-0-9.default.pod.cluster.local").rr] == [
        "10.244.0.9"]
    srv = ask("_http._tcp.web.default.svc.cluster.local", "SRV")
    assert str(srv.rr[0].rdata) == "0 100 80 web.default.svc.cluster.local."
    nodata = ask("web.default.svc.cluster.local", "AAAA")
    assert nodata.header.rcode == RCODE.NOERROR and not nodata.rr and nodata.auth


def test_dns_nxdomain_in_the_zone_and_servfail_without_upstream() -> None:
    missing = ask("nope.default.svc.cluster.local")
    assert missing.header.rcode == RCODE.NXDOMAIN
    assert missing.auth[0].rtype == QTYPE.SOA
    # another name is forwarded; with no resolver to ask: SERVFAIL at once
    assert ask("example.org").header.rcode == RCODE.SERVFAIL
