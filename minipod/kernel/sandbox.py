"""The pod sandbox: its directory, /etc files, volumes, cgroups and the pause
process.

create_sandbox() pushes an undo action for every step onto an ExitStack; a
failure half-way unwinds it, and a successful sandbox keeps the stack as its
teardown, so rollback and `minipod down` run the same code. The pod's
cgroups (kernel/cgroups.py) are made before pause, which is born in its own;
they outlive a replaced pause and every container run, as the kubelet keeps
a pod's cgroup, and go last: whatever is still in them then is killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import signal
import stat
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from minipod.api.errors import StartError, StateError
from minipod.api.model import Pod, Volume
from minipod.api.resources import pod_totals, qos_class
from minipod.api.security import sysctl_path
from minipod.kernel import cgroups
from minipod.kernel import sys as msys
from minipod.kernel.ns import NsFds, pid_namespace_for_children
from minipod.kernel.paths import logs_root
from minipod.kernel.podnet import PodNet, veth_name
from minipod.kernel.spawn import Child, spawn_program
from minipod.kernel.state import ensure_dir, ensure_mode, pod_dir, root_dir

log = logging.getLogger(__name__)

PAUSE_BINARY = Path(__file__).parent.parent / "libexec" / "minipod-pause"
POD_NAMESPACE_NAMES = ("uts", "ipc", "net")
# The pod's /dev/shm: a tmpfs of its own, as containerd's sandbox makes it
# (defaultShmSize 64 MiB; mode 1777, nosuid, nodev, noexec)
SHM_SIZE = 64 * 1024 * 1024

_HOSTS_HEADER = (
    "# Kubernetes-managed hosts file.\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


@dataclass
class Sandbox:
    pod: Pod
    dir: Path
    uid: str
    hostname: str
    pause: Child
    ns: NsFds
    created: float
    teardown_stack: contextlib.ExitStack = field(repr=False)  # the pod dir, volumes, cgroups
    pause_stack: contextlib.ExitStack = field(repr=False)  # pause and its namespace fds
    attempt: int = 0  # how many times the pause process was replaced
    # the containers' logs: <logs root>/<namespace>_<name>_<uid> (kernel/paths.py)
    log_dir: Path = Path()
    net: PodNet = field(default_factory=lambda: PodNet(""))
    cgroups: cgroups.PodCgroups | None = None  # None: a pod adopted from before cgroups

    @property
    def veth(self) -> str:
        """The node's end of the current pause's veth pair ("" without a network)."""
        return veth_name(self.uid, self.attempt) if self.net.ip else ""

    @property
    def pidns_fd(self) -> int | None:
        return self.ns.fds.get("pid")

    def volume_dir(self, name: str) -> Path:
        return self.dir / "volumes" / name

    def fifo(self, container: str, stream: str) -> Path:
        return fifo_path(self.dir, container, stream)

    def replace_pause(self) -> None:
        """A new pause process and new pod namespaces, in the same pod directory:
        volumes and logs outlive a sandbox, as they do under the kubelet."""
        self.pause_stack.close()
        self.attempt += 1  # a new veth name: the old pair may still be going away
        self.pause, self.ns, self.pause_stack = _start_pod_namespaces(
            self.pod, self.dir, self.hostname, self.net.pause_args(self.veth), self.cgroups)

    def teardown(self) -> None:
        self.pause_stack.close()
        self.teardown_stack.close()


def pod_log_dir(namespace: str, name: str, uid: str) -> Path:
    return Path(logs_root()) / f"{namespace}_{name}_{uid}"


def pod_hostname(pod: Pod) -> str:
    """spec.hostname, else the pod name cut to 63 characters (kubelet's rule)."""
    if pod.spec.hostname:
        return pod.spec.hostname
    return pod.name[:63].rstrip("-.")


def pause_binary() -> str:
    path = os.environ.get("MINIPOD_PAUSE") or str(PAUSE_BINARY)
    if not os.access(path, os.X_OK):
        raise StartError("find pause program", 2, f"{path} is missing; reinstall minipod")
    return path


def create_sandbox(pod: Pod, net: PodNet | None = None,
                   pids_limit: int = cgroups.UNLIMITED_PIDS) -> Sandbox:
    """The pod's directory, /etc files, volumes, cgroups and pause. With an
    address in ``net``, pause also puts the pod on the node's bridge
    (csrc/pause.c --net); ``pids_limit`` caps the processes of the whole pod
    (the kubelet's podPidsLimit; -1: no cap)."""
    try:
        return _create_sandbox(pod, net or PodNet(_node_resolv_conf()), pids_limit)
    except BaseException:
        empty_trash()  # a rollback leaves nothing behind, not even in trash/
        raise


def _create_sandbox(pod: Pod, net: PodNet, pids_limit: int) -> Sandbox:
    stack = contextlib.ExitStack()
    with stack:
        directory = _make_pod_dir(pod, stack)
        uid = str(uuid.uuid4())
        log_dir = pod_log_dir(pod.namespace, pod.name, uid)
        log_dir.mkdir(mode=0o700, parents=True)
        # the pod's logs go with it, as the kubelet removes a deleted pod's
        stack.callback(shutil.rmtree, log_dir, True)
        hostname = pod_hostname(pod)
        _write_etc_files(directory, hostname, net)
        _make_shm(directory / "shm", stack)
        _make_fifos(pod, directory)
        fs_group = pod.spec.security_context.fs_group if pod.spec.security_context else None
        for index, volume in enumerate(pod.spec.volumes):
            _make_volume(directory, volume, index, stack, fs_group)
        pod_cgroups = make_pod_cgroups(pod, uid, pids_limit)
        stack.callback(remove_pod_cgroups, pod_cgroups)  # last out: kills what is left
        pause, ns, pause_stack = _start_pod_namespaces(
            pod, directory, hostname, net.pause_args(veth_name(uid, 0)), pod_cgroups)
        return Sandbox(pod, directory, uid, hostname, pause, ns,
                       time.time(), stack.pop_all(), pause_stack, log_dir=log_dir,
                       net=net, cgroups=pod_cgroups)
    raise AssertionError("unreachable")  # pragma: no cover - `with` re-raises


def make_pod_cgroups(pod: Pod, uid: str, pids_limit: int) -> cgroups.PodCgroups:
    """pod<uid> under its QoS class, with the kubelet's limits, and a cgroup
    for each container (made now, off every container's start) and pause."""
    spec = pod.spec
    every = (*spec.init_containers, *spec.containers)
    qos = qos_class(c.resources for c in every)
    totals = pod_totals((c.resources for c in spec.containers),
                        ((c.resources, c.restart_policy == "Always")
                         for c in spec.init_containers))
    try:
        return cgroups.create_pod(
            cgroups.host(), uid, qos, cgroups.pod_limits(qos, totals, pids_limit),
            {c.name: cgroups.container_limits(c.resources) for c in every},
            every_device={c.name for c in every
                          if c.security_context and c.security_context.privileged})
    except cgroups.CgroupError as e:
        raise StartError("create pod cgroups", e.errno or 0,
                         f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")) from e


def remove_pod_cgroups(pod_cgroups: cgroups.PodCgroups) -> None:
    """Kill whatever is still in the pod's cgroups (a process that escaped its
    container's session, say) and remove them."""
    try:
        pod_cgroups.remove()
    except cgroups.CgroupError as e:  # a process stuck in the kernel: say so, go on
        log.error("%s", e)


def _start_pod_namespaces(pod: Pod, directory: Path, hostname: str, net_args: list[str],
                          pod_cgroups: cgroups.PodCgroups | None
                          ) -> tuple[Child, NsFds, contextlib.ExitStack]:
    with contextlib.ExitStack() as stack:
        pause = _start_pause(pod, directory, hostname, net_args,
                             pod_cgroups.pause.placement() if pod_cgroups else None)
        stack.callback(stop_pause, pause)
        names = POD_NAMESPACE_NAMES + (("pid",) if pod.spec.share_process_namespace else ())
        ns = NsFds.open(pause.pid, names)
        stack.callback(ns.close)
        return pause, ns, stack.pop_all()
    raise AssertionError("unreachable")  # pragma: no cover - `with` re-raises


def _make_pod_dir(pod: Pod, stack: contextlib.ExitStack) -> Path:
    directory = pod_dir(pod.namespace, pod.name)
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        raise StateError(
            f"pod {pod.namespace}/{pod.name} exists already "
            f"(run: minipod delete pod {pod.name} -n {pod.namespace})") from None
    stack.callback(retire_pod_dir, directory)  # emptied by the caller
    for sub in ("etc", "volumes", "containers", "logs"):
        ensure_dir(directory / sub)
    return directory


STREAMS = ("stdout", "stderr")


def fifo_path(directory: Path, container: str, stream: str) -> Path:
    return directory / "fifo" / f"{container}.{stream}"


def _make_fifos(pod: Pod, directory: Path) -> None:
    """A FIFO per container and stream: what its stdout and stderr are (see pause.c)."""
    ensure_dir(directory / "fifo")
    for container in (*pod.spec.init_containers, *pod.spec.containers):
        for stream in STREAMS:
            os.mkfifo(fifo_path(directory, container.name, stream), 0o600)


def _fifos(pod: Pod, directory: Path) -> list[str]:
    return [str(fifo_path(directory, c.name, stream))
            for c in (*pod.spec.init_containers, *pod.spec.containers) for stream in STREAMS]


def remove_pod_dir(directory: Path) -> None:
    """Unmount whatever is still mounted below the pod directory, then delete it."""
    retire_pod_dir(directory)
    empty_trash()


def retire_pod_dir(directory: Path) -> None:
    """Unmount whatever is still mounted below the pod directory and move it
    into trash/: one rename, and the pod is gone for every reader. Deleting a
    dozen directories takes milliseconds on a disk, so a supervisor does it
    after it has answered (empty_trash)."""
    for mountpoint in sorted(mounts_under(directory), reverse=True):
        with contextlib.suppress(OSError):
            msys.umount2(mountpoint, msys.MNT_DETACH)
    try:
        os.rename(directory, ensure_dir(trash_dir()) / f"{directory.name}.{uuid.uuid4().hex}")
    except FileNotFoundError:
        return
    except OSError:  # not on the same filesystem as the root, say: delete it here
        shutil.rmtree(directory, ignore_errors=True)


def trash_dir() -> Path:
    return root_dir() / "trash"


def empty_trash() -> None:
    """Delete the retired pod directories (also those a crashed supervisor left)."""
    try:
        entries = list(os.scandir(trash_dir()))
    except FileNotFoundError:
        return
    for entry in entries:
        if mounts_under(Path(entry.path)):  # never delete through a mount
            continue
        shutil.rmtree(entry.path, ignore_errors=True)


def mounts_under(directory: Path) -> list[str]:
    prefix = str(directory).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mountpoint = line.split()[4].replace("\\040", " ")
            if mountpoint.startswith(prefix) or mountpoint == prefix.rstrip("/"):
                found.append(mountpoint)
    return found


def _node_resolv_conf() -> str:
    try:
        return Path("/etc/resolv.conf").read_text()
    except OSError:
        return ""


def _write_etc_files(directory: Path, hostname: str, net: PodNet) -> None:
    etc = directory / "etc"
    # with a pod address, the kubelet's "<podIP>\t<hostname>" line follows
    (etc / "hosts").write_text(_HOSTS_HEADER + net.hosts_entry)
    (etc / "hostname").write_text(hostname + "\n")
    (etc / "resolv.conf").write_text(net.resolv_conf)  # runtime/network.py composed it
    for name in ("hosts", "hostname", "resolv.conf"):
        ensure_mode(etc / name, 0o644)


def _make_shm(target: Path, stack: contextlib.ExitStack) -> None:
    """The pod's /dev/shm, a tmpfs every container of the pod binds (no
    host disk behind it, and no more than SHM_SIZE)."""
    ensure_dir(target)
    try:
        msys.mount("shm", str(target), "tmpfs",
                   msys.MS_NOSUID | msys.MS_NODEV | msys.MS_NOEXEC, f"mode=1777,size={SHM_SIZE}")
    except OSError as e:
        raise StartError("mount the pod's /dev/shm", e.errno or 0) from e
    stack.callback(msys.umount2, str(target), msys.MNT_DETACH)


def _make_volume(directory: Path, volume: Volume, index: int, stack: contextlib.ExitStack,
                 fs_group: int | None = None) -> None:
    path = f"spec.volumes[{index}]"
    if volume.host_path is not None:
        check_host_path(volume, path)
        return
    target = ensure_dir(directory / "volumes" / volume.name)
    if volume.projections is not None:
        # Files the runtime projects from the API (kernel/projection.py); a
        # secret's and a projected volume's on a tmpfs of their own, as the
        # kubelet wraps them (medium Memory), so a Secret never reaches a disk.
        target.chmod(0o755)
        if volume.source in ("secret", "projected"):
            try:
                msys.mount("tmpfs", str(target), "tmpfs", msys.MS_NOSUID | msys.MS_NODEV,
                           "mode=0755")
            except OSError as e:
                raise StartError(f"{path}.{volume.source}: mount tmpfs", e.errno or 0) from e
            stack.callback(msys.umount2, str(target), msys.MNT_DETACH)
        return
    target.chmod(0o777)  # emptyDir is world-writable, as the kubelet makes it
    if volume.empty_dir_medium == "Memory":
        size = f",size={volume.empty_dir_size_limit}" if volume.empty_dir_size_limit else ""
        try:
            msys.mount("tmpfs", str(target), "tmpfs", msys.MS_NOSUID | msys.MS_NODEV,
                       f"mode=1777{size}")
        except OSError as e:
            raise StartError(f"{path}.emptyDir: mount tmpfs", e.errno or 0) from e
        stack.callback(msys.umount2, str(target), msys.MNT_DETACH)
    if fs_group is not None:
        # the kubelet's SetVolumeOwnership: the group is fsGroup, which may
        # read, write and enter, and new files inherit it (setgid)
        os.chown(target, -1, fs_group)
        target.chmod(stat.S_IMODE(target.stat().st_mode) | 0o2770)


_HOST_PATH_KINDS = {
    "Directory": stat.S_ISDIR, "File": stat.S_ISREG, "Socket": stat.S_ISSOCK,
    "CharDevice": stat.S_ISCHR, "BlockDevice": stat.S_ISBLK,
}


def check_host_path(volume: Volume, path: str) -> None:
    """hostPath.type checks, as the kubelet does them before mounting."""
    assert volume.host_path is not None
    host, kind = volume.host_path, volume.host_path_type
    if kind == "DirectoryOrCreate":
        os.makedirs(host, mode=0o755, exist_ok=True)
        kind = "Directory"
    elif kind == "FileOrCreate" and not os.path.exists(host):
        os.makedirs(os.path.dirname(host), exist_ok=True)
        os.close(os.open(host, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
        kind = "File"
    try:
        mode = os.stat(host).st_mode
    except OSError as e:
        raise StartError(f"{path}.hostPath: {host}", e.errno or 0) from e
    check = _HOST_PATH_KINDS.get(kind)
    if check is not None and not check(mode):
        raise StartError(f"{path}.hostPath: {host}", 0, f"is not a {kind}")


def _start_pause(pod: Pod, directory: Path, hostname: str, net_args: list[str],
                 cgroup: tuple[int, tuple[str, ...]] | None) -> Child:
    """pause makes the pod's uts, ipc and net namespaces itself (csrc/pause.c
    --sandbox), its veth pair and eth0 with --net, and the pod's sysctls
    inside them; spawned without a fork of this process, born in ``cgroup``
    (Cgroup.placement())."""
    sysctls = pod.spec.security_context.sysctls if pod.spec.security_context else ()
    settings = [arg for s in sysctls for arg in ("--sysctl", f"{sysctl_path(s.name)}={s.value}")]
    argv = [pause_binary(), "--sandbox", hostname, *net_args, *settings, "--",
            *_fifos(pod, directory)]
    with contextlib.ExitStack() as fds:
        log = os.open(directory / "logs" / "pause.log",
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fds.callback(os.close, log)
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        fds.callback(os.close, null)
        if pod.spec.share_process_namespace:
            with pid_namespace_for_children(None):  # pause becomes PID 1
                return spawn_program(argv, (null, null, log), "start pause", cgroup)
        return spawn_program(argv, (null, null, log), "start pause", cgroup)
    raise AssertionError("unreachable")  # pragma: no cover - `with` re-raises


def stop_pause(pause: Child, timeout: float = 2.0) -> None:
    """SIGTERM (pause exits 0 on it), SIGKILL after ``timeout``, then reap."""
    if pause.pidfd < 0:
        return  # it died and was reaped already (the supervisor closed its pidfd)
    signal_child(pause, signal.SIGTERM)
    if not wait_readable(pause.pidfd, timeout):
        signal_child(pause, signal.SIGKILL)
    reap_child(pause)


def signal_child(child: Child, signo: int) -> None:
    """Signal through the pidfd, never a bare pid that could have been reused."""
    with contextlib.suppress(ProcessLookupError):
        signal.pidfd_send_signal(child.pidfd, signo)


def wait_readable(fd: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def reap_child(child: Child) -> int | None:
    """Wait for ``child`` and close its pidfd; the wait status, or None if
    someone else reaped it already."""
    try:
        _, status = os.waitpid(child.pid, 0)
    except ChildProcessError:
        status = None
    os.close(child.pidfd)
    child.pidfd = -1
    return status


def kill_and_reap(child: Child) -> None:
    signal_child(child, signal.SIGKILL)
    reap_child(child)
