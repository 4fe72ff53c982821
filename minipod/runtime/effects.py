"""What a pod does to the kernel and the disk: the PodEffects of the real
host (runtime/pod.py states the interface; the unit tests have fakes).

Each method is one effect the lifecycle asks for: make or replace the
sandbox, start a container run, signal or kill a process, hold a mount
namespace, tidy old runs, write the record and the events. The kernel
package does the work; this module only puts a pod's paths and plans
together for it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import signal
import stat
from collections.abc import Callable
from pathlib import Path

from minipod.api.downward import Lookup, Payload, PodFacts
from minipod.api.errors import ImageError
from minipod.api.events import Event
from minipod.api.model import Pod, Volume
from minipod.api.record import ProcessRef
from minipod.kernel import bpf, cgroups, configstore, image, node, proc, projection, sandbox
from minipod.kernel import sys as msys
from minipod.kernel.eventlog import append_event
from minipod.kernel.image import Image
from minipod.kernel.launch import LaunchPlan, start_container
from minipod.kernel.logs import log_files
from minipod.kernel.podnet import PodNet
from minipod.kernel.rootfs import BindMount, RootfsPlan
from minipod.kernel.sandbox import STREAMS, Sandbox
from minipod.kernel.spawn import Child
from minipod.kernel.state import ensure_mode, write_json_atomic
from minipod.loop.eventloop import Loop
from minipod.probes.execprobe import ExecTarget, open_exec_target
from minipod.runtime.pod import ContainerRun, PodRunner
from minipod.runtime.podview import pod_record

SPARE_RUN_DIR = "next"  # the next run's directories, made ahead (take_run_dirs)
log = logging.getLogger(__name__)


class KernelEffects:
    """PodEffects on the real kernel. ``pod_pids_limit`` caps each pod's
    processes (the kubelet's podPidsLimit; -1: no cap)."""

    def __init__(self, pod_pids_limit: int = cgroups.UNLIMITED_PIDS) -> None:
        self.pod_pids_limit = pod_pids_limit
        self._oom: cgroups.OomWatch | None = None
        self._node: PodFacts | None = None

    # -- the sandbox -------------------------------------------------------------
    def create_sandbox(self, pod: Pod, attach: Callable[[], PodNet],
                       intent: Callable[[Sandbox], None]) -> Sandbox:
        return sandbox.create_sandbox(pod, attach, self.pod_pids_limit, intent)

    def replace_pause(self, box: Sandbox) -> None:
        box.replace_pause()

    def teardown_sandbox(self, box: Sandbox) -> None:
        box.teardown()

    # -- container runs ------------------------------------------------------------
    def open_stream(self, box: Sandbox, container: str, stream: str) -> int:
        """Our read end of a container's FIFO, kept for the sandbox's life."""
        return os.open(box.fifo(container, stream), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)

    def start_container(self, box: Sandbox, run: ContainerRun, plan: LaunchPlan,
                        binds: tuple[BindMount, ...]) -> Child:
        """Start ``run``'s next attempt: its directories, its stdout and stderr
        (the FIFOs), and the C launcher (csrc/mp_start.c), which runs the
        container's setup ops (kept in run.launch from one attempt to the
        next) and returns once the container's command has exec'd."""
        name = run.name
        assert run.image is not None
        run_dir = f"{box.dir}/containers/{name}/{run.attempt}"
        take_run_dirs(run_dir, f"{box.dir}/containers/{name}/{SPARE_RUN_DIR}")
        rootfs = RootfsPlan(run.image.lowers, f"{run_dir}/upper", f"{run_dir}/work",
                            f"{run_dir}/merged", str(box.dir / "shm"), binds, plan.masked,
                            plan.readonly, plan.privileged, plan.host_devices)
        writers = [_stream_writer(box, name, stream) for stream in STREAMS]
        placement = box.cgroups.container(name).placement() if box.cgroups else None
        try:
            return start_container(plan, rootfs, box.ns, box.pidns_fd, writers[0], writers[1],
                                   f"start container {name}", run.launch, placement)
        finally:
            for fd in writers:
                os.close(fd)

    def tidy_runs(self, box: Sandbox, name: str, attempt: int, make_spare: bool) -> None:
        """Keep the current run and the previous one (its log is `logs
        --previous`), as the kubelet's container GC keeps one dead container:
        a container in a crash loop must not fill the disk with layers. With
        ``make_spare``, make the next run's directories now, off a restart's
        path."""
        containers = box.dir / "containers" / name
        if make_spare:
            with contextlib.suppress(OSError):  # the restart makes them, then
                make_run_dirs(str(containers / SPARE_RUN_DIR))
        old = attempt - 2
        if old < 0:
            return
        shutil.rmtree(containers / str(old), ignore_errors=True)
        for log in log_files(box.log_dir / name / f"{old}.log"):
            with contextlib.suppress(FileNotFoundError):
                log.unlink()

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def lookup_image(self, reference: str) -> Image | None:
        try:
            return image.lookup(reference)
        except ImageError:
            return None

    # -- the API's data: ConfigMaps, Secrets, the downward API ----------------------
    def lookup(self) -> Lookup:
        return configstore.lookup

    def node_facts(self) -> PodFacts:
        if self._node is None:  # the node does not change under a supervisor
            self._node = PodFacts("", "", "", node_name=node.node_name(),
                                  host_ips=node.host_ips(), allocatable=node.allocatable())
        return self._node

    def project_volume(self, box: Sandbox, volume: Volume, payload: Payload) -> bool:
        return projection.write_payload(box.volume_dir(volume.name), payload)

    def bind_subpath(self, box: Sandbox, volume: str, container: str,  # noqa: PLR0917
                     index: int, root: str, sub_path: str) -> str:
        """<pod>/volume-subpaths/<volume>/<container>/<index>, bound here (in
        the host's mount namespace, as the kubelet binds it) to the fd that
        open_beneath found: the container's launcher opens that path after
        its unshare, where a fd of ours would name a mount it cannot bind
        from (EINVAL). Unmounted with the pod's directory."""
        target = box.dir / "volume-subpaths" / volume / container / str(index)
        with contextlib.suppress(OSError):  # the last run's
            msys.umount2(str(target), msys.MNT_DETACH)
        fd = open_beneath(root, sub_path)
        try:
            is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if is_dir:
                target.mkdir(mode=0o755, exist_ok=True)
            elif not target.exists():
                target.touch(mode=0o600)
            msys.mount(f"/proc/self/fd/{fd}", str(target), None, msys.MS_BIND)
        finally:
            os.close(fd)
        return str(target)

    # -- processes -------------------------------------------------------------------
    def signal(self, child: Child, signo: int) -> None:
        sandbox.signal_child(child, signo)

    def kill_and_reap(self, child: Child) -> None:
        sandbox.kill_and_reap(child)

    def kill_container(self, box: Sandbox, name: str, child: Child) -> None:
        """SIGKILL to every process of the container at once, by its cgroup: a
        process that left the container's session or process group dies too."""
        if box.cgroups is None:
            sandbox.signal_child(child, signal.SIGKILL)
            return
        box.cgroups.container(name).kill()

    # -- the OOM killer ----------------------------------------------------------------
    def watch_oom(self, loop: Loop, box: Sandbox, name: str,
                  callback: Callable[[], None]) -> None:
        if box.cgroups is None:
            return
        if self._oom is None:  # one per supervisor, hence per loop
            self._oom = cgroups.OomWatch(loop)
        self._oom.add(box.cgroups.container(name), callback)

    def unwatch_oom(self, box: Sandbox, name: str) -> None:
        if box.cgroups is not None and self._oom is not None:
            self._oom.remove(box.cgroups.container(name))

    def new_oom_kills(self, box: Sandbox, name: str) -> int:
        if box.cgroups is None:
            return 0
        return box.cgroups.container(name).new_oom_kills()

    def tidy_cgroups(self) -> None:
        """minipod's root and QoS cgroups go once no pod of ours is in them."""
        with contextlib.suppress(cgroups.CgroupError):
            cgroups.host().tidy()

    def hold_mount_ns(self, pid: int) -> int:
        return proc.hold_mount_ns(pid)

    def open_exec_target(self, pid: int, box: Sandbox, plan: LaunchPlan,
                         name: str = "") -> ExecTarget:
        placement = box.cgroups.container(name).placement() \
            if box.cgroups is not None and name else None
        return open_exec_target(pid, box.ns, plan.env, plan.working_dir, plan.run_as_user,
                                plan.run_as_group, groups=plan.groups,
                                keep_caps=plan.keep_caps, no_new_privs=plan.no_new_privs,
                                # a probe's or a hook's command lives a moment:
                                # the same filter, without the kernel's cache walk
                                seccomp=bpf.uncached(plan.seccomp) if plan.seccomp else None,
                                cgroup=placement)

    def identity(self, pid: int) -> ProcessRef:
        found = proc.process_identity(pid)
        return ProcessRef(found["pid"], found["startTime"])

    def namespace_inodes(self, pid: int) -> dict[str, int]:
        return proc.namespace_inodes(pid)

    # -- the record ------------------------------------------------------------------
    def save_record(self, runner: PodRunner) -> None:
        assert runner.sandbox is not None
        write_json_atomic(runner.sandbox.record_dir / "pod.json", pod_record(runner).to_json())

    def append_event(self, box: Sandbox, event: Event) -> None:
        """Kept with the pod for `describe`; a disk that cannot take it (full,
        read-only) loses the event, said once per pod in the log, and the
        pod goes on: its record is what must be written (PodRunner.save)."""
        try:
            append_event(box.dir / "events.jsonl", event)
        except OSError as e:
            if not box.events_lost:
                box.events_lost = True
                log.warning("events of pod %s/%s are not kept: %s: %s", box.pod.namespace,
                            box.pod.name, e.filename or box.dir, e.strerror)
            return
        box.events_lost = False


def _stream_writer(box: Sandbox, name: str, stream: str) -> int:
    # O_NONBLOCK only so the open cannot wait for a reader (ours exists);
    # the container gets an ordinary blocking stdout.
    fd = os.open(box.fifo(name, stream), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    os.set_blocking(fd, True)
    return fd


def take_run_dirs(run_dir: str, spare: str) -> None:
    """A run's directories: the spare set made ahead of time, renamed, or
    made now (make_run_dirs). On an ext4 that has seen many deletions a
    mkdir searches for a free inode for a while; a rename does not."""
    try:
        os.rename(spare, run_dir)
    except OSError:  # none made ahead, or run_dir is there and not empty
        make_run_dirs(run_dir)


def make_run_dirs(run_dir: str) -> None:
    """A run's upper, work and merged directories. A restart finds its
    container's directory there already, so this is four mkdir calls, not
    pathlib's walk up and back down; the first run makes the parents as
    ``mkdir(parents=True)`` does (0777 less the umask)."""
    try:
        os.mkdir(run_dir)
    except (FileNotFoundError, FileExistsError):
        Path(run_dir).mkdir(parents=True, exist_ok=True)
    for sub, mode in (("upper", 0o755), ("work", 0o700), ("merged", 0o700)):
        with contextlib.suppress(FileExistsError):  # a run the record never saw
            os.mkdir(f"{run_dir}/{sub}", mode)
    # The overlay's root takes the upper dir's mode: 0755, or a container
    # running as non-root could not even resolve /bin.
    ensure_mode(Path(f"{run_dir}/upper"), 0o755)


def open_beneath(root: str, sub_path: str) -> int:
    """An O_PATH fd of ``root``/``sub_path``, never of anything outside
    ``root`` (the kubelet's subpath.doBindSubPath): symlinks are resolved
    first and the result must lie in ``root``; then every component is
    opened from ``root`` with O_NOFOLLOW, so one swapped for a symlink in
    between is refused. Missing components are made as directories (0755),
    as the kubelet makes a missing subPath."""
    base = os.path.realpath(root)
    resolved = os.path.realpath(os.path.join(base, sub_path))
    if resolved != base and not resolved.startswith(base + "/"):
        raise OSError(errno.EPERM, f"subpath {sub_path!r} is not within the volume path {root}")
    flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(base, flags | os.O_DIRECTORY)
    try:
        relative = os.path.relpath(resolved, base)
        for part in [] if relative == "." else relative.split("/"):
            try:
                child = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = child
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise OSError(errno.ELOOP, f"subpath {sub_path!r}: {part} is a symlink "
                              "(it changed while it was opened)")
    except BaseException:
        os.close(fd)
        raise
    return fd
