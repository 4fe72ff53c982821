"""minipod.kernel.cstart (csrc/mp_start.c) against the Python recipe it mirrors
(spawn + container_main): containers of one real sandbox, started both ways
in this process, must see the same world: mount table, namespaces, hostname,
environment, working directory, identity, capabilities, fds, signals,
volumes; and fail the same way, at the same step with the same errno."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psutil
import pytest
from podtest import busybox_images, host_mounts_under, unique_name

from minipod.api.errors import StartError
from minipod.api.manifest import parse_pods
from minipod.kernel.cstart import start_container
from minipod.kernel.image import resolve
from minipod.kernel.launch import LaunchPlan, container_main, launch_plan
from minipod.kernel.ns import pid_namespace_for_children
from minipod.kernel.rootfs import BindMount, RootfsPlan
from minipod.kernel.sandbox import Sandbox, create_sandbox
from minipod.kernel.spawn import Child, spawn

pytestmark = pytest.mark.root

MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - name: app
    image: busybox
    workingDir: /srv/work/deep
    env: [{{name: GREETING, value: hello}}]
"""

# What the container sees, one "key=value" or "section:line" per line.
REPORT = r"""
echo "hostname=$(hostname)"
echo "pid=$$"
echo "cwd=$(pwd)"
echo "id=$(id -u):$(id -g):$(id -G)"
env | sort | sed 's/^/env:/'
grep -E '^(Cap|Sig|NoNewPrivs|Groups)' /proc/$$/status | sed 's/^/status:/'
ls /proc/$$/fd | sed 's/^/fd:/'
for ns in uts ipc net mnt pid; do echo "ns:$ns=$(readlink /proc/$$/ns/$ns)"; done
sed 's/^/mount:/' /proc/$$/mountinfo
(echo x > /data/w) 2>/dev/null && echo "rw=ok" || echo "rw=refused"
(echo y > /ro/w) 2>/dev/null && echo "ro=ok" || echo "ro=refused"
echo "rofile=$(cat /ro-file)"
echo "etc-hostname=$(cat /etc/hostname)"
"""

Starter = Callable[[LaunchPlan, RootfsPlan, Sandbox, int], Child]


def python_start(plan: LaunchPlan, rootfs: RootfsPlan, sandbox: Sandbox, out: int) -> Child:
    with pid_namespace_for_children(sandbox.pidns_fd):
        return spawn(container_main(plan, rootfs, sandbox.ns, out, out), "start container app")


def c_start(plan: LaunchPlan, rootfs: RootfsPlan, sandbox: Sandbox, out: int) -> Child:
    return start_container(plan, rootfs, sandbox.ns, sandbox.pidns_fd, out, out,
                           "start container app")


STARTERS: dict[str, Starter] = {"python": python_start, "c": c_start}


@dataclass
class PodUnderTest:
    sandbox: Sandbox
    plan: LaunchPlan
    image_rootfs: str
    volumes: Path
    runs: int = 0

    def rootfs(self, binds: tuple[BindMount, ...] | None = None) -> RootfsPlan:
        self.runs += 1
        run_dir = self.sandbox.dir / "containers" / "app" / str(self.runs)
        for sub in ("upper", "work", "merged"):
            (run_dir / sub).mkdir(parents=True)
        (run_dir / "upper").chmod(0o755)
        if binds is None:
            binds = (*(BindMount(str(self.sandbox.dir / "etc" / name), f"/etc/{name}",
                                 is_file=True) for name in ("hosts", "hostname", "resolv.conf")),
                     BindMount(str(self.volumes / "rw"), "/data"),
                     BindMount(str(self.volumes / "ro"), "/ro", read_only=True),
                     BindMount(str(self.volumes / "file"), "/ro-file", read_only=True,
                               is_file=True))
        return RootfsPlan(self.image_rootfs, str(run_dir / "upper"), str(run_dir / "work"),
                          str(run_dir / "merged"), str(self.sandbox.dir / "shm"), binds)

    def run(self, how: str, plan: LaunchPlan, binds: tuple[BindMount, ...] | None = None
            ) -> str:
        """Start the container ``how``; its output once it has exited."""
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            try:
                child = STARTERS[how](plan, self.rootfs(binds), self.sandbox, w)
            finally:
                os.close(w)
            with os.fdopen(r, "rb", closefd=False) as f:
                output = f.read().decode()
            reap(child)
        finally:
            os.close(r)
        return output


def reap(child: Child) -> int:
    try:
        result = os.waitid(os.P_PIDFD, child.pidfd, os.WEXITED)
        assert result is not None
        return result.si_status
    finally:
        os.close(child.pidfd)


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodUnderTest]:
    if os.geteuid() != 0:
        pytest.skip("needs root")  # conftest's gate turns this into a failure under MUST_RUN
    root = tmp_path_factory.mktemp("state")
    saved = {k: os.environ.get(k) for k in ("MINIPOD_ROOT", "MINIPOD_IMAGES")}
    os.environ["MINIPOD_ROOT"] = str(root)
    os.environ["MINIPOD_IMAGES"] = str(busybox_images(tmp_path_factory))
    volumes = tmp_path_factory.mktemp("volumes")
    for sub in ("rw", "ro"):
        (volumes / sub).mkdir()
    (volumes / "file").write_text("from-the-host\n")
    try:
        spec = parse_pods(MANIFEST.format(name=unique_name("cstart")))[0]
        sandbox = create_sandbox(spec)
        pause = sandbox.pause.pid
        try:
            image = resolve(spec.spec.containers[0].image)
            plan = launch_plan(spec.spec.containers[0], image, sandbox.hostname,
                               spec.spec.security_context)
            yield PodUnderTest(sandbox, plan, str(image.rootfs), volumes)
        finally:
            sandbox.teardown()
        assert host_mounts_under(root) == [], "mounts left behind"
        assert not psutil.pid_exists(pause), "pause left behind"
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def parse(output: str) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for line in output.splitlines():
        key, sep, value = line.partition(":" if line.split("=")[0].count(":") else "=")
        if not sep:
            key, _, value = line.partition("=")
        seen.setdefault(key, []).append(value)
    return seen


def mounts(lines: list[str]) -> list[tuple[str, ...]]:
    """mountinfo without ids, devices and the overlay's run-specific paths."""
    table = []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, (fstype, source, super_opts) = left.split(), right.split()
        if fstype == "overlay":
            super_opts = source = ""
        table.append((fields[4], fields[5], fstype, source, super_opts, fields[3]))
    return table


def with_argv(plan: LaunchPlan, *argv: str, **changes: object) -> LaunchPlan:
    return replace(plan, argv=argv, **changes)  # type: ignore[arg-type]


def test_both_see_the_same_world(pod: PodUnderTest) -> None:
    plan = with_argv(pod.plan, "sh", "-c", REPORT)
    seen = {how: parse(pod.run(how, plan)) for how in STARTERS}
    py, c = seen["python"], seen["c"]
    pause = pod.sandbox.pause.pid

    for key in ("hostname", "pid", "cwd", "id", "env", "status", "fd", "rw", "ro", "rofile",
                "etc-hostname"):
        assert c.get(key) == py.get(key), key
    assert c["hostname"] == [pod.sandbox.hostname] == c["etc-hostname"]
    assert c["pid"] == ["1"]  # PID 1 of a pid namespace of its own
    assert c["cwd"] == ["/srv/work/deep"]
    assert c["id"] == ["0:0:0"]
    assert "GREETING=hello" in c["env"]
    assert c["fd"] == ["0", "1", "2"], "only stdio is inherited"
    status = dict(line.split(":\t") for line in c["status"])
    assert int(status["CapInh"], 16) == 0
    assert status["CapBnd"] == status["CapEff"] == status["CapPrm"] == f"{pod_caps():016x}"
    assert c["rw"] == ["ok"] and c["ro"] == ["refused"] and c["rofile"] == ["from-the-host"]
    assert (pod.volumes / "rw" / "w").read_text() == "x\n"

    ns = {how: dict(v.split("=") for v in seen[how]["ns"]) for how in STARTERS}
    for name in ("uts", "ipc", "net"):
        assert ns["c"][name] == ns["python"][name] == os.readlink(f"/proc/{pause}/ns/{name}")
    # own mount and pid namespaces (not compared between the two runs: the
    # first one's are freed when it exits, and their inode numbers reused)
    for name in ("mnt", "pid"):
        for how in STARTERS:
            assert ns[how][name] not in (os.readlink(f"/proc/{pause}/ns/{name}"),
                                         os.readlink(f"/proc/self/ns/{name}"))

    assert mounts(c["mount"]) == mounts(py["mount"])
    points = [m[0] for m in mounts(c["mount"])]
    assert points[:2] == ["/", "/proc"] and "/.minipod-oldroot" not in points
    assert {"/data", "/ro", "/ro-file", "/dev/shm", "/dev/mqueue", "/sys"} <= set(points)


def test_signals_as_exec_leaves_them(pod: PodUnderTest) -> None:
    """No shell in between: the command's own mask and dispositions."""
    plan = with_argv(pod.plan, "cat", "/proc/self/status")
    seen = {how: dict(line.split(":\t", 1) for line in pod.run(how, plan).splitlines()
                      if line.startswith(("Sig", "Shd", "Cap", "NoNewPrivs")))
            for how in STARTERS}
    assert seen["c"] == seen["python"]
    assert int(seen["c"]["SigBlk"], 16) == int(seen["c"]["SigIgn"], 16) == 0


def pod_caps() -> int:
    from minipod.kernel.cstart import KEEP_CAPS

    return KEEP_CAPS


@pytest.mark.parametrize(("uid", "gid", "expect"), [(1234, 5678, "1234:5678:5678"),
                                                     (65534, None, None), (None, 42, "0:42:42")])
def test_identity(pod: PodUnderTest, uid: int | None, gid: int | None, expect: str | None
                  ) -> None:
    plan = with_argv(pod.plan, "sh", "-c", 'echo "id=$(id -u):$(id -g):$(id -G)"; '
                     "grep -E '^(Cap|Groups)' /proc/$$/status | sed 's/^/status:/'",
                     run_as_user=uid, run_as_group=gid)
    seen = {how: parse(pod.run(how, plan)) for how in STARTERS}
    assert seen["c"] == seen["python"]
    if expect is not None:
        assert seen["c"]["id"] == [expect]


def start_error(pod: PodUnderTest, how: str, plan: LaunchPlan,
                binds: tuple[BindMount, ...] | None = None) -> StartError:
    with pytest.raises(StartError) as caught:
        pod.run(how, plan, binds)
    return caught.value


def test_missing_binary(pod: PodUnderTest) -> None:
    plan = with_argv(pod.plan, "no-such-binary")
    errors = {how: start_error(pod, how, plan) for how in STARTERS}
    for e in errors.values():
        assert e.step == "start container app: exec no-such-binary"
        assert e.errno == errno.ENOENT


def test_missing_bind_source(pod: PodUnderTest, tmp_path: Path) -> None:
    missing = str(tmp_path / "gone")
    binds = (BindMount(missing, "/gone"),)
    errors = {how: start_error(pod, how, pod.plan, binds) for how in STARTERS}
    for e in errors.values():
        assert e.step == f"start container app: open {missing}"
        assert e.errno == errno.ENOENT
    assert errors["c"].strerror == errors["python"].strerror


def test_bind_on_a_file_of_the_image(pod: PodUnderTest) -> None:
    # a directory volume onto an existing file of the image: makedirs' EEXIST
    binds = (BindMount(str(pod.volumes / "rw"), "/bin/sh"),)
    errors = {how: start_error(pod, how, pod.plan, binds) for how in STARTERS}
    assert errors["c"].step == errors["python"].step == \
        f"start container app: bind mount {pod.volumes / 'rw'} on /bin/sh"
    assert errors["c"].errno == errors["python"].errno == errno.EEXIST


def test_start_latency(pod: PodUnderTest) -> None:
    """Call to return, median of 50 starts each (the container runs `true`)."""
    plan = with_argv(pod.plan, "true")
    devnull = os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC)
    medians = {}
    try:
        for how, start in STARTERS.items():
            times = []
            for _ in range(50):
                rootfs = pod.rootfs(())
                began = time.perf_counter()
                child = start(plan, rootfs, pod.sandbox, devnull)
                times.append(time.perf_counter() - began)
                assert reap(child) == 0
            medians[how] = statistics.median(times) * 1000
    finally:
        os.close(devnull)
    report = {f"{how}_p50_ms": round(ms, 3) for how, ms in medians.items()}
    print(json.dumps(report))
    with contextlib.suppress(OSError):
        Path(os.environ.get("MINIPOD_CSTART_REPORT", "/nonexistent/x")).write_text(
            json.dumps(report))
    assert medians["c"] < medians["python"]


def test_no_signal_handler_runs_in_the_child(pod: PodUnderTest) -> None:
    """Signals arriving during the call wait for the parent (blocked around clone)."""
    got: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda signo, _frame: got.append(signo))
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert pod.run("c", with_argv(pod.plan, "true")) == ""
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert got == [signal.SIGUSR1]
