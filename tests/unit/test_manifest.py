"""minipod.api.manifest: the documents of a manifest file, its formats (YAML,
flow style, JSON), reading it from a file, and every error of every document
collected with the document named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from manifests import DELETE, RICH, base, container, describe, edit, errors_of

from minipod.api.errors import FieldError, SpecError
from minipod.api.manifest import load_pods, parse_pods
from minipod.api.model import ContainerPort

# ---------------------------------------------------------------------------
# documents and formats
# ---------------------------------------------------------------------------


def test_multi_document_yaml_numbers_sources() -> None:
    second = edit("metadata.name", "db")
    text = f"---\n{edit('metadata.name', 'web')}---\n{second}---\n"
    pods = parse_pods(text, "pods.yaml")
    assert [(p.name, p.source) for p in pods] == [("web", "pods.yaml#0"), ("db", "pods.yaml#1")]


def test_single_document_source_is_the_file() -> None:
    (pod,) = parse_pods(f"# a comment\n---\n{edit('metadata.name', 'web')}---\n", "pod.yaml")
    assert pod.source == "pod.yaml"


def test_flow_style_yaml_loads() -> None:
    text = (
        "{apiVersion: v1, kind: Pod, metadata: {name: flow, namespace: team-a},"
        " spec: {containers: [{name: c, image: busybox, command: [sleep, '1']}]}}"
    )
    (pod,) = parse_pods(text)
    assert (pod.name, pod.namespace) == ("flow", "team-a")
    assert pod.spec.containers[0].command == ("sleep", "1")


def test_json_loads() -> None:
    (pod,) = parse_pods(json.dumps(base(), indent=2))
    assert pod.name == "web"
    assert pod.spec.containers[0].ports == (ContainerPort(8080, "http"),)


def test_load_pods_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "pod.yaml"
    path.write_text(RICH)
    (pod,) = load_pods(str(path))
    assert pod.source == str(path)


def test_load_pods_unreadable_file(tmp_path: Path) -> None:
    path = str(tmp_path / "missing.yaml")
    with pytest.raises(SpecError) as info:
        load_pods(path)
    assert info.value.source == path
    assert "No such file or directory" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_errors_in_a_multi_document_file_name_the_document() -> None:
    text = f"{edit('metadata.name', 'ok')}---\n{edit('spec.containers[0].image', DELETE)}"
    errors = errors_of(text)
    assert errors == [FieldError("doc[1].spec.containers[0].image", "Required value")]


def test_all_errors_are_reported() -> None:
    doc = base()
    spec = doc["spec"]
    spec["hostNetwork"] = True
    spec["restartPolicy"] = "Sometimes"
    spec["containers"][0]["image"] = ""
    spec["containers"][0]["livenessProve"] = {"exec": {"command": ["true"]}}
    spec["containers"][0]["ports"][0]["containerPort"] = 0
    spec["containers"].append(container("app", readinessProbe={"periodSeconds": -1}))
    errors = errors_of(yaml.safe_dump(doc))
    assert {e.path for e in errors} == {
        "spec.hostNetwork",
        "spec.restartPolicy",
        "spec.containers[0].image",
        "spec.containers[0].livenessProve",
        "spec.containers[0].ports[0].containerPort",
        "spec.containers[1].name",
        "spec.containers[1].readinessProbe",
        "spec.containers[1].readinessProbe.periodSeconds",
    }, describe(errors)
    assert len(errors) == 8, describe(errors)


def test_spec_error_message_names_the_source() -> None:
    with pytest.raises(SpecError) as info:
        parse_pods(edit("spec.hostNetwork", True), "pod.yaml")
    assert str(info.value) == "pod.yaml: spec.hostNetwork: not supported by minipod"


def test_kind_error_stops_before_the_body() -> None:
    # A Deployment's fields (replicas, template...) are not "unknown Pod fields".
    doc = base()
    doc.update(kind="Deployment", apiVersion="apps/v1")
    doc["spec"] = {"replicas": 2, "template": {}}
    errors = errors_of(yaml.safe_dump(doc))
    assert [e.path for e in errors] == ["kind"]  # one error names the document
