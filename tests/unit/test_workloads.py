"""Deployments and ReplicaSets: parsing (minipod.api.manifest.parse_objects), the
template hash and pod names, the controllers' decisions (minipod.api.workloads)
and `minipod scale` / the workload tables of `minipod get` (minipod.cli.workloads).

Expected messages and field paths are the API server's (pkg/apis/apps/validation,
printed as servers from v1.34 do, with JSON values); the controllers' steps
are those of pkg/controller/deployment rolloutRolling / rolloutRecreate and
pkg/controller/replicaset manageReplicas.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from minipod.api import kinds, workloads
from minipod.api.errors import FieldError, SpecError, StateError
from minipod.api.manifest import load_objects, parse_objects, parse_pods
from minipod.api.model import (
    LabelSelector,
    LabelSelectorRequirement,
    Manifest,
    OwnerReference,
    RollingUpdate,
    Workload,
)
from minipod.api.record import SupervisorRef, WorkloadRecord
from minipod.api.workloads import ALPHANUMS, Actions, PodView, reconcile, template_hash
from minipod.cli import workloads as cli_workloads
from minipod.kernel import state

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
        tier: front
      annotations:
        example.com/owner: team-a
    spec:
      containers:
      - name: web
        image: busybox
        command: [httpd, -f, -p, "8080"]
        readinessProbe:
          tcpSocket: {port: 8080}
"""

DELETE = object()


def doc(kind: str = "Deployment") -> dict[str, Any]:
    """A valid workload as a mapping; a ReplicaSet is the same without a strategy."""
    data: dict[str, Any] = yaml.safe_load(DEPLOYMENT)
    data["kind"] = kind
    return data


def edit(path: str, value: Any, kind: str = "Deployment") -> str:
    """DEPLOYMENT (or the ReplicaSet) with one field set (or DELETEd), as YAML."""
    data = doc(kind)
    *parents, last = _split(path)
    node: Any = data
    for key in parents:
        if isinstance(key, str) and key not in node:
            node[key] = {}
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return yaml.safe_dump(data)


def _split(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for token in path.split("."):
        name, *indexes = re.split(r"\[(\d+)\]", token)
        parts.append(name)
        parts.extend(int(i) for i in indexes if i)
    return parts


def errors_of(text: str) -> list[FieldError]:
    with pytest.raises(SpecError) as info:
        parse_objects(text)
    return info.value.errors


def describe(errors: list[FieldError]) -> str:
    return "\n".join(str(e) for e in errors)


def only(text: str) -> Workload:
    manifest = parse_objects(text)
    assert manifest.pods == []
    (workload,) = manifest.workloads
    return workload


# ---------------------------------------------------------------------------
# parsing: good manifests
# ---------------------------------------------------------------------------


def test_deployment_fields_and_defaults() -> None:
    w = only(DEPLOYMENT)
    assert (w.kind, w.name, w.namespace, w.replicas) == ("Deployment", "web", "default", 3)
    assert w.labels == {"app": "web"}
    assert w.selector == LabelSelector({"app": "web"})
    assert w.template.labels == {"app": "web", "tier": "front"}
    assert w.template.annotations == {"example.com/owner": "team-a"}
    (container,) = w.template.spec.containers
    assert (container.name, container.image) == ("web", "busybox")
    assert container.readiness_probe is not None
    assert w.template.spec.restart_policy == "Always"
    # SetDefaults_Deployment
    assert w.strategy == "RollingUpdate"
    assert w.rolling_update == RollingUpdate("25%", "25%")
    assert (w.min_ready_seconds, w.revision_history_limit, w.progress_deadline_seconds) == (
        0, 10, 600)
    assert w.template.manifest["spec"]["containers"][0]["image"] == "busybox"
    assert w.manifest_spec["replicas"] == 3


def test_replicas_default_to_one_and_zero_is_allowed() -> None:
    assert only(edit("spec.replicas", DELETE)).replicas == 1
    assert only(edit("spec.replicas", 0)).replicas == 0


def test_replica_set_with_match_expressions() -> None:
    data = doc("ReplicaSet")
    data["metadata"]["namespace"] = "team-a"
    data["spec"]["selector"] = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "edge"]},
            {"key": "env", "operator": "NotIn", "values": ["test"]},
            {"key": "app", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    w = only(yaml.safe_dump(data))
    assert (w.kind, w.namespace) == ("ReplicaSet", "team-a")
    assert w.revision_history_limit is None and w.rolling_update is None
    selector = w.selector
    assert selector.match_expressions[0] == LabelSelectorRequirement("tier", "In",
                                                                      ("front", "edge"))
    assert selector.matches({"app": "web", "tier": "front"})
    assert selector.matches({"app": "web", "tier": "edge", "env": "prod"})
    assert not selector.matches({"app": "web", "tier": "back"})
    assert not selector.matches({"app": "web", "tier": "front", "env": "test"})
    assert not selector.matches({"app": "web", "tier": "front", "legacy": ""})
    assert not selector.matches({"tier": "front"})


def test_recreate_and_rolling_update_parameters() -> None:
    w = only(edit("spec.strategy", {"type": "Recreate"}))
    assert (w.strategy, w.rolling_update) == ("Recreate", None)
    w = only(edit("spec.strategy", {"rollingUpdate": {"maxSurge": 2, "maxUnavailable": "50%"}}))
    assert (w.strategy, w.rolling_update) == ("RollingUpdate", RollingUpdate(2, "50%"))
    w = only(edit("spec.strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0}}))
    assert w.rolling_update == RollingUpdate(0, "25%")  # the other one defaulted


def test_optional_deployment_fields_are_accepted() -> None:
    data = doc()
    data["spec"].update(minReadySeconds=5, revisionHistoryLimit=0, progressDeadlineSeconds=60,
                        paused=False)
    data["status"] = {"replicas": 3, "observedGeneration": 2}  # kubectl get -o yaml output
    data["spec"]["template"]["metadata"]["name"] = "ignored"
    w = only(yaml.safe_dump(data))
    assert (w.min_ready_seconds, w.revision_history_limit, w.progress_deadline_seconds) == (
        5, 0, 60)


def test_one_file_with_pods_deployments_and_replica_sets() -> None:
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: a, image: busybox}]\n"
    text = "---\n".join([DEPLOYMENT, pod, edit("kind", "ReplicaSet"),
                         edit("metadata.namespace", "other")])
    manifest = parse_objects(text, "all.yaml")
    assert isinstance(manifest, Manifest)
    assert [p.name for p in manifest.pods] == ["web"]  # the same name in another kind is fine
    assert [(w.kind, w.namespace, w.name) for w in manifest.workloads] == [
        ("Deployment", "default", "web"), ("ReplicaSet", "default", "web"),
        ("Deployment", "other", "web")]
    assert [w.source for w in manifest.workloads] == ["all.yaml#0", "all.yaml#2", "all.yaml#3"]


def test_load_objects_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(DEPLOYMENT)
    (w,) = load_objects(str(path)).workloads
    assert w.source == str(path)
    with pytest.raises(SpecError, match="cannot read manifest"):
        load_objects(str(tmp_path / "missing.yaml"))


def test_parse_pods_still_takes_pods_only() -> None:
    with pytest.raises(SpecError) as info:
        parse_pods(DEPLOYMENT)
    assert [str(e) for e in info.value.errors] == [
        'kind: "Deployment" is not supported by minipod (apps/v1 Deployment "web"; '
        'supported: Pod)',
    ]


def test_every_error_of_a_workload_is_reported() -> None:
    data = doc()
    data["spec"]["replicas"] = -2
    data["spec"]["strategy"] = {"type": "Recreate", "rollingUpdate": {}}
    data["spec"]["template"]["metadata"]["labels"] = {"app": "api"}
    data["spec"]["template"]["spec"]["containers"][0]["imag"] = "x"
    errors = errors_of(yaml.safe_dump(data))
    assert {e.path for e in errors} == {
        "spec.replicas",
        "spec.strategy.rollingUpdate",
        "spec.template.metadata.labels",
        "spec.template.spec.containers[0].imag",
    }, describe(errors)


def test_empty_manifest() -> None:
    assert [str(e) for e in errors_of("# nothing\n")] == [
        "no Pod, Deployment, ReplicaSet, ConfigMap, Secret or Service found: the manifest"
        " has no documents"]


# ---------------------------------------------------------------------------
# parsing: bad manifests (text, exact path, part of the message)
# ---------------------------------------------------------------------------

TEMPLATE = "spec.template"
CONTAINER0 = "spec.template.spec.containers[0]"
ROLLING = "spec.strategy.rollingUpdate"
TWO_WEBS = f"{DEPLOYMENT}---\n{DEPLOYMENT}"


def expressions(*items: dict[str, Any]) -> str:
    return edit("spec.selector", {"matchLabels": {"app": "web"}, "matchExpressions": list(items)})


BAD: list[tuple[str, str, str, str]] = [
    # --- the document
    ("kind unknown", edit("kind", "StatefulSet"), "kind",
     '"StatefulSet" is not supported by minipod (apps/v1 StatefulSet "web"; supported: Pod, '
     'Deployment, ReplicaSet, ConfigMap, Secret, Service)'),
    ("apiVersion v1", edit("apiVersion", "v1"), "apiVersion",
     '"v1" is not supported (supported: apps/v1)'),
    ("apiVersion extensions", edit("apiVersion", "extensions/v1beta1"), "apiVersion",
     '"extensions/v1beta1" is not supported (supported: apps/v1)'),
    ("unknown top-level key", edit("sepc", {}), "sepc", 'unknown field "sepc"; did you mean "spec"?'),
    ("spec missing", edit("spec", DELETE), "spec", "Required value"),
    ("name not DNS", edit("metadata.name", "Web_1"), "metadata.name",
     'Invalid value: "Web_1": a lowercase RFC 1123 subdomain'),
    ("duplicate names", TWO_WEBS, "doc[1].metadata.name", 'Duplicate value: "web"'),
    # --- spec
    ("unknown spec field", edit("spec.replica", 2), "spec.replica",
     'unknown field "replica"; did you mean "replicas"?'),
    ("replicas negative", edit("spec.replicas", -1), "spec.replicas",
     "Invalid value: -1: must be greater than or equal to 0"),
    ("replicas a string", edit("spec.replicas", "3"), "spec.replicas",
     'must be an integer (got string "3")'),
    ("minReadySeconds negative", edit("spec.minReadySeconds", -1), "spec.minReadySeconds",
     "Invalid value: -1: must be greater than or equal to 0"),
    ("minReadySeconds over the deadline", edit("spec.minReadySeconds", 600),
     "spec.progressDeadlineSeconds", "Invalid value: 600: must be greater than minReadySeconds"),
    ("revisionHistoryLimit negative", edit("spec.revisionHistoryLimit", -1),
     "spec.revisionHistoryLimit", "Invalid value: -1: must be greater than or equal to 0"),
    ("paused", edit("spec.paused", True), "spec.paused",
     "Invalid value: true: not supported by minipod"),
    ("replica set strategy", edit("spec.strategy", {"type": "Recreate"}, kind="ReplicaSet"),
     "spec.strategy", 'unknown field "strategy"'),
    # --- selector
    ("selector missing", edit("spec.selector", DELETE), "spec.selector", "Required value"),
    ("selector empty", edit("spec.selector", {}), "spec.selector",
     "Invalid value: {}: empty selector is invalid for deployment"),
    ("replica set selector empty", edit("spec.selector", {"matchLabels": {}}, "ReplicaSet"),
     "spec.selector", "empty selector is invalid for deployment"),
    ("selector typo", edit("spec.selector.matchLabel", {"app": "web"}),
     "spec.selector.matchLabel", 'unknown field "matchLabel"; did you mean "matchLabels"?'),
    ("matchLabels bad key", edit("spec.selector.matchLabels", {"-app": "web"}),
     "spec.selector.matchLabels", 'Invalid value: "-app": name part must consist of'),
    ("matchLabels bad value", edit("spec.selector.matchLabels", {"app": "web!"}),
     "spec.selector.matchLabels", 'Invalid value: "web!": a valid label must be'),
    ("operator unknown", expressions({"key": "tier", "operator": "Has", "values": ["a"]}),
     "spec.selector.matchExpressions[0].operator",
     'Invalid value: "Has": not a valid selector operator'),
    ("In without values", expressions({"key": "tier", "operator": "In"}),
     "spec.selector.matchExpressions[0].values",
     "Required value: must be specified when `operator` is 'In' or 'NotIn'"),
    ("Exists with values", expressions({"key": "tier", "operator": "Exists", "values": ["a"]}),
     "spec.selector.matchExpressions[0].values",
     "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"),
    ("expression bad value", expressions({"key": "tier", "operator": "In", "values": ["a b"]}),
     "spec.selector.matchExpressions[0].values[0]", 'Invalid value: "a b": a valid label must be'),
    ("expression key missing", expressions({"operator": "Exists"}),
     "spec.selector.matchExpressions[0].key", "Required value"),
    ("selector does not match", edit(f"{TEMPLATE}.metadata.labels", {"app": "api", "x": "y"}),
     f"{TEMPLATE}.metadata.labels",
     'Invalid value: {"app":"api","x":"y"}: `selector` does not match template `labels`'),
    ("template without labels", edit(f"{TEMPLATE}.metadata", DELETE),
     f"{TEMPLATE}.metadata.labels", "Invalid value: {}: `selector` does not match"),
    ("expression does not match", expressions({"key": "tier", "operator": "NotIn",
                                                "values": ["front"]}),
     f"{TEMPLATE}.metadata.labels", "`selector` does not match template `labels`"),
    # --- template
    ("template missing", edit("spec.template", DELETE), "spec.template", "Required value"),
    ("template spec missing", edit(f"{TEMPLATE}.spec", DELETE), f"{TEMPLATE}.spec",
     "Required value"),
    ("template metadata typo", edit(f"{TEMPLATE}.metadata.lables", {}),
     f"{TEMPLATE}.metadata.lables", 'unknown field "lables"; did you mean "labels"?'),
    ("template bad annotation", edit(f"{TEMPLATE}.metadata.annotations", {"a/b/c": "x"}),
     f"{TEMPLATE}.metadata.annotations", "at most one '/'"),
    ("image missing", edit(f"{CONTAINER0}.image", DELETE), f"{CONTAINER0}.image",
     "Required value"),
    ("container typo", edit(f"{CONTAINER0}.imagePullPolicyy", "Always"),
     f"{CONTAINER0}.imagePullPolicyy", 'did you mean "imagePullPolicy"?'),
    ("probe deep in the template", edit(f"{CONTAINER0}.readinessProbe.periodSeconds", -1),
     f"{CONTAINER0}.readinessProbe.periodSeconds", "must be >= 1"),
    ("restartPolicy Never", edit(f"{TEMPLATE}.spec.restartPolicy", "Never"),
     f"{TEMPLATE}.spec.restartPolicy", 'Unsupported value: "Never": supported values: "Always"'),
    ("restartPolicy OnFailure", edit(f"{TEMPLATE}.spec.restartPolicy", "OnFailure",
                                     "ReplicaSet"),
     f"{TEMPLATE}.spec.restartPolicy", 'Unsupported value: "OnFailure"'),
    ("activeDeadlineSeconds", edit(f"{TEMPLATE}.spec.activeDeadlineSeconds", 5),
     f"{TEMPLATE}.spec.activeDeadlineSeconds", "not supported by minipod"),
    # --- strategy
    ("strategy type", edit("spec.strategy.type", "BlueGreen"), "spec.strategy.type",
     'Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"'),
    ("Recreate with rollingUpdate", edit("spec.strategy", {"type": "Recreate",
                                                           "rollingUpdate": {"maxSurge": 1}}),
     ROLLING, "Forbidden: may not be specified when strategy `type` is 'Recreate'"),
    ("maxSurge not a percent", edit(f"{ROLLING}.maxSurge", "20Percent"), f"{ROLLING}.maxSurge",
     "Invalid value: \"20Percent\": a valid percent string must be a numeric string followed by"
     " an ending '%'"),
    ("maxSurge negative", edit(f"{ROLLING}.maxSurge", -1), f"{ROLLING}.maxSurge",
     "Invalid value: -1: must be greater than or equal to 0"),
    ("maxSurge a boolean", edit(f"{ROLLING}.maxSurge", True), f"{ROLLING}.maxSurge",
     "must be an integer or a percentage such as 25% (got boolean true)"),
    ("both zero", edit(ROLLING, {"maxSurge": 0, "maxUnavailable": 0}),
     f"{ROLLING}.maxUnavailable", "Invalid value: 0: may not be 0 when `maxSurge` is 0"),
    ("both zero percent", edit(ROLLING, {"maxSurge": "0%", "maxUnavailable": "0%"}),
     f"{ROLLING}.maxUnavailable", 'Invalid value: "0%": may not be 0 when `maxSurge` is 0'),
    ("maxUnavailable over 100%", edit(f"{ROLLING}.maxUnavailable", "110%"),
     f"{ROLLING}.maxUnavailable", 'Invalid value: "110%": must not be greater than 100%'),
    ("rollingUpdate typo", edit(f"{ROLLING}.maxSurges", 1), f"{ROLLING}.maxSurges",
     'did you mean "maxSurge"?'),
]  # fmt: skip


@pytest.mark.parametrize(("text", "path", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_workload(text: str, path: str, message: str) -> None:
    errors = errors_of(text)
    assert any(e.path == path and message in e.message for e in errors), (
        f"expected {path!r}: ...{message}...; got\n{describe(errors)}"
    )


def test_a_kind_error_stops_before_the_body() -> None:
    data = doc()
    data["kind"] = "StatefulSet"
    data["spec"]["serviceName"] = "web"
    assert [e.path for e in errors_of(yaml.safe_dump(data))] == ["kind"]


# ---------------------------------------------------------------------------
# template hash
# ---------------------------------------------------------------------------


def test_fnv1a_and_safe_encoding_match_go() -> None:
    # hash/fnv New32a test vectors
    assert workloads.fnv1a_32(b"") == 0x811C9DC5
    assert workloads.fnv1a_32(b"a") == 0xE40C292C
    assert workloads.fnv1a_32(b"foobar") == 0xBF9CF968
    # rand.SafeEncodeString maps each byte into the alphabet by its code
    assert workloads.safe_encode_string("0123456789") == "456789bcdf"
    assert ALPHANUMS == "bcdfghjklmnpqrstvwxz2456789"


def test_template_hash_is_pinned() -> None:
    # FNV-1a of '{"spec":{}}' is 1547770878: a change of encoding shows here.
    assert workloads.fnv1a_32(b'{"spec":{}}') == 1547770878
    assert template_hash({"spec": {}}) == workloads.safe_encode_string("1547770878")
    assert template_hash({"spec": {}}) == "598ccc4dcd"


def test_template_hash_ignores_key_order_and_formatting() -> None:
    w = only(DEPLOYMENT)
    reordered = doc()
    template = reordered["spec"]["template"]
    reordered["spec"]["template"] = {"spec": template["spec"], "metadata": template["metadata"]}
    flow = json.dumps(reordered, indent=None)  # JSON is flow-style YAML
    assert template_hash(only(flow).template) == template_hash(w.template)
    h = template_hash(w.template)
    assert 1 <= len(h) <= 10 and set(h) <= set("456789bcdf"), h


def test_template_hash_follows_the_template_only() -> None:
    h = template_hash(only(DEPLOYMENT).template)
    assert template_hash(only(edit(f"{CONTAINER0}.image", "busybox:1.36")).template) != h
    assert template_hash(only(edit(f"{TEMPLATE}.metadata.labels.tier", "back")).template) != h
    assert template_hash(only(edit("spec.replicas", 7)).template) == h
    assert template_hash(only(edit("metadata.labels", {"x": "y"})).template) == h
    assert template_hash(only(DEPLOYMENT).template, collision_count=1) != h


def test_template_hash_takes_yaml_only_values() -> None:
    # an ignored server-set timestamp is a datetime once YAML reads it
    text = edit(f"{TEMPLATE}.metadata.creationTimestamp", "2024-01-01T00:00:00Z")
    text = text.replace("'2024-01-01T00:00:00Z'", "2024-01-01T00:00:00Z")
    assert template_hash(only(text).template)


# ---------------------------------------------------------------------------
# names, labels, the pods built
# ---------------------------------------------------------------------------

_POD_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def test_pod_name_shape() -> None:
    name = workloads.pod_name("web-5897b54569", random.Random(1))
    prefix, suffix = name[:-5], name[-5:]
    assert prefix == "web-5897b54569-"
    assert set(suffix) <= set(ALPHANUMS)
    assert name == workloads.pod_name("web-5897b54569", random.Random(1))  # the rng decides


@pytest.mark.parametrize(("length", "expected_prefix"), [
    (56, 57),  # "<56>-" fits: 57 + 5
    (57, 58),  # "<57>-" is exactly the 58 generateName keeps
    (58, 58),  # "<58>-" is cut: the dash goes
    (100, 58),
    (253, 58),  # the longest DNS subdomain
])  # fmt: skip
def test_pod_name_base_is_cut_as_generate_name_does(length: int, expected_prefix: int) -> None:
    base = "a" * length
    name = workloads.pod_name(base, random.Random(0))
    assert len(name) == expected_prefix + 5 <= 63
    assert name.startswith((base + "-")[:expected_prefix])
    assert _POD_NAME_RE.fullmatch(name)


def test_replica_set_and_pod_names_of_a_long_deployment() -> None:
    w = only(edit("metadata.name", "d" * 250))
    h = template_hash(w.template)
    assert workloads.replica_set_name(w) == f"{'d' * 250}-{h}"
    (name, _), *_ = reconcile(w, [], 0.0, random.Random(0)).create
    assert len(name) == 63 and name.startswith("d" * 58)


def test_replica_set_name_of_a_bare_replica_set_is_its_own() -> None:
    w = only(edit("kind", "ReplicaSet"))
    assert workloads.replica_set_name(w) == "web"
    (name, _), *_ = reconcile(w, [], 0.0, random.Random(0)).create
    assert name.startswith("web-") and len(name) == 9


def test_build_pod_of_a_deployment() -> None:
    w = only(edit("metadata.namespace", "team-a"))
    h = template_hash(w.template)
    pod = workloads.build_pod(w, f"web-{h}-bcdfg")
    assert (pod.name, pod.namespace) == (f"web-{h}-bcdfg", "team-a")
    assert pod.labels == {"app": "web", "tier": "front", "pod-template-hash": h}
    assert pod.annotations == {"example.com/owner": "team-a"}
    assert pod.owner == OwnerReference("ReplicaSet", f"web-{h}")
    assert pod.owner.to_api()["controller"] is True
    assert pod.spec is w.template.spec
    assert pod.manifest_spec == w.template.manifest["spec"]
    assert w.selector.matches(pod.labels)


def test_build_pod_of_a_replica_set_has_no_hash_label() -> None:
    w = only(edit("kind", "ReplicaSet"))
    pod = workloads.build_pod(w, "web-bcdfg")
    assert pod.labels == {"app": "web", "tier": "front"}
    assert pod.owner == OwnerReference("ReplicaSet", "web")


# ---------------------------------------------------------------------------
# the controllers
# ---------------------------------------------------------------------------

NOW = 1_700_000_000.0


def view(name: str, hash_: str = "", *, ready: bool = True, phase: str = "Running",
         created: float = NOW - 100, terminating: bool = False, restarts: int = 0,
         ready_since: float | None = None) -> PodView:
    return PodView(name, hash_, phase, ready, terminating, created, restarts, ready_since)


def deployment(replicas: int = 3, strategy: dict[str, Any] | None = None,
               image: str = "busybox", kind: str = "Deployment", **spec: Any) -> Workload:
    data = doc(kind)
    data["spec"]["replicas"] = replicas
    data["spec"]["template"]["spec"]["containers"][0]["image"] = image
    if strategy is not None:
        data["spec"]["strategy"] = strategy
    data["spec"].update(spec)
    return only(yaml.safe_dump(data))


class Cluster:
    """Applies Actions the way the supervisor will: new pods start Pending and
    not ready; deleted pods terminate (or vanish at once)."""

    def __init__(self, workload: Workload, pods: list[PodView], now: float = NOW) -> None:
        self.workload, self.pods, self.now = workload, pods, now
        self.rng = random.Random(4)
        self.trace: list[str] = []

    def sync(self, *, linger: bool = False) -> Actions:
        actions = reconcile(self.workload, self.pods, self.now, self.rng)
        if actions.create:
            self.trace.append(f"create {len(actions.create)}")
        if actions.delete:
            hashes = {p.template_hash for p in self.pods if p.name in actions.delete}
            self.trace.append(f"delete {len(actions.delete)} {''.join(sorted(hashes))}")
        doomed = set(actions.delete)
        if linger:
            self.pods = [dataclass_replace(p, terminating=True) if p.name in doomed else p
                         for p in self.pods]
        else:
            self.pods = [p for p in self.pods if p.name not in doomed]
        self.pods += [view(name, h, ready=False, phase="Pending", created=self.now)
                      for name, h in actions.create]
        self.now += 1
        return actions

    def ready_one(self) -> bool:
        """The oldest pending pod becomes ready, as a kubelet would report it."""
        for i, pod in enumerate(self.pods):
            if not pod.ready and not pod.terminating:
                self.pods[i] = dataclass_replace(pod, ready=True, phase="Running",
                                                 ready_since=self.now)
                return True
        return False

    def finish_terminating(self) -> None:
        self.pods = [p for p in self.pods if not p.terminating]

    def active(self) -> list[PodView]:
        return [p for p in self.pods if workloads.is_active(p)]


def dataclass_replace(pod: PodView, **changes: Any) -> PodView:
    return dataclasses.replace(pod, **changes)


def current(w: Workload) -> str:
    return template_hash(w.template)


def test_replica_set_scales_up_with_unique_names() -> None:
    w = deployment(kind="ReplicaSet", replicas=3)
    actions = reconcile(w, [], NOW, random.Random(0))
    assert len(actions.create) == 3 and actions.delete == []
    names = [name for name, _ in actions.create]
    assert len(set(names)) == 3 and all(n.startswith("web-") for n in names)
    assert {h for _, h in actions.create} == {current(w)}


@pytest.mark.parametrize("kind", ["ReplicaSet", "Deployment"])
def test_at_most_burst_replicas_a_sync(kind: str) -> None:
    """replicas: 2147483647 is a valid int32; the fuzzer's Deployment of it hung
    the supervisor drawing two billion names. The ReplicaSet controller
    creates (and deletes) at most burstReplicas a sync, the rest in the next."""
    w = deployment(kind=kind, replicas=2**31 - 1)
    actions = reconcile(w, [], NOW, random.Random(0))
    assert len(actions.create) == workloads.BURST_REPLICAS == 500
    assert actions.requeue_at == NOW  # the rest comes in the next sync
    h = current(w)
    made = [view(name, h) for name, _ in actions.create]
    assert len(reconcile(w, made, NOW, random.Random(1)).create) == 500
    down = deployment(kind="ReplicaSet", replicas=0)
    many = [view(f"p{i}", current(down)) for i in range(1200)]
    assert len(reconcile(down, many, NOW).delete) == 500


def test_new_names_avoid_the_names_in_use() -> None:
    class Fixed(random.Random):
        def __init__(self, letters: str) -> None:
            super().__init__(0)
            self.letters = iter(letters)

        def choice(self, seq: Any) -> Any:
            return next(self.letters)

    w = deployment(kind="ReplicaSet", replicas=2)
    existing = [view("web-bbbbb")]
    actions = reconcile(w, existing, NOW, Fixed("bbbbb" "ccccc" "ccccc" "ddddd" "fffff"),
                        taken={"web-ddddd"})
    assert [n for n, _ in actions.create] == ["web-ccccc"]
    w3 = deployment(kind="ReplicaSet", replicas=3)
    actions = reconcile(w3, existing, NOW, Fixed("ccccc" "ccccc" "ddddd" "fffff"),
                        taken={"web-ddddd"})
    assert [n for n, _ in actions.create] == ["web-ccccc", "web-fffff"]


def test_steady_state_does_nothing() -> None:
    w = deployment()
    h = current(w)
    pods = [view(f"p{i}", h) for i in range(3)]
    assert reconcile(w, pods, NOW) == Actions()


def test_a_deleted_pod_is_replaced_while_the_others_keep_serving() -> None:
    w = deployment()
    h = current(w)
    pods = [view("a", h), view("b", h), view("c", h, terminating=True)]
    actions = reconcile(w, pods, NOW, random.Random(0))
    assert [hash_ for _, hash_ in actions.create] == [h]
    assert actions.delete == []
    (name, _), = actions.create
    assert name not in {"a", "b", "c"}
    # and once the pod is gone entirely, the count is the same
    assert len(reconcile(w, pods[:2], NOW).create) == 1


def test_finished_pods_are_not_counted_nor_deleted() -> None:
    w = deployment(kind="ReplicaSet", replicas=2)
    pods = [view("a"), view("b", phase="Failed", ready=False),
            view("c", phase="Succeeded", ready=False)]
    actions = reconcile(w, pods, NOW)
    assert len(actions.create) == 1 and actions.delete == []


def test_scale_down_deletes_in_active_pods_order() -> None:
    w = deployment(kind="ReplicaSet", replicas=0)
    pods = [
        view("running-ready-old", created=NOW - 500, ready_since=NOW - 400),
        view("running-ready-recently", created=NOW - 500, ready_since=NOW - 10),
        view("running-ready-unknown-since", created=NOW - 500),
        view("running-not-ready", ready=False),
        view("running-not-ready-restarting", ready=False, restarts=4),
        view("running-not-ready-newer", ready=False, created=NOW - 5),
        view("unknown", phase="Unknown", ready=False),
        view("pending", phase="Pending", ready=False),
    ]
    order = [p.name for p in workloads.deletion_order(pods)]
    assert order == [
        "pending",
        "unknown",
        "running-not-ready-restarting",
        "running-not-ready-newer",
        "running-not-ready",
        "running-ready-unknown-since",
        "running-ready-recently",
        "running-ready-old",
    ]
    assert reconcile(w, pods, NOW).delete == order


def test_scale_down_keeps_the_best_pods() -> None:
    w = deployment(kind="ReplicaSet", replicas=2)
    pods = [view("old", created=NOW - 900), view("new", created=NOW - 10),
            view("sick", ready=False, created=NOW - 900), view("mid", created=NOW - 300)]
    assert reconcile(w, pods, NOW).delete == ["sick", "new"]


def test_scaled_changes_only_the_count() -> None:
    w = deployment(replicas=3)
    h = current(w)
    pods = [view(f"p{i}", h) for i in range(3)]
    up = workloads.scaled(w, 5)
    assert up.replicas == 5 and current(up) == h
    assert len(reconcile(up, pods, NOW).create) == 2
    assert len(reconcile(workloads.scaled(w, 1), pods, NOW).delete) == 2
    assert sorted(reconcile(workloads.scaled(w, 0), pods, NOW).delete) == ["p0", "p1", "p2"]
    with pytest.raises(SpecError, match=r"spec.replicas: Invalid value: -1"):
        workloads.scaled(w, -1)


def test_replica_set_does_not_roll_a_changed_template() -> None:
    w = deployment(kind="ReplicaSet", replicas=2, image="busybox:2")
    pods = [view("a", "older"), view("b", "older")]
    assert reconcile(w, pods, NOW) == Actions()


@pytest.mark.parametrize(("surge", "unavailable", "replicas", "expected"), [
    ("25%", "25%", 3, (1, 0)),
    ("25%", "25%", 4, (1, 1)),
    ("25%", "25%", 10, (3, 2)),
    (0, "25%", 1, (0, 1)),  # both resolve to 0: one may be unavailable
    ("0%", 0, 5, (0, 1)),
    (2, "50%", 5, (2, 2)),
    ("100%", "100%", 3, (3, 3)),
    ("25%", "25%", 0, (0, 1)),
])  # fmt: skip
def test_resolve_fenceposts(surge: int | str, unavailable: int | str, replicas: int,
                            expected: tuple[int, int]) -> None:
    assert workloads.resolve_fenceposts(surge, unavailable, replicas) == expected


def roll(cluster: Cluster, max_total: int, min_available: int, steps: int = 100) -> None:
    """Sync until the rollout is done, one pod getting ready whenever nothing
    moves, checking Kubernetes' two promises after every step."""
    target = current(cluster.workload)
    for _ in range(steps):
        actions = cluster.sync()
        active = cluster.active()
        assert len(active) <= max_total, cluster.trace
        assert sum(p.ready for p in active) >= min_available, cluster.trace
        if not actions.create and not actions.delete and not cluster.ready_one():
            break
    assert [p.template_hash for p in cluster.pods] == [target] * cluster.workload.replicas
    assert all(p.ready for p in cluster.pods)


def test_rolling_update_one_at_a_time() -> None:
    # replicas 3 with the default 25%/25%: maxSurge 1, maxUnavailable 0
    w = deployment(replicas=3, image="busybox:2")
    cluster = Cluster(w, [view(f"old{i}", "old") for i in range(3)])
    roll(cluster, max_total=4, min_available=3)
    assert cluster.trace == ["create 1", "delete 1 old"] * 3


def test_rolling_update_step_by_step() -> None:
    w = deployment(replicas=3, image="busybox:2")
    h = current(w)
    cluster = Cluster(w, [view(f"old{i}", "old") for i in range(3)])
    first = cluster.sync()
    assert len(first.create) == 1 and first.delete == []
    assert cluster.sync() == Actions()  # the new pod is not ready: nothing may go
    cluster.ready_one()
    step = cluster.sync()
    assert step.create == [] and len(step.delete) == 1  # an old one goes...
    assert step.delete[0].startswith("old")
    assert len(cluster.sync().create) == 1  # ...and the next new one comes
    assert sum(p.template_hash == h for p in cluster.pods) == 2


def test_rolling_update_with_surge_and_unavailability() -> None:
    # replicas 4 with 25%/25%: one extra pod, one missing at most
    w = deployment(replicas=4, image="busybox:2")
    cluster = Cluster(w, [view(f"old{i}", "old") for i in range(4)])
    roll(cluster, max_total=5, min_available=3)
    assert cluster.trace[:2] == ["create 1", "delete 1 old"]  # without waiting


def test_rolling_update_without_surge_deletes_first() -> None:
    w = deployment(replicas=3, image="busybox:2",
                   strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    cluster = Cluster(w, [view(f"old{i}", "old") for i in range(3)])
    roll(cluster, max_total=3, min_available=2)
    assert cluster.trace[:2] == ["delete 1 old", "create 1"]


@pytest.mark.parametrize(("replicas", "surge", "unavailable"), [
    (1, "25%", "25%"), (2, 1, 0), (5, "50%", "50%"), (5, 0, 2), (6, 3, 0), (7, "100%", 0),
])  # fmt: skip
def test_rolling_update_keeps_its_promises(replicas: int, surge: int | str,
                                           unavailable: int | str) -> None:
    w = deployment(replicas=replicas, image="busybox:2",
                   strategy={"rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
    s, u = workloads.resolve_fenceposts(surge, unavailable, replicas)
    cluster = Cluster(w, [view(f"old{i}", "old") for i in range(replicas)])
    roll(cluster, max_total=replicas + s, min_available=replicas - u)


def test_rolling_update_over_several_old_templates_oldest_first() -> None:
    w = deployment(replicas=2, image="busybox:3",
                   strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    pods = [view("v2-a", "v2", created=NOW - 50), view("v1-a", "v1", created=NOW - 500)]
    assert reconcile(w, pods, NOW).delete == ["v1-a"]


def test_rolling_update_removes_unhealthy_old_pods_first() -> None:
    w = deployment(replicas=3, image="busybox:2")
    pods = [view("old-ok-1", "old"), view("old-ok-2", "old"), view("old-sick", "old", ready=False),
            view("new-1", current(w))]
    # 4 pods = replicas + maxSurge: no creation; 3 available of 3 needed, and the
    # sick old one counts for nothing, so it may go
    assert reconcile(w, pods, NOW).delete == ["old-sick"]


def test_a_broken_new_template_stops_the_rollout() -> None:
    w = deployment(replicas=3, image="busybox:broken")
    cluster = Cluster(w, [view(f"old{i}", "old") for i in range(3)])
    for _ in range(5):
        cluster.sync()  # the new pod never gets ready
    assert cluster.trace == ["create 1"]
    assert sum(p.template_hash == "old" and p.ready for p in cluster.pods) == 3


def test_deployment_scaled_to_zero_mid_rollout() -> None:
    w = deployment(replicas=0, image="busybox:2")
    cluster = Cluster(w, [view("old0", "old"), view("old1", "old"),
                          view("new0", current(w), ready=False)])
    for _ in range(4):
        cluster.sync()
    assert cluster.pods == []


def test_recreate_deletes_everything_then_waits_then_creates() -> None:
    w = deployment(replicas=2, image="busybox:2", strategy={"type": "Recreate"})
    cluster = Cluster(w, [view("old0", "old"), view("old1", "old", ready=False)])
    first = cluster.sync(linger=True)
    assert sorted(first.delete) == ["old0", "old1"] and first.create == []
    assert cluster.sync(linger=True) == Actions()  # old pods still terminating
    cluster.finish_terminating()
    assert [h for _, h in cluster.sync().create] == [current(w)] * 2
    assert cluster.sync() == Actions()


def test_recreate_scales_like_a_replica_set_when_nothing_is_old() -> None:
    w = deployment(replicas=1, strategy={"type": "Recreate"})
    h = current(w)
    assert reconcile(w, [view("a", h), view("b", h, ready=False)], NOW).delete == ["b"]


def test_min_ready_seconds_gates_availability_and_requeues() -> None:
    w = deployment(replicas=1, image="busybox:2", minReadySeconds=10)
    h = current(w)
    pods = [view("old", "old", ready_since=NOW - 1000),
            view("new", h, ready_since=NOW - 4)]
    actions = reconcile(w, pods, NOW)
    assert actions.delete == [] and actions.requeue_at == NOW + 6
    later = reconcile(w, pods, NOW + 6)
    assert later.delete == ["old"] and later.requeue_at is None
    assert workloads.is_available(pods[1], 10, NOW + 6)
    assert not workloads.is_available(pods[1], 10, NOW + 5.9)


# ---------------------------------------------------------------------------
# status, records, re-apply
# ---------------------------------------------------------------------------


def test_status_counts_mid_rollout() -> None:
    w = deployment(replicas=3, image="busybox:2")
    h = current(w)
    pods = [view("o1", "old"), view("o2", "old"), view("n1", h),
            view("n2", h, ready=False, phase="Pending"), view("gone", h, terminating=True)]
    assert workloads.status(w, pods, NOW) == {
        "replicas": 4, "readyReplicas": 3, "availableReplicas": 3, "updatedReplicas": 2,
        "unavailableReplicas": 0}
    rs = deployment(kind="ReplicaSet", replicas=3)
    assert workloads.status(rs, pods, NOW) == {
        "replicas": 4, "readyReplicas": 3, "availableReplicas": 3}


def test_record_holds_what_get_and_scale_read(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))
    w = deployment(replicas=3, image="busybox:2")
    h = current(w)
    pods = [view("o1", "old", created=NOW - 900), view("n1", h, created=NOW - 5)]
    rec = workloads.record(w, pods, NOW, created=NOW - 1000,
                           supervisor=SupervisorRef(42, 1.0, "/run/minipod/supervisors/42.sock")
                           ).to_json()
    assert rec["kind"] == "Deployment" and rec["spec"]["replicas"] == 3
    assert rec["spec"]["templateHash"] == h
    assert rec["status"]["created"] == NOW - 1000 and rec["status"]["updatedReplicas"] == 1
    assert rec["supervisor"]["socket"].endswith("42.sock")
    assert {rs["name"]: (rs["desired"], rs["replicas"]) for rs in rec["replicaSets"]} == {
        "web-old": (1, 1), f"web-{h}": (1, 1)}
    assert WorkloadRecord.from_json(json.loads(json.dumps(rec))).to_json() == rec
    assert state.workload_record_path("default", "Deployment", "web") == (
        tmp_path / "workloads" / "default_deployment_web.json")


def test_check_update_refuses_a_new_selector() -> None:
    old = deployment()
    assert workloads.check_update(old, deployment(replicas=9, image="busybox:2")) == []
    data = doc()
    data["spec"]["selector"]["matchLabels"]["tier"] = "front"
    new = only(yaml.safe_dump(data))
    assert workloads.check_update(old, new) == [FieldError(
        "spec.selector", 'Invalid value: {"matchLabels":{"app":"web","tier":"front"}}:'
        " field is immutable")]


# ---------------------------------------------------------------------------
# minipod scale
# ---------------------------------------------------------------------------


def scale_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minipod")
    cli_workloads.register(parser.add_subparsers(required=True))
    return parser


def test_scale_arguments() -> None:
    args = scale_parser().parse_args(["scale", "deployment", "web", "--replicas", "3"])
    assert (args.type, args.name, args.replicas, args.namespace) == (
        "deployment", "web", 3, "default")
    assert args.handler is cli_workloads.cmd_scale
    args = scale_parser().parse_args(["scale", "rs/web", "--replicas=0", "-n", "team-a"])
    assert (args.type, args.name, args.replicas, args.namespace) == ("rs/web", None, 0, "team-a")


@pytest.mark.parametrize("argv", [
    ["scale", "deployment", "web"],  # --replicas is required
    ["scale", "deployment", "web", "--replicas", "-1"],
    ["scale", "deployment", "web", "--replicas", "three"],
    ["scale"],
])  # fmt: skip
def test_scale_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        scale_parser().parse_args(argv)
    assert info.value.code == 2


@pytest.mark.parametrize(("type_arg", "name", "expected"), [
    ("deployment", "web", ("Deployment", "web")),
    ("deployments", "web", ("Deployment", "web")),
    ("deploy/web", None, ("Deployment", "web")),
    ("deployment.apps/web", None, ("Deployment", "web")),
    ("replicaset", "web", ("ReplicaSet", "web")),
    ("rs/web", None, ("ReplicaSet", "web")),
    ("ReplicaSets.apps", "web", ("ReplicaSet", "web")),
])  # fmt: skip
def test_scale_targets(type_arg: str, name: str | None, expected: tuple[str, str]) -> None:
    assert cli_workloads._target(type_arg, name) == expected


@pytest.mark.parametrize(("type_arg", "name", "message"), [
    ("statefulset", "web", 'doesn\'t have a resource type "statefulset"'),
    ("deployment/web", "web", "no need to specify a resource type as a separate argument"),
    ("deployment", None, "no name was specified"),
])  # fmt: skip
def test_scale_bad_targets(type_arg: str, name: str | None, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        cli_workloads._target(type_arg, name)


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # short: the supervisor's socket lives under it (sun_path is 108 bytes)
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="mpw") as directory:
        monkeypatch.setenv("MINIPOD_ROOT", directory)
        yield Path(directory)


def write_record(w: Workload, pods: list[PodView], socket_path: str, created: float) -> None:
    path = state.workload_record_path(w.namespace, w.kind, w.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = workloads.record(w, pods, time.time(), created=created,
                           supervisor=SupervisorRef(os.getpid(), 1.0, socket_path))
    path.write_text(json.dumps(rec.to_json()))


class FakeSupervisor:
    """Answers one request on a Unix socket, as Supervisor.handle_request would."""

    def __init__(self, path: Path, answer: dict[str, Any]) -> None:
        self.path, self.answer = path, answer
        self.received: list[dict[str, Any]] = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            data = b""
            while b"\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.received.append(json.loads(data))
            conn.sendall(json.dumps(self.answer).encode() + b"\n")

    def close(self) -> None:
        self.thread.join(5)
        self.server.close()


def scale_args(*argv: str) -> argparse.Namespace:
    return scale_parser().parse_args(["scale", *argv])


def test_scale_asks_the_owning_supervisor(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sock = root / "s.sock"
    supervisor = FakeSupervisor(sock, {"ok": True})
    try:
        write_record(deployment(), [], str(sock), time.time())
        assert cli_workloads.cmd_scale(scale_args("deployment", "web", "--replicas", "5")) == 0
    finally:
        supervisor.close()
    assert supervisor.received == [{"op": "scale", "kind": "Deployment", "namespace": "default",
                                     "name": "web", "replicas": 5}]
    assert capsys.readouterr().out == "deployment.apps/web scaled\n"


def test_scale_reports_the_supervisors_refusal(root: Path) -> None:
    sock = root / "s.sock"
    supervisor = FakeSupervisor(sock, {"ok": False, "error": "replicaset web is going away"})
    try:
        write_record(deployment(kind="ReplicaSet"), [], str(sock), time.time())
        with pytest.raises(StateError, match="replicaset web is going away"):
            cli_workloads.cmd_scale(scale_args("rs", "web", "--replicas", "1"))
    finally:
        supervisor.close()


def test_scale_of_an_unknown_deployment(root: Path) -> None:
    with pytest.raises(StateError) as info:
        cli_workloads.cmd_scale(scale_args("deployment", "nope", "--replicas", "1"))
    assert str(info.value) == 'deployments.apps "nope" not found'
    with pytest.raises(StateError, match=r'replicasets.apps "web" not found'):
        cli_workloads.cmd_scale(scale_args("replicaset/web", "--replicas", "1", "-n", "x"))


def test_scale_when_the_supervisor_is_gone(root: Path) -> None:
    write_record(deployment(), [], str(root / "dead.sock"), time.time())
    with pytest.raises(StateError, match=r"the supervisor of deployment.apps/web does not answer"):
        cli_workloads.cmd_scale(scale_args("deployment", "web", "--replicas", "1"))


def test_scale_through_main_exit_codes(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from minipod.cli.parser import main

    assert main(["scale", "deployment", "web", "--replicas", "2"]) == 1
    assert capsys.readouterr().err == 'error: deployments.apps "web" not found\n'
    assert main(["scale", "statefulset", "web", "--replicas", "2"]) == 2


# ---------------------------------------------------------------------------
# get deployments / replicasets
# ---------------------------------------------------------------------------


def test_get_deployments_table(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time()
    w = deployment(replicas=3, image="busybox:2")
    h = current(w)
    write_record(w, [view("o1", "old"), view("n1", h), view("n2", h, ready=False)],
                 "/nowhere.sock", now - 330)
    other = only(edit("metadata.namespace", "team-a").replace("name: web", "name: api-server"))
    write_record(other, [], "/nowhere.sock", now - 3 * 86400)
    assert cli_workloads.print_workloads("deployments", "default", False) == 0
    assert capsys.readouterr().out == (
        "NAME   READY   UP-TO-DATE   AVAILABLE   AGE\n"
        "web    2/3     2            2           5m30s\n"
    )
    assert cli_workloads.print_workloads("deploy", "default", True) == 0
    assert capsys.readouterr().out == (
        "NAMESPACE   NAME         READY   UP-TO-DATE   AVAILABLE   AGE\n"
        "default     web          2/3     2            2           5m30s\n"
        "team-a      api-server   0/3     0            0           3d\n"
    )


def test_get_replicasets_lists_a_deployments_too(root: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time()
    w = deployment(replicas=2, image="busybox:2")
    h = current(w)
    write_record(w, [view("o1", "old", created=now - 7200), view("n1", h, created=now - 30)],
                 "/nowhere.sock", now - 7200)
    cache = dataclasses.replace(deployment(kind="ReplicaSet", replicas=1), name="cache")
    write_record(cache, [view("c1")], "/nowhere.sock", now - 60)
    assert cli_workloads.print_workloads("rs", "default", False) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        ["cache", "1", "1", "1", "60s"],
        [f"web-{h}", "1", "1", "1", "30s"],
        ["web-old", "1", "1", "1", "120m"],
    ]
    # columns start where their header does, 3 spaces after the widest cell
    assert lines[0].index("DESIRED") == len(f"web-{h}") + 3
    assert {line.index(" 1 ") + 1 for line in lines[1:]} == {lines[0].index("DESIRED")}


def test_get_workloads_when_there_are_none(root: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_workloads.print_workloads("deployments", "default", False) == 0
    assert capsys.readouterr().err == "No resources found in default namespace.\n"
    assert cli_workloads.print_workloads("replicasets", "default", True) == 0
    assert capsys.readouterr().err == "No resources found.\n"
    assert cli_workloads.print_workloads("deployment", "default", False, names=["web"]) == 1
    assert capsys.readouterr().err == (
        'Error from server (NotFound): deployments.apps "web" not found\n')


def test_get_by_name(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_record(deployment(), [], "/nowhere.sock", time.time())
    assert cli_workloads.print_workloads("deployment", "default", False,
                                         names=["web", "api"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[1].startswith("web ")
    assert err == 'Error from server (NotFound): deployments.apps "api" not found\n'


def test_workload_types_cover_kubectls_names() -> None:
    assert {"deployment", "deployments", "deploy", "replicaset", "replicasets", "rs",
            "deployments.apps"} <= kinds.WORKLOAD_TYPES
