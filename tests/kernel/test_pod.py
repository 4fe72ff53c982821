"""Pods on the real kernel: namespaces, rootfs, init order, reaping, cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from podtest import Minipod, unique_name, wait_for

from minipod.testing.plugin import PodFactory

pytestmark = pytest.mark.root


def two_containers(name: str) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: server
    image: busybox
    command: ["sh", "-c", "echo from-a > /dev/shm/note; echo layer-a > /written; while true; do echo pong | nc -l -p 7777; done"]
  - name: client
    image: busybox
    command: ["sleep", "3600"]
"""


def ns(pid: int, name: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{name}").st_ino


def stop(mp: Minipod, proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


# The first three run on minipod.testing's API (the `pod` fixture: the
# session's node, cleanup and the leak check after each test), its first users.
def test_containers_share_pod_namespaces_but_not_mounts(pod: PodFactory) -> None:
    name = unique_name("share")
    shared = pod(two_containers(name))
    record = shared.wait_running("server", "client")
    pause = record.pause.pid
    assert pause is not None
    a, b = shared.pid("server"), shared.pid("client")
    for kind in ("net", "ipc", "uts"):
        assert ns(a, kind) == ns(b, kind) == ns(pause, kind), kind
        assert ns(pause, kind) != ns(os.getpid(), kind), f"{kind} is the host's"
    assert ns(a, "mnt") != ns(b, "mnt") != ns(os.getpid(), "mnt")
    assert ns(a, "pid") != ns(b, "pid")  # no shareProcessNamespace: one each

    def in_client(*argv: str) -> str:
        return shared.exec(*argv, container="client", check=True).stdout

    assert in_client("hostname").strip() == name
    # a TCP server in one container answers on 127.0.0.1 in the other
    reply = wait_for(lambda: in_client("sh", "-c", "echo ping | nc 127.0.0.1 7777 || true")
                     .strip(), what="nc reply")
    assert reply == "pong"
    # POSIX shm (/dev/shm) made in one is seen in the other
    wait_for(lambda: in_client("sh", "-c", "cat /dev/shm/note 2>/dev/null || true")
             .strip() == "from-a", what="shm note")


def test_rootfs_is_the_image_and_layers_are_private(pod: PodFactory, tmp_path: Path) -> None:
    name = unique_name("layers")
    marker = tmp_path / "host-only-marker"
    marker.write_text("host")
    layers = pod(two_containers(name))
    layers.wait_running("server", "client")
    images = pod.node.images

    def in_container(container: str, *argv: str) -> str:
        return layers.exec(*argv, container=container, check=True).stdout

    wait_for(lambda: in_container("server", "cat", "/written").strip() == "layer-a",
             what="write")
    assert in_container("client", "sh", "-c", "cat /written 2>&1 || true").strip().endswith(
        "No such file or directory")
    assert not (images / "busybox/latest/rootfs/written").exists()
    assert in_container("client", "sh", "-c", f"ls {marker} 2>&1 || true").strip().endswith(
        "No such file or directory")
    assert in_container("client", "readlink", "/bin/sh").strip() == "/bin/busybox"
    mounts = in_container("client", "cat", "/proc/mounts")
    assert "overlay / overlay" in mounts
    assert " /sys sysfs ro," in mounts
    assert "mqueue /dev/mqueue" in mounts
    layers.delete(grace=None)  # a graceful stop, as Ctrl-C of `up` gives it
    assert not (images / "busybox/latest/rootfs/written").exists()


def test_pause_is_pid1_and_reaps_orphans_with_shared_pid_namespace(pod: PodFactory) -> None:
    name = unique_name("reap")
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  shareProcessNamespace: true
  terminationGracePeriodSeconds: 2
  containers:
  - name: orphans
    image: busybox
    # each round leaves an orphan that exits at once: without a reaper it would stay a zombie
    command: ["sh", "-c", "for i in 1 2 3 4 5; do (true &) ; done; sleep 3600"]
  - name: other
    image: busybox
    command: ["sleep", "3600"]
"""
    reaper = pod(manifest)
    record = reaper.wait_running("orphans", "other")
    other = reaper.pid("other")
    pause = record.pause.pid
    assert pause is not None
    assert ns(other, "pid") == ns(pause, "pid")

    def ps(*columns: str) -> str:
        return reaper.exec("ps", "-o", ",".join(columns), container="other",
                           check=True).stdout

    listing = ps("pid", "stat", "comm")
    first = listing.splitlines()[1].split()
    assert first[0] == "1" and first[2] == "minipod-pause", listing

    def no_zombies() -> bool:
        return "Z" not in [line.split()[1] for line in ps("pid", "stat").splitlines()[1:]]

    wait_for(no_zombies, what="pause to reap the orphans")


def test_init_containers_run_in_order_before_the_app(minipod: Minipod) -> None:
    name = unique_name("init")
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  initContainers:
  - name: first
    image: busybox
    command: ["sh", "-c", "test ! -e /work/log && echo first >> /work/log"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  - name: second
    image: busybox
    command: ["sh", "-c", "grep -q first /work/log && echo second >> /work/log"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "xargs < /work/log"]  # joins the lines with spaces
    volumeMounts: [{{name: work, mountPath: /work, readOnly: true}}]
  volumes:
  - name: work
    emptyDir: {{}}
"""
    proc = minipod.up(minipod.manifest(manifest))
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"{name}/app | first second" in out
    assert out.index("Started container first") < out.index("Started container second") \
        < out.index("Started container app")


def test_down_from_another_terminal_stops_gracefully(minipod: Minipod) -> None:
    name = unique_name("down")
    manifest = minipod.manifest(f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"]
""")
    proc = minipod.up(manifest)
    minipod.wait_running(name, ["app"])
    down = minipod.run("down", str(manifest))
    assert down.returncode == 0, down.stderr
    assert f'pod "{name}" deleted' in down.stdout
    out, _ = proc.communicate(timeout=30)
    assert f"{name}/app | bye" in out  # it got SIGTERM, not SIGKILL
    assert "Container app exited (exit code 0)" in out
    assert proc.returncode == 0


def test_sigkill_after_grace_period(minipod: Minipod) -> None:
    name = unique_name("grace")
    proc = minipod.up(minipod.manifest(f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: stubborn
    image: busybox
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]
"""))
    minipod.wait_running(name, ["stubborn"])
    out = stop(minipod, proc)
    assert "Container stubborn exited (signal 9, exit code 137)" in out


def test_delete_pod_by_name_when_supervisor_is_gone(minipod: Minipod) -> None:
    name = unique_name("orphaned")
    proc = minipod.up(minipod.manifest(f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: ["sleep", "3600"]
"""))
    minipod.wait_running(name, ["app"])
    proc.kill()  # SIGKILL: the supervisor gets no chance to clean up
    proc.wait()
    result = minipod.run("delete", "pod", name)
    assert result.returncode == 0, result.stderr
    assert "supervisor was gone" in result.stdout


def test_pods_of_two_ups_coexist(minipod: Minipod) -> None:
    first, second = unique_name("one"), unique_name("two")
    body = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: app, image: busybox, command: ["sleep", "3600"]}}
"""
    proc1 = minipod.up(minipod.manifest(body.format(name=first), "one.yaml"))
    proc2 = minipod.up(minipod.manifest(body.format(name=second), "two.yaml"))
    rec1 = minipod.wait_running(first, ["app"])
    rec2 = minipod.wait_running(second, ["app"])
    assert rec1["supervisor"]["pid"] != rec2["supervisor"]["pid"]
    assert ns(rec1["pause"]["pid"], "net") != ns(rec2["pause"]["pid"], "net")
    again = minipod.run("up", str(minipod.workdir / "one.yaml"))
    assert again.returncode == 1 and "exists already" in again.stderr
    deleted = minipod.run("delete", "pod", first, "--grace-period", "1")
    assert deleted.returncode == 0, deleted.stderr
    proc1.communicate(timeout=30)
    assert proc1.returncode == 0
    assert minipod.pod_record(second)["containers"]["app"]["state"] == "running"  # type: ignore[index]
    stop(minipod, proc2)
