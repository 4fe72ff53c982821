"""Deployments end to end through the CLI: the seed scenario (a busybox httpd
Deployment healed at the container and at the pod level), scale, a rolling
update, and a supervisor killed and replaced under a Deployment."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from podtest import Minipod, unique_name, wait_for

pytestmark = pytest.mark.root


def deployment(name: str, replicas: int, page: str = "v1") -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox
        command: [sh, -c, "mkdir -p /www && echo {page} > /www/index.html && exec httpd -f -p 8080 -h /www"]
        readinessProbe:
          httpGet: {{path: /, port: 8080}}
          periodSeconds: 1
"""


def pods(mp: Minipod) -> dict[str, dict[str, Any]]:
    """The pods `minipod get pods -o json` lists, by name."""
    out = mp.run("get", "pods", "-o", "json")
    assert out.returncode == 0, out.stderr
    items = json.loads(out.stdout)["items"] if out.stdout.strip() else []
    return {item["metadata"]["name"]: item for item in items}


def ready_pods(mp: Minipod, count: int, what: str) -> dict[str, dict[str, Any]]:
    def check() -> dict[str, dict[str, Any]] | None:
        found = pods(mp)
        live = {n: p for n, p in found.items() if "deletionTimestamp" not in p["metadata"]}
        if len(found) == count and all(
                p["status"]["phase"] == "Running"
                and all(c["ready"] for c in p["status"]["containerStatuses"])
                for p in live.values()):
            for name in found:
                record = mp.pod_record(name)
                if record:
                    mp.remember(record)
            return found
        return None

    result: dict[str, dict[str, Any]] = wait_for(check, 30, what)
    return result


def restarts(item: dict[str, Any]) -> int:
    return sum(c["restartCount"] for c in item["status"]["containerStatuses"])


def kill9(pid: int) -> None:
    pidfd = os.pidfd_open(pid)
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    finally:
        os.close(pidfd)


def test_seed_scenario_heals_containers_and_pods(minipod: Minipod) -> None:
    name = unique_name("web")
    manifest = minipod.manifest(deployment(name, 2))
    up = minipod.run("up", "-d", str(manifest))
    assert up.returncode == 0, up.stderr
    assert up.stdout == f"deployment.apps/{name} created\n"
    first = ready_pods(minipod, 2, "two ready replicas")
    for pod_name, item in first.items():
        assert pod_name.startswith(f"{name}-")
        template_hash = item["metadata"]["labels"]["pod-template-hash"]
        assert pod_name.rsplit("-", 1)[0] == f"{name}-{template_hash}"
        assert len(pod_name.rsplit("-", 1)[1]) == 5
        assert item["metadata"]["ownerReferences"][0]["name"] == f"{name}-{template_hash}"
    victim = sorted(first)[0]
    pid = minipod.pod_record(victim)["containers"]["httpd"]["pid"]  # type: ignore[index]
    # kill its container process from the host: same pod, RESTARTS 1
    kill9(pid)
    wait_for(lambda: restarts(pods(minipod).get(victim, {"status": {"containerStatuses": []}}))
             == 1, 20, "the container restarted in the same pod")
    table = minipod.run("get", "pods").stdout
    assert any(line.split()[0] == victim and line.split()[3] == "1" for line in
               table.splitlines()[1:]), table
    # delete the pod: a new pod with a new name and RESTARTS 0; still 2 replicas
    assert minipod.run("delete", "pod", victim, "--grace-period", "1").returncode == 0
    after = ready_pods(minipod, 2, "a replacement replica")
    assert victim not in after
    new = (set(after) - set(first)).pop()
    assert restarts(after[new]) == 0
    assert set(after) - {new} == set(first) - {victim}  # the other replica kept serving
    deploy = minipod.run("get", "deployments").stdout.splitlines()
    assert deploy[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploy[1].split()[:4] == [name, "2/2", "2", "2"]
    down = minipod.run("down", str(manifest))
    assert down.returncode == 0, down.stderr
    wait_for(lambda: not pods(minipod), 20, "every pod gone")
    assert not list((minipod.root / "workloads").glob("*.json"))


def test_scale_and_rolling_update(minipod: Minipod) -> None:
    name = unique_name("roll")
    manifest = minipod.manifest(deployment(name, 2))
    assert minipod.run("up", "-d", str(manifest)).returncode == 0
    ready_pods(minipod, 2, "two replicas")
    scaled = minipod.run("scale", "deployment", name, "--replicas", "3")
    assert scaled.returncode == 0 and scaled.stdout == f"deployment.apps/{name} scaled\n"
    before = ready_pods(minipod, 3, "three replicas")
    old_hash = next(iter(before.values()))["metadata"]["labels"]["pod-template-hash"]
    # a changed template (the manifest says 3 replicas now, so the count holds)
    manifest.write_text(deployment(name, 3, page="v2"))
    again = minipod.run("up", "-d", str(manifest))
    assert again.returncode == 0 and again.stdout == f"deployment.apps/{name} configured\n"
    seen: set[str] = set()

    def rolled() -> bool:
        current = pods(minipod)
        hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in current.values()}
        seen.update(current)
        live = [p for p in current.values() if "deletionTimestamp" not in p["metadata"]]
        return old_hash not in hashes and len(live) == 3 and all(
            all(c["ready"] for c in p["status"]["containerStatuses"]) for p in live)

    wait_for(rolled, 60, "every replica on the new template")
    assert len(seen - set(before)) == 3  # three new pods replaced the three old ones
    assert minipod.run("scale", "deploy", name, "--replicas", "1").returncode == 0
    ready_pods(minipod, 1, "one replica")
    assert minipod.run("delete", "deployment", name).returncode == 0
    wait_for(lambda: not pods(minipod), 20, "every pod gone")


def test_deployment_survives_its_supervisor(minipod: Minipod) -> None:
    name = unique_name("keep")
    assert minipod.run("up", "-d", str(minipod.manifest(deployment(name, 2)))).returncode == 0
    first = ready_pods(minipod, 2, "two replicas")
    record_path = minipod.root / "workloads" / f"default_deployment_{name}.json"
    old = json.loads(record_path.read_text())["supervisor"]["pid"]
    kill9(old)
    assert minipod.run("recover").returncode == 0
    wait_for(lambda: json.loads(record_path.read_text())["supervisor"]["pid"] != old, 20,
             "the deployment adopted")
    same = ready_pods(minipod, 2, "the same two replicas")
    assert set(same) == set(first)
    victim = sorted(first)[0]
    assert minipod.run("delete", "pod", victim, "--grace-period", "1").returncode == 0
    after = ready_pods(minipod, 2, "a replacement from the new supervisor")
    assert victim not in after
    assert minipod.run("delete", "deployment", name).returncode == 0
    wait_for(lambda: not pods(minipod), 20, "every pod gone")
    assert not Path(record_path).exists()
