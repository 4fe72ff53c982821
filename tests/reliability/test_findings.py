"""Issue 15's findings, each as it was found (against 7e0d174), on the real
kernel. Finding 2 (a SIGKILL half-way through `up -d` of a file) is in
test_crash_points.py, the full file system (finding 3) in test_fullfs.py,
the supervisor's memory (finding 4) in test_soak.py and, on fakes, in
tests/unit/test_supervisor.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from hostcheck import daemon_pid, pod, pod_names, wait_running
from podtest import Minipod, pauses_under, unique_name, wait_for

pytestmark = pytest.mark.root

TRAPPED = """
  terminationGracePeriodSeconds: {grace}
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "trap 'sleep {stop}; exit 0' TERM; while true; do sleep 0.1; done"]
"""


def test_grace_period_past_int64_is_refused_and_int64_max_is_served(minipod: Minipod) -> None:
    """Finding 1: 2**63 and 10**100 are refused as the API server refuses them
    (exit 2, one line, nothing started); 2**63-1 is accepted, and neither the
    foreground `up` nor the background supervisor overflows a timer with it:
    SIGTERM stops `up`, and `delete --grace-period 0` ends a delete that
    would otherwise wait for centuries."""
    for value in (2**63, 10**100):
        bad = minipod.manifest(pod(unique_name("big"), TRAPPED.format(grace=value, stop=0)))
        result = minipod.run("up", "-d", str(bad))
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "terminationGracePeriodSeconds: must be <= " \
            "9223372036854775807" in result.stderr
    assert pod_names(minipod) == []

    name = unique_name("fg")
    up = minipod.up(minipod.manifest(pod(name, TRAPPED.format(grace=2**63 - 1, stop=0))))
    wait_running(minipod, name)
    up.send_signal(signal.SIGTERM)
    out, _ = up.communicate(timeout=30)
    assert up.returncode == 0, out
    assert "Traceback" not in out and "OverflowError" not in out

    name = unique_name("bg")
    manifest = minipod.manifest(pod(name, TRAPPED.format(grace=2**63 - 1, stop=3600)), "bg.yaml")
    assert minipod.run("up", "-d", str(manifest)).returncode == 0
    wait_running(minipod, name)
    first = subprocess.Popen([sys.executable, "-m", "minipod", "delete", "pod", name],
                             cwd=minipod.workdir, env=minipod.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (minipod.pod_record(name) or {}).get("deletionTime"), 10, "terminating")
    now = minipod.run("delete", "pod", name, "--grace-period", "0")
    assert now.returncode == 1 and "not found" in now.stderr  # the first one says deleted
    out, err = first.communicate(timeout=30)
    assert (first.returncode, out) == (0, f'pod "{name}" deleted\n'), err


def test_two_deletes_at_once_one_deleted_one_not_found(minipod: Minipod) -> None:
    """Finding 5: kubectl's second delete of a pod being deleted is NotFound."""
    name = unique_name("twice")
    manifest = minipod.manifest(pod(name, TRAPPED.format(grace=30, stop=1)))
    assert minipod.run("up", "-d", str(manifest)).returncode == 0
    wait_running(minipod, name)
    deletes = [subprocess.Popen([sys.executable, "-m", "minipod", "delete", "pod", name],
                                cwd=minipod.workdir, env=minipod.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [d.communicate(timeout=30) for d in deletes]
    said = sorted((d.returncode, *out) for d, out in zip(deletes, outputs, strict=True))
    assert said == [(0, f'pod "{name}" deleted\n', ""),
                    (1, "", f'error: pod "{name}" not found in namespace "default"\n')], said


@pytest.mark.parametrize("verb", [["up", "-d"], ["apply", "-f"]])
def test_a_timed_out_request_is_not_carried_out_later(minipod: Minipod,
                                                      verb: list[str]) -> None:
    """Finding 5: a client that gives up on a stopped supervisor says so, and
    the supervisor, once it runs again, does not make the pods after all
    (`up -d` and kubectl's `apply -f` alike)."""
    keeper = unique_name("keep")
    assert minipod.run("up", "-d", str(minipod.manifest(pod(keeper, TRAPPED.format(
        grace=1, stop=0)), "keep.yaml"))).returncode == 0
    wait_running(minipod, keeper)
    supervisor = daemon_pid(minipod)
    assert supervisor is not None
    late = unique_name("late")
    manifest = minipod.manifest(pod(late, TRAPPED.format(grace=1, stop=0)), "late.yaml")
    os.kill(supervisor, signal.SIGSTOP)
    try:
        began = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "minipod", *verb, str(manifest)],
                                cwd=minipod.workdir, env=dict(minipod.env,
                                                              MINIPOD_APPLY_TIMEOUT="1"),
                                capture_output=True, text=True, timeout=60)
        # up -d (the fast client) sends at once and gives up after its
        # deadline; apply -f first waits up to 20 s for a supervisor to
        # answer a ping (server/daemon.py ensure_daemon) and sends nothing
        assert time.monotonic() - began < (20 if verb[0] == "up" else 45)
    finally:
        os.kill(supervisor, signal.SIGCONT)
    assert result.returncode == 1, result.stdout
    said = "no pod of it was created" if verb[0] == "up" else "no supervisor answers"
    assert said in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    time.sleep(1.5)  # the supervisor reads the request now: past its deadline, it does nothing
    assert pod_names(minipod) == [keeper] and late not in minipod.run("get", "pods").stdout
    assert minipod.run("delete", "pod", keeper, "--grace-period", "0").returncode == 0


def test_a_nul_in_an_argument_is_refused(minipod: Minipod) -> None:
    """Finding 5: execve would cut the argument at the NUL; refused, exit 2."""
    name = unique_name("nul")
    body = ('  containers:\n  - name: app\n    image: busybox\n'
            '    command: [sh, -c, "echo a\\0b"]\n')
    result = minipod.run("up", "-d", str(minipod.manifest(pod(name, body))))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.endswith(
        'pod.yaml: spec.containers[0].command[2]: Invalid value: "echo a\\x00b": must not '
        "contain a NUL character (the kernel would cut the string there)\n")
    assert pod_names(minipod) == [] and pauses_under(minipod.root) == []


def test_raw_bytes_from_a_probe_are_escaped_in_the_log_and_events(minipod: Minipod) -> None:
    """Finding 5: what a probe's command or server prints (an escape sequence,
    a NUL, a newline) reaches daemon.log and events escaped."""
    name = unique_name("binary")
    body = """
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sleep, "3600"]
    readinessProbe:
      periodSeconds: 1
      exec:
        command: [sh, -c, "printf '\\\\033[2J\\\\001\\\\377gone\\\\nline2'; exit 1"]
"""
    assert minipod.run("up", "-d", str(minipod.manifest(pod(name, body)))).returncode == 0
    wait_running(minipod, name)
    log = minipod.root / "supervisors" / "daemon.log"
    wait_for(lambda: b"Readiness probe failed" in log.read_bytes(), 20, "the probe's event")
    raw = log.read_bytes()
    line = next(ln for ln in raw.splitlines() if b"Readiness probe failed" in ln)
    assert b"\x1b" not in raw and b"\x01" not in raw
    assert b"\\x1b[2J\\x01" in line and b"\\nline2" in line, line
    events = (minipod.root / "pods" / f"default_{name}" / "events.jsonl").read_bytes()
    assert b"\\\\x1b[2J" in events  # escaped, then JSON-encoded
    assert minipod.run("delete", "pod", name, "--grace-period", "0").returncode == 0

