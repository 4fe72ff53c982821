"""Probes and lifecycle hooks against real containers: exec inside the
container, httpGet and tcpSocket from the supervisor into the pod's network
namespace, and their timing read off the supervisor's event clock."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from podtest import Minipod, unique_name, wait_for

pytestmark = pytest.mark.root


def pod(name: str, body: str) -> str:
    return f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{body}"


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=40)
    return out


def event_times(out: str, pattern: str) -> list[float]:
    """Seconds of the day of every event line whose text matches ``pattern``."""
    times = []
    for line in out.splitlines():
        m = re.match(r"(\d\d):(\d\d):(\d\d\.\d\d\d)\s", line)
        if m and re.search(pattern, line):
            times.append(int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)))
    return times


def test_classic_liveness_scenario_restarts_once_on_time(minipod: Minipod) -> None:
    # The Kubernetes docs' liveness example, scaled from 30 s of health, an
    # initial delay of 5 s and a period of 5 s down to 3 s, 1 s and 1 s.
    name = unique_name("liveness")
    proc = minipod.up(minipod.manifest(pod(name, """
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    args: [/bin/sh, -c, "touch /tmp/healthy; sleep 3; rm -f /tmp/healthy; sleep 600"]
    livenessProbe:
      exec: {command: [cat, /tmp/healthy]}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
""")))
    first = minipod.wait_running(name, ["app"])["containers"]["app"]
    record = wait_for(lambda: (r := minipod.pod_record(name))
                      and r["containers"]["app"]["restartCount"] == 1
                      and r["containers"]["app"]["state"] == "running" and r, 20, "a restart")
    minipod.remember(record)
    assert record["containers"]["app"]["pid"] != first["pid"]
    out = stop(proc)
    started = event_times(out, r"Started container app")
    killing = event_times(out, r"Killing .*Container app failed liveness probe, "
                               r"will be restarted")
    assert len(killing) >= 1, out
    # Probes run at start + 1 s + k s; the file goes at ~3 s, so the two
    # failures in a row are at 4 and 5 s (or 3 and 4 s if the probe at 3 s
    # loses the race with rm): the kill lands at 4-5 s, within one period.
    elapsed = killing[0] - started[0]
    assert 3.9 <= elapsed <= 5.5, (elapsed, out)
    assert "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory" \
        in out
    assert len(started) >= 2 and started[1] > killing[0]  # restarted after the kill


def test_http_and_tcp_probes_from_the_supervisor(minipod: Minipod) -> None:
    name = unique_name("netprobe")
    proc = minipod.up(minipod.manifest(pod(name, """
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox
    command: [sh, -c, "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /, port: http}
      periodSeconds: 1
    livenessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
  - name: unready
    image: busybox
    command: [sleep, "3600"]
    readinessProbe:
      httpGet: {path: /missing, port: 8080}
      periodSeconds: 1
  - name: closed
    image: busybox
    command: [sleep, "3600"]
    livenessProbe:
      tcpSocket: {port: 9999}
      periodSeconds: 1
      failureThreshold: 1
""")), "--backoff", "0:0")
    minipod.wait_running(name, ["web", "unready", "closed"])
    record = wait_for(lambda: (r := minipod.pod_record(name))
                      and r["containers"]["web"]["ready"]
                      and r["containers"]["closed"]["restartCount"] >= 1 and r, 20,
                      "web ready and closed restarted")
    minipod.remember(record)
    assert not record["containers"]["unready"]["ready"]
    assert record["containers"]["web"]["restartCount"] == 0  # its tcp liveness passes
    assert record["ready"] in ("1/3", "2/3")  # closed flaps between restarts
    out = stop(proc)
    assert "Readiness probe failed: HTTP probe failed with statuscode: 404" in out
    assert "Liveness probe failed: dial tcp 127.0.0.1:9999: connect: connection refused" in out
    assert "Container closed failed liveness probe, will be restarted" in out
    assert "Container web failed" not in out


def test_hanging_exec_probe_is_killed_at_its_timeout(minipod: Minipod) -> None:
    name = unique_name("hang")
    proc = minipod.up(minipod.manifest(pod(name, """
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sleep, "3600"]
    livenessProbe:
      exec: {command: [sh, -c, "sleep 100 & sleep 101"]}
      timeoutSeconds: 1
      periodSeconds: 2
      failureThreshold: 100
""")))
    record = minipod.wait_running(name, ["app"])
    netns = Path(f"/proc/{record['pause']['pid']}/ns/net").stat().st_ino
    wait_for(lambda: _probe(minipod, name, "app", "liveness")["failures"] >= 2, 15,
             "two timed-out probes")
    # Only the probe in flight may exist: every process of an earlier probe
    # tree (both sleeps, the shell) was killed at its 1 s deadline.
    now = time.time()
    for p in psutil.process_iter(["cmdline", "create_time", "status"]):
        try:
            if Path(f"/proc/{p.pid}/ns/net").stat().st_ino != netns:
                continue
        except OSError:
            continue
        if p.info["cmdline"] and p.info["cmdline"][0] == "sleep" \
                and p.info["cmdline"][1] in ("100", "101"):
            assert now - p.info["create_time"] < 1.5, p.info
        assert p.info["status"] != psutil.STATUS_ZOMBIE, p.info
    out = stop(proc)
    assert 'Liveness probe failed: command "sh -c sleep 100 & sleep 101" timed out' in out, out
    assert "failed liveness probe" not in out  # failureThreshold 100: never killed


def _probe(mp: Minipod, name: str, container: str, kind: str) -> dict[str, Any]:
    record = mp.pod_record(name)
    if record is None:
        return {"failures": 0, "probes": 0}
    probes: dict[str, Any] = record["containers"][container].get("probes", {})
    return probes.get(kind, {"failures": 0, "probes": 0})  # type: ignore[no-any-return]


def test_post_start_and_pre_stop_hooks(minipod: Minipod) -> None:
    name = unique_name("hooks")
    out_dir = minipod.workdir / "out"
    out_dir.mkdir()
    proc = minipod.up(minipod.manifest(pod(name, f"""
  terminationGracePeriodSeconds: 5
  volumes: [{{name: out, hostPath: {{path: {out_dir}}}}}]
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "trap 'echo term >> /out/log; exit 0' TERM; echo main >> /out/log; while true; do sleep 0.1; done"]
    volumeMounts: [{{name: out, mountPath: /out}}]
    lifecycle:
      postStart:
        exec: {{command: [sh, -c, "echo poststart $HOSTNAME >> /out/log"]}}
      preStop:
        exec: {{command: [sh, -c, "echo prestop >> /out/log"]}}
""")))
    minipod.wait_running(name, ["app"])
    wait_for(lambda: minipod.pod_record(name)["containers"]["app"]["started"], 10,  # type: ignore[index]
             "postStart done")
    out = stop(proc)
    lines = (out_dir / "log").read_text().split()
    # postStart runs beside the entrypoint (either may write first); preStop
    # runs before SIGTERM, inside the grace period.
    assert lines[-2:] == ["prestop", "term"], lines
    assert "poststart" in lines and name in lines and "main" in lines
    assert "FailedPreStopHook" not in out and "FailedPostStartHook" not in out


def test_failing_post_start_hook_kills_the_container(minipod: Minipod) -> None:
    name = unique_name("badhook")
    proc = minipod.up(minipod.manifest(pod(name, """
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sleep, "3600"]
    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo no way; exit 1"]}
""")), "--backoff", "0:0")
    record = wait_for(lambda: (r := minipod.pod_record(name))
                      and r["containers"]["app"]["restartCount"] >= 1 and r, 20, "a restart")
    minipod.remember(record)
    out = stop(proc)
    assert "FailedPostStartHook" in out and "no way" in out


def test_supervisor_makes_no_wakeups_when_idle(minipod: Minipod) -> None:
    name = unique_name("idle")
    proc = minipod.up(minipod.manifest(pod(name, """
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox, command: [sleep, "3600"]}
""")))
    record = minipod.wait_running(name, ["app"])
    supervisor = record["supervisor"]["pid"]
    time.sleep(0.5)  # let start-up settle (the last pod.json write, the log pipes)

    def switches() -> tuple[int, int]:
        fields = dict(line.split(":", 1) for line in
                      Path(f"/proc/{supervisor}/status").read_text().splitlines())
        return (int(fields["voluntary_ctxt_switches"]),
                int(fields["nonvoluntary_ctxt_switches"]))

    before = switches()
    time.sleep(10)
    after = switches()
    assert after[0] == before[0], (before, after)  # not one wake-up in 10 s
    stop(proc)


def test_startup_probe_gates_liveness_and_readiness(minipod: Minipod) -> None:
    name = unique_name("startup")
    proc = minipod.up(minipod.manifest(pod(name, """
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "sleep 2; touch /tmp/up; sleep 3600"]
    startupProbe:
      exec: {command: [test, -f, /tmp/up]}
      periodSeconds: 1
      failureThreshold: 10
    readinessProbe:
      exec: {command: ["true"]}
      periodSeconds: 1
    livenessProbe:
      exec: {command: ["false"]}
      periodSeconds: 1
      failureThreshold: 2
""")), "--backoff", "0:0")
    record = minipod.wait_running(name, ["app"])
    assert not record["containers"]["app"]["started"]
    assert record["ready"] == "0/1"
    wait_for(lambda: minipod.pod_record(name)["containers"]["app"]["restartCount"] == 1,  # type: ignore[index]
             20, "the liveness kill after start-up")
    out = stop(proc)
    started = event_times(out, r"Started container app")[0]
    startup_failed = event_times(out, r"Startup probe failed")
    liveness_failed = event_times(out, r"Liveness probe failed")
    killed = event_times(out, r"Container app failed liveness probe")[0]
    # start-up takes ~2 s: the startup probe fails at 0, 1 (and maybe 2) s;
    # liveness runs only after it passed, and fails twice before the kill.
    assert len(startup_failed) >= 2 and startup_failed[0] - started < 0.5
    assert liveness_failed[0] - started >= 1.9, out
    assert killed - started >= 2.9, out
    assert "Status   Running        pod/" + name + "  ready 1/1" in out
