"""The supervisor: one single-threaded epoll loop for every pod of a `minipod up`.

It is a child subreaper, so whatever a container double-forks out of its
reach still comes back here to be reaped. Process exits are noticed through
the pidfd of each child (and SIGCHLD for inherited orphans) and reaped in
one place, reap(), which hands each status to whoever watches that pid.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import prctl
import psutil

from minipod.backoff import BackoffPolicy
from minipod.errors import SpecError
from minipod.events import Event, Sink, clock, say
from minipod.image import Image
from minipod.loop import Deadline, Loop
from minipod.pod import ExitStatus, PodRunner
from minipod.sandbox import empty_trash
from minipod.spawn import Child
from minipod.spec import Pod, Workload
from minipod.state import supervisors_dir

if TYPE_CHECKING:
    from minipod.controller import WorkloadController

log = logging.getLogger(__name__)

ExitHandler = Callable[[ExitStatus], None]
MAX_EVENTS = 1000


class Supervisor:
    def __init__(self, loop: Loop, sink: Sink, *, echo_logs: bool = True,
                 backoff: BackoffPolicy | None = None,
                 status_sink: Callable[[str], None] | None = None,
                 socket_path: Path | None = None) -> None:
        self.loop = loop
        self.status_sink = status_sink
        self._shown: dict[str, tuple[str, str, int]] = {}
        self.sink = sink
        self.echo_logs = echo_logs
        self.backoff = backoff or BackoffPolicy()
        self.pods: dict[str, PodRunner] = {}
        self.controllers: dict[str, WorkloadController] = {}  # Deployments, ReplicaSets
        # per pod, the latest MAX_EVENTS: a pod in CrashLoopBackOff for a week
        # must not grow the supervisor without bound
        self.events: dict[str, collections.deque[Event]] = {}
        self._watched: dict[int, tuple[Child, ExitHandler]] = {}
        self._foreign: dict[int, Child] = {}  # adopted processes, watched by pidfd alone
        self.failures: list[str] = []  # pods that ended Failed
        self.stopping = False
        self.socket_path = socket_path or supervisors_dir() / f"{os.getpid()}.sock"
        self._server: socket.socket | None = None
        self._identity: dict[str, Any] | None = None
        self._sweep: Deadline | None = None

    # -- set-up --------------------------------------------------------------
    def open(self) -> None:
        prctl.set_child_subreaper(True)
        raise_nofile_limit()
        self.loop.add_signal_handler(signal.SIGCHLD, self.reap)
        self.loop.add_signal_handler(signal.SIGINT, lambda: self.stop_all("interrupted"))
        self.loop.add_signal_handler(signal.SIGTERM, lambda: self.stop_all("terminated"))
        self._listen()
        empty_trash()  # what a supervisor that crashed left there

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        empty_trash()
        if self._server is not None:
            self.loop.unregister(self._server.fileno())
            self._server.close()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
        self.loop.close()

    def empty_trash_soon(self) -> None:
        """Delete retired pod directories once this turn's work is done, after
        the replies it owes (sandbox.retire_pod_dir)."""
        if self._sweep is None:
            self._sweep = self.loop.call_later(0, self._empty_trash)

    def _empty_trash(self) -> None:
        self._sweep = None
        empty_trash()

    # -- processes ---------------------------------------------------------------
    def watch(self, child: Child, on_exit: ExitHandler) -> None:
        self._watched[child.pid] = (child, on_exit)
        self.loop.register(child.pidfd, lambda _events: self.reap())

    def watch_foreign(self, child: Child, start_time: float, on_exit: ExitHandler) -> None:
        """Watch a process that is not our child (adopted from a dead supervisor):
        its pidfd says when it exits, and its exit code is read from the zombie's
        /proc stat, since only its parent could waitid() it."""
        def exited(_events: int) -> None:
            self._foreign.pop(child.pid, None)
            self.loop.unregister(child.pidfd)
            on_exit(foreign_exit_status(child.pid, start_time))

        self._foreign[child.pid] = child
        self.loop.register(child.pidfd, exited)

    def unwatch(self, child: Child) -> None:
        """Before a watched pidfd is closed: a closed fd leaves epoll by itself,
        but the loop would still hold its number, and the next fd to get that
        number (a client's connection) could not be registered."""
        watched = self._watched.pop(child.pid, None) or self._foreign.pop(child.pid, None)
        if watched is not None and child.pidfd >= 0:
            self.loop.unregister(child.pidfd)

    def reap(self) -> None:
        """Collect every exited child: watched ones go to their handler, the rest
        (orphans we inherited as subreaper) are just reaped."""
        while True:
            try:
                result = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                return
            if result is None:
                return
            entry = self._watched.pop(result.si_pid, None)
            if entry is None:
                log.debug("reaped orphan pid=%d", result.si_pid)
                continue
            child, on_exit = entry
            self.loop.unregister(child.pidfd)
            on_exit(ExitStatus.from_waitid(result))

    # -- pods ----------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        pod = event.obj.split("/")[1]
        if pod not in self.events:
            self.events[pod] = collections.deque(maxlen=MAX_EVENTS)
        self.events[pod].append(event)
        self.sink(event)

    def echo_for(self, pod: str, container: str) -> Callable[[str, str], None] | None:
        if not self.echo_logs:
            return None

        def echo(_stream: str, line: str) -> None:
            say(f"{pod}/{container} | {line}")

        return echo

    def start_pods(self, pods: list[Pod], images: dict[str, dict[str, Image]],
                   backoff: BackoffPolicy | None = None) -> list[PodRunner]:
        """Start every pod; on the first failure, roll back the ones this call
        started (and only those) and raise."""
        started: list[PodRunner] = []
        for pod in pods:
            runner = PodRunner(self, pod, images[f"{pod.namespace}/{pod.name}"],
                               backoff or self.backoff)
            try:
                runner.start()
            except BaseException:
                runner.teardown()
                for done in started:
                    done.teardown()
                    self.pods.pop(done.key, None)
                raise
            self.pods[runner.key] = runner
            started.append(runner)
        return started

    def rollback(self) -> None:
        for runner in list(self.pods.values()):
            runner.teardown()
        self.pods.clear()

    def pod_finished(self, runner: PodRunner) -> None:
        """The pod reached Succeeded or Failed: stop what still runs (sidecars)
        and remove it. The other pods of this `up` go on."""
        phase = runner.phase()
        if phase == "Failed":
            detail = runner.failed_reason or _failed_containers(runner)
            self.failures.append(f"pod {runner.key} failed: {detail}")
        runner.event("Normal", "PodCompleted", f"pod phase {phase}")
        self.delete_pod(runner.key, None, lambda: None)

    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            from minipod.pod import process_identity

            self._identity = process_identity(os.getpid()) | {"socket": str(self.socket_path)}
        return self._identity

    def _controllers_of(self, runner: PodRunner) -> list[WorkloadController]:
        return [c for c in self.controllers.values() if c.owns(runner)]

    def pod_changed(self, runner: PodRunner) -> None:
        """A container or probe changed the pod: its controller looks again, and
        its kubectl columns are printed when they change (`get pods -w`)."""
        for controller in self._controllers_of(runner):
            controller.poke()
        if self.status_sink is None:
            return
        row = runner.row()
        shown = (row.status, row.ready, row.restarts)
        if self._shown.get(runner.key) != shown:
            self._shown[runner.key] = shown
            self.status_sink(f"{clock(self.loop.clock.wall())}  {'Status':<7}  "
                             f"{row.status:<13}  pod/{runner.pod.name}  ready {row.ready}, "
                             f"restarts {row.restarts}")

    def delete_pod(self, key: str, grace: int | None, on_done: Callable[[], None]) -> bool:
        runner = self.pods.get(key)
        if runner is None:
            return False

        owners = self._controllers_of(runner)

        def stopped() -> None:
            self.pods.pop(key, None)
            for controller in owners:  # a replica is gone: make a new one
                controller.poke()
            on_done()

        runner.stop(grace, stopped)
        return True

    def stop_all(self, why: str, grace: int | None = None) -> None:
        if not self.stopping:
            say(f"minipod: {why}; stopping pods", sys.stderr)
        self.stopping = True
        for controller in list(self.controllers.values()):
            controller.delete()
        self.controllers.clear()
        for key in list(self.pods):
            self.delete_pod(key, grace, lambda: None)

    def run(self) -> None:
        """Serve until every pod is gone."""
        self.loop.run_until(lambda: not self.pods and not self.controllers)

    def run_daemon(self, idle: float) -> None:
        """Serve until there has been no pod for ``idle`` seconds."""
        while self._serve_while_idle(idle):
            self.loop.run_until(lambda: not self.pods and not self.controllers)

    def _serve_while_idle(self, idle: float) -> bool:
        """False once ``idle`` seconds passed with no pod; True when one came."""
        def busy() -> bool:
            return bool(self.pods) or bool(self.controllers)

        if busy():
            return True
        expired: list[bool] = []
        timer = self.loop.call_later(idle, lambda: expired.append(True))
        self.loop.run_until(lambda: busy() or bool(expired))
        timer.cancel()
        return busy()

    # -- workloads --------------------------------------------------------------------
    def apply_workloads(self, found: list[Workload], backoff: BackoffPolicy | None
                        ) -> list[str]:
        """Start controlling each workload, or update one already controlled
        (a changed template rolls its pods). Returns kubectl's lines."""
        from minipod.controller import WorkloadController
        self.check_workload_updates(found)
        said = []
        for workload in found:
            key = workload_key(workload)
            what = f"{workload.kind.lower()}.apps/{workload.name}"
            if key in self.controllers:
                self.controllers[key].update(workload)
                said.append(f"{what} configured")
            else:
                self.controllers[key] = WorkloadController(self, workload, backoff=backoff)
                self.controllers[key].poke()
                said.append(f"{what} created")
        return said

    def check_workload_updates(self, found: list[Workload]) -> None:
        """SpecError for what the API server refuses in a re-applied workload
        (its selector is immutable); nothing is changed."""
        from minipod.workloads import check_update

        errors = [e for w in found if (c := self.controllers.get(workload_key(w)))
                  for e in check_update(c.workload, w)]
        if errors:
            raise SpecError(errors)

    def adopt_controller(self, controller: WorkloadController) -> None:
        self.controllers[controller.key] = controller
        controller.poke()

    def _workload(self, request: dict[str, Any]) -> WorkloadController | None:
        from minipod.cli_workloads import workload_kind

        try:
            kind = workload_kind(str(request.get("kind", "")))  # any kubectl spelling
        except SpecError:
            return None
        return self.controllers.get(f"{request.get('namespace', 'default')}/{kind.lower()}/"
                                    f"{request.get('name')}")

    def _scale(self, request: dict[str, Any]) -> dict[str, Any]:
        controller = self._workload(request)
        replicas = request.get("replicas")
        if controller is None:
            return {"ok": False, "error": f"{request.get('kind')} {request.get('name')!r} "
                    "not found"}
        if not isinstance(replicas, int) or replicas < 0:
            return {"ok": False, "error": "replicas must be an integer >= 0"}
        controller.scale(replicas)
        return {"ok": True}

    def _delete_workload(self, request: dict[str, Any]) -> dict[str, Any]:
        controller = self._workload(request)
        if controller is None:
            return {"ok": False, "error": f"{request.get('kind')} {request.get('name')!r} "
                    "not found"}
        controller.delete()
        self.controllers.pop(controller.key, None)
        return {"ok": True}

    # -- the control socket -----------------------------------------------------------
    def _listen(self) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        old_umask = os.umask(0o177)  # the socket is root's alone (and so is its directory)
        try:
            server.bind(str(self.socket_path))
        finally:
            os.umask(old_umask)
        server.listen(16)
        server.setblocking(False)
        self._server = server
        self.loop.register(server.fileno(), self._on_connect)

    def _on_connect(self, _events: int) -> None:
        assert self._server is not None
        try:
            conn, _ = self._server.accept()
        except BlockingIOError:
            return
        Connection(self, conn)

    def handle_request(self, request: dict[str, Any], reply: Callable[[dict[str, Any]], None]
                       ) -> None:
        op = request.get("op")
        if op == "delete":
            key = f"{request.get('namespace', 'default')}/{request.get('name')}"
            grace = request.get("grace")
            if not self.delete_pod(key, grace, lambda: reply({"ok": True})):
                reply({"ok": False, "error": f"pod {key} not found"})
        elif op == "ping":
            reply({"ok": True, "pid": os.getpid(), "pods": sorted(self.pods)})
        elif op == "apply":
            from minipod.daemon import apply

            reply(apply(self, request))
        elif op == "scale":
            reply(self._scale(request))
        elif op == "delete-workload":
            reply(self._delete_workload(request))
        else:
            reply({"ok": False, "error": f"unknown op {op!r}"})


def raise_nofile_limit() -> int:
    """Raise our soft RLIMIT_NOFILE to the hard limit; the new soft limit.

    A supervisor holds about ten fds per pod (pidfds, FIFO ends, namespace
    fds, a kept probe socket), so the usual soft limit of 1024 would stop it
    near a hundred pods. The hard limit is the administrator's ceiling and is
    left alone. Containers inherit the raised limit, as they do under
    containerd 1.x and Docker, whose units set LimitNOFILE=infinity."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:  # the kernel's per-process ceiling then
        with open("/proc/sys/fs/nr_open") as f:
            target = int(f.read())
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def workload_key(workload: Workload) -> str:
    """namespace/kind/name, the key of a workload's controller."""
    return f"{workload.namespace}/{workload.kind.lower()}/{workload.name}"


def foreign_exit_status(pid: int, start_time: float) -> ExitStatus:
    """The exit status of a zombie we are not the parent of (/proc/PID/stat
    field 52), if it is still the process we knew; the kubelet's
    ContainerStatusUnknown (137) when it is gone already."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = os.sysconf("SC_CLK_TCK")
        started = psutil.boot_time() + int(fields[19]) / ticks
        if abs(started - start_time) < 0.05:
            status = int(fields[49])
            if os.WIFSIGNALED(status):
                return ExitStatus(128 + os.WTERMSIG(status), os.WTERMSIG(status))
            return ExitStatus(os.WEXITSTATUS(status))
    except (OSError, ValueError, IndexError):
        pass
    return ExitStatus(137, None, unknown=True)


def _failed_containers(runner: PodRunner) -> str:
    failed = [f"container {r.name} exited with code {r.state.exit_code}"
              for r in runner.apps if r.state.kind == "terminated" and r.state.exit_code]
    return "; ".join(failed) or "failed"


class Connection:
    """One client of the control socket: a JSON request line, a JSON reply line."""

    # `up -d` sends the whole manifest: a few hundred pods are megabytes
    MAX_REQUEST = 16 * 1024 * 1024

    def __init__(self, sup: Supervisor, conn: socket.socket) -> None:
        self.sup, self.conn, self.buffer = sup, conn, bytearray()
        conn.setblocking(False)
        sup.loop.register(conn.fileno(), self._on_readable)

    def _on_readable(self, _events: int) -> None:
        try:
            data = self.conn.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self.buffer += data  # a bytearray: appending stays linear for megabytes
        if not data or b"\n" in data or len(self.buffer) > self.MAX_REQUEST:
            self.sup.loop.unregister(self.conn.fileno())
            self._dispatch()

    def _dispatch(self) -> None:
        line = bytes(self.buffer.split(b"\n", 1)[0])
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError as e:
            self.reply({"ok": False, "error": f"bad request: {e}"})
            return
        self.sup.handle_request(request, self.reply)

    def reply(self, answer: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            self.conn.setblocking(True)
            self.conn.settimeout(1.0)
            self.conn.sendall(json.dumps(answer).encode() + b"\n")
        self.conn.close()
