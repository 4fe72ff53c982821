"""ConfigMaps, Secrets and the downward API without a kernel: validation
(configspec), what the kubelet hands a container (downward.py: env order,
$(VAR), optional, missing keys, the labels file), the atomic writer's
layout and updates (kernel/projection.py, in a temporary directory), the
store's modes and words, and the pod runner's use of them on fakes."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FakeEffects, FakeHost

from minipod.api.downward import (
    ConfigError,
    PodFacts,
    format_map,
    go_quote,
    resolve_env,
    resource_value,
    volume_payload,
)
from minipod.api.errors import SpecError
from minipod.api.manifest import load_paths, parse_objects
from minipod.api.model import (
    ConfigData,
    Container,
    EnvFromSource,
    EnvVar,
    KeySelector,
    ObjectFieldSelector,
    Pod,
    ResourceFieldSelector,
)
from minipod.api.record import ConfigRecord
from minipod.kernel import configstore, projection
from minipod.kernel.image import Image
from minipod.runtime.effects import open_beneath
from minipod.runtime.pod import CONFIG_RETRY, PodRunner

FACTS = PodFacts("web-1", "shop", "0d1c-uid", {"app": "web", "tier": 'front "a"'},
                 {"build": "7"}, node_name="node-1", host_ips=("192.0.2.10",),
                 allocatable={"cpu": 2000, "memory": 4 << 30, "ephemeral-storage": 10 << 30})


def configs(*items: ConfigData) -> dict[tuple[str, str, str], ConfigData]:
    return {(c.kind, c.namespace, c.name): c for c in items}


def lookup_of(table: dict[tuple[str, str, str], ConfigData]):  # type: ignore[no-untyped-def]
    return lambda kind, namespace, name: table.get((kind, namespace, name))


CM = ConfigData("ConfigMap", "settings", {"mode": b"fast", "LEVEL": b"3", "bad key": b"x",
                                          "app.conf": b"a=1\n"}, "shop")
SECRET = ConfigData("Secret", "creds", {"user": b"admin", "password": b"s3cr3t"}, "shop",
                    type="Opaque")
TABLE = configs(CM, SECRET)


# -- validation -------------------------------------------------------------------------


def parse(text: str) -> list[ConfigData]:
    return parse_objects(text, "f.yaml").configs


def errors(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_objects(text, "f.yaml")
    return [str(e) for e in info.value.errors]


def test_a_secret_is_base64_data_and_plain_string_data() -> None:
    [secret] = parse("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                     "data: {password: czNjcjN0, user: b2xk}\nstringData: {user: admin}\n")
    assert secret.data == {"password": b"s3cr3t", "user": b"admin"}  # stringData wins
    assert secret.type == "Opaque"


def test_a_config_map_is_data_and_binary_data() -> None:
    [cm] = parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
                 "data: {a: '1', empty: null}\nbinaryData: {b: AAE=}\n")
    assert cm.data == {"a": b"1", "empty": b"", "b": b"\x00\x01"}
    assert cm.binary_keys == {"b"}


@pytest.mark.parametrize(("text", "path", "message"), [
    ("kind: ConfigMap\ndata: {a/b: x}", "data",
     'Invalid value: "a/b": a valid config key must consist of alphanumeric characters'),
    ("kind: ConfigMap\ndata: {..x: y}", "data", "must not start with '..'"),
    ("kind: ConfigMap\ndata: {a: 1}", "data[a]", "must be a string (got number 1)"),
    ("kind: ConfigMap\ndata: {a: x}\nbinaryData: {a: eA==}", "binaryData",
     "duplicate of key present in data"),
    ("kind: ConfigMap\nbinaryData: {a: '!!'}", "binaryData[a]", "illegal base64 data"),
    ("kind: Secret\ndata: {a: 'not base64'}", "data[a]", "illegal base64 data"),
    ("kind: Secret\ntype: kubernetes.io/tls\ndata: {tls.crt: eA==}", "data[tls.key]",
     "Required value"),
    ("kind: Secret\ntype: kubernetes.io/service-account-token", "type",
     "there is no API server to issue tokens"),
    ("kind: Secret\ntype: kubernetes.io/basic-auth", "data[username]",
     "either username or password must be set"),
    ("kind: ConfigMap\ndata: {a: " + "x" * (1 << 20) + "}", "data",
     "Too long: must have at most 1048576 bytes"),
    ("kind: ConfigMap\ndatas: {}", "datas", 'unknown field "datas"; did you mean "data"?'),
])
def test_bad_config_objects(text: str, path: str, message: str) -> None:
    found = errors(f"apiVersion: v1\nmetadata: {{name: c}}\n{text}\n")
    assert any(e.startswith(f"{path}: ") and message in e for e in found), found


def test_kubectl_create_dry_run_output_is_accepted() -> None:
    """What `kubectl create ... --dry-run=client -o yaml` prints, as it prints it."""
    text = """\
apiVersion: v1
data:
  a: b
kind: ConfigMap
metadata:
  creationTimestamp: null
  name: x
---
apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: null
  labels:
    run: nginx
  name: nginx
spec:
  containers:
  - image: nginx
    name: nginx
    resources: {}
  dnsPolicy: ClusterFirst
  restartPolicy: Always
status: {}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: web
    spec:
      containers:
      - image: nginx
        name: nginx
        resources: {}
status: {}
"""
    manifest = parse_objects(text, "dry-run.yaml")
    assert [c.name for c in manifest.configs] == ["x"]
    assert manifest.pods[0].spec.dns_policy == "ClusterFirst"
    assert [w.name for w in manifest.workloads] == ["web"]


def test_a_mix_of_kinds_is_refused_whole_naming_every_unsupported_document(
        tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: pi}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, "
        "image: busybox}]}\n---\n"
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: in}\n")
    with pytest.raises(SpecError) as info:
        load_paths([str(tmp_path / "a.yaml")])
    lines = str(info.value).splitlines()
    assert lines == [
        f'{tmp_path}/a.yaml: doc[1].kind: "Job" is not supported by minipod (batch/v1 Job "pi";'
        " supported: Pod, Deployment, ReplicaSet, ConfigMap, Secret, Service)",
        f'{tmp_path}/a.yaml: doc[3].kind: "Ingress" is not supported by minipod '
        '(networking.k8s.io/v1 Ingress "in"; supported: Pod, Deployment, ReplicaSet, '
        "ConfigMap, Secret, Service)"]


def test_a_directory_is_its_manifest_files_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    (tmp_path / "a.json").write_text(json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}))
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "empty.yml").write_text("---\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    assert [c.name for c in load_paths([str(tmp_path)]).configs] == ["a", "b"]
    assert [c.name for c in load_paths([str(tmp_path)], recursive=True).configs] == [
        "a", "b", "c"]
    stdin = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
    assert [c.name for c in load_paths(["-"], stdin=stdin).configs] == ["s"]
    with pytest.raises(SpecError, match='the path "nope" does not exist'):
        load_paths(["nope"])
    with pytest.raises(SpecError, match="no objects passed to apply"):
        load_paths([str(tmp_path / "empty.yml")])
    (sub / "d.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    with pytest.raises(SpecError, match=re.escape('metadata.name: Duplicate value: "b"')):
        load_paths([str(tmp_path)], recursive=True)


# -- the environment ------------------------------------------------------------------


def test_env_from_first_then_env_expanded_against_everything_before() -> None:
    container = Container("app", "busybox", env=(
        EnvVar("GREETING", "mode is $(CFG_mode), level $(CFG_LEVEL), $(UNSET)"),
        EnvVar("USER", value_from=KeySelector("Secret", "creds", "user")),
        EnvVar("POD", value_from=ObjectFieldSelector("metadata.name")),
        EnvVar("TIER", value_from=ObjectFieldSelector("metadata.labels['tier']")),
        EnvVar("NODE", value_from=ObjectFieldSelector("spec.nodeName")),
        EnvVar("HOST_IP", value_from=ObjectFieldSelector("status.hostIP")),
        EnvVar("MEM_MI", value_from=ResourceFieldSelector("limits.memory", divisor="1Mi")),
        EnvVar("CPU_M", value_from=ResourceFieldSelector("limits.cpu", divisor="1m")),
        EnvVar("CPU_REQ", value_from=ResourceFieldSelector("requests.cpu")),
        EnvVar("AGAIN", "$(USER)!"),
    ), env_from=(EnvFromSource("ConfigMap", "settings", "CFG_"),))
    skipped: list[str] = []
    env = resolve_env(container, FACTS, lookup_of(TABLE), skipped.append)
    assert env == {
        "CFG_LEVEL": "3", "CFG_app.conf": "a=1\n", "CFG_mode": "fast",
        "GREETING": "mode is fast, level 3, $(UNSET)", "USER": "admin", "POD": "web-1",
        "TIER": 'front "a"', "NODE": "node-1", "HOST_IP": "192.0.2.10", "MEM_MI": "4096",
        "CPU_M": "2000", "CPU_REQ": "0", "AGAIN": "admin!"}
    assert skipped == ["Keys [CFG_bad key] from the EnvFrom configMap shop/settings were "
                       "skipped since they are considered invalid environment variable names."]


@pytest.mark.parametrize(("var", "message"), [
    (EnvVar("A", value_from=KeySelector("ConfigMap", "nope", "k")), 'configmap "nope" not found'),
    (EnvVar("A", value_from=KeySelector("Secret", "creds", "token")),
     "couldn't find key token in Secret shop/creds"),
])
def test_a_missing_object_or_key_is_the_kubelets_error(var: EnvVar, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_env(Container("app", "busybox", env=(var,)), FACTS, lookup_of(TABLE))
    assert str(info.value) == message


def test_optional_ones_are_left_out() -> None:
    container = Container("app", "busybox", env=(
        EnvVar("A", value_from=KeySelector("ConfigMap", "nope", "k", optional=True)),
        EnvVar("B", value_from=KeySelector("Secret", "creds", "token", optional=True))),
        env_from=(EnvFromSource("Secret", "nope", optional=True),))
    assert resolve_env(container, FACTS, lookup_of(TABLE)) == {}


def test_resource_values_round_up_in_divisors() -> None:
    assert resource_value(ResourceFieldSelector("limits.memory", divisor="1Gi"), FACTS,
                          limits={"memory": (1 << 30) + 1}) == "2"
    assert resource_value(ResourceFieldSelector("limits.cpu"), FACTS, limits={"cpu": 250}) == "1"
    assert resource_value(ResourceFieldSelector("requests.memory"), FACTS) == "0"


def test_labels_file_is_sorted_go_quoted_lines() -> None:
    assert format_map({"tier": 'front "a"', "app": "web", "x": "tab\there"}) == (
        'app="web"\ntier="front \\"a\\""\nx="tab\\there"')
    assert go_quote("caf\u00e9\x01") == '"caf\u00e9\\x01"'


# -- volume files ---------------------------------------------------------------------------


def volume(text: str):  # type: ignore[no-untyped-def]
    pod = parse_objects("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
                        "  containers: [{name: app, image: busybox}]\n  volumes:\n  - "
                        + text, "f.yaml").pods[0]
    return pod.spec.volumes[0], {c.name: c for c in pod.spec.containers}


def test_config_map_volume_every_key_or_items_with_modes() -> None:
    vol, _ = volume("{name: v, configMap: {name: settings, defaultMode: 0400}}")
    payload = volume_payload(vol, FACTS, lookup_of(TABLE))
    assert payload["mode"] == (b"fast", 0o400) and len(payload) == 4
    vol, _ = volume("{name: v, configMap: {name: settings, items: [{key: mode, path: a/b},"
                    " {key: LEVEL, path: level, mode: 0600}]}}")
    assert volume_payload(vol, FACTS, lookup_of(TABLE)) == {
        "a/b": (b"fast", 0o644), "level": (b"3", 0o600)}


def test_missing_volume_sources() -> None:
    vol, _ = volume("{name: v, secret: {secretName: nope}}")
    with pytest.raises(ConfigError, match='secret "nope" not found'):
        volume_payload(vol, FACTS, lookup_of(TABLE))
    vol, _ = volume("{name: v, secret: {secretName: nope, optional: true}}")
    assert volume_payload(vol, FACTS, lookup_of(TABLE)) == {}
    vol, _ = volume("{name: v, configMap: {name: settings, items: [{key: nope, path: x}]}}")
    with pytest.raises(ConfigError, match="configmap references non-existent config key: nope"):
        volume_payload(vol, FACTS, lookup_of(TABLE))


def test_downward_and_projected_volumes() -> None:
    vol, containers = volume(
        "{name: v, projected: {defaultMode: 0440, sources: ["
        "{downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}},"
        " {path: name, fieldRef: {fieldPath: metadata.name}},"
        " {path: mem, resourceFieldRef: {containerName: app, resource: limits.memory,"
        " divisor: 1Mi}}]}},"
        "{secret: {name: creds, items: [{key: user, path: creds/user}]}},"
        "{configMap: {name: settings, items: [{key: mode, path: mode}]}}]}}")
    assert volume_payload(vol, FACTS, lookup_of(TABLE), containers) == {
        "labels": (b'app="web"\ntier="front \\"a\\""', 0o440), "name": (b"web-1", 0o440),
        "mem": (b"4096", 0o440), "creds/user": (b"admin", 0o440), "mode": (b"fast", 0o440)}


# -- the atomic writer --------------------------------------------------------------------


def test_the_kubelets_layout_and_an_atomic_update(tmp_path: Path) -> None:
    assert projection.write_payload(tmp_path, {"a": (b"1", 0o644), "d/e": (b"2", 0o400)})
    first = os.readlink(tmp_path / "..data")
    assert first.startswith("..") and (tmp_path / first).is_dir()
    assert os.readlink(tmp_path / "a") == "..data/a"
    assert os.readlink(tmp_path / "d") == "..data/d"
    assert (tmp_path / "d" / "e").read_bytes() == b"2"
    assert stat.S_IMODE(os.stat(tmp_path / "d" / "e").st_mode) == 0o400
    assert stat.S_IMODE(os.stat(tmp_path / first).st_mode) == 0o755
    # the same payload: nothing written
    assert not projection.write_payload(tmp_path, {"a": (b"1", 0o644), "d/e": (b"2", 0o400)})
    # a subPath mount holds the old version's file (opened here as it would be bound)
    held = os.open(tmp_path / "a", os.O_RDONLY)
    assert projection.write_payload(tmp_path, {"a": (b"new", 0o644), "b": (b"3", 0o644)})
    second = os.readlink(tmp_path / "..data")
    assert second != first and not (tmp_path / first).exists(), "the old version is gone"
    assert (tmp_path / "a").read_bytes() == b"new" and (tmp_path / "b").read_bytes() == b"3"
    assert not os.path.lexists(tmp_path / "d"), "a name no longer there"
    assert os.read(held, 10) == b"1"
    os.close(held)
    assert sorted(os.listdir(tmp_path)) == sorted([second, "..data", "a", "b"])
    # a mode change alone is a change
    assert projection.write_payload(tmp_path, {"a": (b"new", 0o600), "b": (b"3", 0o644)})


# -- the store ---------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path / "state"))
    return tmp_path / "state"


def test_store_words_modes_and_immutability(root: Path) -> None:
    record, word = configstore.save(SECRET)
    assert word == "created" and record.resource_version == 1
    path = root / "secrets" / "shop_creds.json"
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert b"s3cr3t" not in path.read_bytes(), "kept base64, as the API server keeps it"
    assert configstore.save(SECRET)[1] == "unchanged"
    changed = ConfigData("Secret", "creds", {"user": b"root"}, "shop", type="Opaque",
                         immutable=True)
    again, word = configstore.save(changed)
    assert word == "configured" and again.uid == record.uid and again.resource_version == 2
    with pytest.raises(SpecError, match="field is immutable when `immutable` is set"):
        configstore.save(ConfigData("Secret", "creds", {"user": b"x"}, "shop", type="Opaque",
                                    immutable=True))
    assert configstore.lookup("Secret", "shop", "creds") == ConfigData(
        "Secret", "creds", {"user": b"root"}, "shop", type="Opaque", immutable=True)
    assert [r.name for r in configstore.list_records("Secret")] == ["creds"]
    assert configstore.delete("Secret", "shop", "creds")
    assert not configstore.delete("Secret", "shop", "creds")


def test_record_round_trip_is_the_api_object() -> None:
    record = ConfigRecord(ConfigData("ConfigMap", "c", {"a": b"1", "b": b"\x00"}, "ns",
                                     binary_keys=frozenset({"b"})), "uid-1", 0.0, 3)
    body = record.to_json()
    assert body["data"] == {"a": "1"} and body["binaryData"] == {"b": "AA=="}
    assert body["metadata"]["resourceVersion"] == "3"
    assert ConfigRecord.from_json(body) == record


# -- subPath: never outside its volume ---------------------------------------------------


def test_a_sub_path_is_opened_beneath_its_volume(tmp_path: Path) -> None:
    volume_dir = tmp_path / "vol"
    volume_dir.mkdir()
    (tmp_path / "outside").mkdir()
    (volume_dir / "escape").symlink_to(tmp_path / "outside")
    (volume_dir / "inside").symlink_to("made")
    with pytest.raises(OSError, match="is not within the volume path"):
        open_beneath(str(volume_dir), "escape")
    fd = open_beneath(str(volume_dir), "inside/deeper")  # made as directories
    try:
        assert os.path.realpath(f"/proc/self/fd/{fd}") == str(volume_dir / "made" / "deeper")
    finally:
        os.close(fd)


# -- the pod runner ----------------------------------------------------------------------

# made on this host (build-busybox), as the tests' busybox is: imagePullPolicy
# Always (the default for no tag) uses it as it is, with no pull
IMAGE = Image(ref="busybox", name="busybox:latest", lowers=("/nonexistent",), cmd=("sh",),
              origin="build")


@pytest.fixture
def made() -> Iterator[list[FakeEffects]]:
    found: list[FakeEffects] = []
    yield found
    for fx in found:
        fx.close()


def runner_for(tmp_path: Path, made: list[FakeEffects], text: str) -> tuple[PodRunner, FakeHost]:
    pod: Pod = parse_objects(text, "f.yaml").pods[0]
    sup, fx = FakeHost(tmp_path), FakeEffects(tmp_path)
    made.append(fx)
    names = [c.name for c in (*pod.spec.init_containers, *pod.spec.containers)]
    return PodRunner(sup, pod, dict.fromkeys(names, IMAGE), effects=fx), sup


POD = """\
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: shop, labels: {app: web}}
spec:
  containers:
  - name: app
    image: busybox
    env:
    - {name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}
    volumeMounts:
    - {name: cfg, mountPath: /etc/cfg}
    - {name: info, mountPath: /etc/info}
    - {name: cfg, mountPath: /etc/app.conf, subPath: app.conf}
  volumes:
  - {name: cfg, configMap: {name: settings, optional: true}}
  - {name: info, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}
"""


def test_a_container_waits_for_its_config_map_and_starts_when_it_comes(
        tmp_path: Path, made: list[FakeEffects]) -> None:
    runner, sup = runner_for(tmp_path, made, POD)
    fx = made[0]
    runner.start()
    run = runner.apps[0]
    assert run.state.reason == "CreateContainerConfigError"
    assert run.state.message == 'configmap "settings" not found'
    assert run.attempt == -1, "no container was made"
    assert ("Warning", "Failed", 'Error: configmap "settings" not found') in [
        (e.type, e.reason, e.message) for e in sup.events]
    assert fx.projected[0][:2] == ("p", "cfg") and fx.projected[0][2] == {}, "optional: empty"
    # the kubelet's retry after its back-off period: still missing
    sup.loop.clock.advance(CONFIG_RETRY)  # type: ignore[attr-defined]
    sup.loop.run_once(0)
    assert run.state.reason == "CreateContainerConfigError" and fx.spawned == []
    fx.configs[("ConfigMap", "shop", "settings")] = CM
    assert runner.reads("ConfigMap", "shop", "settings")
    runner.config_changed("ConfigMap", "settings")
    assert fx.spawned == ["app"] and run.running
    _name, plan, binds = fx.plans[0]
    assert plan.env["MODE"] == "fast"
    assert [(b.target, b.read_only) for b in binds][-3:] == [
        ("/etc/cfg", True), ("/etc/info", True), ("/etc/app.conf", True)]
    assert binds[-1].source.endswith("/volume-subpaths/cfg/app/2")
    assert fx.projected[-1][:2] == ("p", "cfg") and "app.conf" in fx.projected[-1][2]


def test_an_update_projects_again_and_a_failure_keeps_the_files(
        tmp_path: Path, made: list[FakeEffects]) -> None:
    runner, sup = runner_for(tmp_path, made, POD.replace("optional: true", "optional: false"))
    fx = made[0]
    fx.configs[("ConfigMap", "shop", "settings")] = CM
    runner.start()
    count = len(fx.projected)
    fx.configs[("ConfigMap", "shop", "settings")] = ConfigData(
        "ConfigMap", "settings", {"mode": b"slow"}, "shop")
    runner.config_changed("ConfigMap", "settings")
    assert fx.projected[count:] == [("p", "cfg", {"mode": (b"slow", 0o644)})], \
        "only the volume that shows it, once"
    del fx.configs[("ConfigMap", "shop", "settings")]
    runner.config_changed("ConfigMap", "settings")
    assert sup.events[-1].reason == "FailedMount"
    assert sup.events[-1].message == ('MountVolume.SetUp failed for volume "cfg" : '
                                      'configmap "settings" not found')
    assert runner.apps[0].running, "the running container is left alone"
    assert runner.apps[0].env == {"MODE": "fast"}, "env is read once per start"


def test_a_missing_volume_source_is_a_start_error(tmp_path: Path,
                                                  made: list[FakeEffects]) -> None:
    runner, _sup = runner_for(tmp_path, made, POD.replace("optional: true", "optional: false"))
    with pytest.raises(Exception, match=re.escape('MountVolume.SetUp failed for volume "cfg": '
                                                  'configmap "settings" not found')):
        runner.start()
