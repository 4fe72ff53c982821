"""The kubectl verbs against real pods, from another process as a user
types them: apply -f of a docs-style manifest with a ConfigMap, a Secret and
the downward API (env and volumes, seen from inside the container), an
update reaching a mounted file by the atomic symlink swap (a subPath file
staying as it was), Secrets root-only, delete -f and its wait, down of a
Deployment waiting for its pods; and container logs rotated under a fast
writer, read whole by `logs` and `logs -f` across the rotations."""

from __future__ import annotations

import json
import os
import queue
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from podtest import Minipod, unique_name, wait_for

pytestmark = pytest.mark.root

# The Kubernetes docs' ConfigMap, Secret and downward API examples
# (configure-pod-configmap, distribute-credentials-secure,
# downward-api-volume-expose-pod-information), in one file as a user would
# apply them; only the image and the command are minipod's.
DOCS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: special-config
data:
  SPECIAL_LEVEL: very
  SPECIAL_TYPE: charm
  game.properties: |
    enemies=aliens
    lives=3
---
apiVersion: v1
kind: Secret
metadata:
  name: test-secret
data:
  username: bXktYXBw
  password: Mzk1MjgkdmRnN0pi
---
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    zone: us-est-coast
    cluster: test-cluster1
    rack: rack-22
  annotations:
    build: two
    builder: john-doe
spec:
  containers:
  - name: client-container
    image: registry.k8s.io/busybox
    command: ["sh", "-c", "echo ready; sleep 3600"]
    env:
    - name: SPECIAL_LEVEL_KEY
      valueFrom:
        configMapKeyRef:
          name: special-config
          key: SPECIAL_LEVEL
    - name: SECRET_USERNAME
      valueFrom:
        secretKeyRef:
          name: test-secret
          key: username
    - name: MY_POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: MY_POD_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    - name: MY_MEM_LIMIT
      valueFrom:
        resourceFieldRef:
          containerName: client-container
          resource: limits.memory
          divisor: 1Mi
    envFrom:
    - prefix: CFG_
      configMapRef:
        name: special-config
    volumeMounts:
    - name: podinfo
      mountPath: /etc/podinfo
    - name: config-volume
      mountPath: /etc/config
    - name: config-volume
      mountPath: /etc/game.properties
      subPath: game.properties
    - name: secret-volume
      mountPath: /etc/secret-volume
      readOnly: true
  volumes:
  - name: podinfo
    downwardAPI:
      items:
      - path: "labels"
        fieldRef:
          fieldPath: metadata.labels
      - path: "annotations"
        fieldRef:
          fieldPath: metadata.annotations
  - name: config-volume
    configMap:
      name: special-config
      items:
      - key: SPECIAL_LEVEL
        path: keys/level
      - key: game.properties
        path: game.properties
  - name: secret-volume
    secret:
      secretName: test-secret
      defaultMode: 0400
"""


def exec_in(mp: Minipod, pod: str, *argv: str) -> str:
    out = mp.run("exec", pod, "--", *argv)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_apply_of_a_docs_manifest_with_config_map_secret_and_downward_api(
        minipod: Minipod) -> None:
    name = unique_name("dapi")
    # the docs' registry.k8s.io/busybox, offline: the built busybox under that
    # name (made here, so imagePullPolicy Always uses it as it is, no pull)
    tagged = minipod.run("image", "tag", "busybox", "registry.k8s.io/busybox")
    assert tagged.returncode == 0, tagged.stderr
    manifest = minipod.manifest(DOCS.replace("{name}", name), "docs.yaml")
    applied = minipod.run("apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == [
        "configmap/special-config created", "secret/test-secret created",
        f"pod/{name} created"]
    minipod.wait_running(name, ["client-container"])
    env = dict(line.split("=", 1) for line in exec_in(minipod, name, "env").splitlines()
               if "=" in line)
    assert env["SPECIAL_LEVEL_KEY"] == "very" and env["SECRET_USERNAME"] == "my-app"
    assert env["MY_POD_NAME"] == name and env["MY_POD_NAMESPACE"] == "default"
    assert int(env["MY_MEM_LIMIT"]) > 0  # no limit set: the node's allocatable, in MiB
    assert env["CFG_SPECIAL_TYPE"] == "charm"
    labels = exec_in(minipod, name, "cat", "/etc/podinfo/labels")
    assert labels == 'cluster="test-cluster1"\nrack="rack-22"\nzone="us-est-coast"'
    assert exec_in(minipod, name, "cat", "/etc/config/keys/level") == "very"
    assert exec_in(minipod, name, "cat", "/etc/game.properties") == "enemies=aliens\nlives=3\n"
    assert exec_in(minipod, name, "cat", "/etc/secret-volume/password") == "39528$vdg7Jb"
    listing = exec_in(minipod, name, "ls", "-la", "/etc/secret-volume/..data/")
    assert "-r--------" in listing, listing
    # read-only whatever the manifest says
    assert minipod.run("exec", name, "--", "touch", "/etc/config/x").returncode != 0
    # the Secret on the host: root's alone, base64 as the API server keeps it
    stored = minipod.root / "secrets" / "default_test-secret.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert b"39528$vdg7Jb" not in stored.read_bytes()
    # ... and never printed by get, describe, events or the supervisor's log
    described = minipod.run("describe", "secret", "test-secret").stdout
    assert "password:  12 bytes" in described and "39528" not in described
    shown = minipod.run("describe", "pod", name).stdout
    assert "<set to the key 'username' in secret 'test-secret'>" in shown
    assert "my-app" not in shown and "my-app" not in minipod.run("get", "events").stdout
    daemon_log = (minipod.root / "supervisors" / "daemon.log").read_text()
    assert "my-app" not in daemon_log and "39528" not in daemon_log

    # an update reaches the mounted files by the atomic swap of ..data; the
    # subPath file is the version it was bound to, as under the kubelet
    before = exec_in(minipod, name, "readlink", "/etc/config/..data").strip()
    changed = minipod.manifest(DOCS.replace("{name}", name).replace("SPECIAL_LEVEL: very",
                                                                    "SPECIAL_LEVEL: extremely")
                               .replace("lives=3", "lives=4"), "docs.yaml")
    again = minipod.run("apply", "-f", str(changed))
    assert again.stdout.splitlines() == [
        "configmap/special-config configured", "secret/test-secret unchanged",
        f"pod/{name} unchanged"], again.stderr
    wait_for(lambda: exec_in(minipod, name, "cat", "/etc/config/keys/level") == "extremely",
             10, "the new value in the volume")
    after = exec_in(minipod, name, "readlink", "/etc/config/..data").strip()
    assert after != before and after.startswith("..")
    assert exec_in(minipod, name, "cat", "/etc/game.properties") == "enemies=aliens\nlives=3\n"
    # env is read once, at the container's start
    assert "SPECIAL_LEVEL_KEY=very" in exec_in(minipod, name, "env")

    # label: the downward API file follows
    assert minipod.run("label", "pod", name, "rack=rack-23", "--overwrite").stdout == \
        f"pod/{name} labeled\n"
    wait_for(lambda: 'rack="rack-23"' in exec_in(minipod, name, "cat", "/etc/podinfo/labels"),
             10, "the new label in the volume")

    deleted = minipod.run("delete", "-f", str(changed), "--grace-period", "1")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.splitlines() == [
        f'pod "{name}" deleted', 'configmap "special-config" deleted',
        'secret "test-secret" deleted']
    assert minipod.pod_record(name) is None, "delete waits until the pod is gone"
    assert not stored.exists()


def test_a_missing_config_map_holds_the_container_until_it_comes(minipod: Minipod) -> None:
    name = unique_name("wait")
    pod = minipod.manifest(f"""\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "echo level=$LEVEL; sleep 3600"]
    env:
    - {{name: LEVEL, valueFrom: {{configMapKeyRef: {{name: late, key: level}}}}}}
""", "pod.yaml")
    assert minipod.run("apply", "-f", str(pod)).returncode == 0
    waiting = wait_for(lambda: (r := minipod.pod_record(name)) and
                       r["containers"]["app"]["reason"] == "CreateContainerConfigError" and r,
                       10, "CreateContainerConfigError")
    assert waiting["status"] == "CreateContainerConfigError"
    assert minipod.run("get", "pods", name).stdout.split()[7] == "CreateContainerConfigError"
    config = minipod.manifest("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late}\n"
                              "data: {level: '7'}\n", "cm.yaml")
    assert minipod.run("apply", "-f", str(config)).stdout == "configmap/late created\n"
    minipod.wait_running(name, ["app"])
    wait_for(lambda: "level=7" in minipod.run("logs", name).stdout, 10, "its output")
    assert minipod.run("delete", "pod", name, "--force", "--grace-period=0").stdout == \
        f'pod "{name}" force deleted\n'
    assert minipod.run("delete", "cm", "late").stdout == 'configmap "late" deleted\n'


def test_down_of_a_deployment_waits_until_its_pods_are_gone(minipod: Minipod) -> None:
    name = unique_name("dep")
    manifest = minipod.manifest(f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - {{name: app, image: busybox, command: ["sleep", "3600"]}}
""", "dep.yaml")
    assert minipod.run("apply", "-f", str(manifest)).returncode == 0
    met = minipod.run("wait", "--for=condition=Available", f"deploy/{name}", "--timeout=20s")
    assert met.stdout == f"deployment.apps/{name} condition met\n", met.stderr
    for record in (minipod.pod_record(p.name.split("_", 1)[1])
                   for p in (minipod.root / "pods").iterdir()):
        if record:
            minipod.remember(record)
    began = time.monotonic()
    down = minipod.run("down", str(manifest))
    assert down.returncode == 0 and down.stdout == f'deployment.apps "{name}" deleted\n'
    # sleep as PID 1 ignores SIGTERM: the 2 s grace period, then SIGKILL
    assert time.monotonic() - began >= 1.5
    assert list((minipod.root / "pods").iterdir()) == [], "every pod is gone when down returns"


def _lines_of(proc: subprocess.Popen[str], found: queue.Queue[str | None]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        found.put(line.rstrip("\n"))
    found.put(None)


def test_logs_rotate_under_a_fast_writer_and_are_read_across_rotations(
        minipod: Minipod) -> None:
    name = unique_name("rot")
    count = 60000
    manifest = minipod.manifest(f"""\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "sleep 1; seq 1 {count}; echo done; sleep 3600"]
""", "rot.yaml")
    # small files so that the writer rotates every few thousand lines, and
    # enough of them that none is deleted before the reader is through
    env = dict(minipod.env, MINIPOD_CONTAINER_LOG_MAX_SIZE="64Ki",
               MINIPOD_CONTAINER_LOG_MAX_FILES="100")
    applied = subprocess.run([sys.executable, "-m", "minipod", "apply", "-f", str(manifest)],
                             cwd=minipod.workdir, env=env, capture_output=True, text=True,
                             timeout=60)
    assert applied.returncode == 0, applied.stderr
    minipod.wait_running(name, ["app"])
    follow = subprocess.Popen([sys.executable, "-m", "minipod", "logs", "-f", name],
                              cwd=minipod.workdir, env=minipod.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    found: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_lines_of, args=(follow, found), daemon=True).start()
    followed: list[str] = []
    deadline = time.monotonic() + 60
    while not followed or followed[-1] != "done":
        assert time.monotonic() < deadline, f"logs -f stopped at {followed[-1:]}"
        line = found.get(timeout=30)
        assert line is not None, "logs -f ended early"
        followed.append(line)
    follow.terminate()
    follow.communicate(timeout=10)
    assert followed == [str(i) for i in range(1, count + 1)] + ["done"], \
        "logs -f lost or repeated a line across the rotations"
    record = json.loads((minipod.root / "pods" / f"default_{name}" / "pod.json").read_text())
    log_dir = Path(record["logDir"]) / "app"
    files = sorted(os.listdir(log_dir))
    rotated = [f for f in files if f.startswith("0.log.")]
    assert len(rotated) >= 10, files
    assert all(os.path.getsize(log_dir / f) <= 64 * 1024 for f in rotated)
    whole = minipod.run("logs", name).stdout.splitlines()
    assert whole == followed, "logs reads the rotated files, oldest first, then the current"
    tail = minipod.run("logs", name, "--tail", "3").stdout.splitlines()
    assert tail == [str(count - 1), str(count), "done"]
    assert minipod.run("delete", "pod", name, "--force", "--grace-period=0").returncode == 0
    assert not log_dir.exists(), "the pod's logs go with it"


def test_rotation_keeps_the_newest_files(minipod: Minipod) -> None:
    name = unique_name("keep")
    manifest = minipod.manifest(f"""\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "seq 1 20000; echo done; sleep 3600"]
""", "keep.yaml")
    env = dict(minipod.env, MINIPOD_CONTAINER_LOG_MAX_SIZE="16Ki",
               MINIPOD_CONTAINER_LOG_MAX_FILES="3")
    applied = subprocess.run([sys.executable, "-m", "minipod", "apply", "-f", str(manifest)],
                             cwd=minipod.workdir, env=env, capture_output=True, text=True,
                             timeout=60)
    assert applied.returncode == 0, applied.stderr
    minipod.wait_running(name, ["app"])
    wait_for(lambda: minipod.run("logs", name, "--tail", "1").stdout == "done\n", 20, "done")
    record = json.loads((minipod.root / "pods" / f"default_{name}" / "pod.json").read_text())
    files = sorted(os.listdir(Path(record["logDir"]) / "app"))
    assert len(files) == 3 and "0.log" in files, files  # the current one and two rotated
    lines = minipod.run("logs", name).stdout.splitlines()
    numbers = [int(x) for x in lines[:-1]]
    assert numbers == list(range(numbers[0], 20001)) and numbers[0] > 1, "the oldest went"
    assert minipod.run("delete", "pod", name, "--force", "--grace-period=0").returncode == 0


def test_cp_both_ways_and_rollout_of_a_deployment(minipod: Minipod, tmp_path: Path) -> None:
    name = unique_name("roll")
    manifest = minipod.manifest(f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {{name: app, image: busybox, command: ["sleep", "3600"]}}
""", "roll.yaml")
    assert minipod.run("apply", "-f", str(manifest)).returncode == 0
    status = minipod.run("rollout", "status", f"deploy/{name}", "--timeout=30s")
    assert status.stdout.splitlines()[-1] == f'deployment "{name}" successfully rolled out'
    pods = minipod.run("get", "pods", "-l", f"app={name}", "-o",
                       "jsonpath={.items[*].metadata.name}").stdout.split()
    assert len(pods) == 2

    # cp: a directory in, a file and the directory out
    source = tmp_path / "payload"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("hello\n")
    (source / "sub" / "b.txt").write_text("deep\n")
    assert minipod.run("cp", str(source), f"{pods[0]}:/tmp/").returncode == 0
    assert minipod.run("exec", pods[0], "--", "cat", "/tmp/payload/sub/b.txt").stdout == "deep\n"
    assert minipod.run("cp", str(source / "a.txt"), f"{pods[0]}:/tmp/renamed").returncode == 0
    assert minipod.run("exec", pods[0], "--", "cat", "/tmp/renamed").stdout == "hello\n"
    minipod.run("exec", pods[0], "--", "ln", "-s", "/etc/shadow", "/tmp/payload/evil")
    out = tmp_path / "back"
    copied = minipod.run("cp", f"{pods[0]}:/tmp/payload", str(out))
    assert copied.returncode == 0, copied.stderr
    assert (out / "sub" / "b.txt").read_text() == "deep\n"
    assert not (out / "evil").exists() and "skipping symlink" in copied.stderr
    assert minipod.run("cp", f"{pods[0]}:/etc/hostname", str(tmp_path / "h")).returncode == 0
    assert (tmp_path / "h").read_text() == pods[0][:63] + "\n"
    missing = minipod.run("cp", f"{pods[0]}:/nope", str(tmp_path / "x"))
    assert missing.returncode == 1 and "No such file" in missing.stderr

    # rollout restart makes new pods, history counts it, undo goes back
    restarted = minipod.run("rollout", "restart", f"deployment/{name}")
    assert restarted.stdout == f"deployment.apps/{name} restarted\n"
    status = minipod.run("rollout", "status", f"deploy/{name}", "--timeout=60s")
    assert status.returncode == 0 and status.stdout.endswith("successfully rolled out\n")
    wait_for(lambda: set(minipod.run("get", "pods", "-l", f"app={name}", "-o",
                                     "jsonpath={.items[*].metadata.name}").stdout.split())
             .isdisjoint(pods), 30, "every old pod replaced")
    history = minipod.run("rollout", "history", f"deploy/{name}").stdout
    assert history == (f"deployment.apps/{name} \nREVISION  CHANGE-CAUSE\n1         <none>\n"
                       "2         <none>\n\n")
    assert minipod.run("rollout", "undo", f"deploy/{name}").stdout == \
        f"deployment.apps/{name} rolled back\n"
    assert "3         <none>" in minipod.run("rollout", "history", f"deploy/{name}").stdout
    assert minipod.run("rollout", "pause", f"deploy/{name}").stdout == \
        f"deployment.apps/{name} paused\n"
    refused = minipod.run("rollout", "restart", f"deploy/{name}")
    assert refused.returncode == 1 and "can't restart paused deployment" in refused.stderr
    assert minipod.run("rollout", "resume", f"deploy/{name}").returncode == 0
    assert minipod.run("delete", "-f", str(manifest)).returncode == 0
    assert list((minipod.root / "pods").iterdir()) == []
