"""One pod's life in the supervisor: sandbox, init containers in order, app
containers, and a graceful stop. Event-driven: every method returns at once;
exits arrive through Supervisor.reap(), timers through the loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psutil

from minipod.container import container_main, launch_plan
from minipod.events import Event
from minipod.image import Image
from minipod.logs import LogFile, LogPipe
from minipod.loop import Deadline
from minipod.ns import pid_namespace_for_children
from minipod.rootfs import BindMount, RootfsPlan
from minipod.sandbox import Sandbox, create_sandbox, kill_and_reap, signal_child
from minipod.spawn import Child, spawn
from minipod.spec import Container, Pod
from minipod.state import ensure_dir, write_json_atomic

if TYPE_CHECKING:
    from minipod.supervisor import Supervisor

log = logging.getLogger(__name__)

ETC_FILES = ("hosts", "hostname", "resolv.conf")


@dataclass
class ExitStatus:
    exit_code: int
    signal: int | None = None

    @classmethod
    def from_waitid(cls, result: Any) -> ExitStatus:
        if result.si_code == os.CLD_EXITED:
            return cls(result.si_status)
        return cls(128 + result.si_status, result.si_status)  # the shell's convention

    @property
    def reason(self) -> str:
        return "Completed" if self.exit_code == 0 else "Error"


@dataclass
class ContainerRun:
    spec: Container
    image: Image
    init: bool
    state: str = "waiting"  # waiting, running, terminated
    reason: str = "ContainerCreating"
    attempt: int = 0
    child: Child | None = None
    started_at: float | None = None
    finished_at: float | None = None
    status: ExitStatus | None = None
    log: LogFile | None = None
    pipes: list[LogPipe] = field(default_factory=list)
    kill_deadline: Deadline | None = None

    @property
    def name(self) -> str:
        return self.spec.name


class PodRunner:
    def __init__(self, supervisor: Supervisor, pod: Pod, images: dict[str, Image]) -> None:
        self.sup = supervisor
        self.pod = pod
        self.sandbox: Sandbox | None = None
        self.inits = [ContainerRun(c, images[c.name], True) for c in pod.spec.init_containers]
        self.apps = [ContainerRun(c, images[c.name], False) for c in pod.spec.containers]
        if self.inits:
            for run in self.apps:
                run.reason = "PodInitializing"
        self.terminating = False
        self.failed_reason: str | None = None
        self._on_stopped: list[Callable[[], None]] = []

    @property
    def key(self) -> str:
        return f"{self.pod.namespace}/{self.pod.name}"

    # -- events ------------------------------------------------------------
    def event(self, type_: str, reason: str, message: str) -> None:
        self.sup.emit(Event(self.sup.loop.clock.wall(), type_, reason, f"pod/{self.pod.name}",
                            message))

    # -- starting ------------------------------------------------------------
    def start(self) -> None:
        """Create the sandbox and the first container; StartError rolls back this pod."""
        self.sandbox = create_sandbox(self.pod)
        self.sup.watch(self.sandbox.pause, self._on_pause_exit)
        self.event("Normal", "SandboxReady",
                   f"pod sandbox created (pause pid {self.sandbox.pause.pid})")
        self.save()
        self._advance()

    def _advance(self) -> None:
        """Start the next init container, or every app container once all inits succeeded."""
        if self.terminating:
            return
        for run in self.inits:
            if run.state == "terminated" and run.status and run.status.exit_code == 0:
                continue
            if run.state == "waiting":
                self._start_container(run)
            return
        for run in self.apps:
            if run.state == "waiting":
                self._start_container(run)

    def _start_container(self, run: ContainerRun) -> None:
        assert self.sandbox is not None
        sandbox = self.sandbox
        run_dir = sandbox.dir / "containers" / run.name / str(run.attempt)
        for sub in ("upper", "work", "merged"):
            ensure_dir(run_dir / sub)
        # The overlay's root takes the upper dir's mode: 0755, or a container
        # running as non-root could not even resolve /bin.
        (run_dir / "upper").chmod(0o755)
        plan = launch_plan(run.spec, run.image, sandbox.hostname, self.pod.spec.security_context)
        rootfs = RootfsPlan(str(run.image.rootfs), str(run_dir / "upper"), str(run_dir / "work"),
                            str(run_dir / "merged"), str(sandbox.dir / "shm"),
                            self._binds(run.spec))
        run.log = LogFile(sandbox.dir / "logs" / run.name / f"{run.attempt}.log")
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        try:
            main = container_main(plan, rootfs, sandbox.ns, out_w, err_w)
            with pid_namespace_for_children(sandbox.pidns_fd):  # None: a new one
                child = spawn(main, f"start container {run.name}")
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            run.log.release()
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        self.event("Normal", "Created", f"Created container {run.name}")
        run.child, run.state, run.reason = child, "running", ""
        run.started_at = self.sup.loop.clock.wall()
        echo = self.sup.echo_for(self.pod.name, run.name)
        run.pipes = [LogPipe(self.sup.loop, out_r, "stdout", run.log, echo),
                     LogPipe(self.sup.loop, err_r, "stderr", run.log, echo)]
        self.sup.watch(child, lambda status: self._on_container_exit(run, status))
        self.event("Normal", "Started", f"Started container {run.name} (pid {child.pid})")
        self.save()

    def _binds(self, container: Container) -> tuple[BindMount, ...]:
        assert self.sandbox is not None
        mounts = {m.mount_path.rstrip("/") or "/" for m in container.volume_mounts}
        binds = [BindMount(str(self.sandbox.dir / "etc" / name), f"/etc/{name}", is_file=True)
                 for name in ETC_FILES if f"/etc/{name}" not in mounts]
        volumes = {v.name: v for v in self.pod.spec.volumes}
        for mount in container.volume_mounts:
            volume = volumes[mount.name]
            source = volume.host_path or str(self.sandbox.volume_dir(volume.name))
            binds.append(BindMount(source, mount.mount_path, mount.read_only,
                                   is_file=not os.path.isdir(source)))
        return tuple(binds)

    # -- exits -----------------------------------------------------------------
    def _on_container_exit(self, run: ContainerRun, status: ExitStatus) -> None:
        assert run.child is not None
        os.close(run.child.pidfd)
        run.child.pidfd = -1
        if run.kill_deadline is not None:
            run.kill_deadline.cancel()
        run.state, run.status, run.reason = "terminated", status, status.reason
        run.finished_at = self.sup.loop.clock.wall()
        how = f"signal {status.signal}, " if status.signal else ""
        message = f"Container {run.name} exited ({how}exit code {status.exit_code})"
        self.event("Normal" if status.exit_code == 0 else "Warning",
                   "Completed" if status.exit_code == 0 else "Failed", message)
        self.save()
        if self.terminating:
            self._maybe_finish_stop()
        elif run.init and status.exit_code != 0:
            # Retries with back-off come with the supervision issue; until then
            # a failed init container fails the pod (what restartPolicy Never does).
            self.fail(f"init container {run.name} exited with code {status.exit_code}")
        else:
            self._advance()
            self.sup.pod_changed(self)

    def _on_pause_exit(self, status: ExitStatus) -> None:
        assert self.sandbox is not None
        os.close(self.sandbox.pause.pidfd)
        self.sandbox.pause.pidfd = -1
        self.event("Warning", "SandboxChanged",
                   f"pause process exited (exit code {status.exit_code}); stopping the pod")
        self.fail("pod sandbox died")

    def fail(self, reason: str) -> None:
        if self.failed_reason is None:
            self.failed_reason = reason
        self.sup.pod_failed(self, reason)

    # -- phase -------------------------------------------------------------------
    def phase(self) -> str:
        """Pod phase by the kubelet's getPhase rules (without restarts yet)."""
        if self.failed_reason is not None:
            return "Failed"
        if any(r.state != "terminated" for r in self.inits) or any(
                r.state == "waiting" for r in self.apps):
            return "Pending"
        if any(r.state == "running" for r in self.apps):
            return "Running"
        if self.pod.spec.restart_policy == "Always":
            return "Running"  # the containers would be restarted
        if all(r.status and r.status.exit_code == 0 for r in self.apps):
            return "Succeeded"
        return "Failed" if self.pod.spec.restart_policy == "Never" else "Running"

    # -- stopping ----------------------------------------------------------------
    def stop(self, grace: int | None, on_stopped: Callable[[], None]) -> None:
        """SIGTERM every running container, SIGKILL after the grace period, then
        the sandbox. All containers are stopped in parallel, as the kubelet does."""
        self._on_stopped.append(on_stopped)
        if self.terminating:
            return
        self.terminating = True
        grace = self.pod.spec.termination_grace_period_seconds if grace is None else grace
        for run in self.inits + self.apps:
            if run.state == "running" and run.child is not None:
                self.event("Normal", "Killing", f"Stopping container {run.name}")
                signal_child(run.child, signal.SIGTERM if grace > 0 else signal.SIGKILL)
                run.kill_deadline = self.sup.loop.call_later(grace, _sigkill_later(run.child))
        self._maybe_finish_stop()

    def _maybe_finish_stop(self) -> None:
        if any(r.state == "running" for r in self.inits + self.apps):
            return
        self.teardown()
        callbacks, self._on_stopped = self._on_stopped, []
        for callback in callbacks:
            callback()

    def teardown(self) -> None:
        """Stop the sandbox and remove everything of this pod (idempotent)."""
        for run in self.inits + self.apps:
            if run.state == "running" and run.child is not None:  # rollback path
                self.sup.unwatch(run.child)
                kill_and_reap(run.child)
                run.state = "terminated"
            for pipe in run.pipes:
                pipe.close()
            run.pipes = []
        if self.sandbox is not None:
            if self.sandbox.pause.pidfd >= 0:
                self.sup.unwatch(self.sandbox.pause)
            self.sandbox.teardown()
            self.sandbox = None
            self.event("Normal", "Deleted", "pod sandbox removed")

    # -- the on-disk record --------------------------------------------------------
    def save(self) -> None:
        if self.sandbox is None:
            return
        write_json_atomic(self.sandbox.dir / "pod.json", self.record())

    def record(self) -> dict[str, Any]:
        assert self.sandbox is not None
        return {
            "name": self.pod.name, "namespace": self.pod.namespace, "uid": self.sandbox.uid,
            "created": self.sandbox.created,
            "supervisor": process_identity(os.getpid()) | {"socket": str(self.sup.socket_path)},
            "pause": process_identity(self.sandbox.pause.pid),
            "containers": {r.name: self._container_record(r) for r in self.inits + self.apps},
        }

    def _container_record(self, run: ContainerRun) -> dict[str, Any]:
        entry: dict[str, Any] = {"state": run.state, "attempt": run.attempt, "init": run.init}
        if run.state == "running" and run.child is not None:
            entry.update(process_identity(run.child.pid))
        if run.status is not None:
            entry["exitCode"] = run.status.exit_code
        return entry


def _sigkill_later(child: Child) -> Callable[[], None]:
    return lambda: signal_child(child, signal.SIGKILL)


def process_identity(pid: int) -> dict[str, Any]:
    """pid plus its start time: together they name one process, even after pid reuse."""
    with contextlib.suppress(psutil.Error):
        return {"pid": pid, "startTime": psutil.Process(pid).create_time()}
    return {"pid": pid, "startTime": None}
