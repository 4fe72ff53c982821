"""minipod.probes.execprobe on the real kernel: a command run inside a running
container (its namespaces, root, identity), killed as a whole tree at its
deadline, and never leaving a process or a zombie behind.

The containers are real (create_sandbox + start_container, what the pod runner
does), started in this process, so the exec'd process P is our child and its
parentage can be checked. Most tests reap P with a minimal pidfd watch; one
uses the Supervisor's own watch/reap.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
from podtest import busybox_images, host_mounts_under, in_process_minipod, unique_name

from minipod.api.manifest import parse_pods
from minipod.api.model import Pod
from minipod.kernel import launch
from minipod.kernel import sys as msys
from minipod.kernel.image import resolve
from minipod.kernel.launch import launch_plan
from minipod.kernel.rootfs import RootfsPlan
from minipod.kernel.sandbox import Sandbox, create_sandbox
from minipod.kernel.spawn import Child, ExitStatus
from minipod.loop.eventloop import Loop
from minipod.probes.execprobe import (
    MAX_OUTPUT,
    ExecResult,
    ExecRun,
    ExecTarget,
    Watch,
    exec_in,
    open_exec_target,
)
from minipod.runtime.supervisor import Supervisor

pytestmark = pytest.mark.root

NS_GET_PARENT = 0xB702  # _IO(0xb7, 0x2), linux/nsfs.h

MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  shareProcessNamespace: {shared}
  containers:
  - name: app
    image: busybox
    workingDir: /srv/work
    env: [{{name: GREETING, value: hello}}]
    command: ["sh", "-c", "echo only-here > /marker; exec sleep 3600"]
  - name: nobody
    image: busybox
    securityContext: {{runAsUser: 1234, runAsGroup: 5678}}
    command: ["sleep", "3600"]
"""


class Reaper:
    """The smallest Supervisor.watch: wait for one pidfd, reap exactly that pid."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.reaped: list[tuple[int, ExitStatus]] = []

    def watch(self, child: Child, on_exit: Callable[[ExitStatus], None]) -> None:
        def ready(_events: int) -> None:
            result = os.waitid(os.P_PIDFD, child.pidfd, os.WEXITED | os.WNOHANG)
            if result is None:
                return
            self.loop.unregister(child.pidfd)
            status = ExitStatus.from_waitid(result)
            self.reaped.append((child.pid, status))
            on_exit(status)

        self.loop.register(child.pidfd, ready)


@dataclass
class Container:
    child: Child
    target: ExecTarget


@dataclass
class PodUnderTest:
    pod: Pod
    sandbox: Sandbox
    containers: dict[str, Container]
    loop: Loop = field(default_factory=Loop)

    @property
    def own_pids(self) -> set[int]:
        return {self.sandbox.pause.pid} | {c.child.pid for c in self.containers.values()}

    def run(self, argv: tuple[str, ...], *, container: str = "app", timeout: float | None = 10.0,
            watch: Watch | None = None, loop: Loop | None = None,
            while_running: Callable[[ExecRun], None] | None = None
            ) -> tuple[ExecResult, ExecRun]:
        loop = loop or self.loop
        reaper = Reaper(loop)
        results: list[ExecResult] = []
        run = exec_in(loop, watch or reaper.watch, self.containers[container].target, argv,
                      timeout, results.append)
        assert results == [], "done must never be called synchronously"
        if while_running is not None:
            while_running(run)
        give_up = time.monotonic() + 30
        while not results:
            assert time.monotonic() < give_up, f"{argv} never finished"
            loop.run_once(max_wait=0.1)
        assert len(results) == 1
        return results[0], run


@contextlib.contextmanager
def minipod_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("state")
    with in_process_minipod(root, busybox_images(tmp_path_factory)):
        yield root


def start_container(pod: Pod, sandbox: Sandbox, index: int, devnull: int) -> Container:
    """What the pod runner does for one container, minus logs and bookkeeping."""
    spec = pod.spec.containers[index]
    image = resolve(spec.image)
    plan = launch_plan(spec, image, sandbox.hostname, pod.spec.security_context)
    run_dir = sandbox.dir / "containers" / spec.name / "0"
    for sub in ("upper", "work", "merged"):
        (run_dir / sub).mkdir(parents=True)
    (run_dir / "upper").chmod(0o755)
    rootfs = RootfsPlan(image.lowers, str(run_dir / "upper"), str(run_dir / "work"),
                        str(run_dir / "merged"), str(sandbox.dir / "shm"))
    child = launch.start_container(plan, rootfs, sandbox.ns, sandbox.pidns_fd, devnull, devnull,
                                   f"start container {spec.name}")
    target = open_exec_target(child.pid, sandbox.ns, plan.env, plan.working_dir,
                              plan.run_as_user, plan.run_as_group)
    return Container(child, target)


@contextlib.contextmanager
def running_pod(tmp_path_factory: pytest.TempPathFactory, shared: bool = False
                ) -> Iterator[PodUnderTest]:
    if os.geteuid() != 0:
        pytest.skip("needs root")  # the plugin's gate turns this into a failure under MUST_RUN
    with minipod_dirs(tmp_path_factory) as root:
        pod = parse_pods(MANIFEST.format(name=unique_name("exec"),
                                         shared="true" if shared else "false"))[0]
        sandbox = create_sandbox(pod)
        containers: dict[str, Container] = {}
        devnull = os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC)
        try:
            for index, spec in enumerate(pod.spec.containers):
                containers[spec.name] = start_container(pod, sandbox, index, devnull)
            app = containers["app"].child.pid
            wait_for_path(f"/proc/{app}/root/marker")
            yield PodUnderTest(pod, sandbox, containers)
        finally:
            os.close(devnull)
            pids = [c.child.pid for c in containers.values()] + [sandbox.pause.pid]
            for container in containers.values():
                container.target.close()
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(container.child.pidfd, signal.SIGKILL)
                os.waitpid(container.child.pid, 0)
                os.close(container.child.pidfd)
            sandbox.teardown()
        assert host_mounts_under(root) == [], "mounts left behind"
        assert [p for p in pids if psutil.pid_exists(p)] == [], "processes left behind"


def wait_for_path(path: str, timeout: float = 10) -> None:
    give_up = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < give_up, f"{path} never appeared"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodUnderTest]:
    with running_pod(tmp_path_factory) as running:
        yield running
        running.loop.close()


def _session_node(child: psutil.Process, parent: int) -> bool:
    """minipod.testing's supervisor for this pytest session (the `pod`
    fixture's node, started by an earlier test file and kept to the end):
    `python -m minipod.testing.daemon ... --parent <this pytest>`."""
    try:
        argv = child.cmdline()
    except psutil.Error:
        return False
    if "minipod.testing.daemon" not in argv or "--parent" not in argv:
        return False
    return argv[argv.index("--parent") + 1:][:1] == [str(parent)]


@pytest.fixture(autouse=True)
def nothing_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test: no child of ours but the pod's own processes, no
    zombie under the containers' PID 1, nothing in their pid namespaces but
    their PID 1 (so no intermediate process and no orphan)."""
    yield
    if "pod" not in request.fixturenames:
        return
    running: PodUnderTest = request.getfixturevalue("pod")
    me = psutil.Process()
    extra = [(p.pid, p.status()) for p in me.children()
             if p.pid not in running.own_pids and not _session_node(p, me.pid)]
    assert extra == [], "a child of the supervisor is left"
    for container in running.containers.values():
        pid = container.child.pid
        assert [c.pid for c in psutil.Process(pid).children()] == [], "container PID 1 got children"
        assert members(ns_inode(pid)) == [pid]


def ns_inode(pid: int, kind: str = "pid") -> int:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def members(pidns: int) -> list[int]:
    """Live (non-zombie) processes whose pid namespace is ``pidns``."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{name}/ns/pid").st_ino == pidns:
                    found.append(int(name))
    return sorted(found)


def status_field(pid: int, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(key)


def started_since(t0: float, *cmdline: str) -> list[psutil.Process]:
    """Processes running ``cmdline`` that started after t0 (zombies included)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "create_time"]):
        if proc.info["cmdline"] == list(cmdline) and proc.info["create_time"] >= t0 - 0.05:
            found.append(proc)
    return found


def zombies_of(pids: set[int]) -> list[int]:
    return [p.pid for p in psutil.process_iter(["ppid", "status"])
            if p.info["ppid"] in pids and p.info["status"] == psutil.STATUS_ZOMBIE]


# -- results -------------------------------------------------------------------

def test_exit_zero_with_stdout_and_stderr(pod: PodUnderTest) -> None:
    result, run = pod.run(("sh", "-c", "echo to-stdout; echo to-stderr >&2"))
    assert result == ExecResult(0, "to-stdout\nto-stderr\n", False, None)
    assert run.pid > 0


def test_nonzero_exit_keeps_output(pod: PodUnderTest) -> None:
    result, _ = pod.run(("sh", "-c", "echo failing >&2; exit 3"))
    assert result == ExecResult(3, "failing\n", False, None)


def test_the_command_is_init_of_its_own_pid_namespace(pod: PodUnderTest) -> None:
    # $$ is 1, and (as for any init) a signal without a handler sent from
    # inside its namespace is dropped: only the supervisor can kill it
    result, _ = pod.run(("sh", "-c", "echo $$; kill -9 $$; echo survived"))
    assert result == ExecResult(0, "1\nsurvived\n", False, None)


def test_missing_executable_is_an_error_not_an_exit_code(pod: PodUnderTest) -> None:
    result, _ = pod.run(("no-such-probe", "arg"))
    assert result.exit_code is None and not result.timed_out
    assert result.error == ('exec in container: exec "no-such-probe": '
                            "executable file not found in $PATH (ENOENT)")
    result, _ = pod.run(("/no/such/probe",))
    assert result.error is not None and "No such file or directory (ENOENT)" in result.error
    result, _ = pod.run(("/etc/passwd",))
    assert result.error is not None and "Permission denied (EACCES)" in result.error


def test_a_command_that_exits_127_itself_is_an_exit_code(pod: PodUnderTest) -> None:
    result, _ = pod.run(("sh", "-c", "exit 127"))
    assert result == ExecResult(127, "", False, None)


def test_output_is_capped_at_10_kib_and_never_blocks(pod: PodUnderTest) -> None:
    # 200 kB is three times a pipe's buffer: it only finishes if we keep reading
    result, _ = pod.run(("sh", "-c", "yes 0123456789abcdef | head -c 200000; echo done >&2"))
    assert result.exit_code == 0
    assert len(result.output) == MAX_OUTPUT == 10 * 1024
    assert result.output.startswith("0123456789abcdef\n0123456789abcdef\n")


def test_output_is_decoded_with_replacement(pod: PodUnderTest) -> None:
    result, _ = pod.run(("printf", "caf\\303\\251 \\377\\n"))
    assert result.output == "caf\u00e9 \ufffd\n"


# -- where it runs -------------------------------------------------------------

def test_runs_in_the_container_mount_namespace_and_root(pod: PodUnderTest) -> None:
    assert not os.path.exists("/marker")
    result, _ = pod.run(("cat", "/marker"))
    assert result == ExecResult(0, "only-here\n", False, None)
    result, _ = pod.run(("readlink", "/proc/self/ns/mnt"))
    app = pod.containers["app"].child.pid
    assert result.output.strip() == os.readlink(f"/proc/{app}/ns/mnt")


def test_env_working_dir_identity_and_capabilities(pod: PodUnderTest) -> None:
    result, _ = pod.run(("sh", "-c", "id -u; id -g; pwd; echo $GREETING; echo $HOSTNAME; "
                                     "grep -E '^(CapBnd|CapEff|SigBlk)' /proc/self/status"))
    lines = result.output.splitlines()
    assert lines[:5] == ["0", "0", "/srv/work", "hello", pod.sandbox.hostname]
    caps = dict(line.split(":\t") for line in lines[5:])
    assert int(caps["CapBnd"], 16) == 0x00000000000005FB  # the container default set
    assert int(caps["CapEff"], 16) == 0x00000000000005FB
    assert caps["SigBlk"] == "0000000000000000"


def test_a_command_run_again_gets_the_same_argv_and_environment(pod: PodUnderTest) -> None:
    # The second run reuses the C form the first one made (ExecTarget.command).
    argv = ("sh", "-c", 'echo "$0 $1 $GREETING"; pwd', "zero", "one")
    first, _ = pod.run(argv)
    again, _ = pod.run(argv)
    other, _ = pod.run(("sh", "-c", 'echo "$0"', "two"))
    assert first.output == again.output == "zero one hello\n/srv/work\n"
    assert first.exit_code == again.exit_code == 0
    assert other.output == "two\n"


def test_run_as_user_and_group(pod: PodUnderTest) -> None:
    assert msys.prctl(msys.PR_GET_DUMPABLE) == 1
    result, _ = pod.run(("sh", "-c", "id -u; id -g; id -G; grep CapEff /proc/self/status"),
                        container="nobody")
    assert result.output.splitlines()[:3] == ["1234", "5678", "5678"]
    assert result.output.splitlines()[3].endswith("0000000000000000")
    # the uid change happened in a process sharing our memory, which the
    # kernel then marks non-dumpable: our own setting must be back
    assert msys.prctl(msys.PR_GET_DUMPABLE) == 1


def test_run_as_user_without_group_takes_the_group_from_the_container_passwd(
        pod: PodUnderTest) -> None:
    # a line the parser must skip, and a last line without a newline
    result, _ = pod.run(("sh", "-c", "printf 'bad:x:4244:x12:::\\nsvc:x:4243:77::/:/bin/sh'"
                                     " >> /etc/passwd"))
    assert result.exit_code == 0
    app = pod.containers["app"]
    expected = {1: "1", 65534: "65534", 4243: "77", 4244: "0", 4245: "0"}
    for uid, gid in expected.items():
        target = open_exec_target(app.child.pid, pod.sandbox.ns, {}, "/", uid, None)
        pod.containers["as-user"] = Container(app.child, target)
        try:
            result, _ = pod.run(("sh", "-c", "id -u; id -g; id -G"), container="as-user")
        finally:
            del pod.containers["as-user"]
            target.close()
        assert result.output.split() == [str(uid), gid, gid], uid


def test_signals_and_fds_are_a_fresh_process(pod: PodUnderTest) -> None:
    result, _ = pod.run(("sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status; "
                                     "ls /proc/self/fd | xargs"))
    lines = result.output.splitlines()
    assert lines[0].split() == ["SigBlk:", "0000000000000000"]
    assert int(lines[1].split()[1], 16) & (1 << (signal.SIGPIPE - 1)) == 0, "SIGPIPE ignored"
    assert lines[2].split() == ["0", "1", "2", "3"]  # stdio plus ls's own directory fd
    result, _ = pod.run(("readlink", "/proc/self/fd/0"))
    assert result.output == "/dev/null\n"


def test_pod_uts_net_ipc_namespaces_and_nested_pid_namespace(pod: PodUnderTest) -> None:
    app = pod.containers["app"].child.pid
    seen: dict[str, object] = {}

    def inspect(run: ExecRun) -> None:
        give_up = time.monotonic() + 5
        while True:  # until sh has exec'd sleep
            with contextlib.suppress(OSError):
                if Path(f"/proc/{run.pid}/cmdline").read_bytes() == b"sleep\x0030\x00":
                    break
            assert time.monotonic() < give_up
            time.sleep(0.005)
        pause = pod.sandbox.pause.pid
        for kind in ("uts", "net", "ipc"):
            assert ns_inode(run.pid, kind) == ns_inode(pause, kind), kind
        assert ns_inode(run.pid, "mnt") == ns_inode(app, "mnt")
        assert ns_inode(run.pid, "cgroup") == ns_inode(os.getpid(), "cgroup")
        # P's parent is the supervisor (this process), not the intermediate,
        # and it tells us of its exit with SIGCHLD (field 38 of stat)
        assert int(status_field(run.pid, "PPid")) == os.getpid()
        stat = Path(f"/proc/{run.pid}/stat").read_text()
        assert int(stat.rsplit(")", 1)[1].split()[35]) == signal.SIGCHLD
        # pid in the host, in the container's namespace, and 1 in its own
        nspid = status_field(run.pid, "NSpid").split()
        seen["nspid"] = nspid
        # its pid namespace is new, and its parent is the container's
        pidns = ns_inode(run.pid)
        assert pidns not in (ns_inode(app), ns_inode(os.getpid()))
        fd = os.open(f"/proc/{run.pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        try:
            parent = fcntl.ioctl(fd, NS_GET_PARENT)
            seen["parent"] = os.fstat(parent).st_ino
            os.close(parent)
        finally:
            os.close(fd)
        # the intermediate process is gone already: the container's namespace
        # holds only its own PID 1
        assert members(ns_inode(app)) == [app]
        assert members(pidns) == [run.pid]
        run.cancel()

    reaper = Reaper(pod.loop)
    results: list[ExecResult] = []
    run = exec_in(pod.loop, reaper.watch, pod.containers["app"].target,
                  ("sh", "-c", "hostname; exec sleep 30"), 10, results.append)
    inspect(run)
    give_up = time.monotonic() + 5
    while not reaper.reaped:
        assert time.monotonic() < give_up
        pod.loop.run_once(max_wait=0.1)
    nspid = seen["nspid"]
    assert isinstance(nspid, list) and len(nspid) == 3
    assert nspid[0] == str(run.pid) and nspid[2] == "1"
    assert seen["parent"] == ns_inode(app)
    assert results == []  # cancelled: done is never called


def test_hostname_is_the_pods(pod: PodUnderTest) -> None:
    result, _ = pod.run(("hostname",))
    assert result.output == pod.sandbox.hostname + "\n"


# -- deadlines and leftovers -----------------------------------------------------

def test_hanging_command_is_killed_at_the_deadline(pod: PodUnderTest) -> None:
    t0 = time.time()
    start = time.monotonic()
    result, run = pod.run(("sleep", "1017"), timeout=0.3)
    elapsed = time.monotonic() - start
    assert result == ExecResult(None, "", True, None)
    assert 0.3 <= elapsed < 1.5
    assert not psutil.pid_exists(run.pid) or psutil.Process(run.pid).create_time() > t0 + 1
    assert started_since(t0, "sleep", "1017") == []


def test_background_grandchild_is_killed_with_the_tree(pod: PodUnderTest) -> None:
    t0 = time.time()
    tree: list[int] = []

    def sample(run: ExecRun) -> None:
        def look() -> None:
            tree.extend(members(ns_inode(run.pid)))
        pod.loop.call_later(0.2, look)

    result, _ = pod.run(("sh", "-c", "echo started; sleep 1018 & sleep 1019"), timeout=0.4,
                          while_running=sample)
    assert result.timed_out and result.exit_code is None
    assert result.output == "started\n"
    assert len(tree) >= 2, f"the tree was not running: {tree}"  # sh and both sleeps
    assert started_since(t0, "sleep", "1018") == []
    assert started_since(t0, "sleep", "1019") == []
    assert zombies_of({os.getpid(), *pod.own_pids, *tree}) == []


def test_double_fork_and_exit_zero_leaves_nothing(pod: PodUnderTest) -> None:
    t0 = time.time()
    result, _ = pod.run(("sh", "-c", "sleep 1020 & echo forked"))
    assert result == ExecResult(0, "forked\n", False, None)
    assert started_since(t0, "sleep", "1020") == []


def test_an_orphan_never_reaches_the_container_init(pod: PodUnderTest) -> None:
    t0 = time.time()
    result, _ = pod.run(("sh", "-c", "(sleep 0.3; echo late) & (sh -c 'sleep 1021 &') ; exit 0"))
    assert result.exit_code == 0
    time.sleep(0.5)  # long past when the orphans would have exited
    for container in pod.containers.values():
        assert psutil.Process(container.child.pid).children() == []
    assert zombies_of({os.getpid(), *pod.own_pids}) == []
    assert started_since(t0, "sleep", "1021") == []


def test_cancel_kills_and_done_is_not_called(pod: PodUnderTest) -> None:
    t0 = time.time()
    reaper = Reaper(pod.loop)
    results: list[ExecResult] = []
    run = exec_in(pod.loop, reaper.watch, pod.containers["app"].target,
                  ("sh", "-c", "sleep 1022 & sleep 1023"), None, results.append)
    pod.loop.run_once(max_wait=0.1)
    run.cancel()
    run.cancel()  # idempotent
    give_up = time.monotonic() + 5
    while not reaper.reaped:
        assert time.monotonic() < give_up
        pod.loop.run_once(max_wait=0.1)
    assert reaper.reaped[0][1].signal == signal.SIGKILL
    for _ in range(3):
        pod.loop.run_once(max_wait=0.05)
    assert results == []
    assert started_since(t0, "sleep", "1022") == started_since(t0, "sleep", "1023") == []


def test_setup_failure_is_reported_through_done(pod: PodUnderTest) -> None:
    app = pod.containers["app"]
    target = open_exec_target(app.child.pid, pod.sandbox.ns, {}, "/no/such/dir", None, None)
    try:
        pod.containers["broken"] = Container(app.child, target)
        result, run = pod.run(("true",), container="broken")
    finally:
        del pod.containers["broken"]
        target.close()
    assert run.pid == 0
    assert result.exit_code is None and not result.timed_out
    assert result.error == ("exec in container: working directory /no/such/dir: "
                            "No such file or directory (ENOENT)")


def test_cancel_before_a_setup_failure_is_reported(pod: PodUnderTest) -> None:
    results: list[ExecResult] = []
    run = exec_in(pod.loop, Reaper(pod.loop).watch, pod.containers["app"].target, (), 1,
                  results.append)
    run.cancel()
    for _ in range(3):
        pod.loop.run_once(max_wait=0.01)
    assert results == []


def test_with_the_supervisor_watch_and_reap(pod: PodUnderTest) -> None:
    sup = Supervisor(Loop(), sink=lambda _e: None, echo_logs=False)
    sup.open()
    try:
        t0 = time.time()
        result, _ = pod.run(("sh", "-c", "sleep 1024 & echo via-supervisor"), watch=sup.watch,
                            loop=sup.loop)
        assert result == ExecResult(0, "via-supervisor\n", False, None)
        result, _ = pod.run(("sleep", "1025"), watch=sup.watch, loop=sup.loop, timeout=0.2)
        assert result.timed_out
    finally:
        sup.close()
        msys.set_child_subreaper(False)
    assert started_since(t0, "sleep", "1024") == started_since(t0, "sleep", "1025") == []


def test_container_exited_is_an_error(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_pod(tmp_path_factory) as running:
        nobody = running.containers["nobody"]
        signal.pidfd_send_signal(nobody.child.pidfd, signal.SIGKILL)
        os.waitid(os.P_PIDFD, nobody.child.pidfd, os.WEXITED | os.WNOWAIT)
        result, _ = running.run(("true",), container="nobody")
        assert result.error is not None
        assert result.error == ("exec in container: join the container's pid namespace: "
                                "it has no init any more (the container exited) (ENOMEM)")
        running.loop.close()


def test_shared_process_namespace_nests_under_the_pause(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_pod(tmp_path_factory, shared=True) as running:
        t0 = time.time()
        pause = running.sandbox.pause.pid
        parents: list[int] = []

        def look(run: ExecRun) -> None:
            fd = os.open(f"/proc/{run.pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            parent = fcntl.ioctl(fd, NS_GET_PARENT)
            parents.append(os.fstat(parent).st_ino)
            os.close(parent)
            os.close(fd)

        result, _ = running.run(("sh", "-c", "sleep 1026 & echo $$"), while_running=look)
        assert result == ExecResult(0, "1\n", False, None)
        assert parents == [ns_inode(pause)]
        assert members(ns_inode(pause)) == sorted([pause, *(c.child.pid for c in
                                                             running.containers.values())])
        assert started_since(t0, "sleep", "1026") == []
        assert zombies_of({pause, os.getpid()}) == []
        running.loop.close()


def test_wall_time_per_exec(pod: PodUnderTest) -> None:
    times = []
    for _ in range(30):
        start = time.perf_counter()
        result, _ = pod.run(("true",))
        times.append(time.perf_counter() - start)
        assert result.exit_code == 0
    median = statistics.median(times)
    print(f"\nexec_in(true): median {median * 1000:.2f} ms, min {min(times) * 1000:.2f} ms, "
          f"max {max(times) * 1000:.2f} ms over {len(times)} runs")
    assert median < 0.05
