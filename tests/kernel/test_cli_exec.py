"""`minipod exec` against a pod that `minipod up` runs: the command's
namespaces, files, environment and identity are the container's, its output,
input and exit code are passed through, -t gives it a terminal, and nothing
of it is left behind.

One pod serves the module (starting one per test would be most of the run
time); every test leaves the containers' pid namespaces as it found them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from podtest import Minipod, assert_nothing_left, busybox_images, unique_name, wait_for

pytestmark = pytest.mark.root

MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    workingDir: /srv/work
    env: [{{name: GREETING, value: hello}}]
    command: ["sh", "-c", "echo only-here > /tmp/marker; exec sleep 3600"]
  - name: side
    image: busybox
    securityContext: {{runAsUser: 1234, runAsGroup: 5678}}
    command: ["sleep", "3600"]
  - name: done
    image: busybox
    command: ["true"]
"""


@dataclass
class RunningPod:
    mp: Minipod
    name: str
    record: dict[str, Any]

    def pid(self, container: str) -> int:
        pid: int = self.record["containers"][container]["pid"]
        return pid

    @property
    def pause(self) -> int:
        pid: int = self.record["pause"]["pid"]
        return pid

    def exec(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "minipod", "exec", *args],
                              cwd=self.mp.workdir, env=self.mp.env, input=stdin,
                              stdin=None if stdin is not None else subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=30)

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "minipod", "exec", *args],
                                cwd=self.mp.workdir, env=self.mp.env, **kwargs)


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPod]:
    if os.geteuid() != 0:
        pytest.skip("needs root")  # the plugin's gate turns this into a failure under MUST_RUN
    workdir = tmp_path_factory.mktemp("exec")
    mp = Minipod(root=workdir / "state", images=busybox_images(tmp_path_factory),
                 workdir=workdir)
    name = unique_name("exec")
    proc = mp.up(mp.manifest(MANIFEST.format(name=name)))
    try:
        mp.wait_running(name, ["app", "side"])

        def done_exited() -> dict[str, Any] | None:
            record = mp.pod_record(name)
            if record and record["containers"]["done"]["state"] == "terminated":
                return record
            return None

        record = wait_for(done_exited, 15, "container done to exit")
        mp.remember(record)
        wait_for(lambda: Path(f"/proc/{record['containers']['app']['pid']}/root/tmp/marker")
                 .exists(), 10, "the marker file")
        yield RunningPod(mp, name, record)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, out
    assert_nothing_left(mp)


@pytest.fixture(autouse=True)
def nothing_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test: the containers' pid namespaces hold their PID 1
    alone (no exec'd process, no orphan of one), and no zombie is left."""
    yield
    if "pod" not in request.fixturenames:
        return
    running: RunningPod = request.getfixturevalue("pod")
    for container in ("app", "side"):
        pid = running.pid(container)

        def alone(pid: int = pid) -> bool:
            return members(ns_inode(pid, "pid")) == [pid]

        wait_for(alone, 5, f"only PID 1 in the pid namespace of {container}")
        assert psutil.Process(pid).children() == []
    assert [p for p in psutil.Process().children(recursive=True)
            if p.status() == psutil.STATUS_ZOMBIE] == []


def ns_inode(pid: int, kind: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def ns_link(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def members(pidns: int) -> list[int]:
    """Live (non-zombie) processes whose pid namespace is ``pidns``."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if ns_inode(proc.pid, "pid") == pidns and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
    return sorted(found)


def status_field(pid: int, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(key)


# -- output, exit code, arguments ----------------------------------------------

def test_output_and_exit_code_are_passed_back(pod: RunningPod) -> None:
    out = pod.exec(pod.name, "-c", "app", "--", "sh", "-c", "echo hi; echo err >&2; exit 3")
    assert (out.returncode, out.stdout) == (3, "hi\n")
    assert out.stderr == "err\ncommand terminated with exit code 3\n"  # kubectl's line
    out = pod.exec(pod.name, "-c", "app", "--", "sh", "-c", "kill -TERM $$")
    assert out.returncode == 128 + signal.SIGTERM, out.stderr
    out = pod.exec(pod.name, "-c", "app", "--", "true")
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")


def test_options_after_the_pod_and_a_second_double_dash(pod: RunningPod) -> None:
    out = pod.exec("-n", "default", pod.name, "-c", "side", "--", "echo", "--", "-c", "x")
    assert (out.returncode, out.stdout) == (0, "-- -c x\n"), out.stderr
    out = pod.exec(pod.name, "-c", "app")
    assert out.returncode == 2
    assert out.stderr == "error: exec: you must specify at least one command for the container\n"


def test_without_c_the_first_container_and_kubectls_notice(pod: RunningPod) -> None:
    out = pod.exec(pod.name, "--", "sh", "-c", "echo $GREETING")
    assert (out.returncode, out.stdout) == (0, "hello\n")
    assert out.stderr == 'Defaulted container "app" out of: app, side, done\n'


# -- where it runs ---------------------------------------------------------------

def test_runs_in_the_containers_namespaces_as_a_member_of_its_pid_namespace(
        pod: RunningPod) -> None:
    script = ("for n in mnt pid net uts ipc; do readlink /proc/self/ns/$n; done; "
              "echo $$; grep NSpid /proc/$$/status; hostname; echo $(ls /proc | grep '^[0-9]')")
    out = pod.exec(pod.name, "-c", "app", "--", "sh", "-c", script)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    app = pod.pid("app")
    assert lines[:5] == [ns_link(app, "mnt"), ns_link(app, "pid"), ns_link(pod.pause, "net"),
                         ns_link(pod.pause, "uts"), ns_link(pod.pause, "ipc")]
    assert lines[0] != ns_link(pod.pid("side"), "mnt")  # the container's own, not any
    # a pid of the container's namespace itself (not 1 of a nested one, as
    # probes are): one NSpid level in the container's /proc, and seen there
    pid = int(lines[5])
    assert pid > 1 and lines[6].split() == ["NSpid:", str(pid)]
    assert lines[7] == pod.name  # the pod's hostname
    # the container's own processes, in its /proc by their pids there: the
    # app's and this shell (ls and grep may come and go: not counted)
    app_pid = Path(f"/proc/{app}/status").read_text().split("NSpid:")[1].split("\n")[0].split()[-1]
    assert {app_pid, str(pid)} <= set(lines[8].split()), lines[8]


def test_ps_in_the_container_shows_the_command(pod: RunningPod) -> None:
    # (after a moment: the launcher's intermediate process, a member of the
    # namespace too, exits just after the command's exec)
    out = pod.exec(pod.name, "-c", "side", "--", "sh", "-c", "sleep 0.2; exec ps")
    assert out.returncode == 0, out.stderr
    commands = [line.split(None, 2)[2] for line in out.stdout.splitlines()[1:]]
    # busybox runs its ps applet inside the sh it was exec'd from: "{ps} sh -c ..."
    assert len(commands) == 2 and commands[0] == "sleep 3600", commands
    assert commands[1].startswith("{ps} sh -c sleep 0.2"), commands


def test_sees_the_containers_files_env_and_working_dir(pod: RunningPod) -> None:
    out = pod.exec(pod.name, "-c", "app", "--", "sh", "-c",
                   "cat /tmp/marker; echo $GREETING; echo $HOSTNAME; pwd; env | sort")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:4] == ["only-here", "hello", pod.name, "/srv/work"]
    env = dict(line.split("=", 1) for line in lines[4:])
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert "MINIPOD_ROOT" not in env  # the client's environment stays out


def test_identity_groups_and_capabilities_are_the_containers(pod: RunningPod) -> None:
    out = pod.exec(pod.name, "-c", "side", "--", "sh", "-c",
                   "id -u; id -g; id -G; grep -E '^Cap(Eff|Bnd)' /proc/self/status")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:3] == ["1234", "5678", "5678"]
    side = pod.pid("side")
    assert lines[3].split()[1] == status_field(side, "CapEff") == "0000000000000000"
    assert lines[4].split()[1] == status_field(side, "CapBnd")
    out = pod.exec(pod.name, "-c", "app", "--", "grep", "-E", "^Cap(Eff|Bnd)",
                   "/proc/self/status")
    app = pod.pid("app")
    assert [line.split()[1] for line in out.stdout.splitlines()] == [
        status_field(app, "CapEff"), status_field(app, "CapBnd")]
    assert int(status_field(app, "CapEff"), 16) == 0x5FB  # the container default set (containerd 2)


def test_fds_and_session_are_its_own(pod: RunningPod) -> None:
    out = pod.exec(pod.name, "-c", "app", "--", "sh", "-c",
                   "ls /proc/self/fd | xargs; readlink /proc/self/fd/0; echo $$; "
                   "cut -d' ' -f6,7 /proc/self/stat")
    assert out.returncode == 0, out.stderr
    fds, stdin, sh_pid, stat = out.stdout.splitlines()
    assert fds == "0 1 2 3"  # stdio plus ls's own directory fd
    assert stdin == "/dev/null"  # no -i
    # a session of its own (sh leads it), without a controlling terminal:
    # the client's terminal is never the command's
    assert stat.split() == [sh_pid, "0"]


# -- stdin, -t -------------------------------------------------------------------

def test_stdin_is_passed_only_with_i(pod: RunningPod) -> None:
    out = pod.exec("-i", pod.name, "-c", "app", "--", "cat", stdin="data\nmore\n")
    assert (out.returncode, out.stdout) == (0, "data\nmore\n"), out.stderr
    out = pod.exec(pod.name, "-c", "app", "--", "cat", stdin="data\n")
    assert (out.returncode, out.stdout) == (0, "")


@contextlib.contextmanager
def terminal(rows: int = 31, cols: int = 97) -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    try:
        yield master, slave
    finally:
        os.close(master)
        with contextlib.suppress(OSError):
            os.close(slave)


def read_until(master: int, proc: subprocess.Popen[bytes], want: bytes | None = None,
               timeout: float = 15) -> bytes:
    """What the client writes to its terminal: until ``want`` appears, or
    (``want`` None) until the client has exited and everything is read."""
    data = b""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if want is not None and want in data:
            return data
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
                chunk = b""
            data += chunk
        elif want is None and proc.poll() is not None:
            return data
    raise AssertionError(f"timed out; got {data!r}")


def test_t_gives_a_terminal_of_the_containers_devpts_with_our_size(pod: RunningPod) -> None:
    with terminal() as (master, slave):
        before = termios.tcgetattr(slave)
        proc = pod.popen("-it", pod.name, "-c", "side", "--", "sh", "-c",
                         "tty; stty size; ls -ln $(tty); cut -d' ' -f7 /proc/self/stat; exit 4",
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        out = read_until(master, proc)
        assert proc.wait(timeout=10) == 4
        lines = out.decode().replace("\r", "").splitlines()
        assert lines[0].startswith("/dev/pts/"), out  # a name inside the container
        assert lines[1] == "31 97"
        assert lines[2].split()[2:4] == ["1234", "5"]  # the user's; group tty (gid=5)
        assert lines[3] != "0"  # its controlling terminal
        assert lines[-1] == "command terminated with exit code 4"
        assert termios.tcgetattr(slave) == before  # raw mode undone


def test_t_copies_typing_and_ctrl_c_reaches_the_command(pod: RunningPod) -> None:
    with terminal() as (master, slave):
        proc = pod.popen("-it", pod.name, "-c", "app", "--", "sh", "-c",
                         'trap "echo caught; exit 9" INT; read line; echo "got $line"; '
                         "echo ready; while :; do sleep 0.1; done",
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.write(master, b"typed\r")
        out = read_until(master, proc, b"ready")
        os.write(master, b"\x03")  # raw mode: the byte goes to the pty, which sends SIGINT
        out += read_until(master, proc)
        assert proc.wait(timeout=10) == 9, out
        assert b"got typed" in out and b"caught" in out


def test_t_without_a_terminal_copies_piped_stdin_and_ends_it(pod: RunningPod) -> None:
    proc = pod.popen("-i", "-t", pod.name, "-c", "app", "--", "sh", "-c",
                     "tty >/dev/null && echo has-tty; cat; echo end",
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(b"one\ntwo", timeout=20)
    assert proc.returncode == 0, err
    text = out.decode().replace("\r", "")
    # the pty echoes what it is given and cat prints it again; the end of
    # stdin ends the partial last line, then cat's input: "end" comes last
    assert "has-tty\n" in text and text.endswith("end\n"), text
    assert text.count("one\n") == 2 and text.count("two") == 2, text


# -- signals, errors ---------------------------------------------------------------

def test_sigterm_to_the_client_reaches_the_command(pod: RunningPod) -> None:
    proc = pod.popen(pod.name, "-c", "app", "--", "sh", "-c",
                     'trap "echo term; exit 7" TERM; echo ready; while :; do sleep 0.1; done',
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 7, err
    assert out == b"term\n"


def test_missing_pod_and_container(pod: RunningPod) -> None:
    out = pod.exec("no-such-pod", "--", "true")
    assert (out.returncode, out.stderr) == (1, 'error: pods "no-such-pod" not found\n')
    out = pod.exec("-n", "other", pod.name, "--", "true")
    assert out.returncode == 1
    assert out.stderr == f'error: pods "{pod.name}" not found in namespace "other"\n'
    out = pod.exec(pod.name, "-c", "nope", "--", "true")
    assert out.returncode == 1
    assert out.stderr == (f"error: container nope is not valid for pod {pod.name} "
                          "out of: app, side, done\n")
    out = pod.exec(pod.name, "-c", "done", "--", "true")
    assert out.returncode == 1
    assert out.stderr == (f"error: container done is not running in pod {pod.name} "
                          "(terminated, Completed)\n")


def test_a_missing_executable_is_127_and_not_executable_126(pod: RunningPod) -> None:
    out = pod.exec(pod.name, "-c", "app", "--", "no-such-command", "x")
    assert out.returncode == 127
    assert out.stderr == ('error: exec failed: unable to start container process: '
                          'exec: "no-such-command": executable file not found in $PATH\n')
    out = pod.exec(pod.name, "-c", "app", "--", "/no/such")
    assert out.returncode == 127
    assert out.stderr.endswith('exec: "/no/such": no such file or directory\n')
    out = pod.exec(pod.name, "-c", "app", "--", "/etc/passwd")
    assert out.returncode == 126
    assert out.stderr.endswith('exec: "/etc/passwd": permission denied\n')


def test_a_reused_pid_is_not_trusted(pod: RunningPod) -> None:
    """A record whose pid now names another process (the start time differs)."""
    record_path = pod.mp.root / "pods" / f"default_{pod.name}" / "pod.json"
    fake_root = pod.mp.workdir / "fake-root"
    fake_dir = fake_root / "pods" / f"default_{pod.name}"
    fake_dir.mkdir(parents=True)
    record = json.loads(record_path.read_text())
    record["containers"]["app"]["startTime"] -= 100
    (fake_dir / "pod.json").write_text(json.dumps(record))
    out = subprocess.run([sys.executable, "-m", "minipod", "exec", pod.name, "-c", "app", "--",
                          "true"], cwd=pod.mp.workdir, capture_output=True, text=True,
                         env=dict(pod.mp.env, MINIPOD_ROOT=str(fake_root)), timeout=30)
    assert out.returncode == 1
    assert out.stderr == (f"error: container app is not running in pod {pod.name} "
                          f"(pid {pod.pid('app')} is another process now)\n")
