"""The examples of the tour (README.md, "The tour"), run as they are: each test runs
one manifest of examples/ and checks the outcome the tour shows. The slow
ones are left out: liveness.yaml takes over a minute by design (the
Kubernetes docs' timings), and deployment.yaml's healing is the seed
scenario of test_deployments.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from podtest import Minipod, wait_for

pytestmark = pytest.mark.root

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_to_completion(mp: Minipod, example: str, running: list[str] | None = None,
                      timeout: float = 30) -> list[str]:
    """`minipod up` of a pod that ends by itself: its output lines. With
    `running`, the pod's processes are noted while those containers run, so
    the fixture's leak check looks for them afterwards."""
    manifest = EXAMPLES / f"{example}.yaml"
    proc = mp.up(manifest)
    if running:
        name = re.search(r"^  name: (\S+)$", manifest.read_text(), re.MULTILINE)
        assert name is not None
        mp.wait_running(name.group(1), running)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"{example} did not finish:\n{out}") from None
    assert proc.returncode == 0, out
    assert "pod phase Succeeded" in out, out
    return out.splitlines()


def index(lines: list[str], text: str) -> int:
    """Where the first line containing `text` is."""
    for i, line in enumerate(lines):
        if text in line:
            return i
    raise AssertionError(f"no line with {text!r} in:\n" + "\n".join(lines))


def test_init_containers_run_in_order_and_prepare_the_volume(minipod: Minipod) -> None:
    lines = run_to_completion(minipod, "init-containers")
    order = [index(lines, f"Started container {c} ") for c in ("fetch", "render", "app")]
    assert order == sorted(order)
    # each init container had exited 0 before the next one started
    assert index(lines, "Container fetch exited (exit code 0)") < order[1]
    assert index(lines, "Container render exited (exit code 0)") < order[2]
    assert "init-demo/app | rendered: settings from the fetch step" in lines


def test_two_containers_talk_over_the_pods_loopback(minipod: Minipod) -> None:
    lines = run_to_completion(minipod, "localhost")
    got = lines[index(lines, "localhost/server | server got: ping from the client")]
    pong = lines[index(lines, "localhost/client | pong from the server")]
    # both sides of the connection are in one network namespace: the pod's
    client_net = re.search(r"net:\[\d+\]", got)
    server_net = re.search(r"net:\[\d+\]", pong)
    assert client_net and server_net and client_net.group() == server_net.group()


def ps_block(lines: list[str], heading: str) -> list[list[str]]:
    """The `ps -o pid,ppid,stat,comm` rows the watcher printed after `heading`."""
    rows: list[list[str]] = []
    for line in lines[index(lines, f"zombies/watcher | {heading}") + 2:]:
        if not line.startswith("zombies/watcher | "):
            if rows:
                break
            continue
        fields = line.removeprefix("zombies/watcher | ").split()
        if not fields[0].isdigit():
            break
        rows.append(fields)
    return rows


def test_pause_is_pid_1_and_reaps_the_zombie(minipod: Minipod) -> None:
    lines = run_to_completion(minipod, "zombies", running=["zombie-maker", "watcher"])
    before, after = ps_block(lines, "at 2 s:"), ps_block(lines, "at 6 s:")
    assert ["1", "0", "S", "minipod-pause"] in before and ["1", "0", "S", "minipod-pause"] in after
    zombies = [row for row in before if row[2].startswith("Z")]
    assert len(zombies) == 1 and zombies[0][3] == "sleep", before
    parent = zombies[0][1]
    assert [row[3] for row in before if row[0] == parent] == ["sleep"]  # `sleep 4`, not pause
    # `sleep 4` exited, its zombie went to PID 1, and pause reaped it
    assert not [row for row in after if row[2].startswith("Z")], after
    assert not [row for row in after if row[0] in (parent, zombies[0][0])], after


def test_the_sidecar_starts_first_and_is_stopped_last(minipod: Minipod) -> None:
    lines = run_to_completion(minipod, "sidecar", running=["log-shipper", "app"])
    assert index(lines, "Started container log-shipper ") < index(lines, "Started container app ")
    shipped = [i for i, line in enumerate(lines) if line.startswith("sidecar/log-shipper | request")]
    assert [lines[i].split("| ")[1] for i in shipped] == [
        f"request {n} handled" for n in (1, 2, 3)]
    app_done = index(lines, "Container app exited (exit code 0)")
    assert app_done < index(lines, "Stopping container log-shipper")
    assert app_done < index(lines, "Container log-shipper exited (exit code 0)")


def test_http_readiness_and_tcp_liveness(minipod: Minipod) -> None:
    manifest = str(EXAMPLES / "probes.yaml")
    up = minipod.run("up", "-d", manifest)
    assert up.returncode == 0, up.stderr
    record = minipod.wait_running("probes", ["web", "tcp"])
    # not ready while httpd answers 404, then ready without a restart
    assert not record["containers"]["web"]["ready"]
    web = wait_for(lambda: probes_container(minipod, "web", lambda c: c["ready"]), 10,
                   "web ready")
    assert web["probes"]["readiness"]["failures"] >= 1
    assert web["restartCount"] == 0
    # port 9000 closes after 8 s: two failed tcpSocket probes, a kill, a restart
    wait_for(lambda: probes_container(minipod, "tcp", lambda c: c["restartCount"] == 1), 25,
             "tcp restarted")
    statuses = json.loads(minipod.run("get", "pods", "probes", "-o", "json").stdout)
    by_name = {c["name"]: c for c in statuses["status"]["containerStatuses"]}
    assert by_name["tcp"]["lastState"]["terminated"]["exitCode"] == 137  # SIGKILL
    assert by_name["web"]["restartCount"] == 0
    down = minipod.run("down", manifest)
    assert down.returncode == 0, down.stderr
    wait_for(lambda: minipod.pod_record("probes") is None, 20, "the pod gone")


def probes_container(mp: Minipod, name: str, check: Any) -> dict[str, Any] | None:
    """The container's part of the pod record, once `check` holds for it."""
    record = mp.pod_record("probes")
    if record is None:
        return None
    mp.remember(record)  # restarted containers are new processes to look for
    container: dict[str, Any] = record["containers"][name]
    return container if check(container) else None
