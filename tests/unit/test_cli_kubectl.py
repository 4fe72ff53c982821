"""The kubectl verbs and flags minipod adds, against kubectl's output shapes,
over fake state: get -o jsonpath (kubectl's dialect: {.items[*].x},
{range}...{end}, filters, unions, slices, recursion), custom-columns,
--sort-by, --field-selector, --no-headers, set-based -l; get and describe
of configmaps and secrets (values hidden), get events and events; delete's
targets and grace-period rules; wait's conditions; label's words; logs
--since, --since-time, --prefix, --all-containers, -l and rotated files;
--version and completion; kubectl's apply -f targets read from files,
directories and stdin."""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from minipod.api.errors import SpecError
from minipod.api.model import ConfigData
from minipod.api.selector import FieldSelector, LabelSelector
from minipod.cli import meta as cli_meta
from minipod.cli import parser as cli
from minipod.cli.delete import grace_of
from minipod.cli.views import host
from minipod.cli.views.jsonpath import column_cell, execute, go_value, relaxed
from minipod.cli.views.logs import parse_duration
from minipod.cli.wait import Condition
from minipod.kernel import configstore
from minipod.kernel.logs import LogFile, log_files

CREATED = 1795252433.0
NOW = CREATED + 206.5


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


def pod(root: Path, name: str, *, labels: dict[str, str] | None = None, phase: str = "Running",
        created: float = CREATED, log_dir: Path | None = None,
        containers: tuple[str, ...] = ("app",), events: list[dict[str, Any]] | None = None
        ) -> Path:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                            "creationTimestamp": "2026-11-21T09:13:53Z"}
    if labels:
        meta["labels"] = labels
    record = {
        "name": name, "namespace": "default", "uid": f"uid-{name}", "created": created,
        "supervisor": {"pid": os.getpid(), "startTime": psutil.Process().create_time(),
                       "socket": "/nonexistent.sock"},
        "pause": {"pid": None, "startTime": None}, "phase": phase, "status": phase,
        "ready": "1/1", "restarts": 0, "lastRestart": None,
        "containers": {c: {"id": f"x-{c}-0", "image": "busybox", "log": "", "rootfs": "",
                           "state": "running", "attempt": 0} for c in containers},
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                   "spec": {"containers": [{"name": c, "image": "busybox"}
                                           for c in containers], "restartPolicy": "Always"},
                   "status": {"phase": phase, "podIPs": [],
                              "conditions": [{"type": "Ready", "status": "True"}]}},
    }
    if log_dir is not None:
        record["logDir"] = str(log_dir)
    directory = root / "pods" / f"default_{name}"
    directory.mkdir(parents=True)
    (directory / "pod.json").write_text(json.dumps(record))
    if events:
        (directory / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return directory


LIST = {"kind": "List", "items": [
    {"metadata": {"name": "a", "labels": {"app": "x"}},
     "status": {"phase": "Running", "restarts": 3, "ips": ["10.0.0.1", "10.0.0.2"]}},
    {"metadata": {"name": "b"}, "status": {"phase": "Pending", "restarts": 1}},
]}


# -- jsonpath: kubectl's dialect ---------------------------------------------------------


@pytest.mark.parametrize(("template", "text"), [
    ("{.items[*].metadata.name}", "a b"),
    ('{range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}',
     "a\tRunning\nb\tPending\n"),
    ('{.items[?(@.status.phase=="Running")].metadata.name}', "a"),
    ("{.items[?(@.status.restarts>2)].metadata.name}", "a"),
    ("{.items[?(@.metadata.labels.app)].metadata.name}", "a"),
    ("{.items[0].metadata}", '{"labels":{"app":"x"},"name":"a"}'),
    ("{.items[-1:].metadata.name}", "b"),
    ("{.items[0:1].metadata.name}", "a"),
    ("{..name}", "a b"),
    ("{.items[0].status.ips[*]}", "10.0.0.1 10.0.0.2"),
    ("{.items[*]['metadata', 'status'].phase}", "Running Pending"),
    ("kind: {.kind}, first: {.items[0].metadata.name}", "kind: List, first: a"),
    ("{.nothing}", ""),  # --allow-missing-template-keys=true
    ("{@.kind}", "List"),
    ("{.items[*].status.restarts}", "3 1"),
])
def test_jsonpath_as_kubectl_prints_it(template: str, text: str) -> None:
    assert execute(template, LIST) == text


def test_jsonpath_errors() -> None:
    with pytest.raises(SpecError, match=r"unclosed range|not in range"):
        execute("{range .items[*]}{.x}", LIST)
    with pytest.raises(SpecError, match="not in range"):
        execute("{end}", LIST)


def test_custom_column_cells_are_go_values() -> None:
    item = LIST["items"][0]
    assert column_cell(".metadata.labels", item) == "map[app:x]"
    assert column_cell("{.status.ips[*]}", item) == "10.0.0.1,10.0.0.2"
    assert column_cell("metadata.missing", item) == "<none>"
    assert relaxed("metadata.name") == relaxed(".metadata.name") == "{.metadata.name}"
    assert go_value(None) == "<nil>" and go_value(True) == "true" and go_value([1, "a"]) == "[1 a]"


# -- selectors --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "labels", "match"), [
    ("env in (prod, staging)", {"env": "prod"}, True),
    ("env in (prod, staging)", {"env": "dev"}, False),
    ("env notin (prod)", {}, True),
    ("env,!canary", {"env": "x"}, True),
    ("env,!canary", {"env": "x", "canary": "1"}, False),
    ("tier=front,env!=prod", {"tier": "front", "env": "dev"}, True),
    ("gen>3", {"gen": "4"}, True),
    ("gen<3", {"gen": "4"}, False),
])
def test_label_selectors_set_based_too(text: str, labels: dict[str, str], match: bool) -> None:
    assert LabelSelector.parse(text).matches(labels) is match


@pytest.mark.parametrize(("text", "message"), [
    ("env in prod", "unable to parse requirement: found 'prod', expected: '('"),
    ("a b", "unable to parse requirement: found 'b'"),
    ("x=@", 'invalid label value: "@"'),
])
def test_bad_label_selectors(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        LabelSelector.parse(text)


def test_field_selectors() -> None:
    selector = FieldSelector.parse("status.phase=Running,metadata.name!=b", "pods")
    assert selector.matches({"status.phase": "Running", "metadata.name": "a"}.__getitem__)
    assert not selector.matches({"status.phase": "Running", "metadata.name": "b"}.__getitem__)
    with pytest.raises(SpecError, match=r"field label not supported: spec\.nope"):
        FieldSelector.parse("spec.nope=1", "pods")


# -- get ----------------------------------------------------------------------------------


def test_get_pods_jsonpath_custom_columns_sort_field_selector_no_headers(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pod(root, "web", labels={"app": "web", "env": "prod"})
    pod(root, "db", labels={"app": "db"}, phase="Pending", created=CREATED - 100)
    pod(root, "old", phase="Succeeded")
    assert run(capsys, "get", "pods", "-o", "jsonpath={.items[*].metadata.name}")[1] == \
        "db old web"
    assert run(capsys, "get", "pod", "web", "-o", "jsonpath={.metadata.labels.env}")[1] == "prod"
    _, out, _ = run(capsys, "get", "pods", "-o",
                       "custom-columns=NAME:.metadata.name,PHASE:.status.phase",
                       "--sort-by=.status.phase")
    assert out == ("NAME   PHASE\n"
                   "db     Pending\n"
                   "web    Running\n"
                   "old    Succeeded\n")
    out = run(capsys, "get", "pods", "--field-selector", "status.phase=Running",
              "--no-headers")[1]
    assert [line.split()[0] for line in out.splitlines()] == ["web"]
    out = run(capsys, "get", "pods", "-l", "app in (web,db)", "-o", "name")[1]
    assert out == "pod/db\npod/web\n"
    assert run(capsys, "get", "pods", "--field-selector", "spec.x=1")[2].startswith(
        "error: Unable to find")
    assert run(capsys, "get", "pods", "-o", "yml")[2].startswith(
        'error: unable to match a printer suitable for the output format "yml"')


def test_get_and_describe_config_maps_and_secrets(
        root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: CREATED)
    configstore.save(ConfigData("ConfigMap", "game", {"a": b"1", "game.properties": b"x=y\n",
                                                      "bin": b"\x00\x01"},
                                binary_keys=frozenset({"bin"})))
    configstore.save(ConfigData("Secret", "creds", {"user": b"admin", "password": b"s3cr3t"},
                                type="kubernetes.io/basic-auth", labels={"app": "web"}))
    assert run(capsys, "get", "cm")[1] == "NAME   DATA   AGE\ngame   3      3m26s\n"
    assert run(capsys, "get", "secrets")[1] == (
        "NAME    TYPE                       DATA   AGE\n"
        "creds   kubernetes.io/basic-auth   2      3m26s\n")
    assert run(capsys, "get", "secret", "creds", "-o", "jsonpath={.data.user}")[1] == "YWRtaW4="
    assert run(capsys, "get", "secret/creds", "-o", "name")[1] == "secret/creds\n"
    assert run(capsys, "get", "secrets", "-l", "app=web", "--no-headers")[1].split()[0] == "creds"
    described = run(capsys, "describe", "secret", "creds")[1]
    assert described == (
        "Name:         creds\n"
        "Namespace:    default\n"
        "Labels:       app=web\n"
        "Annotations:  <none>\n"
        "\n"
        "Type:  kubernetes.io/basic-auth\n"
        "\n"
        "Data\n"
        "====\n"
        "password:  6 bytes\n"
        "user:      5 bytes\n")
    assert "s3cr3t" not in described
    assert run(capsys, "describe", "cm", "game")[1] == (
        "Name:         game\n"
        "Namespace:    default\n"
        "Labels:       <none>\n"
        "Annotations:  <none>\n"
        "\n"
        "Data\n"
        "====\n"
        "a:\n----\n1\n\n"
        "game.properties:\n----\nx=y\n\n\n"
        "\n"
        "BinaryData\n"
        "====\n"
        "bin: 2 bytes\n"
        "\n"
        "Events:  <none>\n")
    assert run(capsys, "get", "cm", "nope") == (
        1, "", 'Error from server (NotFound): configmaps "nope" not found\n')


def test_get_events_and_events(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = [{"timestamp": NOW - 60, "type": "Normal", "reason": "Started", "obj": "pod/web",
               "message": "Started container app"},
              {"timestamp": NOW - 50, "type": "Warning", "reason": "Unhealthy",
               "obj": "pod/web", "message": "Liveness probe failed: x"},
              {"timestamp": NOW - 10, "type": "Warning", "reason": "Unhealthy",
               "obj": "pod/web", "message": "Liveness probe failed: x"}]
    pod(root, "web", events=events)
    out = run(capsys, "get", "events")[1].splitlines()
    assert out[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert out[2].startswith("10s (x2 over 50s)")
    assert run(capsys, "events", "--types=Warning", "--no-headers")[1].count("\n") == 1
    obj = json.loads(run(capsys, "get", "events", "-o", "json")[1])["items"][1]
    assert obj["count"] == 2 and obj["involvedObject"] == {
        "apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": "default"}
    assert run(capsys, "get", "ev", "--field-selector", "type=Normal", "-o",
               "jsonpath={.items[*].reason}")[1] == "Started"


# -- delete, label, wait: what is read from the command line ---------------------------


@pytest.mark.parametrize(("argv", "grace"), [
    ([], None), (["--grace-period=5"], 5), (["--now"], 1), (["--grace-period=0"], 1),
    (["--force"], 0), (["--force", "--grace-period=0"], 0), (["--force", "--grace-period=3"], 3),
])
def test_grace_period_rules_are_kubectls(argv: list[str], grace: int | None) -> None:
    assert grace_of(cli.parse_command(["delete", "pod", "a", *argv])) == grace


def test_delete_targets(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configstore.save(ConfigData("ConfigMap", "a", {}, labels={"tier": "x"}))
    configstore.save(ConfigData("ConfigMap", "b", {}))
    assert run(capsys, "delete", "cm", "-l", "tier in (x)") == (0, 'configmap "a" deleted\n', "")
    assert run(capsys, "delete", "configmap/b", "configmap/nope") == (
        1, 'configmap "b" deleted\n', 'Error from server (NotFound): configmaps "nope" not found\n')
    assert run(capsys, "delete", "cm", "nope", "--ignore-not-found") == (0, "", "")
    code, _, err = run(capsys, "delete", "cm")
    assert (code, err) == (2, "error: resource(s) were provided, but no name was specified\n")
    code, _, err = run(capsys, "delete", "cm", "--all")
    assert (code, err) == (0, "No resources found in default namespace.\n")
    assert run(capsys, "delete", "cm", "x", "--all")[0] == 2


def test_delete_file_targets_and_wait_flag(root: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    configstore.save(ConfigData("Secret", "s", {}, type="Opaque"))
    args = cli.parse_command(["delete", "-f", str(tmp_path / "m.yaml"), "--wait=false"])
    assert args.wait is False and args.filename == [str(tmp_path / "m.yaml")]
    monkeypatch.setattr("sys.stdin", io.StringIO(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"))
    assert run(capsys, "delete", "-f", "-") == (0, 'secret "s" deleted\n', "")
    code, _, err = run(capsys, "delete", "-f", str(tmp_path / "m.yaml"))
    assert code == 1 and err == (f'Error from server (NotFound): error when deleting '
                                 f'"{tmp_path}/m.yaml": secrets "s" not found\n')


def test_label_words_and_overwrite() -> None:
    assert cli_meta.split_words(["pod", "web", "a=1", "b-"]) == (["pod", "web"], {"a": "1"},
                                                                 ["b"])
    assert cli_meta.split_words(["pod/web", "b-"]) == (["pod/web"], {}, ["b"])
    assert cli_meta.apply_changes({"a": "1"}, {"b": "2"}, ["a"], False, "labels") == {"b": "2"}
    with pytest.raises(SpecError, match=re.escape(
            "'a' already has a value (1), and --overwrite is false")):
        cli_meta.apply_changes({"a": "1"}, {"a": "2"}, [], False, "labels")
    with pytest.raises(SpecError, match="invalid label spec"):
        cli_meta.apply_changes({}, {"a": "not ok!"}, [], False, "labels")


def test_label_and_annotate_a_config_map(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configstore.save(ConfigData("ConfigMap", "c", {"k": b"v"}))
    assert run(capsys, "label", "cm", "c", "tier=front")[1] == "configmap/c labeled\n"
    assert run(capsys, "annotate", "configmap/c", "note=hi")[1] == "configmap/c annotated\n"
    found = configstore.load("ConfigMap", "default", "c")
    assert found is not None and found.config.labels == {"tier": "front"}
    assert found.config.annotations == {"note": "hi"} and found.resource_version == 3
    assert run(capsys, "label", "cm", "c", "tier=back")[0] == 2
    assert run(capsys, "label", "cm", "c", "tier-")[1] == "configmap/c labeled\n"


@pytest.mark.parametrize(("text", "condition"), [
    ("condition=Ready", Condition("condition", "Ready", "True")),
    ("condition=Ready=false", Condition("condition", "Ready", "false")),
    ("delete", Condition("delete")),
    ("jsonpath={.status.phase}=Running", Condition("jsonpath", "{.status.phase}", "Running")),
    ("jsonpath={.status.podIP}", Condition("jsonpath", "{.status.podIP}", None)),
])
def test_wait_conditions(text: str, condition: Condition) -> None:
    assert Condition.parse(text) == condition


def test_wait_against_records(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pod(root, "web", labels={"app": "web"})
    assert run(capsys, "wait", "--for=condition=Ready", "pod/web") == (
        0, "pod/web condition met\n", "")
    assert run(capsys, "wait", "--for=jsonpath={.status.phase}=Running", "pods", "-l",
               "app=web")[1] == "pod/web condition met\n"
    assert run(capsys, "wait", "--for=delete", "pod/gone")[1] == "pod/gone condition met\n"
    assert run(capsys, "wait", "--for=condition=Ready=false", "pod/web", "--timeout=0.2s") == (
        1, "", "error: timed out waiting for the condition on pods/web\n")



def test_wait_wakes_on_the_records_change_not_on_a_clock(
        root: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`wait` looks again when the state directory changes (inotify): with
    its poll set to a minute, a pod that appears (its directory renamed into
    pods/, as the supervisor claims a staged one) and then turns Ready (a
    pod.json renamed over the old) is seen at once."""
    import threading

    from minipod.cli import wait as cli_wait

    monkeypatch.setattr(cli_wait, "POLL", 60.0)
    (root / "pods").mkdir(exist_ok=True)
    staged = pod(tmp_path, "late")
    record = json.loads((staged / "pod.json").read_text())
    record["object"]["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    (staged / "pod.json").write_text(json.dumps(record))

    def turn_ready() -> None:
        os.rename(staged, root / "pods" / staged.name)  # appears, not Ready
        time.sleep(0.3)
        record["object"]["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
        new = root / "pods" / staged.name / ".pod.json.new"
        new.write_text(json.dumps(record))
        os.rename(new, new.with_name("pod.json"))

    timer = threading.Timer(0.3, turn_ready)
    began = time.monotonic()
    timer.start()
    try:
        result = run(capsys, "wait", "--for=condition=Ready", "pod/late", "--timeout=30s")
    finally:
        timer.join()
    assert result == (0, "pod/late condition met\n", "")
    assert time.monotonic() - began < 5  # not the minute's poll


# -- logs ---------------------------------------------------------------------------------


def cri(stamp: str, text: str, stream: str = "stdout") -> bytes:
    return f"2026-11-21T09:{stamp}Z {stream} F {text}\n".encode()


def test_logs_since_prefix_all_containers_and_selector(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "logs"
    for name in ("web", "api"):
        pod(root, name, labels={"app": "x"}, log_dir=logs / name, containers=("app", "side"))
        for container in ("app", "side"):
            (logs / name / container).mkdir(parents=True)
            (logs / name / container / "0.log").write_bytes(
                cri("10:00.0", f"{name}/{container} early") + cri("16:00.0",
                                                                  f"{name}/{container} late"))
    since = "2026-11-21T09:15:00Z"
    assert run(capsys, "logs", "web", "--since-time", since)[1] == "web/app late\n"
    assert run(capsys, "logs", "web", "--all-containers", "--prefix")[1] == (
        "[pod/web/app] web/app early\n[pod/web/app] web/app late\n"
        "[pod/web/side] web/side early\n[pod/web/side] web/side late\n")
    out = run(capsys, "logs", "-l", "app=x", "-c", "side", "--prefix", "--tail", "1")[1]
    assert out == "[pod/api/side] api/side late\n[pod/web/side] web/side late\n"
    assert parse_duration("1h2m3.5s") == 3723.5
    with pytest.raises(SystemExit) as info:  # argparse's usage error
        run(capsys, "logs", "web", "--since", "5x")
    assert info.value.code == 2
    capsys.readouterr()
    assert run(capsys, "logs", "web", "--since", "1s", "--since-time", since)[2].startswith(
        "error: at most one of")


def test_logs_read_rotated_files_oldest_first(root: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "logs"
    pod(root, "web", log_dir=logs)
    log = LogFile(logs / "app" / "0.log", max_size=200, max_files=4)
    log.open_streams = 1
    for i in range(40):
        log.write("stdout", f"line {i:02d}".encode(), "F")
    files = log_files(logs / "app" / "0.log")
    assert len(files) == 4 and files[-1].name == "0.log"
    assert all(f.stat().st_size <= 200 for f in files)
    assert all(re.fullmatch(r"0\.log\.\d{8}-\d{6}(\.\d+)?", f.name) for f in files[:-1])
    lines = run(capsys, "logs", "web")[1].splitlines()
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], 40)) and numbers[0] > 0, "contiguous, newest kept"
    log.release()


# -- the command itself -------------------------------------------------------------------


def test_version_and_completion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert re.fullmatch(r"minipod \S+\n", capsys.readouterr().out)
    assert run(capsys, "version")[1].startswith("Client Version: v")
    code, out, _ = run(capsys, "completion", "bash")
    assert code == 0 and "complete" in out
    for word in ("apply", "wait", "label", "--field-selector", "--all-containers"):
        assert word in out, word
    assert run(capsys, "completion", "zsh")[1].startswith("#compdef minipod")


def test_apply_reads_files_directories_and_stdin_before_anything(
        root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad input in any file: exit 2, every problem named, nothing asked of a supervisor."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n"
                                           "metadata: {name: a}\ndata: {k: 1}\n")
    (tmp_path / "d" / "b.yaml").write_text("apiVersion: batch/v1\nkind: Job\n"
                                           "metadata: {name: j}\n")
    monkeypatch.setattr("minipod.server.daemon.ensure_daemon", lambda: pytest.fail("asked"))
    code, out, err = run(capsys, "apply", "-f", str(tmp_path / "d"))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"error: {tmp_path}/d/a.yaml: data[k]: must be a string (got number 1)",
        f'error: {tmp_path}/d/b.yaml: kind: "Job" is not supported by minipod (batch/v1 Job '
        '"j"; supported: Pod, Deployment, ReplicaSet, ConfigMap, Secret, Service)']
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert run(capsys, "apply", "-f", "-")[2] == \
        "error: no objects passed to apply (no manifest found in -)\n"


def test_cp_file_specs() -> None:
    from minipod.cli.cp import split_spec

    assert split_spec("web:/etc/hosts") == (None, "web", "/etc/hosts")
    assert split_spec("prod/web:/etc/hosts") == ("prod", "web", "/etc/hosts")
    assert split_spec("./local:x") == (None, None, "./local:x")
    assert split_spec("/abs/path") == (None, None, "/abs/path")
    with pytest.raises(SpecError, match="canonical format"):
        split_spec("web:")


def test_cp_needs_exactly_one_remote(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "cp", "a", "b")[2] == \
        "error: one of src or dest must be a remote file specification\n"
    assert run(capsys, "cp", "p:/a", "q:/b")[2] == \
        "error: one of src or dest must be a local file specification\n"



def _verbs(parser: argparse.ArgumentParser) -> list[str]:
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(found[0].choices)


def test_each_verb_builds_its_own_modules_parser_and_the_table_says_which() -> None:
    """cli.VERB_MODULES names every verb each module registers: a command
    builds only its verb's module (start-up), so a verb missing from the
    table would be an "invalid choice"."""
    for module, verbs in cli.VERB_MODULES.items():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"minipod.cli.{module}").register(sub)
        assert tuple(sub.choices) == verbs, module
    every = [v for verbs in cli.VERB_MODULES.values() for v in verbs]
    full = _verbs(cli._parser())
    assert sorted(full) == sorted([*cli.BUILT_IN, *every])
    for verb in [*every, *cli.BUILT_IN]:
        own = _verbs(cli._parser(verb))
        assert verb in own
        assert len(own) < len(full), verb  # the other modules' verbs were not built
    assert cli._verb(["--debug", "get", "pods"]) == "get"
    assert cli._verb(["--version"]) is None


@pytest.mark.parametrize(("argv", "logging_set_up"), [
    (["get", "pods"], False),  # the read-only views log nothing
    (["describe", "pod", "x"], False),
    (["--debug", "get", "pods"], True),
    (["validate", "pod.yaml"], True),  # every other verb logs through "minipod: NAME: "
])
def test_only_verbs_that_log_set_logging_up(argv: list[str], logging_set_up: bool,
                                            tmp_path: Path) -> None:
    """Start-up: logging is 6 ms of a 60 ms `minipod get pods`, so the
    read-only views neither import it nor set it up, and -l's parser loads
    only with -l."""
    import subprocess
    import sys

    (tmp_path / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"
                                       "spec: {containers: [{name: c, image: busybox}]}\n")
    code = ("import sys\nfrom minipod.cli import parser\nparser.main(sys.argv[1:])\n"
            "import logging\nprint(bool(logging.getLogger().handlers),"
            " 'minipod.api.selector' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-P", "-c", code, *argv], capture_output=True,
                         text=True, cwd=tmp_path, timeout=30,
                         env=dict(os.environ, MINIPOD_ROOT=str(tmp_path / "root")))
    assert out.stderr.splitlines()[-1] == f"{logging_set_up} False", out.stderr
