"""Auto-healing against the real kernel: restarts, back-off, init containers,
sidecars and sandbox re-creation, observed from the host."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
from typing import Any

import pytest
from podtest import Minipod, unique_name, wait_for

pytestmark = pytest.mark.root


def pod(name: str, body: str) -> str:
    return f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{body}"


def kill9(pid: int) -> None:
    """kill -9 from the host, through a pidfd (never a bare pid)."""
    pidfd = os.pidfd_open(pid)
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    finally:
        os.close(pidfd)


def container(mp: Minipod, name: str, cname: str) -> dict[str, Any]:
    record = mp.pod_record(name)
    assert record is not None
    entry: dict[str, Any] = record["containers"][cname]
    return entry


def wait_container(mp: Minipod, name: str, cname: str, what: str, timeout: float = 20,
                   **expect: Any) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        record = mp.pod_record(name)
        if record is None:
            return None
        entry = record["containers"].get(cname, {})
        if all(entry.get(k) == v for k, v in expect.items()):
            mp.remember(record)
            return record
        return None

    result: dict[str, Any] = wait_for(check, timeout, what)
    return result


def mount_namespaces_held(pid: int) -> set[int]:
    """The inodes of the mount namespaces ``pid`` has open as fds."""
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("mnt:["):
            held.add(int(link[len("mnt:["):-1]))
    return held


def statuses(out: str, name: str) -> list[str]:
    """The STATUS column each time `minipod up` printed a change, in order."""
    return re.findall(rf"Status\s+(\S+)\s+pod/{name} ", out)


def stop(mp: Minipod, proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=40)
    return out


def test_kill_9_restarts_the_container_and_the_pod_stays_running(minipod: Minipod) -> None:
    name = unique_name("heal")
    proc = minipod.up(minipod.manifest(pod(name, """
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox, command: ["sleep", "3600"]}
""")))
    first = minipod.wait_running(name, ["app"])["containers"]["app"]
    assert mount_namespaces_held(proc.pid) == {first["namespaces"]["mnt"]}
    kill9(first["pid"])
    record = wait_container(minipod, name, "app", "a new app process", state="running",
                            restartCount=1)
    again = record["containers"]["app"]
    assert again["pid"] != first["pid"]
    # the dead run's namespace (its unmounts) is let go once the new run is up
    wait_for(lambda: mount_namespaces_held(proc.pid) == {again["namespaces"]["mnt"]}, 10,
             "the supervisor to hold only the new run's mount namespace")
    assert again["lastExitCode"] == 137  # 128 + SIGKILL, as lastState
    assert record["phase"] == "Running" and record["status"] == "Running"
    assert record["ready"] == "1/1" and record["restarts"] == 1
    last = record["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] == 137 and last["signal"] == 9 and last["reason"] == "Error"
    out = stop(minipod, proc)
    # the kubectl -w view: Running, the exit (Error), Running again
    assert statuses(out, name)[:3] == ["Running", "Error", "Running"], out


def test_restart_policy_on_failure_and_never(minipod: Minipod) -> None:
    ok, bad = unique_name("onfail"), unique_name("never")
    proc = minipod.up(minipod.manifest(pod(ok, """
  restartPolicy: OnFailure
  containers:
  - {name: app, image: busybox, command: ["sh", "-c", "exit 0"]}
""") + "---\n" + pod(bad, """
  restartPolicy: Never
  containers:
  - {name: app, image: busybox, command: ["sh", "-c", "exit 3"]}
""")))
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    assert f"pod default/{bad} failed: container app exited with code 3" in out
    assert f"pod default/{ok} failed" not in out
    assert "Back-off" not in out and "restarts 1" not in out  # neither was restarted
    assert statuses(out, ok)[-1] == "Completed" and statuses(out, bad)[-1] == "Error", out


def test_crash_loop_back_off_doubles(minipod: Minipod) -> None:
    name = unique_name("crash")
    manifest = minipod.manifest(pod(name, """
  restartPolicy: OnFailure
  containers:
  - {name: app, image: busybox, command: ["sh", "-c", "echo crashing; exit 1"]}
"""))
    proc = minipod.up(manifest, "--backoff", "500ms:1s")
    wait_container(minipod, name, "app", "four restarts", restartCount=4)
    pod_dir = minipod.root / "pods" / f"default_{name}"
    # only the current run and the previous one are kept (layers and logs),
    # beside the next run's empty directories, made ahead
    assert sorted(os.listdir(pod_dir / "containers" / "app")) == ["3", "4", "next"]
    assert sorted(os.listdir(pod_dir / "containers" / "app" / "next")) == [
        "merged", "upper", "work"]
    log_dir = json.loads((pod_dir / "pod.json").read_text())["logDir"]
    assert log_dir.startswith(f"{minipod.logs}/default_{name}_")
    assert sorted(os.listdir(f"{log_dir}/app")) == ["3.log", "4.log"]
    out = stop(minipod, proc)
    started = [float(t) for t in re.findall(r"(\d+\.\d+)\s+Normal\s+Started", _seconds(out))]
    gaps = [b - a for a, b in itertools.pairwise(started)][:4]
    # 0 (the first restart is at once), then 0.5 s, 1 s, and 1 s (the maximum)
    assert gaps[0] < 0.4, gaps
    assert 0.45 <= gaps[1] < 0.9, gaps
    assert 0.95 <= gaps[2] < 1.5 and 0.95 <= gaps[3] < 1.5, gaps
    assert "Back-off restarting failed container app" in out
    assert "CrashLoopBackOff" in statuses(out, name)


def _seconds(out: str) -> str:
    """Event clocks (HH:MM:SS.mmm) as seconds of the day, for arithmetic."""
    def convert(m: re.Match[str]) -> str:
        h, mi, s = m.group(1).split(":")
        return f"{int(h) * 3600 + int(mi) * 60 + float(s):.3f}"

    return re.sub(r"^(\d\d:\d\d:\d\d\.\d\d\d)", convert, out, flags=re.M)


def test_failing_init_container_loops_and_the_app_never_starts(minipod: Minipod) -> None:
    name = unique_name("initloop")
    manifest = minipod.manifest(pod(name, """
  terminationGracePeriodSeconds: 1
  initContainers:
  - {name: check, image: busybox, command: ["sh", "-c", "exit 2"]}
  containers:
  - {name: app, image: busybox, command: ["sleep", "3600"]}
"""))
    proc = minipod.up(manifest, "--backoff", "300ms:300ms")
    record = wait_container(minipod, name, "check", "init retries", restartCount=3)
    assert record["phase"] == "Pending"
    assert record["containers"]["app"]["state"] == "waiting"
    out = stop(minipod, proc)
    seen = statuses(out, name)
    assert seen[0] == "Init:0/1"
    assert "Init:Error" in seen and "Init:CrashLoopBackOff" in seen
    assert seen.index("Init:Error") < seen.index("Init:CrashLoopBackOff")
    assert "Started container app" not in out


def test_sidecar_starts_before_the_app_and_is_restarted(minipod: Minipod) -> None:
    name = unique_name("sidecar")
    proc = minipod.up(minipod.manifest(pod(name, """
  terminationGracePeriodSeconds: 1
  initContainers:
  - {name: setup, image: busybox, command: ["true"]}
  - {name: proxy, image: busybox, restartPolicy: Always, command: ["sleep", "3600"]}
  containers:
  - {name: app, image: busybox, command: ["sleep", "3600"]}
""")))
    record = minipod.wait_running(name, ["proxy", "app"])
    assert record["ready"] == "2/2" and record["status"] == "Running"
    proxy, app = record["containers"]["proxy"], record["containers"]["app"]
    kill9(proxy["pid"])
    record = wait_container(minipod, name, "proxy", "the sidecar back", state="running",
                            restartCount=1)
    assert record["containers"]["app"]["pid"] == app["pid"]  # the app was left alone
    assert record["containers"]["setup"]["restartCount"] == 0  # no init re-run
    assert record["restarts"] == 1
    out = stop(minipod, proc)
    assert out.index("Started container proxy") < out.index("Started container app")
    # termination order: the app first, then the sidecar
    assert out.index("Stopping container app") < out.index("Stopping container proxy")


def test_pause_killed_recreates_the_sandbox(minipod: Minipod) -> None:
    name = unique_name("resandbox")
    proc = minipod.up(minipod.manifest(pod(name, """
  terminationGracePeriodSeconds: 1
  initContainers:
  - {name: init, image: busybox, command: ["sh", "-c", "echo init ran"]}
  containers:
  - {name: app, image: busybox, command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]}
""")))
    before = minipod.wait_running(name, ["app"])
    kill9(before["pause"]["pid"])
    after = wait_container(minipod, name, "app", "the app in a new sandbox", state="running",
                           restartCount=1)
    assert after["sandboxAttempt"] == 1
    assert after["pause"]["pid"] != before["pause"]["pid"]
    net = os.stat(f"/proc/{after['pause']['pid']}/ns/net").st_ino
    assert os.stat(f"/proc/{after['containers']['app']['pid']}/ns/net").st_ino == net
    assert after["containers"]["init"]["restartCount"] == 1  # init containers ran again
    out = stop(minipod, proc)
    assert out.count(f"{name}/init | init ran") == 2
    assert "Pod sandbox changed, it will be killed and re-created" in out


def test_ctrl_c_reaches_the_supervisor_not_the_containers(minipod: Minipod) -> None:
    # A terminal's Ctrl-C goes to the whole foreground process group. Pause
    # and the containers have sessions of their own, so only the supervisor
    # sees it, and stops the pod gracefully (SIGTERM), pause last.
    name = unique_name("ctrlc")
    manifest = minipod.manifest(pod(name, """
  terminationGracePeriodSeconds: 5
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "trap 'echo got INT' INT; trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.1; done"]
"""))
    proc = subprocess.Popen([*minipod_command(), "up", str(manifest)], cwd=minipod.workdir,
                            env=minipod.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    minipod.ups.append(proc)
    record = minipod.wait_running(name, ["app"])
    assert os.getsid(record["containers"]["app"]["pid"]) != os.getsid(proc.pid)
    assert os.getsid(record["pause"]["pid"]) != os.getsid(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"{name}/app | got TERM" in out and "got INT" not in out
    assert "SandboxChanged" not in out


def minipod_command() -> list[str]:
    import sys

    return [sys.executable, "-m", "minipod"]


def test_a_reader_that_goes_away_does_not_break_up(minipod: Minipod) -> None:
    # `minipod up FILE | head -1`: the pipe closes under the supervisor, which
    # keeps serving (and healing) its pods, stops them on SIGTERM, and leaves
    # no socket or state behind.
    name = unique_name("headless")
    proc = minipod.up(minipod.manifest(pod(name, """
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox, command: [sh, -c, "while true; do echo chatter; sleep 0.05; done"]}
""")))
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader is gone
    first = minipod.wait_running(name, ["app"])["containers"]["app"]
    kill9(first["pid"])
    wait_container(minipod, name, "app", "healed with nobody reading", state="running",
                   restartCount=1)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert list((minipod.root / "supervisors").iterdir()) == []
