"""minipod.kernel.launch.start_container: csrc/mp_start.c running a
container's setup ops (rootfs.py, launch.setup_ops) in a real sandbox, in
this process. What the started container sees: its mount table and mount
flags, namespaces, hostname, environment, working directory, session,
identity, capabilities, fds, signals, devices and volumes; and a failure
reported at the op that failed, with its errno and message, and nothing
left behind."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psutil
import pytest
from podtest import busybox_images, host_mounts_under, in_process_minipod, unique_name, wait_for

from minipod.api.errors import StartError
from minipod.api.manifest import parse_pods
from minipod.api.security import MASKED_PATHS, READONLY_PATHS
from minipod.kernel import sys as msys
from minipod.kernel.image import resolve
from minipod.kernel.launch import KEEP_CAPS, LaunchCache, LaunchPlan, launch_plan, start_container
from minipod.kernel.rootfs import DEVICES, BindMount, RootfsPlan
from minipod.kernel.sandbox import Sandbox, create_sandbox
from minipod.kernel.spawn import Child

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
echo "sid=$(cut -d' ' -f6 /proc/$$/stat)"
echo "cwd=$(pwd)"
echo "id=$(id -u):$(id -g):$(id -G)"
env | sort | sed 's/^/env:/'
grep -E '^(Cap|Sig|NoNewPrivs|Groups)' /proc/$$/status | sed 's/^/status:/'
for ns in uts ipc net mnt pid; do echo "ns:$ns=$(readlink /proc/$$/ns/$ns)"; done
sed 's/^/mount:/' /proc/$$/mountinfo
for d in null zero full random urandom tty; do [ -c /dev/$d ] && echo "chr:$d"; done
for l in fd stdin stdout stderr ptmx core; do echo "link:$l=$(readlink /dev/$l)"; done
(echo x > /data/w) 2>/dev/null && echo "rw=ok" || echo "rw=refused"
(echo y > /ro/w) 2>/dev/null && echo "ro=ok" || echo "ro=refused"
(echo z > /ro-file) 2>/dev/null && echo "rofile-write=ok" || echo "rofile-write=refused"
echo "rofile=$(cat /ro-file)"
echo "etc-hostname=$(cat /etc/hostname)"
[ -e /.minipod-oldroot ] && echo "oldroot=present" || echo "oldroot=gone"
"""

NOSUID_NODEV_NOEXEC = "nosuid,nodev,noexec"


@dataclass
class PodUnderTest:
    sandbox: Sandbox
    plan: LaunchPlan
    image_rootfs: tuple[str, ...]  # the image's lowerdirs
    volumes: Path
    runs: int = 0

    def rootfs(self, binds: tuple[BindMount, ...] | None = None) -> RootfsPlan:
        self.runs += 1
        run_dir = self.sandbox.dir / "containers" / "app" / str(self.runs)
        for sub in ("upper", "work", "merged"):
            (run_dir / sub).mkdir(parents=True)
        (run_dir / "upper").chmod(0o755)
        return RootfsPlan(self.image_rootfs, str(run_dir / "upper"), str(run_dir / "work"),
                          str(run_dir / "merged"), str(self.sandbox.dir / "shm"),
                          self.default_binds() if binds is None else binds)

    def default_binds(self) -> tuple[BindMount, ...]:
        """The pod's /etc files, a read-write and a read-only directory volume,
        and a read-only file."""
        return (*(BindMount(str(self.sandbox.dir / "etc" / name), f"/etc/{name}", is_file=True)
                  for name in ("hosts", "hostname", "resolv.conf")),
                BindMount(str(self.volumes / "rw"), "/data"),
                BindMount(str(self.volumes / "ro"), "/ro", read_only=True),
                BindMount(str(self.volumes / "file"), "/ro-file", read_only=True, is_file=True))

    def start(self, plan: LaunchPlan, rootfs: RootfsPlan, out: int,
              cache: LaunchCache | None = None) -> Child:
        return start_container(plan, rootfs, self.sandbox.ns, self.sandbox.pidns_fd, out, out,
                               "start container app", cache)

    def run(self, plan: LaunchPlan, binds: tuple[BindMount, ...] | None = None,
            cache: LaunchCache | None = None) -> str:
        """Start the container; its output once it has exited."""
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            try:
                child = self.start(plan, self.rootfs(binds), w, cache)
            finally:
                os.close(w)
            with os.fdopen(r, "rb", closefd=False) as f:
                output = f.read().decode()
            assert reap(child) == 0, output
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
        pytest.skip("needs root")  # the plugin's gate turns this into a failure under MUST_RUN
    root = tmp_path_factory.mktemp("state")
    volumes = tmp_path_factory.mktemp("volumes")
    for sub in ("rw", "ro"):
        (volumes / sub).mkdir()
    (volumes / "file").write_text("from-the-host\n")
    with in_process_minipod(root, busybox_images(tmp_path_factory)):
        spec = parse_pods(MANIFEST.format(name=unique_name("launch")))[0]
        sandbox = create_sandbox(spec)
        pause = sandbox.pause.pid
        try:
            image = resolve(spec.spec.containers[0].image)
            plan = launch_plan(spec.spec.containers[0], image, sandbox.hostname,
                               spec.spec.security_context)
            yield PodUnderTest(sandbox, plan, image.lowers, volumes)
        finally:
            sandbox.teardown()
        assert host_mounts_under(root) == [], "mounts left behind"
        assert not psutil.pid_exists(pause), "pause left behind"


def parse(output: str) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for line in output.splitlines():
        key, sep, value = line.partition(":" if line.split("=")[0].count(":") else "=")
        if not sep:
            key, _, value = line.partition("=")
        seen.setdefault(key, []).append(value)
    return seen


@dataclass(frozen=True)
class MountEntry:
    point: str
    options: str  # the mount's own (per mount point)
    optional: str  # propagation tags: shared:N, master:N
    fstype: str
    source: str
    super_options: str
    root: str  # the path inside its file system (a bind's source)


def mount_table(lines: list[str]) -> list[MountEntry]:
    table = []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, (fstype, source, super_opts) = left.split(), right.split()
        table.append(MountEntry(fields[4], fields[5], " ".join(fields[6:]), fstype, source,
                                super_opts, fields[3]))
    return table


def with_argv(plan: LaunchPlan, *argv: str, **changes: object) -> LaunchPlan:
    return replace(plan, argv=argv, **changes)  # type: ignore[arg-type]


def test_the_container_sees_its_world(pod: PodUnderTest) -> None:
    seen = parse(pod.run(with_argv(pod.plan, "sh", "-c", REPORT)))
    pause = pod.sandbox.pause.pid

    assert seen["hostname"] == [pod.sandbox.hostname] == seen["etc-hostname"]
    assert seen["pid"] == ["1"]  # PID 1 of a pid namespace of its own
    assert seen["sid"] == ["1"]  # and a session of its own (setsid)
    assert seen["cwd"] == ["/srv/work/deep"]  # made, as it was missing
    assert seen["id"] == ["0:0:0"]
    assert seen["env"] == ["GREETING=hello", f"HOSTNAME={pod.sandbox.hostname}",
                           f"PATH={pod.plan.env['PATH']}", "PWD=/srv/work/deep", "SHLVL=1"]
    status = dict(line.split(":\t") for line in seen["status"])
    assert int(status["CapInh"], 16) == int(status["CapAmb"], 16) == 0
    assert status["CapBnd"] == status["CapEff"] == status["CapPrm"] == f"{KEEP_CAPS:016x}"
    assert status["NoNewPrivs"] == "0"
    assert seen["chr"] == list(DEVICES)
    assert dict(v.split("=") for v in seen["link"]) == {
        "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
        "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx", "core": "/proc/kcore"}
    assert seen["rw"] == ["ok"] and (pod.volumes / "rw" / "w").read_text() == "x\n"
    assert seen["ro"] == ["refused"] and not (pod.volumes / "ro" / "w").exists()
    assert seen["rofile-write"] == ["refused"] and seen["rofile"] == ["from-the-host"]
    assert seen["oldroot"] == ["gone"]

    ns = dict(v.split("=") for v in seen["ns"])
    for name in ("uts", "ipc", "net"):
        assert ns[name] == os.readlink(f"/proc/{pause}/ns/{name}")
    for name in ("mnt", "pid"):  # its own
        assert ns[name] not in (os.readlink(f"/proc/{pause}/ns/{name}"),
                                os.readlink(f"/proc/self/ns/{name}"))


def test_only_stdio_is_inherited(pod: PodUnderTest) -> None:
    """Seen from outside, once it has exec'd (a shell inside would hold fds of
    its own while it lists them): stdin /dev/null, stdout and stderr ours,
    nothing else, though we hold an fd that exec would keep."""
    leaked = os.open("/dev/null", os.O_RDONLY)  # not CLOEXEC
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        child = pod.start(with_argv(pod.plan, "sleep", "30"), pod.rootfs(), w)
        try:
            # asleep: the exec is over (the kernel lets the vfork parent go on
            # a moment before it closes the close-on-exec fds)
            wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_SLEEPING,
                     what="the container's sleep")
            fds = {int(fd): os.readlink(f"/proc/{child.pid}/fd/{fd}")
                   for fd in os.listdir(f"/proc/{child.pid}/fd")}
        finally:
            signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
            reap(child)
        ours = os.readlink(f"/proc/self/fd/{w}")
        assert fds == {0: "/dev/null", 1: ours, 2: ours}
    finally:
        for fd in (leaked, r, w):
            os.close(fd)


# procMount Default's paths this kernel has (the container's /proc and /sys
# are of the same kernel as ours)
MASKED = [p for p in MASKED_PATHS if os.path.exists(p)]
READONLY = [p for p in READONLY_PATHS if os.path.exists(p)]


def test_mount_table_and_flags(pod: PodUnderTest) -> None:
    table = mount_table(pod.run(with_argv(pod.plan, "cat", "/proc/self/mountinfo")).splitlines())
    sandbox, volumes = pod.sandbox.dir, pod.volumes
    # (listed by mount id: the trees cloned before the overlay come first)
    assert sorted(m.point for m in table) == sorted([
        "/", "/proc", "/sys", "/dev", *(f"/dev/{d}" for d in DEVICES), "/dev/pts", "/dev/shm",
        "/dev/mqueue", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/data", "/ro",
        "/ro-file", *MASKED, *READONLY])
    # made private before anything was mounted: nothing propagates to the host
    assert [m.optional for m in table] == [""] * len(table)
    by_point = {m.point: m for m in table}
    ours = {  # mounts of our own: options, file system, source, super options
        "/": ("rw,nodev,relatime", "overlay", "overlay"),
        "/proc": (f"rw,{NOSUID_NODEV_NOEXEC},relatime", "proc", "proc", "rw"),
        # the mount read-only (fsmount's MOUNT_ATTR_RDONLY); the superblock is
        # the pod's network namespace's, shared by its containers
        "/sys": (f"ro,{NOSUID_NODEV_NOEXEC},relatime", "sysfs", "sysfs"),
        "/dev": ("rw,nosuid", "tmpfs", "tmpfs", "rw,size=65536k,mode=755"),
        "/dev/pts": ("rw,nosuid,noexec,relatime", "devpts", "devpts",
                     "rw,gid=5,mode=620,ptmxmode=666"),
        "/dev/mqueue": (f"rw,{NOSUID_NODEV_NOEXEC},relatime", "mqueue", "mqueue", "rw"),
    }
    for point, want in ours.items():
        m = by_point[point]
        assert (m.options, m.fstype, m.source, m.super_options)[:len(want)] == want, point
    # the overlay's directories by fd: no host path of the image or the run
    overlay = by_point["/"].super_options
    assert "lowerdir=/proc/self/fd/" in overlay and "upperdir=/proc/self/fd/" in overlay
    assert not any(lower in overlay for lower in pod.image_rootfs)
    assert str(pod.sandbox.dir) not in overlay
    binds = {  # bind mounts: the first option (rw or ro), and their source
        **{f"/dev/{d}": ("rw", f"/{d}") for d in DEVICES},
        "/dev/shm": ("rw", "/"),  # the pod's tmpfs
        **{f"/etc/{n}": ("rw", f"{sandbox}/etc/{n}") for n in ("hosts", "hostname",
                                                                "resolv.conf")},
        "/data": ("rw", f"{volumes}/rw"), "/ro": ("ro", f"{volumes}/ro"),
        "/ro-file": ("ro", f"{volumes}/file")}
    for point, (rw, root) in binds.items():
        m = by_point[point]
        assert (m.options.split(",")[0], m.root) == (rw, root), point


def test_signals_as_exec_leaves_them(pod: PodUnderTest) -> None:
    """No shell in between: the command's own mask and dispositions, though
    every signal was blocked around the clone and we ignore SIGPIPE."""
    status = dict(line.split(":\t", 1) for line in
                  pod.run(with_argv(pod.plan, "cat", "/proc/self/status")).splitlines()
                  if line.startswith(("Sig", "Shd", "Cap", "NoNewPrivs")))
    for key in ("SigBlk", "SigIgn", "SigCgt", "SigPnd", "ShdPnd"):
        assert int(status[key], 16) == 0, key
    assert status["CapBnd"] == status["CapEff"] == status["CapPrm"] == f"{KEEP_CAPS:016x}"


@pytest.mark.parametrize(("uid", "gid", "supplementary", "expect"), [
    (1234, 5678, None, ("1234:5678:5678", "5678", 0)),
    # nobody's group in /etc/passwd
    (65534, None, None, ("65534:65534:65534", "65534", 0)),
    (4321, None, None, ("4321:0:0", "0", 0)),  # no entry: group 0, containerd's rule
    (None, 42, None, ("0:42:42", "42", KEEP_CAPS)),
    # the image's /etc/group gave the user more groups (LaunchPlan.groups)
    (1234, 5678, (5678, 7, 300), ("1234:5678:5678 7 300", "7 300 5678", 0))])
def test_identity(pod: PodUnderTest, uid: int | None, gid: int | None,
                  supplementary: tuple[int, ...] | None,
                  expect: tuple[str, str, int]) -> None:
    """id, supplementary groups, and the capabilities left (none for a uid
    other than 0: the kernel clears them as it changes)."""
    ids, groups, caps = expect
    plan = with_argv(pod.plan, "sh", "-c", 'echo "id=$(id -u):$(id -g):$(id -G)"; '
                     "grep -E '^(Cap|Groups)' /proc/$$/status | sed 's/^/status:/'",
                     run_as_user=uid, run_as_group=gid, groups=supplementary)
    seen = parse(pod.run(plan))
    assert seen["id"] == [ids]
    status = {k: v.strip() for k, v in (line.split(":\t") for line in seen["status"])}
    assert status["Groups"] == groups
    assert int(status["CapPrm"], 16) == int(status["CapEff"], 16) == caps
    assert int(status["CapBnd"], 16) == KEEP_CAPS
    assert int(status["CapInh"], 16) == int(status["CapAmb"], 16) == 0


def start_error(pod: PodUnderTest, plan: LaunchPlan,
                binds: tuple[BindMount, ...] | None = None) -> StartError:
    with pytest.raises(StartError) as caught:
        pod.run(plan, binds)
    # the child that failed is reaped already (mp_start), no zombie of it is left
    assert [p.pid for p in psutil.Process().children()
            if p.status() == psutil.STATUS_ZOMBIE] == []
    return caught.value


def test_missing_binary(pod: PodUnderTest) -> None:
    e = start_error(pod, with_argv(pod.plan, "no-such-binary"))
    assert e.step == "start container app: exec no-such-binary"
    assert e.errno == errno.ENOENT
    assert e.strerror == "No such file or directory: no-such-binary"


def test_binary_that_cannot_run(pod: PodUnderTest) -> None:
    e = start_error(pod, with_argv(pod.plan, "/etc/passwd"))
    assert e.step == "start container app: exec /etc/passwd"
    assert (e.errno, e.strerror) == (errno.EACCES, "Permission denied: /etc/passwd")


def test_missing_bind_source(pod: PodUnderTest, tmp_path: Path) -> None:
    missing = str(tmp_path / "gone")
    e = start_error(pod, pod.plan, (BindMount(missing, "/gone"),))
    assert e.step == f"start container app: clone mount {missing}"
    assert (e.errno, e.strerror) == (errno.ENOENT, f"No such file or directory: {missing}")


def test_bind_on_a_file_of_the_image(pod: PodUnderTest) -> None:
    # a directory volume onto an existing file of the image: no directory there
    e = start_error(pod, pod.plan, (BindMount(str(pod.volumes / "rw"), "/bin/sh"),))
    assert e.step == f"start container app: bind mount {pod.volumes / 'rw'} on /bin/sh"
    assert (e.errno, e.strerror) == (errno.ENOTDIR, "Not a directory: /bin/sh")


def test_file_bind_on_a_directory_of_the_image(pod: PodUnderTest) -> None:
    # the target exists (a directory), so it is not made, and is refused
    e = start_error(pod, pod.plan, (BindMount(str(pod.volumes / "file"), "/etc",
                                              is_file=True),))
    assert e.step == f"start container app: bind mount {pod.volumes / 'file'} on /etc"
    assert (e.errno, e.strerror) == (errno.EISDIR, "Is a directory: /etc")


def test_working_directory_under_a_file(pod: PodUnderTest) -> None:
    e = start_error(pod, replace(pod.plan, working_dir="/bin/sh/work"))
    assert e.step == "start container app: working directory /bin/sh/work"
    assert (e.errno, e.strerror) == (errno.ENOTDIR, "Not a directory: /bin/sh/work")


def test_a_restart_reuses_the_table_with_its_own_run(pod: PodUnderTest) -> None:
    """One LaunchCache over several starts, as a container's restarts: the
    table is laid out once, and each run still gets its own overlay (its
    upper directory) and its own stdout (at another fd number each time)."""
    cache = LaunchCache()
    binds = pod.default_binds()  # the same tuple every start, as pod.py keeps it
    plan = with_argv(pod.plan, "sh", "-c", "touch /marker; echo run")
    tables, uppers, held = [], [], []
    try:
        for _ in range(3):
            assert pod.run(plan, binds, cache) == "run\n"
            tables.append(cache._table)
            uppers.append(pod.sandbox.dir / "containers" / "app" / str(pod.runs) / "upper")
            held.append(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))  # moves the pipe
    finally:
        for fd in held:
            os.close(fd)
    assert tables[0] is not None and tables[0] is tables[1] is tables[2]
    assert [(upper / "marker").exists() for upper in uppers] == [True] * 3
    # another plan (another command) is another table
    assert pod.run(with_argv(pod.plan, "true"), binds, cache) == ""
    assert cache._table is not tables[0]


def test_no_signal_handler_runs_in_the_child(pod: PodUnderTest) -> None:
    """Signals arriving during the call wait for the parent (blocked around clone)."""
    got: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda signo, _frame: got.append(signo))
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert pod.run(with_argv(pod.plan, "true")) == ""
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert got == [signal.SIGUSR1]


def test_dumpable_again_after_the_call(pod: PodUnderTest) -> None:
    """Our memory is non-dumpable only while the child shares it."""
    assert msys.prctl(msys.PR_GET_DUMPABLE) == 1
    assert pod.run(with_argv(pod.plan, "true")) == ""
    assert msys.prctl(msys.PR_GET_DUMPABLE) == 1
