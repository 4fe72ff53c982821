"""The read-only verbs against a real pod, run from another process exactly
as a user would from a second terminal: get, describe, logs, ps, inspect,
and the inotify-driven `get -w` and `logs -f`."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest
from podtest import Minipod, unique_name, wait_for

pytestmark = pytest.mark.root


def pod(name: str, body: str, labels: str = "{app: views}") -> str:
    return (f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {labels}}}\n"
            f"spec:\n{body}")


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=40)
    return out


def kill9(pid: int) -> None:
    pidfd = os.pidfd_open(pid)
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    finally:
        os.close(pidfd)


def ns_inode(pid: int, kind: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


class Lines:
    """The stdout lines of a long-running `minipod` command, read by a thread."""

    def __init__(self, mp: Minipod, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "minipod", *args], cwd=mp.workdir,
                                     env=mp.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next(self, timeout: float = 20) -> str | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output within {timeout}s") from None

    def until(self, pattern: str, timeout: float = 30) -> list[str]:
        seen: list[str] = []
        while True:
            line = self.next(timeout)
            assert line is not None, f"ended before {pattern!r}; saw {seen}"
            seen.append(line)
            if re.search(pattern, line):
                return seen

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=20)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.proc.returncode


TWO_CONTAINERS = """
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox
    command: ["sh", "-c", "echo hello from web; echo oops >&2; exec sleep 3600"]
    env: [{name: GREETING, value: hi}]
    livenessProbe:
      exec: {command: ["true"]}
      periodSeconds: 30
  - name: side
    image: busybox
    command: ["sleep", "3600"]
"""


def test_get_describe_ps_inspect_of_a_running_pod(minipod: Minipod) -> None:
    name = unique_name("views")
    up = minipod.up(minipod.manifest(pod(name, TWO_CONTAINERS)))
    record = minipod.wait_running(name, ["web", "side"])
    pause_pid = record["pause"]["pid"]
    web_pid, side_pid = (record["containers"][c]["pid"] for c in ("web", "side"))

    out = minipod.run("get", "pods")
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row.split()[:4] == [name, "2/2", "Running", "0"]
    assert header.index("READY") == row.index("2/2") == len(name) + 3

    wide = minipod.run("get", "pods", "-A", "-o", "wide", "--show-labels").stdout.splitlines()
    assert wide[1].split()[:2] == ["default", name]
    assert wide[1].split()[-5:] == ["<none>", os.uname().nodename.lower(), "<none>", "<none>",
                                    "app=views"]
    obj = json.loads(minipod.run("get", "pod", name, "-o", "json").stdout)
    assert obj["kind"] == "Pod" and obj["metadata"]["name"] == name
    assert obj["status"]["phase"] == "Running"

    describe = minipod.run("describe", "pod", name)
    assert describe.returncode == 0, describe.stderr
    text = describe.stdout
    assert re.search(rf"^Name:\s+{name}$", text, re.M)
    assert "    Liveness:       exec [true] delay=0s timeout=1s period=30s #success=1 " \
           "#failure=3\n" in text
    assert "    Environment:\n      GREETING:  hi\n" in text
    assert re.search(r"^    State:\s+Running\n      Started:\s+\w{3}, ", text, re.M)
    # the namespaces: web and side share the pause's net, ipc and uts, not its pid or mnt
    net = ns_inode(pause_pid, "net")
    assert f"    PID:     {pause_pid}\n    net:     net:[{net}]\n" in text
    for pid in (web_pid, side_pid):
        assert f"    PID:     {pid}\n    net:     net:[{net}] (pod)\n" in text
        assert f"    mnt:     mnt:[{ns_inode(pid, 'mnt')}]\n" in text
    assert re.search(r"Normal\s+Started\s+\d+s\s+minipod\s+Started container web", text)

    ps = minipod.run("ps").stdout.splitlines()
    assert ps[0].split()[:4] == ["CONTAINER", "IMAGE", "CREATED", "STATE"]
    rows = {line.split()[-6]: line.split() for line in ps[1:]}
    assert set(rows) == {"web", "side"}
    assert rows["web"][-1] == str(web_pid) and rows["side"][-1] == str(side_pid)
    assert rows["web"][0] == record["containers"]["web"]["id"]

    inspect = json.loads(minipod.run("inspect", name).stdout)
    assert inspect["pause"]["pid"] == pause_pid
    for kind, inode in inspect["pause"]["namespaces"].items():
        assert inode == ns_inode(pause_pid, kind)
    for entry in inspect["containers"]:
        assert entry["namespaces"], entry
        for kind, inode in entry["namespaces"].items():
            assert inode == ns_inode(entry["pid"], kind), (entry["name"], kind)
        assert os.path.isdir(entry["rootfs"]) and os.path.isfile(entry["log"])
    assert [c["name"] for c in inspect["containers"]] == ["web", "side"]

    logs = minipod.run("logs", name)
    assert logs.stdout == "hello from web\noops\n"
    assert logs.stderr == 'Defaulted container "web" out of: web, side\n'
    stamped = minipod.run("logs", name, "-c", "web", "--timestamps", "--tail", "1").stdout
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z oops\n", stamped)

    stop(up)
    assert minipod.run("get", "pods").stderr == "No resources found in default namespace.\n"


def test_logs_follow_ends_when_the_container_exits_and_previous(minipod: Minipod) -> None:
    name = unique_name("logs")
    up = minipod.up(minipod.manifest(pod(name, """
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 1
  containers:
  - name: counter
    image: busybox
    # the first run exits 3; the marker survives the restart in an emptyDir
    command: ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.5; done; [ -e /state/again ] || { touch /state/again; exit 3; }; exec sleep 3600"]
    volumeMounts: [{name: state, mountPath: /state}]
  - name: keep
    image: busybox
    command: ["sleep", "3600"]
  volumes: [{name: state, emptyDir: {}}]
""")), "--backoff", "0:0")
    minipod.wait_running(name, ["counter", "keep"])
    follow = Lines(minipod, "logs", name, "-c", "counter", "-f")
    try:
        lines = [follow.next() for _ in range(3)]
        assert lines == ["line 1", "line 2", "line 3"]
        assert follow.next(timeout=15) is None  # ended with the run (it exited 3)
        assert follow.close() == 0
    finally:
        follow.close()

    def restarted() -> dict[str, Any] | None:
        record = minipod.pod_record(name)
        counter = (record or {}).get("containers", {}).get("counter", {})
        return record if counter.get("restartCount") == 1 else None

    wait_for(restarted, 15, "counter restarted")
    previous = minipod.run("logs", name, "-c", "counter", "--previous")
    assert previous.returncode == 0, previous.stderr
    assert previous.stdout == "line 1\nline 2\nline 3\n"
    none = minipod.run("logs", name, "-c", "keep", "-p")
    assert none.returncode == 1
    assert none.stderr == (f'Error from server (BadRequest): previous terminated container '
                           f'"keep" in pod "{name}" not found\n')
    stop(up)


def test_get_watch_prints_a_row_when_a_container_is_killed_and_restarted(
        minipod: Minipod) -> None:
    name = unique_name("watch")
    up = minipod.up(minipod.manifest(pod(name, """
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox, command: ["sleep", "3600"]}
""")))
    record = minipod.wait_running(name, ["app"])
    watch = Lines(minipod, "get", "pods", "-w")
    try:
        assert (watch.next() or "").split()[:2] == ["NAME", "READY"]
        first = watch.until(rf"^{name}\s+1/1\s+Running\s+0\s")
        assert len(first) == 1
        kill9(record["containers"]["app"]["pid"])
        rows = watch.until(rf"^{name}\s+1/1\s+Running\s+1 \(\d+s ago\)\s")
        assert all(line.split()[0] == name for line in rows)
        minipod.remember(minipod.wait_running(name, ["app"]))
        stop(up)
        # Terminating, then the pod is gone: kubectl prints its last row once more
        watch.until(rf"^{name}\s+\S+\s+Terminating\s")
    finally:
        assert watch.close() in (0, -signal.SIGTERM)
