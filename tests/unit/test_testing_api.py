"""minipod.testing's pure parts: the builder's manifests are valid, a
manifest in any form becomes one text, a wait that times out names what it
awaited and what it last saw, and the plugin's gate."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from minipod.api.manifest import parse_objects
from minipod.testing import build as b
from minipod.testing import leaks, plugin
from minipod.testing import node as node_module
from minipod.testing.execute import ExecResult
from minipod.testing.node import manifest_text
from minipod.testing.watch import SAFETY, WaitTimeout, wait_until


def test_the_builder_makes_manifests_the_api_server_accepts() -> None:
    config = b.config_map({"k": "v"})
    secret = b.secret({"password": "s3cret"})
    web = b.deployment(b.shell("web", "httpd -f -p 8080", readiness=b.http_get(8080),
                               liveness=b.tcp_socket(8080), ports=[8080]), replicas=2)
    pod = b.pod(b.container("app", "sleep", "3600", env={"A": "1"},
                            startup=b.exec_probe("true")),
                init=[b.shell("init", "true")], restart_policy="OnFailure",
                labels={"app": "x"})
    service = b.service({"app": "x"}, 80, 8080)
    text, source = manifest_text([config, secret, web, pod, service])
    assert source == "<manifest>"
    parsed = parse_objects(text)
    assert [c.kind for c in parsed.configs] == ["ConfigMap", "Secret"]
    assert parsed.configs[1].data == {"password": b"s3cret"}
    assert parsed.workloads[0].replicas == 2
    assert parsed.workloads[0].template.labels == {"app": web["metadata"]["name"]}
    spec = parsed.pods[0].spec
    assert spec.restart_policy == "OnFailure" and spec.termination_grace_period_seconds == 1
    assert [c.name for c in spec.init_containers] == ["init"]
    assert parsed.pods[0].labels == {"app": "x"}
    assert parsed.services[0].ports[0].target_port == 8080


def test_names_are_unique_unless_given() -> None:
    first, second = b.pod(b.container("a", "true")), b.pod(b.container("a", "true"))
    assert first["metadata"]["name"] != second["metadata"]["name"]
    assert b.pod(b.container("a", "true"), name="mine")["metadata"]["name"] == "mine"
    assert b.container("a", "true", memory_limit="32Mi")["resources"] == {
        "limits": {"memory": "32Mi"}}


def test_a_manifest_as_text_file_dict_or_list(tmp_path: Path) -> None:
    pod = b.pod(b.container("a", "true"), name="p")
    path = tmp_path / "pod.yaml"
    path.write_text(json.dumps(pod))
    assert manifest_text(path) == (json.dumps(pod), str(path))
    assert manifest_text(str(path)) == (json.dumps(pod), str(path))
    assert manifest_text("kind: Pod\n") == ("kind: Pod\n", "<manifest>")
    assert json.loads(manifest_text(pod)[0]) == pod
    text, _ = manifest_text([pod, pod])
    assert text.count("---\n") == 1


def test_a_wait_wakes_on_a_change_in_the_state_directory(tmp_path: Path) -> None:
    (tmp_path / "pods" / "web").mkdir(parents=True)
    record = tmp_path / "pods" / "web" / "pod.json"
    looks = []

    def look() -> str | None:
        looks.append(time.monotonic())
        return record.read_text() if record.exists() else None

    written: list[float] = []

    def write() -> None:  # as a supervisor does: a new file renamed into place
        written.append(time.monotonic())
        (tmp_path / "tmp.json").write_text("Running")
        (tmp_path / "tmp.json").rename(record)

    writer = threading.Timer(0.1, write)
    started = time.monotonic()
    writer.start()
    try:
        assert wait_until([tmp_path], look, "the record", 5, lambda: "none") == "Running"
    finally:
        writer.join()
    # woken by the rename, well before the next SAFETY look, and not polling:
    # one look before the write, none while nothing changed, and the others
    # after it (the file's creation and its rename may come as 2 or 3 wakes)
    assert time.monotonic() - started < SAFETY * 0.8
    assert looks[0] < written[0]
    assert all(t >= written[0] for t in looks[1:]), looks
    assert len(looks) <= 5


def test_a_wait_that_times_out_says_what_and_the_last_state(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as caught:
        wait_until([tmp_path], lambda: None, "pod web Ready", 0.2, lambda: "phase Pending")
    assert 0.2 <= time.monotonic() - started < 1
    assert str(caught.value) == ("timed out after 0.2s waiting for pod web Ready; "
                                 "last seen: phase Pending")
    assert isinstance(caught.value, AssertionError)  # pytest shows it as a failed check


def test_exec_result_check() -> None:
    ok = ExecResult(("true",), 0, "", "")
    assert ok.check() is ok and ok.ok
    with pytest.raises(AssertionError, match="'sh -c exit 2' exited 2: boom"):
        ExecResult(("sh", "-c", "exit 2"), 2, "", "boom\n").check()


def test_the_gate_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin, "cannot_run_pods", lambda: "needs root (namespaces, mounts)")
    monkeypatch.delenv("MINIPOD_TESTS_MUST_RUN", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        plugin.gate()
    monkeypatch.setenv("MINIPOD_TESTS_MUST_RUN", "1")
    with pytest.raises(pytest.fail.Exception, match="MINIPOD_TESTS_MUST_RUN=1 but this test "
                       "cannot run here: needs root"):
        plugin.gate()
    monkeypatch.setattr(plugin, "cannot_run_pods", lambda: None)
    plugin.gate()  # nothing to say


def test_under_systemd_the_supervisor_runs_in_a_delegated_scope(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    node = node_module.Node(tmp_path / "state", tmp_path / "images", tmp_path / "logs")
    argv = ["python", "-m", "minipod.testing.daemon"]
    monkeypatch.setattr(node_module.systemd, "running", lambda: False)
    assert node._in_delegated_scope(argv) == argv  # no systemd: as it is
    monkeypatch.setattr(node_module.systemd, "running", lambda: True)
    monkeypatch.setattr(node_module, "in_delegated_cgroup", lambda: True)
    assert node._in_delegated_scope(argv) == argv  # delegated already (a unit's test run)
    monkeypatch.setattr(node_module, "in_delegated_cgroup", lambda: False)
    scoped = node._in_delegated_scope(argv)
    assert scoped[:2] == ["systemd-run", "--scope"] and "Delegate=yes" in scoped
    assert scoped[scoped.index("--") + 1:] == argv
    # one unit per node: two nodes of one test process never share a name
    other = node_module.Node(tmp_path / "s2", tmp_path / "images", tmp_path / "l2")
    unit = [a for a in scoped if a.startswith("--unit=")]
    assert unit and unit != [a for a in other._in_delegated_scope(argv)
                             if a.startswith("--unit=")]


def test_where_the_leak_check_looks_for_a_nodes_cgroups() -> None:
    # no systemd: "/"; under systemd: the scope the supervisor runs in (v2:
    # it moved to a "supervisor" leaf below it) and the recorded pods' paths
    proc_cgroup = "0::/system.slice/minipod-node-ab12-7.scope/supervisor\n"
    recorded = ["/system.slice/minipod-node-ab12-7.scope/minipod-test-ab12/burstable/pod1",
                "/minipod-test-ab12/pod2", "/elsewhere/pod3"]
    assert leaks.cgroup_bases("minipod-test-ab12", recorded, proc_cgroup) == {
        "/", "/system.slice/minipod-node-ab12-7.scope",
        "/system.slice/minipod-node-ab12-7.scope/supervisor"}
    v1 = "4:memory:/\n1:cpu,cpuacct:/\n"
    assert leaks.cgroup_bases("minipod-test-ab12", [], v1) == {"/"}
