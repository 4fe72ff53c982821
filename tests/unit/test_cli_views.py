"""minipod.cli.views: get, describe, logs, ps and inspect over fake state
directories (no root). The pod record in data/pod_record.json was written by
a real supervisor (PodRunner.record()) for a pod whose `web` container had
been killed once; data/pod_events.jsonl is that pod's events.jsonl.

The expected text is kubectl's (and crictl's) own layout for the same
objects: Go's text/tabwriter with their settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from minipod.api.selector import LabelSelector as Selector
from minipod.cli import parser as cli
from minipod.cli.views import describe, get, host, watch
from minipod.cli.views.ps import crictl_age
from minipod.cli.views.tabwriter import TabWriter

DATA = Path(__file__).parent / "data"
CREATED = 1795252433.910981  # the record's `created`
NOW = CREATED + 206.5  # 3m26s later
LAST_RESTART = 1795252625.7767305  # the record's lastRestart: 14s before NOW
HOST_NS = {"cgroup": 4026531835, "user": 4026531837, "pid": 4026531836, "mnt": 4026531832}


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    state = tmp_path / "state"
    (state / "pods").mkdir(parents=True)
    monkeypatch.setenv("MINIPOD_ROOT", str(state))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(host, "now", lambda: NOW)
    monkeypatch.setattr(host, "node_name", lambda: "node1")
    monkeypatch.setattr(host, "host_namespaces", lambda: dict(HOST_NS))
    yield state
    monkeypatch.delenv("TZ")
    time.tzset()


def this_supervisor() -> dict[str, Any]:
    """An identity of a live process (ours), so the record counts as supervised."""
    return {"pid": os.getpid(), "startTime": psutil.Process().create_time(),
            "socket": "/nonexistent.sock"}


def sample(root: Path, name: str = "sample", namespace: str = "default") -> dict[str, Any]:
    text = (DATA / "pod_record.json").read_text().replace("@ROOT@", str(root))
    record: dict[str, Any] = json.loads(text)
    record["supervisor"] = this_supervisor()
    if name != "sample" or namespace != "default":
        record = json.loads(json.dumps(record).replace("default_sample",
                                                       f"{namespace}_{name}"))
        record["name"] = record["object"]["metadata"]["name"] = name
        record["namespace"] = record["object"]["metadata"]["namespace"] = namespace
    return record


def write_pod(root: Path, record: dict[str, Any], events: str | None = None,
              logs: dict[str, bytes] | None = None) -> Path:
    """A pod directory as the supervisor leaves it; logs maps "c/0" to a CRI file."""
    directory = root / "pods" / f"{record['namespace']}_{record['name']}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pod.json").write_text(json.dumps(record, indent=1, sort_keys=True))
    if events is not None:
        (directory / "events.jsonl").write_text(events)
    for key, content in (logs or {}).items():
        path = directory / "logs" / f"{key}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return directory


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def simple(name: str, namespace: str = "default", *, status: str = "Running",
           ready: str = "1/1", restarts: int = 0, last: float | None = None,
           created: float = CREATED, labels: dict[str, str] | None = None,
           phase: str = "Running") -> dict[str, Any]:
    """A one-container record with just what `get` reads."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                            "creationTimestamp": "2026-11-21T09:13:53Z"}
    if labels:
        meta["labels"] = labels
    return {
        "name": name, "namespace": namespace, "uid": f"{name}-0000-1111-2222", "created": created,
        "supervisor": this_supervisor(), "pause": {"pid": None, "startTime": None},
        "phase": phase, "status": status, "ready": ready, "restarts": restarts,
        "lastRestart": last, "containers": {},
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                   "spec": {"containers": [{"name": "app", "image": "busybox"}]},
                   "status": {"phase": phase, "podIPs": []}},
    }


def cri(*records: tuple[str, str, str, str]) -> bytes:
    """CRI records from (time, stream, tag, text)."""
    return b"".join(f"2026-11-21T09:{t}Z {s} {tag} {text}\n".encode()
                    for t, s, tag, text in records)


# -- Go's tabwriter ----------------------------------------------------------------------


def test_tabwriter_pads_each_column_to_its_widest_cell_plus_padding() -> None:
    text = "NAME\tREADY\tSTATUS\nweb\t1/1\tRunning\na-longer-name\t0/1\tCrashLoopBackOff\n"
    assert TabWriter(6, 3).format(text) == (
        "NAME            READY   STATUS\n"
        "web             1/1     Running\n"
        "a-longer-name   0/1     CrashLoopBackOff\n")


def test_tabwriter_minwidth_and_the_last_cell_is_never_padded() -> None:
    assert TabWriter(6, 3).format("a\tb\tc\n") == "a     b     c\n"
    assert TabWriter(20, 3).format("ID\tX\n") == "ID" + " " * 18 + "X\n"


def test_tabwriter_a_line_without_that_column_ends_the_block() -> None:
    # describe's layout: "Command:" has no tab, so the blocks above and below
    # it are aligned on their own
    text = "  Image:\tbusybox\n  Port:\t<none>\n  Command:\n    sh\n  State:\tRunning\n" \
           "  Restart Count:\t0\n"
    assert TabWriter(0, 2).format(text) == (
        "  Image:  busybox\n"
        "  Port:   <none>\n"
        "  Command:\n"
        "    sh\n"
        "  State:          Running\n"
        "  Restart Count:  0\n")


def test_tabwriter_nested_columns_are_aligned_per_block() -> None:
    text = "a\tb\tc\nlong-a\tb\nx\tlonger-b\tc\n"
    # column 1 exists only on lines 1 and 3 (line 2's "b" is its last cell)
    assert TabWriter(0, 1).format(text) == "a      b c\nlong-a b\nx      longer-b c\n"


def test_tabwriter_remember_widths_keeps_columns_from_shrinking() -> None:
    table = TabWriter(6, 3, remember=True)
    assert table.format("NAME\tSTATUS\tAGE\nweb\tRunning\t1s\n") == \
        "NAME   STATUS    AGE\nweb    Running   1s\n"
    assert table.format("web\tError\t2s\n") == "web    Error     2s\n"
    assert table.format("web\tCrashLoopBackOff\t3s\n") == "web    CrashLoopBackOff   3s\n"
    assert table.format("web\tError\t4s\n") == "web    Error              4s\n"


# -- get pods ----------------------------------------------------------------------------


def test_get_pods_columns_as_kubectl_aligns_them(root: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    write_pod(root, sample(root))
    write_pod(root, simple("a-much-longer-pod-name", status="CrashLoopBackOff", ready="0/1",
                           restarts=12, last=NOW - 125, created=NOW - 7200))
    code, out, err = run(capsys, "get", "pods")
    assert (code, err) == (0, "")
    assert out == (
        "NAME                     READY   STATUS             RESTARTS        AGE\n"
        "a-much-longer-pod-name   0/1     CrashLoopBackOff   12 (2m5s ago)   120m\n"
        "sample                   1/2     Running            1 (14s ago)     3m26s\n")


def test_get_pods_recomputes_restarts_ago_at_print_time(
        root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    write_pod(root, sample(root))
    monkeypatch.setattr(host, "now", lambda: LAST_RESTART + 3600)
    _, out, _ = run(capsys, "get", "po", "sample")
    assert out.splitlines()[1].split("   ")[3].strip() == "1 (60m ago)"


def test_get_pods_aliases_and_pod_slash_name(root: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    write_pod(root, sample(root))
    outputs = {run(capsys, "get", *args)[1] for args in
               (["pods", "sample"], ["pod", "sample"], ["po", "sample"], ["pod/sample"])}
    assert len(outputs) == 1


def test_get_pods_all_namespaces_adds_namespace_and_sorts_by_it(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pod(root, simple("zeta", "default"))
    write_pod(root, simple("alpha", "kube-system"))
    write_pod(root, simple("beta", "default"))
    code, out, _ = run(capsys, "get", "pods", "-A")
    assert code == 0
    assert out == (
        "NAMESPACE     NAME    READY   STATUS    RESTARTS   AGE\n"
        "default       beta    1/1     Running   0          3m26s\n"
        "default       zeta    1/1     Running   0          3m26s\n"
        "kube-system   alpha   1/1     Running   0          3m26s\n")
    _, out, _ = run(capsys, "get", "pods", "-n", "kube-system")
    assert [line.split()[0] for line in out.splitlines()] == ["NAME", "alpha"]


def test_get_pods_wide(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pod(root, sample(root))
    _, out, _ = run(capsys, "get", "pods", "-o", "wide")
    assert out == (
        "NAME     READY   STATUS    RESTARTS      AGE     IP       NODE    NOMINATED NODE   "
        "READINESS GATES\n"
        "sample   1/2     Running   1 (14s ago)   3m26s   <none>   node1   <none>           "
        "<none>\n")


def test_get_pods_show_labels_and_selector(root: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    write_pod(root, simple("web", labels={"app": "web", "tier": "front"}))
    write_pod(root, simple("db", labels={"app": "db"}))
    write_pod(root, simple("bare"))
    _, out, _ = run(capsys, "get", "pods", "--show-labels")
    assert out == (
        "NAME   READY   STATUS    RESTARTS   AGE     LABELS\n"
        "bare   1/1     Running   0          3m26s   <none>\n"
        "db     1/1     Running   0          3m26s   app=db\n"
        "web    1/1     Running   0          3m26s   app=web,tier=front\n")
    names = {sel: [line.split()[0] for line in run(capsys, "get", "pods", "-l", sel)[1]
                   .splitlines()[1:]]
             for sel in ("app=web", "app==db", "app!=web", "app", "!app", "app,tier=front")}
    assert names == {"app=web": ["web"], "app==db": ["db"], "app!=web": ["bare", "db"],
                     "app": ["db", "web"], "!app": ["bare"], "app,tier=front": ["web"]}
    code, out, err = run(capsys, "get", "pods", "-l", "app=nothing")
    assert (code, out, err) == (0, "", "No resources found in default namespace.\n")


def test_selector_parse() -> None:
    assert [(r.key, r.operator, r.values) for r in Selector.parse(
        "a=b, c!=d,e,!f, g in (x, y),h notin (z)").requirements] == [
        ("a", "=", ("b",)), ("c", "!=", ("d",)), ("e", "exists", ()), ("f", "!", ()),
        ("g", "in", ("x", "y")), ("h", "notin", ("z",))]


def test_get_pods_json_single_object_and_list(root: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    record = sample(root)
    write_pod(root, record)
    write_pod(root, simple("other"))
    _, out, _ = run(capsys, "get", "pod", "sample", "-o", "json")
    assert json.loads(out) == record["object"]
    assert out.startswith('{\n    "apiVersion": "v1",\n    "kind": "Pod",\n    "metadata": {\n')
    _, out, _ = run(capsys, "get", "pods", "-o", "json")
    listing = json.loads(out)
    assert list(listing) == ["apiVersion", "items", "kind", "metadata"]
    assert listing["kind"] == "List" and listing["metadata"] == {"resourceVersion": ""}
    assert [i["metadata"]["name"] for i in listing["items"]] == ["other", "sample"]
    assert listing["items"][1] == record["object"]


def test_get_pods_yaml_as_kubectl_writes_it(root: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    record = sample(root)
    write_pod(root, record)
    _, out, _ = run(capsys, "get", "pods", "-o", "yaml")
    assert yaml.safe_load(out) == {"apiVersion": "v1", "items": [record["object"]],
                                   "kind": "List", "metadata": {"resourceVersion": ""}}
    assert out.startswith("apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n")
    assert out.endswith("kind: List\nmetadata:\n  resourceVersion: \"\"\n")
    assert '  creationTimestamp: "2026-11-21T09:13:53Z"\n' in out
    _, single, _ = run(capsys, "get", "pods", "sample", "-o", "yaml")
    assert yaml.safe_load(single) == record["object"]


def test_to_yaml_quotes_strings_that_would_read_as_something_else() -> None:
    out = get.to_yaml({"a": "", "b": "8080", "c": "true", "d": "plain", "e": "x\ny\n",
                             "f": "null"})
    assert out == 'a: ""\nb: "8080"\nc: "true"\nd: plain\ne: |\n  x\n  y\nf: "null"\n'


def test_get_pods_output_name(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pod(root, simple("a"))
    write_pod(root, simple("b"))
    assert run(capsys, "get", "pods", "-o", "name")[1] == "pod/a\npod/b\n"


def test_get_pods_none_found(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "get", "pods") == (0, "", "No resources found in default namespace.\n")
    assert run(capsys, "get", "pods", "-n", "prod") == \
        (0, "", "No resources found in prod namespace.\n")
    assert run(capsys, "get", "pods", "-A") == (0, "", "No resources found.\n")


def test_get_pods_no_state_directory_at_all(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path / "nothing"))
    assert run(capsys, "get", "pods")[0] == 0
    assert not (tmp_path / "nothing").exists()  # reading creates nothing


def test_get_named_pod_not_found(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "get", "pods", "x") == \
        (1, "", 'Error from server (NotFound): pods "x" not found\n')
    write_pod(root, simple("a"))
    code, out, err = run(capsys, "get", "pods", "a", "x")
    assert code == 1
    assert out.splitlines()[1].startswith("a   ")
    assert err == 'Error from server (NotFound): pods "x" not found\n'


def test_get_skips_a_pod_directory_without_a_record(root: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (root / "pods" / "default_starting").mkdir()
    write_pod(root, simple("a"))
    assert [line.split()[0] for line in run(capsys, "get", "pods")[1].splitlines()] == \
        ["NAME", "a"]


def test_get_status_unknown_when_the_supervisor_is_gone(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = simple("orphan")
    record["supervisor"] = {"pid": os.getpid(), "startTime": 12345.0}  # same pid, not same process
    write_pod(root, record)
    assert run(capsys, "get", "pods")[1].splitlines()[1].split()[2] == "Unknown"


def test_get_bad_resource_and_output(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "get", "statefulsets") == \
        (1, "", 'error: the server doesn\'t have a resource type "statefulsets"\n')
    code, _, err = run(capsys, "get", "pods", "-o", "xml")
    assert code == 1
    assert err.startswith('error: unable to match a printer suitable for the output format "xml"')
    code, _, err = run(capsys, "get", "pods", "a", "-l", "app=x")
    assert (code, err) == (1, "error: name cannot be provided when a selector is specified\n")


# -- get -w ------------------------------------------------------------------------------


def read_line(proc: subprocess.Popen[str], timeout: float = 10) -> str:
    assert proc.stdout is not None
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    reader.join(timeout)
    assert result, "no line from get -w"
    return result[0]


def replace_record(directory: Path, record: dict[str, Any]) -> None:
    """As the supervisor does: a temporary file renamed over pod.json."""
    tmp = directory / ".pod.json.tmp"
    tmp.write_text(json.dumps(record))
    os.rename(tmp, directory / "pod.json")


def test_get_watch_prints_a_row_per_change(root: Path, tmp_path: Path) -> None:
    """`get pods -w` in its own process, woken by inotify; each change is one row."""
    first = simple("web")
    directory = write_pod(root, first)
    env = dict(os.environ, MINIPOD_ROOT=str(root))
    proc = subprocess.Popen([sys.executable, "-m", "minipod", "get", "pods", "-w"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert read_line(proc).split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert read_line(proc).split()[:4] == ["web", "1/1", "Running", "0"]
        replace_record(directory, first | {"status": "Error", "ready": "0/1"})
        assert read_line(proc).split()[:4] == ["web", "0/1", "Error", "0"]
        replace_record(directory, first | {"restarts": 1, "lastRestart": time.time()})
        row = read_line(proc)
        assert row.split()[:5] == ["web", "1/1", "Running", "1", "(0s"]
        assert row.index("Running") == 15  # aligned with the header's STATUS
        (root / "pods" / "default_db").mkdir()  # a new pod directory, its record renamed in
        replace_record(root / "pods" / "default_db", simple("db"))
        assert read_line(proc).split()[:3] == ["db", "1/1", "Running"]
        replace_record(directory, first | {"status": "Terminating"})
        assert read_line(proc).split()[:3] == ["web", "1/1", "Terminating"]
        import shutil

        shutil.rmtree(directory)  # deleted: kubectl prints its last row once more
        assert read_line(proc).split()[:3] == ["web", "1/1", "Terminating"]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_get_watch_falls_back_to_polling_without_inotify(
        root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    directory = write_pod(root, simple("web"))
    monkeypatch.setattr(watch, "open_inotify", lambda: None)
    sleeps: list[float] = []

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:
            replace_record(directory, simple("web", status="Error"))
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", fake_sleep)
    code, out, _ = run(capsys, "get", "pods", "-w")
    assert code == 130  # Ctrl-C
    assert [line.split()[2] for line in out.splitlines()] == ["STATUS", "Running", "Error"]
    assert sleeps == [1.0, 1.0]


# -- describe ----------------------------------------------------------------------------

# kubectl's text has trailing spaces (the "IP:" line, the Conditions rows,
# an empty Medium), so it is kept in a file rather than in this one.
DESCRIBE = (DATA / "describe_sample.txt").read_text()


def test_describe_pod_layout(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pod(root, sample(root), events=(DATA / "pod_events.jsonl").read_text())
    code, out, err = run(capsys, "describe", "pod", "sample")
    assert (code, err) == (0, "")
    assert out == DESCRIBE


def test_describe_events_aggregate_as_the_event_recorder_does(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = "".join(json.dumps({"timestamp": NOW - age, "type": "Warning", "reason": "Unhealthy",
                                 "obj": "pod/web", "message": "Liveness probe failed: x"}) + "\n"
                     for age in (125, 65, 5))
    events += json.dumps({"timestamp": NOW - 2, "type": "Normal", "reason": "Killing",
                          "obj": "pod/web", "message": "Stopping container app "}) + "\n"
    write_pod(root, simple("web"), events=events)
    out = run(capsys, "describe", "pod", "web")[1]
    assert out.split("Events:\n")[1] == (
        "  Type     Reason     Age                From     Message\n"
        "  ----     ------     ----               ----     -------\n"
        "  Warning  Unhealthy  5s (x3 over 2m5s)  minipod  Liveness probe failed: x\n"
        "  Normal   Killing    2s                 minipod  Stopping container app\n")


def test_describe_without_events_joins_the_block_above(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pod(root, simple("web"))
    out = run(capsys, "describe", "pod", "web")[1]
    assert out.endswith("Namespaces:\n  pause:  <not running>\nEvents:   <none>\n")


def test_describe_terminating_and_failed_message(root: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    record = simple("web", status="Terminating")
    record["object"]["metadata"]["deletionTimestamp"] = "2026-11-21T09:17:00Z"
    record["object"]["spec"]["terminationGracePeriodSeconds"] = 5
    write_pod(root, record)
    out = run(capsys, "describe", "pod", "web")[1]
    assert "Status:                    Terminating (lasts 20s)\n" in out
    assert "Termination Grace Period:  5s\n" in out
    failed = simple("bad", phase="Failed", status="Error")
    failed["object"]["status"] |= {"phase": "Failed", "message": "init container i exited with code 1"}
    write_pod(root, failed)
    out = run(capsys, "describe", "pod", "bad")[1]
    assert "Status:       Failed\nMessage:      init container i exited with code 1\n" in out


def test_describe_a_pod_whose_supervisor_is_gone(root: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    record = simple("web")
    record["supervisor"] = {"pid": 999999999, "startTime": 1.0}
    write_pod(root, record)
    out = run(capsys, "describe", "pod", "web")[1]
    assert "Reason:       NodeLost\nMessage:      its supervisor (pid 999999999) is gone" in out


def test_describe_volumes_env_mounts_and_ports(root: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    record = simple("web")
    record["object"]["spec"] = {
        "containers": [{
            "name": "app", "image": "busybox",
            "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
            "env": [{"name": "A", "value": "1"}, {"name": "MULTI", "value": "x\ny"}],
            "volumeMounts": [{"name": "host", "mountPath": "/z", "readOnly": True},
                             {"name": "scratch", "mountPath": "/a"}],
        }],
        "volumes": [{"name": "host", "hostPath": {"path": "/srv", "type": "Directory"}},
                    {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}],
    }
    write_pod(root, record)
    out = run(capsys, "describe", "pod", "web")[1]
    assert "    Ports:       80/TCP, 53/UDP\n    Host Ports:  0/TCP, 0/UDP\n" in out
    assert "    Environment:\n      A:      1\n      MULTI:  x\n              y\n" in out
    assert "    Mounts:\n      /a from scratch (rw)\n      /z from host (ro)\n" in out
    assert ("Volumes:\n"
            "  host:\n"
            "    Type:          HostPath (bare host directory volume)\n"
            "    Path:          /srv\n"
            "    HostPathType:  Directory\n"
            "  scratch:\n"
            "    Type:        EmptyDir (a temporary directory that shares a pod's lifetime)\n"
            "    Medium:      Memory\n"
            "    SizeLimit:   64Mi\n"
            "QoS Class:       BestEffort\n") in out


@pytest.mark.parametrize(("probe", "text"), [
    ({"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5, "periodSeconds": 5},
     "exec [cat /tmp/healthy] delay=5s timeout=1s period=5s #success=1 #failure=3"),
    ({"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTPS"}, "timeoutSeconds": 2,
      "successThreshold": 1, "failureThreshold": 5},
     "http-get https://:8080/healthz delay=0s timeout=2s period=10s "
     "#success=1 #failure=5"),
    ({"httpGet": {"port": "http", "host": "127.0.0.1"}},
     "http-get http://127.0.0.1:http/ delay=0s timeout=1s period=10s #success=1 #failure=3"),
    ({"httpGet": {"port": 80, "host": "::1", "path": "/a b"}},
     "http-get http://[::1]:80/a%20b delay=0s timeout=1s period=10s #success=1 #failure=3"),
    ({"tcpSocket": {"port": 8080}},
     "tcp-socket :8080 delay=0s timeout=1s period=10s #success=1 #failure=3"),
    ({"grpc": {"port": 9090}},
     "grpc <pod>:9090  delay=0s timeout=1s period=10s #success=1 #failure=3"),
    ({"grpc": {"port": 9090, "service": "health"}, "periodSeconds": 3},
     "grpc <pod>:9090 health delay=0s timeout=1s period=3s #success=1 #failure=3"),
])
def test_describe_probe_one_line_form(probe: dict[str, Any], text: str) -> None:
    assert describe._probe_text(probe) == text


def test_describe_not_found_and_bad_kind(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "describe", "pod", "nope") == \
        (1, "", 'Error from server (NotFound): pods "nope" not found\n')
    assert run(capsys, "describe", "svc", "x") == \
        (1, "", 'Error from server (NotFound): services "x" not found\n')
    assert run(capsys, "describe", "statefulset", "x")[2] == \
        'error: the server doesn\'t have a resource type "statefulset"\n'


def test_describe_several_pods_and_all_in_a_namespace(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pod(root, simple("a"))
    write_pod(root, simple("b"))
    out = run(capsys, "describe", "pod/a")[1]
    assert out.startswith("Name:         a\n")
    both = run(capsys, "describe", "pods")[1]
    assert both.count("Name:   ") == 2
    assert "Events:   <none>\n\n\nName:         b\n" in both
    assert run(capsys, "describe", "pods", "-n", "x") == \
        (0, "", "No resources found in x namespace.\n")


# -- logs ------------------------------------------------------------------------------------

WEB0 = cri(("13:54.084811000", "stdout", "F", "out"), ("13:54.084888000", "stderr", "F", "err"),
           ("13:55.000000000", "stdout", "F", "third"))
WEB1 = cri(("17:05.100000000", "stdout", "P", "a long "),
           ("17:05.100000500", "stderr", "F", "in between"),
           ("17:05.200000000", "stdout", "P", "line in "),
           ("17:05.300000000", "stdout", "F", "three parts"),
           ("17:06.000000000", "stdout", "F", ""),
           ("17:07.000000000", "stdout", "F", "last"))


@pytest.fixture
def logged(root: Path) -> Path:
    return write_pod(root, sample(root), logs={"web/0": WEB0, "web/1": WEB1, "init/0":
                                               cri(("13:53.9", "stdout", "F", "init done")),
                                               "side/0": b""})


def test_logs_current_run_with_partial_lines_joined(logged: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "logs", "sample", "-c", "web")
    assert (code, err) == (0, "")
    assert out == "in between\na long line in three parts\n\nlast\n"


def test_logs_defaults_to_the_first_app_container(logged: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "logs", "sample")
    assert code == 0
    assert out == "in between\na long line in three parts\n\nlast\n"
    assert err == 'Defaulted container "web" out of: web, side, init (init)\n'


def test_logs_default_container_annotation(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = sample(root)
    record["object"]["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/default-container": "side"}
    write_pod(root, record, logs={"side/0": cri(("14:00.5", "stdout", "F", "tick 0"))})
    assert run(capsys, "logs", "sample") == (0, "tick 0\n", "")


def test_logs_previous_run(logged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "logs", "sample", "-c", "web", "--previous") == \
        (0, "out\nerr\nthird\n", "")
    assert run(capsys, "logs", "sample", "-c", "web", "-p", "--tail", "1")[1] == "third\n"


def test_logs_previous_when_there_is_none(logged: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "logs", "sample", "-c", "side", "-p") == (
        1, "", 'Error from server (BadRequest): previous terminated container "side" in pod '
               '"sample" not found\n')


def test_logs_tail_and_timestamps(logged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "logs", "sample", "-c", "web", "--tail", "2")[1] == "\nlast\n"
    assert run(capsys, "logs", "sample", "-c", "web", "--tail", "0")[1] == ""
    assert run(capsys, "logs", "sample", "-c", "web", "--tail", "-1")[1].count("\n") == 4
    assert run(capsys, "logs", "sample", "-c", "web", "--timestamps", "--previous")[1] == (
        "2026-11-21T09:13:54.084811Z out\n"
        "2026-11-21T09:13:54.084888Z err\n"
        "2026-11-21T09:13:55Z third\n")
    out = run(capsys, "logs", "sample", "-c", "web", "--timestamps", "--tail", "3")[1]
    # a joined line carries the time of its first part
    assert out.splitlines()[0] == "2026-11-21T09:17:05.1Z a long line in three parts"


def in_back_off(root: Path) -> dict[str, Any]:
    """The sample with web waiting out CrashLoopBackOff after its second run exited."""
    record = sample(root)
    record["containers"]["web"] |= {"state": "waiting", "reason": "CrashLoopBackOff"}
    del record["containers"]["web"]["pid"]
    web = record["object"]["status"]["containerStatuses"][0]
    web["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    web["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error",
                                       "startedAt": "2026-11-21T09:17:05Z",
                                       "finishedAt": "2026-11-21T09:17:10Z"}}
    return record


def test_logs_of_a_container_in_back_off(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # as the kubelet: both the current and the previous log are the run that last exited
    write_pod(root, in_back_off(root), logs={"web/0": WEB0, "web/1": WEB1})
    current = run(capsys, "logs", "sample", "-c", "web")
    assert current == (0, "in between\na long line in three parts\n\nlast\n", "")
    assert run(capsys, "logs", "sample", "-c", "web", "-p") == current
    assert run(capsys, "logs", "sample", "-c", "web", "-f") == current  # nothing to follow


def test_logs_init_container_and_errors(logged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "logs", "sample", "-c", "init") == (0, "init done\n", "")
    assert run(capsys, "logs", "pod/sample", "-c", "nope") == \
        (1, "", "error: container nope is not valid for pod sample\n")
    assert run(capsys, "logs", "ghost") == \
        (1, "", 'Error from server (NotFound): pods "ghost" not found\n')


def test_logs_of_a_container_that_never_started(root: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    record = sample(root)
    record["containers"]["side"] |= {"attempt": -1, "state": "waiting",
                                     "reason": "PodInitializing"}
    write_pod(root, record)
    assert run(capsys, "logs", "sample", "-c", "side") == (
        1, "", 'Error from server (BadRequest): container "side" in pod "sample" is waiting to '
               'start: PodInitializing\n')


def test_logs_follow_ends_when_the_run_ends(logged: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    log = logged / "logs" / "web" / "1.log"

    def container() -> None:
        time.sleep(0.3)
        with open(log, "ab") as f:
            f.write(cri(("17:08.0", "stdout", "P", "half ")))
            f.flush()
            time.sleep(0.2)
            f.write(cri(("17:08.1", "stdout", "F", "and half"), ("17:09.0", "stderr", "F", "bye")))
        time.sleep(0.2)
        record = json.loads((logged / "pod.json").read_text())
        record["containers"]["web"] |= {"state": "terminated", "exitCode": 0}
        replace_record(logged, record)

    writer = threading.Thread(target=container)
    writer.start()
    started = time.monotonic()
    code, out, _ = run(capsys, "logs", "sample", "-c", "web", "-f", "--tail", "1")
    writer.join()
    assert code == 0
    assert out == "last\nhalf and half\nbye\n"
    assert time.monotonic() - started < 5


def test_logs_follow_ends_when_the_pod_is_removed(logged: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    def delete() -> None:
        time.sleep(0.3)
        with open(logged / "logs" / "side" / "0.log", "ab") as f:
            f.write(cri(("18:00.0", "stdout", "F", "tick 9")))
        time.sleep(0.1)
        shutil.rmtree(logged)

    threading.Thread(target=delete).start()
    assert run(capsys, "logs", "sample", "-c", "side", "-f")[1] == "tick 9\n"


def test_logs_follow_polls_without_inotify(logged: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "open_inotify", lambda: None)

    def fake_sleep(seconds: float) -> None:
        assert seconds == 1.0
        record = json.loads((logged / "pod.json").read_text())
        record["containers"]["web"]["attempt"] = 2  # restarted: this run is over
        replace_record(logged, record)

    monkeypatch.setattr(time, "sleep", fake_sleep)
    assert run(capsys, "logs", "sample", "-c", "web", "-f", "--tail", "1")[1] == "last\n"


# -- ps --------------------------------------------------------------------------------------


def test_ps_running_containers_as_crictl(logged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ps")
    assert code == 0
    assert out == (
        "CONTAINER           IMAGE               CREATED             STATE               "
        "NAME                ATTEMPT             POD ID              POD                 "
        "NAMESPACE           PID\n"
        "e4c678d5-web-1      busybox:1.36        15 seconds ago      Running             "
        "web                 1                   e4c678d5-e3c3       sample              "
        "default             736\n"
        "e4c678d5-side-0     busybox             3 minutes ago       Running             "
        "side                0                   e4c678d5-e3c3       sample              "
        "default             30718\n")


def test_ps_all_shows_exited_and_previous_runs(logged: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "ps", "-a")[1]
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(r[0], r[-7], r[-5]) for r in rows] == [
        ("e4c678d5-web-1", "Running", "1"),
        ("e4c678d5-web-0", "Exited", "0"),
        ("e4c678d5-side-0", "Running", "0"),
        ("e4c678d5-init-0", "Exited", "0"),
    ]
    assert [r[-1] for r in rows] == ["736", "-", "30718", "-"]


def test_ps_a_container_in_back_off_is_its_last_exited_run(
        root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pod(root, in_back_off(root))
    assert "web" not in run(capsys, "ps")[1]
    rows = [line.split() for line in run(capsys, "ps", "-a")[1].splitlines()[1:]]
    web = [r for r in rows if r[0].startswith("e4c678d5-web")]
    assert web == [["e4c678d5-web-1", "busybox:1.36", "15", "seconds", "ago", "Exited", "web",
                    "1", "e4c678d5-e3c3", "sample", "default", "-"]]


def test_ps_filters(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pod(root, sample(root))
    write_pod(root, sample(root, "other", "prod"))
    assert len(run(capsys, "ps")[1].splitlines()) == 5
    assert {line.split()[-3] for line in run(capsys, "ps", "--pod", "other")[1]
            .splitlines()[1:]} == {"other"}
    assert {line.split()[-2] for line in run(capsys, "ps", "-n", "prod")[1]
            .splitlines()[1:]} == {"prod"}
    assert run(capsys, "ps", "--pod", "none")[1].splitlines()[0].startswith("CONTAINER ")


@pytest.mark.parametrize(("seconds", "text"), [
    (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"),
    (5399, "About an hour"), (5400, "2 hours"), (47 * 3600, "47 hours"), (48 * 3600, "2 days"),
    (14 * 86400, "2 weeks"), (60 * 86400, "2 months"), (730 * 86400, "2 years"),
])
def test_crictl_age(seconds: float, text: str) -> None:
    assert crictl_age(seconds) == text


# -- inspect ---------------------------------------------------------------------------------


def test_inspect_lists_processes_namespaces_and_paths(
        logged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "inspect", "sample")
    assert code == 0
    data = json.loads(out)
    record = json.loads((logged / "pod.json").read_text())
    assert data["pause"] == {"pid": 30714, "namespaces": record["pause"]["namespaces"]}
    assert [c["name"] for c in data["containers"]] == ["init", "web", "side"]
    web = data["containers"][1]
    assert web == {
        "name": "web", "id": "e4c678d5-web-1", "image": "busybox:1.36", "init": False,
        "sidecar": False, "state": "running", "reason": "", "attempt": 1, "restartCount": 1,
        "pid": 736, "namespaces": record["containers"]["web"]["namespaces"],
        "rootfs": str(logged / "containers" / "web" / "1" / "merged"),
        "log": str(logged / "logs" / "web" / "1.log"),
    }
    init = data["containers"][0]
    assert (init["state"], init["pid"], init["namespaces"], init["exitCode"]) == \
        ("terminated", None, {}, 0)
    assert data["status"] == "Running" and data["directory"] == str(logged)


def test_inspect_not_found(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "inspect", "x", "-n", "kube-system") == \
        (1, "", 'Error from server (NotFound): pods "x" not found\n')


def test_unreadable_state_is_one_line_not_a_traceback(
        root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(_path: object) -> list[str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "listdir", denied)
    code, out, err = run(capsys, "get", "pods")
    assert (code, out) == (1, "")
    assert err == f"error: cannot read {root / 'pods'}: permission denied " \
                  "(pod state is root's alone)\n"

