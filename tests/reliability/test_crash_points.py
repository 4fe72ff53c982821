"""A SIGKILL of the supervisor at every step of `up -d` and of `delete`
(kernel/faults.py lists them; MINIPOD_TEST_CRASH_AT makes the supervisor kill
itself there), then `recover`. Whatever the step:

- no client says "created" or "deleted" for what is not so: a delete that
  says deleted leaves no process of the pod;
- after `recover`, every pause on the host belongs to a pod `get pods` shows,
  served by the new supervisor; no pod is left "creating", nothing in staging/;
- `up -d` of the same file again completes it (what exists is left, what is
  missing made), and deleting the pods leaves nothing on the host.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from hostcheck import (
    daemon_pid,
    pod_names,
    pods_file,
    processes_in_netns_of,
    report,
    wait_daemon_gone,
    wait_running,
)
from nettest import endpoints
from podtest import Minipod, pauses_under, wait_for

from minipod.kernel.faults import DELETE_STEPS, UP_STEPS

pytestmark = [pytest.mark.root, pytest.mark.slow]
NAMES = ["crash-a", "crash-b"]
COVERED: dict[str, str] = {}


def crashing(mp: Minipod, step: str, *args: str) -> Any:
    """Run `minipod ARGS` with the hook armed for ``step``; the supervisor it
    talks to (the one it starts) must die there."""
    env = dict(mp.env, MINIPOD_TEST_CRASH_AT=step)
    return subprocess.run([*mp.prefix(), sys.executable, "-m", "minipod", *args],
                          cwd=mp.workdir, env=env, capture_output=True, text=True, timeout=120)


def check_recovered(mp: Minipod) -> list[str]:
    """The state after `recover`: every pause the host has is a pod's that the
    new supervisor serves and `get pods` lists; nothing half made."""
    result = mp.run("recover")
    assert result.returncode == 0, result.stderr
    supervisor = daemon_pid(mp)
    assert supervisor is not None
    names = pod_names(mp)
    listed = mp.run("get", "pods", "-o", "name")
    assert listed.returncode == 0, listed.stderr
    assert sorted(line.split("/", 1)[1] for line in listed.stdout.split()) == names
    records = {name: mp.pod_record(name) for name in names}
    for name, record in records.items():
        assert record is not None, name
        assert not record.get("creating"), f"{name} still half made after recover"
        assert record["supervisor"]["pid"] == supervisor, name
        mp.remember(record)
    recorded = {r["pause"]["pid"] for r in records.values() if r and r["pause"].get("pid")}
    for pause in pauses_under(mp.root):
        # a pause no record names is a process `get pods` would not show
        wait_for(lambda p=pause: p in recorded or p not in pauses_under(mp.root), 10,
                 f"pause {pause} to be recorded or gone")
    staging = mp.root / "staging"
    assert not staging.exists() or not any(staging.iterdir())
    return names


def complete_and_clean(mp: Minipod, manifest: str) -> None:
    again = mp.run("up", "-d", manifest)
    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [f"pod/{n}" for n in NAMES], lines
    assert all(line.split()[1] in ("created", "unchanged") for line in lines), lines
    for name in NAMES:
        wait_running(mp, name)
    result = mp.run("delete", "pod", *NAMES, "--grace-period", "0")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("step", UP_STEPS)
def test_kill_during_up(minipod: Minipod, step: str) -> None:
    manifest = str(minipod.manifest(pods_file(NAMES)))
    result = crashing(minipod, step, "up", "-d", manifest)
    assert result.returncode != 0, f"the supervisor did not die at {step}: {result.stdout}"
    assert "created" not in result.stdout  # nothing is said made that the client did not see
    log = (minipod.root / "supervisors" / "daemon.log").read_text()
    assert "TEST HOOK ARMED" in log and step in log
    for record in filter(None, (minipod.pod_record(n) for n in NAMES)):
        minipod.remember(record)
        wait_daemon_gone(record["supervisor"]["pid"])
    check_recovered(minipod)
    complete_and_clean(minipod, manifest)
    COVERED[step] = "up -d"
    report("kill points", {"covered": sorted(COVERED), "count": len(COVERED)})


@pytest.mark.parametrize("step", DELETE_STEPS)
def test_kill_during_delete(minipod: Minipod, step: str) -> None:
    manifest = str(minipod.manifest(pods_file(NAMES)))
    made = crashing(minipod, step, "up", "-d", manifest)  # delete steps are not passed here
    assert made.returncode == 0, made.stderr
    records = [wait_running(minipod, n) for n in NAMES]
    supervisor = records[0]["supervisor"]["pid"]
    target = records[0]
    result = crashing(minipod, step, "delete", "pod", NAMES[0])
    wait_daemon_gone(supervisor)
    if "deleted" in result.stdout:
        # said deleted: not one process of the pod may be alive
        assert pauses_under(minipod.root) == [records[1]["pause"]["pid"]], result.stdout
        assert processes_in_netns_of([target["pause"]["pid"]]) == []
    names = check_recovered(minipod)
    # the deletion was carried out: by the client (supervisor gone) or by recover
    wait_for(lambda: NAMES[0] not in pod_names(minipod), 20, f"{NAMES[0]} deleted")
    assert NAMES[1] in names
    assert json.loads(json.dumps(minipod.pod_record(NAMES[1])))["containers"]["app"][
        "state"] == "running"
    complete_and_clean(minipod, manifest)
    COVERED[step] = "delete"
    report("kill points", {"covered": sorted(COVERED), "count": len(COVERED)})


def test_kill_half_way_through_a_file_of_pods(minipod: Minipod) -> None:
    """Finding 2: SIGKILL of the supervisor while `up -d` makes the 2nd of 3
    pods: the client says so, `recover` adopts the 1st and removes the half
    made 2nd (its pause included), `get pods` shows every pod that has a
    process, and `up -d` again makes the 2nd and 3rd and leaves the 1st."""
    names = ["half-1", "half-2", "half-3"]
    manifest = str(minipod.manifest(pods_file(names)))
    result = crashing(minipod, "create:pause-spawned@2", "up", "-d", manifest)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    first = minipod.pod_record("half-1")
    assert first is not None
    minipod.remember(first)
    half = pauses_under(minipod.root)
    assert len(half) == 2, "pause of half-1, and the one of half-2 the record never got"
    wait_daemon_gone(first["supervisor"]["pid"])
    recovered = minipod.run("recover")
    assert "pod/half-2 removed (half made when its supervisor died)" in recovered.stdout
    assert check_recovered(minipod) == ["half-1"]
    assert pauses_under(minipod.root) == [first["pause"]["pid"]]
    again = minipod.run("up", "-d", manifest)
    assert (again.returncode, again.stdout) == (
        0, "pod/half-1 unchanged\npod/half-2 created\npod/half-3 created\n"), again.stderr
    for name in names:
        wait_running(minipod, name)
    assert minipod.run("delete", "pod", *names, "--grace-period", "0").returncode == 0


NET_PODS = ["net-a", "net-b"]
NET_FILE = """apiVersion: v1
kind: Service
metadata: {name: net-svc}
spec:
  selector: {app: net}
  ports: [{port: 80, targetPort: 8080}]
""" + "".join(f"""---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: net}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sleep, "3600"]
    ports: [{{containerPort: 8080, hostPort: {18090 + i}}}]
""" for i, name in enumerate(NET_PODS))


def claims(mp: Minipod, kind: str) -> dict[str, str]:
    """The network's claims of ``kind``: name -> owner."""
    directory = mp.root / "network" / kind
    return {p.name: p.read_text().strip() for p in directory.iterdir()} \
        if directory.exists() else {}


@pytest.mark.parametrize("step", UP_STEPS)
def test_kill_during_up_on_the_pod_network(netpod: Minipod, step: str) -> None:
    """The same kill with the pod network on, each pod with an address, a
    hostPort (a claim and nftables rules) and a Service selecting it: after
    `recover` every address and port claimed is held by a pod `get pods`
    shows, the Service's endpoints are those pods' addresses, and at the end
    (the netpod fixture) the namespace has no link, route or rule left."""
    mp = netpod
    manifest = str(mp.manifest(NET_FILE))
    result = crashing(mp, step, "up", "-d", manifest)
    assert result.returncode != 0, f"the supervisor did not die at {step}: {result.stdout}"
    assert "pod/" not in result.stdout
    for record in filter(None, (mp.pod_record(n) for n in NET_PODS)):
        mp.remember(record)
        wait_daemon_gone(record["supervisor"]["pid"])
    names = check_recovered(mp)
    owners = {f"default/{n}" for n in names}
    assert set(claims(mp, "pod-ips").values()) == owners, claims(mp, "pod-ips")
    assert set(claims(mp, "host-ports").values()) == owners, claims(mp, "host-ports")
    ips = {mp.pod_record(n)["network"]["ip"] for n in names}  # type: ignore[index]
    assert set(claims(mp, "pod-ips")) == ips
    wait_for(lambda: {e["ip"] for e in endpoints(mp, "net-svc")} <= ips, 10,
             "the Service's endpoints to be pods that exist")
    again = mp.run("up", "-d", manifest)
    assert again.returncode == 0, again.stderr
    assert [line.split()[0] for line in again.stdout.splitlines()] == [
        "service/net-svc", *(f"pod/{n}" for n in NET_PODS)], again.stdout
    for name in NET_PODS:
        wait_running(mp, name)
    wait_for(lambda: len({e["ip"] for e in endpoints(mp, "net-svc")}) == len(NET_PODS), 20,
             "both pods in the Service's endpoints")
    assert mp.run("delete", "pod", *NET_PODS, "--grace-period", "0").returncode == 0
    assert mp.run("delete", "service", "net-svc").returncode == 0
    COVERED[f"{step} (pod network)"] = "up -d"
    report("kill points", {"covered": sorted(COVERED), "count": len(COVERED)})
