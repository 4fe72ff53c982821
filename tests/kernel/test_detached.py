"""`minipod up -d`: a supervisor in the background, and its adoption of pods
after it was killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
from podtest import Minipod, unique_name, wait_for

pytestmark = pytest.mark.root


def pod(name: str, body: str) -> str:
    return f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{body}"


TICKER = """
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done"]
"""


def kill9(pid: int) -> None:
    pidfd = os.pidfd_open(pid)
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    finally:
        os.close(pidfd)


def record_where(mp: Minipod, name: str, what: str, check: Any) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        record = mp.pod_record(name)
        if record is not None and check(record):
            mp.remember(record)
            return record
        return None

    result: dict[str, Any] = wait_for(found, 20, what)
    return result


def delete(mp: Minipod, name: str) -> None:
    result = mp.run("delete", "pod", name, "--grace-period", "1")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: not (mp.root / "pods" / f"default_{name}").exists(), 20, "pod gone")


def daemon_gone(mp: Minipod, pid: int) -> None:
    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(gone, 20, "the idle supervisor to exit")


def test_up_detached_returns_and_a_background_supervisor_serves(minipod: Minipod) -> None:
    name = unique_name("bg")
    result = minipod.run("up", "-d", str(minipod.manifest(pod(name, TICKER))))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"pod/{name} created\n"
    record = record_where(minipod, name, "running", lambda r: r["containers"]["app"].get("pid"))
    daemon = record["supervisor"]["pid"]
    assert psutil.Process(daemon).ppid() != os.getpid()  # not our child: detached
    assert os.getsid(daemon) != os.getsid(0)  # out of our session (and terminal)
    # a second `up -d` goes to the same supervisor
    other = unique_name("bg2")
    again = minipod.run("up", "-d", str(minipod.manifest(pod(other, TICKER), "two.yaml")))
    assert again.returncode == 0, again.stderr
    second = record_where(minipod, other, "running", lambda r: r["containers"]["app"].get("pid"))
    assert second["supervisor"]["pid"] == daemon
    delete(minipod, name)
    delete(minipod, other)
    daemon_gone(minipod, daemon)


def test_bad_manifest_with_detach_exits_2_and_starts_nothing(minipod: Minipod) -> None:
    manifest = minipod.manifest(pod(unique_name("bad"), "  containers:\n  - {name: A, image: busybox}\n"))
    result = minipod.run("up", "-d", str(manifest))
    assert result.returncode == 2 and "spec.containers[0].name" in result.stderr
    assert not (minipod.root / "supervisors" / "daemon.sock").exists()


def test_fast_path_with_a_running_supervisor_says_what_the_full_cli_says(minipod: Minipod
                                                                        ) -> None:
    """With the background supervisor up, `up -d FILE` and `delete pod NAME`
    are one request each (minipod.cli.main). Bad input is still exit 2 with the
    field path and nothing started; an unknown pod among known ones is the
    full CLI's error; the answers read as the full CLI's."""
    keeper, name = unique_name("keep"), unique_name("fast")
    assert minipod.run("up", "-d", str(minipod.manifest(pod(keeper, TICKER)))).returncode == 0
    socket_path = minipod.root / "supervisors" / "daemon.sock"
    assert socket_path.exists()
    bad = minipod.manifest(pod(unique_name("bad"), "  containers:\n  - {name: A, image: busybox}\n"
                               "  - {name: B, image: busybox}\n"), "bad.yaml")
    result = minipod.run("up", bad.name, "--detach")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and "spec.containers[0].name" in result.stderr
    assert "spec.containers[1].name" in result.stderr.splitlines()[1]  # one line each
    assert sorted(p.name for p in (minipod.root / "pods").iterdir()) == [f"default_{keeper}"]

    result = minipod.run("up", "-d", str(minipod.manifest(pod(name, TICKER), "fast.yaml")))
    assert (result.returncode, result.stdout, result.stderr) == (0, f"pod/{name} created\n", "")
    record_where(minipod, name, "running", lambda r: r["containers"]["app"].get("pid"))
    again = minipod.run("up", "-d", "fast.yaml")  # kubectl apply: what exists is left alone
    assert (again.returncode, again.stdout, again.stderr) == (0, f"pod/{name} unchanged\n", "")

    missing = unique_name("missing")
    result = minipod.run("delete", "pod", name, missing)
    assert result.returncode == 1
    assert result.stdout == f'pod "{name}" deleted\n'
    assert result.stderr == f'Error from server (NotFound): pods "{missing}" not found\n'
    assert not (minipod.root / "pods" / f"default_{name}").exists()
    delete(minipod, keeper)


def test_a_manifest_of_megabytes_goes_over_the_socket(minipod: Minipod) -> None:
    """`up -d` sends the whole text: 200 kB of annotations (the API allows
    256 kB) must reach the supervisor whole, through both the fast path (a
    supervisor runs) and the full CLI (none runs yet)."""
    names = [unique_name("big"), unique_name("big2")]
    for i, name in enumerate(names):
        note = "x" * 200_000
        text = pod(name, TICKER).replace(f"metadata: {{name: {name}}}",
                                         f"metadata: {{name: {name}, annotations: {{note: {note}}}}}")
        result = minipod.run("up", "-d", str(minipod.manifest(text, f"big{i}.yaml")))
        assert (result.returncode, result.stdout) == (0, f"pod/{name} created\n"), result.stderr
        record = record_where(minipod, name, "running", lambda r: r["containers"]["app"].get("pid"))
        assert record["object"]["metadata"]["annotations"]["note"] == note
    for name in names:
        delete(minipod, name)


def test_the_background_supervisor_lifts_a_low_soft_nofile_limit(minipod: Minipod) -> None:
    """Started from a shell whose soft limit is 512, the supervisor runs with
    the hard limit as its soft one (about ten fds a pod), as does its container."""
    import resource
    import subprocess

    name = unique_name("nofile")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    result = subprocess.run(
        [sys.executable, "-m", "minipod", "up", "-d", str(minipod.manifest(pod(name, TICKER)))],
        cwd=minipod.workdir, env=minipod.env, capture_output=True, text=True, timeout=60,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard)))
    assert result.returncode == 0, result.stderr
    record = record_where(minipod, name, "running", lambda r: r["containers"]["app"].get("pid"))

    def soft_limit(pid: int) -> str:
        line = next(line for line in Path(f"/proc/{pid}/limits").read_text().splitlines()
                    if line.startswith("Max open files"))
        return line.split()[3]

    assert soft_limit(record["supervisor"]["pid"]) == soft_limit(os.getpid()) != "512"
    assert soft_limit(record["containers"]["app"]["pid"]) != "512"
    delete(minipod, name)


def test_supervisor_sigkilled_then_adopted_without_restarting_anything(minipod: Minipod) -> None:
    name = unique_name("adopt")
    assert minipod.run("up", "-d", str(minipod.manifest(pod(name, TICKER)))).returncode == 0
    before = record_where(minipod, name, "running", lambda r: r["containers"]["app"].get("pid"))
    app, pause = before["containers"]["app"], before["pause"]
    kill9(before["supervisor"]["pid"])
    # Nothing notices for a while: the container keeps running and writing
    # (into its FIFO, which pause holds open), and does not die of SIGPIPE.
    log = Path(app["log"])
    lines_before = log.read_text().count("\n")
    wait_for(lambda: _fifo_has_data(name, minipod), 5, "output piling up while nobody reads")
    assert psutil.Process(app["pid"]).status() != psutil.STATUS_ZOMBIE
    recovered = minipod.run("recover")
    assert recovered.returncode == 0, recovered.stderr
    after = record_where(minipod, name, "adopted",
                         lambda r: r["supervisor"]["pid"] != before["supervisor"]["pid"])
    assert after["containers"]["app"]["pid"] == app["pid"]  # untouched
    assert after["pause"]["pid"] == pause["pid"]
    assert after["restarts"] == 0 and after["status"] == "Running"
    # the output written meanwhile reaches the same log file
    wait_for(lambda: log.read_text().count("\n") > lines_before + 20, 5, "the log to go on")
    ticks = [int(line.rsplit(" ", 1)[1]) for line in log.read_text().splitlines()]
    assert ticks == list(range(1, len(ticks) + 1))  # no line lost or repeated
    # and the new supervisor heals as the old one did
    kill9(app["pid"])
    healed = record_where(minipod, name, "restarted",
                          lambda r: r["containers"]["app"]["restartCount"] == 1
                          and r["containers"]["app"]["state"] == "running")
    assert healed["containers"]["app"]["pid"] != app["pid"]
    last = healed["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] == 137  # read off the zombie we are not the parent of
    delete(minipod, name)
    daemon_gone(minipod, after["supervisor"]["pid"])


def _fifo_has_data(name: str, mp: Minipod) -> bool:
    import fcntl
    import termios

    fifo = mp.root / "pods" / f"default_{name}" / "fifo" / "app.stdout"
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        buf = bytearray(4)
        fcntl.ioctl(fd, termios.FIONREAD, buf)
        return int.from_bytes(buf, sys.byteorder) > 0
    finally:
        os.close(fd)


def test_a_reused_pid_is_never_adopted(minipod: Minipod) -> None:
    name = unique_name("reuse")
    assert minipod.run("up", "-d", str(minipod.manifest(pod(name, TICKER)))).returncode == 0
    before = record_where(minipod, name, "running", lambda r: r["containers"]["app"].get("pid"))
    real = before["containers"]["app"]["pid"]
    kill9(before["supervisor"]["pid"])
    # Make the record name another process of the host: its pid with another
    # start time, as after pid reuse. The new supervisor must not adopt it,
    # nor signal it; the real container, which the record no longer names,
    # is a process of the pod it cannot account for, and is stopped.
    outsider = subprocess.Popen(["sleep", "600"])
    try:
        path = minipod.root / "pods" / f"default_{name}" / "pod.json"
        record = json.loads(path.read_text())
        record["containers"]["app"]["pid"] = outsider.pid
        record["containers"]["app"]["startTime"] = psutil.Process(outsider.pid).create_time() - 100
        path.write_text(json.dumps(record))
        assert minipod.run("recover").returncode == 0
        after = record_where(minipod, name, "a new app",
                             lambda r: r["containers"]["app"]["restartCount"] == 1
                             and r["containers"]["app"]["state"] == "running")
        assert after["containerStatuses"][0]["lastState"]["terminated"]["reason"] == \
            "ContainerStatusUnknown"
        assert outsider.poll() is None  # never signalled
        assert not psutil.pid_exists(real) or psutil.Process(real).status() == \
            psutil.STATUS_ZOMBIE  # the pod's unrecorded process was stopped
    finally:
        outsider.kill()
        outsider.wait()
    delete(minipod, name)


def test_non_root_cannot_reach_the_supervisor_or_the_state(minipod: Minipod) -> None:
    name = unique_name("private")
    assert minipod.run("up", "-d", str(minipod.manifest(pod(name, TICKER)))).returncode == 0
    record_where(minipod, name, "running", lambda r: r["containers"]["app"].get("pid"))
    sock = minipod.root / "supervisors" / "daemon.sock"
    record = minipod.root / "pods" / f"default_{name}" / "pod.json"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a child that becomes nobody, then tries both
        os.close(r)
        said = []
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            conn = socket.socket(socket.AF_UNIX)
            try:
                conn.connect(str(sock))
                said.append("connected")
            except PermissionError:
                said.append("socket-refused")
            try:
                record.read_text()
                said.append("read")
            except PermissionError:
                said.append("state-refused")
        finally:
            os.write(w, " ".join(said).encode())
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as out:
        answer = out.read()
    os.waitpid(pid, 0)
    assert answer == "socket-refused state-refused"
    delete(minipod, name)
