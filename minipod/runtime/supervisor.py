"""The supervisor: one single-threaded epoll loop for every pod of a `minipod up`.

It is a child subreaper, so whatever a container double-forks out of its
reach still comes back here to be reaped. Process exits are noticed through
the pidfd of each child (and SIGCHLD for inherited orphans) and reaped in
one place, reap(), which hands each status to whoever watches that pid.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from minipod.api.backoff import BackoffPolicy
from minipod.api.errors import SpecError
from minipod.api.events import Event, Sink, clock, say
from minipod.api.model import ConfigData, Pod, Workload
from minipod.api.quantity import quantity_bytes
from minipod.api.record import PodNetworkRecord, SupervisorRef
from minipod.api.workloads import check_update, workload_key
from minipod.kernel import configstore, logs
from minipod.kernel import sys as msys
from minipod.kernel.faults import crash_point
from minipod.kernel.image import Image
from minipod.kernel.proc import ReapSource, foreign_exit_status, process_identity, reap_one
from minipod.kernel.sandbox import empty_trash, sweep_staging
from minipod.kernel.spawn import Child, ExitStatus
from minipod.kernel.state import supervisors_dir
from minipod.loop.eventloop import Deadline, Loop
from minipod.runtime.configwatch import ConfigWatch
from minipod.runtime.controller import WorkloadController
from minipod.runtime.effects import KernelEffects
from minipod.runtime.images import PullDone, Puller
from minipod.runtime.network import Attachment, NodeNetwork
from minipod.runtime.pod import PodEffects, PodRunner
from minipod.runtime.services import ServiceController

log = logging.getLogger(__name__)

ExitHandler = Callable[[ExitStatus], None]
TIDY_AFTER = 1.0  # seconds with no pod before the root and QoS cgroups go


class Supervisor:
    def __init__(self, loop: Loop, sink: Sink, *, echo_logs: bool = True,
                 backoff: BackoffPolicy | None = None,
                 status_sink: Callable[[str], None] | None = None,
                 socket_path: Path | None = None, effects: PodEffects | None = None,
                 reap_one: ReapSource = reap_one, network: NodeNetwork | None = None,
                 pod_pids_limit: int = -1) -> None:
        self.loop = loop
        self.effects: PodEffects = effects or KernelEffects(pod_pids_limit)
        self._reap_one = reap_one
        self.status_sink = status_sink
        self._shown: dict[str, tuple[str, str, int]] = {}
        self.sink = sink
        self.echo_logs = echo_logs
        self.backoff = backoff or BackoffPolicy()
        self.pods: dict[str, PodRunner] = {}
        self.controllers: dict[str, WorkloadController] = {}  # Deployments, ReplicaSets
        self._watched: dict[int, tuple[Child, ExitHandler]] = {}
        self._foreign: dict[int, Child] = {}  # adopted processes, watched by pidfd alone
        self.failures: list[str] = []  # pods that ended Failed
        self.recovered: list[str] = []  # what recovery removed, for `minipod recover`
        self.stopping = False
        self.socket_path = socket_path or supervisors_dir() / f"{os.getpid()}.sock"
        self._identity: SupervisorRef | None = None
        self._sweep: Deadline | None = None
        self.config_watch = ConfigWatch(loop, self.config_changed)
        self._log_limits: tuple[int, int] | None = None
        self.network = network or NodeNetwork(loop)
        self.services = ServiceController(self, self.network)
        self.puller = Puller(self)
        self._tidy: Deadline | None = None
        self._client_deletes: set[str] = set()  # pods a client's delete waits on

    # -- set-up --------------------------------------------------------------
    def open(self) -> None:
        msys.set_child_subreaper(True)
        raise_nofile_limit()
        self.loop.add_signal_handler(signal.SIGCHLD, self.reap)
        self.loop.add_signal_handler(signal.SIGINT, lambda: self.stop_all("interrupted"))
        self.loop.add_signal_handler(signal.SIGTERM, lambda: self.stop_all("terminated"))
        empty_trash()  # what a supervisor that crashed left there
        sweep_staging()
        self.config_watch.open()

    def config_changed(self, kind: str | None, namespace: str | None, name: str | None) -> None:
        """A ConfigMap or Secret changed (None: any may have): the pods that
        read it project it again and start what waited for it."""
        for runner in list(self.pods.values()):
            if kind is None or (namespace is not None and name is not None
                                and runner.reads(kind, namespace, name)):
                runner.config_changed(kind, name)

    def close(self) -> None:
        self.puller.close()
        self.config_watch.close()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        self._tidy_cgroups()
        empty_trash()
        self.services.close()
        self.network.close()  # removed if nothing of any supervisor uses it
        self.loop.close()

    def log_limits(self) -> tuple[int, int]:
        """(max size, max files) of a container run's log: the kubelet's
        10 MiB and 5, or MINIPOD_CONTAINER_LOG_MAX_SIZE (a quantity, 1Mi) and
        MINIPOD_CONTAINER_LOG_MAX_FILES, as its containerLogMaxSize and
        containerLogMaxFiles set them."""
        if self._log_limits is None:
            size, files = logs.MAX_SIZE, logs.MAX_FILES
            with contextlib.suppress(ValueError):
                size = quantity_bytes(os.environ.get("MINIPOD_CONTAINER_LOG_MAX_SIZE") or "10Mi")
            with contextlib.suppress(ValueError):
                files = int(os.environ.get("MINIPOD_CONTAINER_LOG_MAX_FILES") or files)
            self._log_limits = (max(size, 1), max(files, 1))
        return self._log_limits

    def _pods_gone(self) -> None:
        """With no pod left, minipod's root and QoS cgroups go too, after a
        moment (a pod deleted and made again keeps them meanwhile)."""
        if self.pods or self._tidy is not None:
            return
        self._tidy = self.loop.call_later(TIDY_AFTER, self._tidy_cgroups)

    def _tidy_cgroups(self) -> None:
        if self._tidy is not None:
            self._tidy.cancel()
            self._tidy = None
        if not self.pods:
            self.effects.tidy_cgroups()

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
        while (reaped := self._reap_one()) is not None:
            pid, status = reaped
            entry = self._watched.pop(pid, None)
            if entry is None:
                log.debug("reaped orphan pid=%d", pid)
                continue
            child, on_exit = entry
            self.loop.unregister(child.pidfd)
            on_exit(status)

    # -- pods ----------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        """To the sink (the foreground's output, daemon.log); the pod's
        events.jsonl has them for `get events` and `describe`. None is kept
        here: a pod whose probe fails every second would grow the supervisor
        by an event a second (up to 1,000 a pod, ~0.5 MB, as the
        reliability soak's RSS slope showed)."""
        self.sink(event)

    def echo_for(self, pod: str, container: str) -> Callable[[str, str], None] | None:
        if not self.echo_logs:
            return None

        def echo(_stream: str, line: str) -> None:
            say(f"{pod}/{container} | {line}")

        return echo

    def pull_image(self, reference: str, done: PullDone, auth: bytes | None = None
                   ) -> Callable[[], None]:
        return self.puller.pull(reference, done, auth)

    def start_pods(self, pods: list[Pod], images: dict[str, dict[str, Image | None]],
                   backoff: BackoffPolicy | None = None) -> list[PodRunner]:
        """Start every pod; on the first failure, roll back the ones this call
        started (and only those) and raise."""
        started: list[PodRunner] = []
        for pod in pods:
            runner = PodRunner(self, pod, images[f"{pod.namespace}/{pod.name}"],
                               backoff or self.backoff, effects=self.effects)
            try:
                runner.start()
            except BaseException:
                runner.teardown()
                for done in started:
                    done.teardown()
                    self.pods.pop(done.key, None)
                self._pods_gone()
                raise
            self.pods[runner.key] = runner
            started.append(runner)
        return started

    def rollback(self) -> None:
        for runner in list(self.pods.values()):
            runner.teardown()
        self.pods.clear()
        self._pods_gone()

    def pod_finished(self, runner: PodRunner) -> None:
        """The pod reached Succeeded or Failed: stop what still runs (sidecars)
        and remove it. The other pods of this `up` go on."""
        phase = runner.phase()
        if phase == "Failed":
            detail = runner.failed_reason or _failed_containers(runner)
            self.failures.append(f"pod {runner.key} failed: {detail}")
        runner.event("Normal", "PodCompleted", f"pod phase {phase}")
        self.delete_pod(runner.key, None, lambda: None)

    def identity(self) -> SupervisorRef:
        """This supervisor, as the records it writes name it."""
        if self._identity is None:
            me = process_identity(os.getpid())
            self._identity = SupervisorRef(me["pid"], me["startTime"], str(self.socket_path))
        return self._identity

    # -- the pod network ------------------------------------------------------------
    def attach_network(self, pod: Pod, hostname: str) -> Attachment:
        return self.network.attach(pod, hostname)

    def detach_network(self, pod: Pod, record: PodNetworkRecord | None) -> None:
        self.network.detach(pod, record)

    def service_env(self, pod: Pod) -> dict[str, str]:
        return self.services.env(pod.namespace)

    def _controllers_of(self, runner: PodRunner) -> list[WorkloadController]:
        return [c for c in self.controllers.values() if c.owns(runner)]

    def pod_changed(self, runner: PodRunner) -> None:
        """A container or probe changed the pod: its controller looks again, and
        its kubectl columns are printed when they change (`get pods -w`)."""
        for controller in self._controllers_of(runner):
            controller.poke()
        self.services.pod_changed(runner)  # a pod that turned (un)ready moves in the endpoints
        if self.status_sink is None or runner.sandbox is None:
            return  # a pod torn down has had its last row (and is forgotten)
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
        # Out of its Services before its containers hear SIGTERM, not a turn
        # later: a server that exits at once on SIGTERM would refuse the
        # connections sent to it in between.
        self.services.sync_now(leaving=key)

        def stopped() -> None:
            if self.pods.get(key) is runner:
                self.pods.pop(key)
                self._forget(runner)
            for controller in owners:  # a replica is gone: make a new one
                controller.poke()
            self.services.pod_gone(key)
            self._pods_gone()
            crash_point("delete:retired")
            on_done()

        runner.stop(grace, stopped)
        return True

    def delete_for_client(self, key: str, grace: int | None,
                          on_done: Callable[[], None]) -> str:
        """A client's `delete pod`: "deleting" (``on_done`` once the pod is
        gone), "not found", or "already" when another client's delete of it
        is under way: that one says deleted and this one NotFound, as
        kubectl's second delete does. A shorter grace period still applies."""
        runner = self.pods.get(key)
        if runner is None:
            return "not found"
        if key in self._client_deletes:
            if grace is not None:
                runner.stop(grace, lambda: None)
            return "already"
        self._client_deletes.add(key)

        def done() -> None:
            self._client_deletes.discard(key)
            on_done()

        self.delete_pod(key, grace, done)
        return "deleting"

    def _forget(self, runner: PodRunner) -> None:
        """What the supervisor kept of a pod that is gone: its last printed
        row (10,000 pods created and deleted must leave nothing)."""
        self._shown.pop(runner.key, None)

    def stop_all(self, why: str, grace: int | None = None) -> None:
        if not self.stopping:
            say(f"minipod: {why}; stopping pods", sys.stderr)
        self.stopping = True
        for controller in list(self.controllers.values()):
            controller.delete()
        self.controllers.clear()
        self.services.delete_all()
        for key in list(self.pods):
            self.delete_pod(key, grace, lambda: None)

    def busy(self) -> bool:
        return bool(self.pods) or bool(self.controllers) or bool(self.services.services)

    def run(self) -> None:
        """Serve until every pod is gone (Services are deleted then: `up` in the
        foreground ends when its pods do)."""
        self.loop.run_until(lambda: not self.pods and not self.controllers)
        self.services.delete_all()

    def run_daemon(self, idle: float | None) -> None:
        """Serve until there has been no pod and no Service for ``idle``
        seconds; with ``idle`` None, until SIGTERM (or SIGINT) and the pods
        it stops are gone (minipod.testing's supervisor: its owner ends it)."""
        if idle is None:
            self.loop.run_until(lambda: self.stopping and not self.busy())
            return
        while self._serve_while_idle(idle):
            self.loop.run_until(lambda: not self.busy())

    def _serve_while_idle(self, idle: float) -> bool:
        """False once ``idle`` seconds passed with no pod; True when one came."""
        busy = self.busy

        if busy():
            return True
        if self.stopping:  # SIGTERM: gone once its pods are
            return False
        expired: list[bool] = []
        timer = self.loop.call_later(idle, lambda: expired.append(True))
        self.loop.run_until(lambda: busy() or bool(expired))
        timer.cancel()
        return busy()

    # -- ConfigMaps and Secrets ------------------------------------------------------
    @staticmethod
    def check_configs(configs: list[ConfigData]) -> None:
        """SpecError for what the API server refuses in a re-applied ConfigMap
        or Secret (data changed while immutable); nothing is written."""
        for config in configs:
            configstore.check(config)

    @staticmethod
    def apply_configs(configs: list[ConfigData]) -> list[tuple[ConfigData, str]]:
        """Write each ConfigMap and Secret (created, configured, unchanged).
        Pods that read one hear of it through every supervisor's watch."""
        return [(config, configstore.save(config)[1]) for config in configs]

    # -- workloads --------------------------------------------------------------------
    def apply_workloads(self, found: list[Workload], backoff: BackoffPolicy | None
                        ) -> list[str]:
        """Start controlling each workload, or update one already controlled
        (a changed template rolls its pods). Returns kubectl's lines."""
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
        errors = [e for w in found if (c := self.controllers.get(workload_key(w)))
                  for e in check_update(c.workload, w)]
        if errors:
            raise SpecError(errors)

    def adopt_controller(self, controller: WorkloadController) -> None:
        self.controllers[controller.key] = controller
        controller.poke()



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


def _failed_containers(runner: PodRunner) -> str:
    failed = [f"container {r.name} exited with code {r.state.exit_code}"
              for r in runner.apps if r.state.kind == "terminated" and r.state.exit_code]
    return "; ".join(failed) or "failed"
