"""Services and Endpoints through kubectl's generic verbs, over fake records
(no network, no supervisor): get with its tables and -o wide, jsonpath,
custom-columns, --sort-by, -l, --field-selector and -A; describe; delete's
targets (TYPE/NAME, --all, -l, -f) and what it refuses; label and annotate
asked of the Service's supervisor; wait on a jsonpath; validate; and
port-forward's kinds, all through the one table of kinds (views/objects.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from minipod.api.errors import MinipodError
from minipod.api.manifest import parse_objects
from minipod.api.record import EndpointsRecord, ServicePortRecord, ServiceRecord, SupervisorRef
from minipod.cli import delete as cli_delete
from minipod.cli import forwarding
from minipod.cli import parser as cli
from minipod.cli.views import host
from minipod.runtime.services import api_object
from minipod.server import client

CREATED = 1795252433.0
NOW = CREATED + 206.5
ME = SupervisorRef(os.getpid(), psutil.Process().create_time(), "/nonexistent.sock")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    state = tmp_path / "state"
    (state / "pods").mkdir(parents=True)
    monkeypatch.setenv("MINIPOD_ROOT", str(state))
    monkeypatch.setattr(host, "now", lambda: NOW)
    monkeypatch.setattr(host, "node_name", lambda: "node1")
    yield state


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def service(root: Path, name: str, cluster_ip: str, *, namespace: str = "default",
            labels: str = "", node_port: int | None = None,
            endpoints: list[tuple[str, bool]] | None = None, selector: bool = True) -> None:
    """A Service's record (and its endpoints') as its supervisor writes them."""
    text = f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}, labels: {{{labels}}}}}
spec:
  type: {"NodePort" if node_port else "ClusterIP"}
  {f"selector: {{app: {name}}}" if selector else ""}
  ports: [{{name: http, port: 80, targetPort: 8080{f", nodePort: {node_port}" if node_port
                                                    else ""}}}]
"""
    [svc] = parse_objects(text).services
    ports = [ServicePortRecord("http", "TCP", 80, 8080, node_port)]
    record = ServiceRecord(name, namespace, svc.type, cluster_ip, ports, svc.selector, CREATED,
                           ME, api_object(svc, cluster_ip, ports, CREATED),
                           {"apiVersion": "v1", "kind": "Service"})
    (root / "services").mkdir(exist_ok=True)
    (root / "services" / f"{namespace}_{name}.json").write_text(json.dumps(record.to_json()))
    if endpoints is not None:
        found = [{"ip": ip, "port": 8080, "pod": f"{name}-{i}", "ready": ready,
                  "serving": ready, "terminating": False}
                 for i, (ip, ready) in enumerate(endpoints)]
        (root / "endpoints").mkdir(exist_ok=True)
        (root / "endpoints" / f"{namespace}_{name}.json").write_text(json.dumps(
            EndpointsRecord(name, namespace, {"http": found}, CREATED).to_json()))


@pytest.fixture
def services(root: Path) -> Path:
    service(root, "web", "10.96.0.12", labels="tier: front",
            endpoints=[("10.244.0.2", True), ("10.244.0.3", True), ("10.244.0.4", False)])
    service(root, "db", "10.96.0.20", node_port=30080, endpoints=[])
    service(root, "ext", "10.96.0.30", selector=False)
    service(root, "other", "10.96.0.40", namespace="team")
    return root


# -- get ---------------------------------------------------------------------------------


def test_get_services_and_endpoints_tables(services: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "get", "svc")[1].splitlines() == [
        "NAME   TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)        AGE",
        "db     NodePort    10.96.0.20   <none>        80:30080/TCP   3m26s",
        "ext    ClusterIP   10.96.0.30   <none>        80/TCP         3m26s",
        "web    ClusterIP   10.96.0.12   <none>        80/TCP         3m26s"]
    assert run(capsys, "get", "services", "web", "-o", "wide")[1].splitlines() == [
        "NAME   TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE     SELECTOR",
        "web    ClusterIP   10.96.0.12   <none>        80/TCP    3m26s   app=web"]
    # an Endpoints object per Service with a selector; the ready addresses only
    assert run(capsys, "get", "ep")[1].splitlines() == [
        "NAME   ENDPOINTS                         AGE",
        "db     <none>                            3m26s",
        "web    10.244.0.2:8080,10.244.0.3:8080   3m26s"]
    code, out, _ = run(capsys, "get", "svc", "-A", "--no-headers")
    assert code == 0 and [line.split()[:2] for line in out.splitlines()] == [
        ["default", "db"], ["default", "ext"], ["default", "web"], ["team", "other"]]
    assert run(capsys, "get", "svc/web", "ep/nope") == (
        1, "NAME   TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE\n"
        "web    ClusterIP   10.96.0.12   <none>        80/TCP    3m26s\n",
        'Error from server (NotFound): endpoints "nope" not found\n')


def test_get_services_in_every_output_and_selection(services: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "get", "svc", "-o", "jsonpath={.items[*].spec.clusterIP}")[1] == \
        "10.96.0.20 10.96.0.30 10.96.0.12"
    assert run(capsys, "get", "svc", "-o",
               "custom-columns=NAME:.metadata.name,IP:.spec.clusterIP,PORT:.spec.ports[0].port",
               "--sort-by", ".spec.clusterIP")[1].splitlines() == [
        "NAME   IP           PORT", "web    10.96.0.12   80", "db     10.96.0.20   80",
        "ext    10.96.0.30   80"]
    assert run(capsys, "get", "svc", "-l", "tier=front", "-o", "name")[1] == "service/web\n"
    assert run(capsys, "get", "svc", "--field-selector", "metadata.name!=web",
               "-o", "name")[1] == "service/db\nservice/ext\n"
    web = json.loads(run(capsys, "get", "svc", "web", "-o", "json")[1])
    assert web["kind"] == "Service" and web["spec"]["selector"] == {"app": "web"}
    assert web["metadata"]["labels"] == {"tier": "front"}
    endpoints = json.loads(run(capsys, "get", "endpoints", "web", "-o", "json")[1])
    assert endpoints["kind"] == "Endpoints" and endpoints["metadata"]["labels"] == \
        {"tier": "front"}
    [subset] = endpoints["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.244.0.2", "10.244.0.3"]
    assert subset["notReadyAddresses"] == [{"ip": "10.244.0.4", "targetRef": {
        "kind": "Pod", "name": "web-2", "namespace": "default"}}]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert run(capsys, "get", "svc", "-w")[2] == \
        "error: minipod get -w watches pods only, not services\n"


def test_describe_service(services: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "describe", "svc/db")
    assert code == 0 and out.splitlines() == [
        "Name:                     db",
        "Namespace:                default",
        "Labels:                   <none>",
        "Annotations:              <none>",
        "Selector:                 app=db",
        "Type:                     NodePort",
        "IP Family Policy:         SingleStack",
        "IP Families:              IPv4",
        "IP:                       10.96.0.20",
        "IPs:                      10.96.0.20",
        "Port:                     http  80/TCP",
        "TargetPort:               8080/TCP",
        "NodePort:                 http  30080/TCP",
        "Endpoints:                ",
        "Session Affinity:         None",
        "External Traffic Policy:  Cluster",
        "Internal Traffic Policy:  Cluster",
        "Events:                   <none>"]
    web = run(capsys, "describe", "service", "web")[1]
    assert "Endpoints:                10.244.0.2:8080,10.244.0.3:8080\n" in web
    assert "Labels:                   tier=front\n" in web
    assert run(capsys, "describe", "services")[1].count("Name:") == 3
    assert run(capsys, "describe", "svc", "nope") == \
        (1, "", 'Error from server (NotFound): services "nope" not found\n')
    assert run(capsys, "describe", "ep", "web")[2] == \
        "error: minipod describe takes pods, configmaps, secrets and services, not endpoints\n"


# -- delete, label, wait ----------------------------------------------------------------------


@pytest.fixture
def deleted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """What delete asked of the Services' supervisors (nothing is removed)."""
    asked: list[tuple[str, str]] = []

    def fake(namespace: str, name: str) -> str:
        asked.append((namespace, name))
        if name == "gone":
            raise cli_delete.StateError(f'services "{name}" not found')
        return "deleted (its supervisor was gone)" if name == "ext" else "deleted"

    monkeypatch.setattr(cli_delete, "delete_service", fake)
    return asked


def test_delete_services_by_name_selector_all_and_file(
        services: Path, deleted: list[tuple[str, str]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "delete", "svc/web", "service/ext") == (
        0, 'service "web" deleted\nservice "ext" deleted (its supervisor was gone)\n', "")
    assert run(capsys, "delete", "svc", "-l", "tier=front")[1] == 'service "web" deleted\n'
    assert run(capsys, "delete", "services", "--all", "-n", "team")[1] == \
        'service "other" deleted\n'
    assert run(capsys, "delete", "svc", "gone") == \
        (1, "", 'Error from server (NotFound): services "gone" not found\n')
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: db}\n"
                        "spec: {selector: {app: db}, ports: [{port: 80}]}\n")
    assert run(capsys, "delete", "-f", str(manifest))[1] == 'service "db" deleted\n'
    assert run(capsys, "down", str(manifest))[1] == 'service "db" deleted\n'
    assert deleted == [("default", "web"), ("default", "ext"), ("default", "web"),
                       ("team", "other"), ("default", "gone"), ("default", "db"),
                       ("default", "db")]
    # an Endpoints object goes with its Service
    assert run(capsys, "delete", "ep", "web") == \
        (2, "", "error: minipod does not delete endpoints: they go with their Service\n")


def test_label_and_annotate_a_service_ask_its_supervisor(
        services: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    asked: list[dict[str, Any]] = []

    def fake(_path: Path, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        asked.append(body)
        return {"ok": True}

    monkeypatch.setattr(client, "request", fake)
    assert run(capsys, "label", "svc", "web", "env=prod") == (0, "service/web labeled\n", "")
    assert run(capsys, "annotate", "svc/web", "note=x")[1] == "service/web annotated\n"
    assert run(capsys, "label", "svc", "web", "tier=front")[1] == "service/web not labeled\n"
    assert run(capsys, "label", "svc", "web", "tier=back")[2] == \
        "error: 'tier' already has a value (front), and --overwrite is false\n"
    assert asked == [
        {"op": "metadata", "kind": "Service", "namespace": "default", "name": "web",
         "labels": {"tier": "front", "env": "prod"}},
        {"op": "metadata", "kind": "Service", "namespace": "default", "name": "web",
         "annotations": {"note": "x"}}]
    assert run(capsys, "label", "ep", "web", "a=b")[2] == \
        "error: minipod label takes pods, services, configmaps and secrets, not endpoints\n"


def test_wait_on_a_service(services: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "wait", "--for=jsonpath={.spec.clusterIP}=10.96.0.12", "svc/web",
               "--timeout", "0") == (0, "service/web condition met\n", "")
    assert run(capsys, "wait", "--for=delete", "svc/nope", "--timeout", "0") == \
        (0, "service/nope condition met\n", "")


def test_validate_names_services(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: db}\n"
                        "spec: {type: NodePort, selector: {app: db}, ports: [{port: 80}]}\n")
    assert run(capsys, "validate", str(manifest))[1] == \
        "service/db valid (namespace default, NodePort, 1 port)\n"


def test_port_forward_takes_the_kinds_of_the_registry(services: Path) -> None:
    with pytest.raises(MinipodError, match='pods "nope" not found'):
        forwarding.resolve("default", "po/nope", ["80"])
    with pytest.raises(MinipodError, match="invalid service 'ext': Service is defined without a selector"):
        forwarding.resolve("default", "svc/ext", ["80"])
    with pytest.raises(MinipodError, match="no pods found for service/web"):
        forwarding.resolve("default", "services/web", ["http"])
    with pytest.raises(MinipodError, match="port-forward takes pods, deployments, "
                       "replicasets and services"):
        forwarding.resolve("default", "cm/x", ["80"])
    with pytest.raises(MinipodError, match='doesn\'t have a resource type "statefulset"'):
        forwarding.resolve("default", "statefulset/x", ["80"])
