"""One pod's life in the supervisor, with the kubelet's rules.

Event-driven: every method returns at once; exits arrive through
Supervisor.reap(), timers and probe results through the loop. The flow:

- start: the sandbox (pause), then init containers one at a time (sidecars,
  restartPolicy Always, stay running and only have to be *started*), then
  every app container.
- an exit: restartPolicy decides (init containers treat Always as OnFailure,
  sidecars always restart); a restart waits out CrashLoopBackOff.
- probes: startup gates liveness and readiness; readiness sets READY; a
  liveness (or startup) failure kills the container, which then restarts by
  the same rules as any exit.
- pause dies: every container is killed, a new pause made, and the pod
  starts again from its first init container.
- stop: preStop hooks, SIGTERM, SIGKILL after the grace period (to the
  container's whole cgroup); app containers in parallel, then sidecars in
  reverse order.
- the OOM killer: the kernel tells the loop (PodEffects.watch_oom); a run
  it ended is OOMKilled (exit code 137) and restarts by the policy.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from minipod.api.backoff import Backoff, BackoffPolicy
from minipod.api.downward import ConfigError, Lookup, Payload, PodFacts, resolve_env, volume_payload
from minipod.api.errors import ContainerConfigError, StartError
from minipod.api.events import Event
from minipod.api.model import Container, ExecAction, LifecycleHandler, Pod, Volume
from minipod.api.record import PauseRef, PodNetworkRecord, ProcessRef, SupervisorRef
from minipod.api.resources import qos_class
from minipod.api.status import ContainerStatus, PodRow, State, pod_phase, pod_row
from minipod.api.text import printable
from minipod.kernel.faults import crash_point
from minipod.kernel.image import Image
from minipod.kernel.launch import LaunchCache, LaunchPlan, launch_plan
from minipod.kernel.logs import LogFile, LogPipe
from minipod.kernel.podnet import PodNet
from minipod.kernel.rootfs import BindMount
from minipod.kernel.sandbox import STREAMS, Sandbox, pod_hostname
from minipod.kernel.spawn import Child, ExitStatus
from minipod.loop.eventloop import Deadline, Loop
from minipod.probes import handlers
from minipod.probes.execprobe import ExecTarget
from minipod.probes.worker import FAILURE, SUCCESS, WARNING, InFlight, Outcome, ProbeWorker
from minipod.runtime.images import PullDone, PullOutcome, pull_auth

log = logging.getLogger(__name__)

ETC_FILES = ("hosts", "hostname", "resolv.conf")
MIN_KILL_GRACE = 2  # minimumGracePeriodInSeconds, for kills the kubelet decides on
# The longest grace period the supervisor waits out: what Go's time.Duration
# holds in seconds (int64 nanoseconds, ~292 years). The API server takes any
# int64; the kubelet turns a grace period into a time.Duration (killContainer's
# wait, the CRI client's StopContainer deadline), so that is the most it can
# mean, and a larger value wrapped around there (kubernetes#84298: the pod
# hung in Terminating). Every timer below is computed from a capped value.
MAX_GRACE_SECONDS = (2**63 - 1) // 10**9


def capped_grace(seconds: int) -> int:
    """A grace period as the supervisor waits it out: at most MAX_GRACE_SECONDS."""
    return min(seconds, MAX_GRACE_SECONDS)
START_ERROR_EXIT = 128  # containerd's exit code for a container that could not start
# the kubelet's pod worker retries a failed sync (a ConfigMap not there yet;
# a container that cannot be made as its spec asks: runAsNonRoot, a missing
# seccomp profile) after backOffPeriod; a change of the ConfigMap or Secret
# retries at once
CONFIG_RETRY = 10.0
OOM_SETTLE = 0.1  # seconds from an out-of-memory notice to the kill it leads to


@dataclass
class ContainerRun:
    """One container of the pod, across all its runs (attempts)."""

    spec: Container
    image: Image | None  # None: not stored yet (pulled before its first start)
    init: bool
    backoff: Backoff
    state: State = field(default_factory=lambda: State("waiting", "ContainerCreating"))
    last_state: State | None = None
    attempt: int = -1  # index of the current (or last) run; -1: never created
    started: bool = False  # running, postStart done, startupProbe passed
    ready: bool = False
    child: Child | None = None
    finished_mono: float | None = None  # the last exit, on the monotonic clock
    started_mono: float | None = None  # the current run's start (probes count from it)
    log: LogFile | None = None
    pipes: list[LogPipe] = field(default_factory=list)
    plan: LaunchPlan | None = None
    plan_inputs: tuple[object, ...] | None = None  # what ``plan`` was made from
    binds: tuple[object, tuple[BindMount, ...]] | None = None  # (sandbox, its binds)
    launch: LaunchCache = field(default_factory=LaunchCache)  # its setup ops in C, kept
    target: ExecTarget | None = None
    probes: dict[str, ProbeWorker] = field(default_factory=dict)
    hook: InFlight | None = None  # postStart or preStop in flight
    post_start_done: bool = False
    restart_timer: Deadline | None = None  # CrashLoopBackOff wait (or a config retry)
    env: dict[str, str] | None = None  # the current run's own variables, resolved
    kill_timer: Deadline | None = None
    killing: bool = False
    mnt_hold: int = -1  # our fd of the current run's mount namespace (see PodEffects)
    pull_cancel: Callable[[], None] | None = None  # a pull in flight for this container
    pull_timer: Deadline | None = None  # ErrImagePull / ImagePullBackOff wait
    pull_failures: int = 0
    image_fresh: bool = False  # pulled for the start in progress: not pulled again
    oom_killed: bool = False  # the OOM killer took a process of the current run

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def sidecar(self) -> bool:
        return self.init and self.spec.restart_policy == "Always"

    @property
    def running(self) -> bool:
        return self.state.kind == "running"

    @property
    def restart_count(self) -> int:
        return max(0, self.attempt)

    def cancel_restart(self) -> None:
        if self.restart_timer is not None:
            self.restart_timer.cancel()
            self.restart_timer = None

    def cancel_pull(self) -> None:
        if self.pull_cancel is not None:
            self.pull_cancel()
            self.pull_cancel = None
        if self.pull_timer is not None:
            self.pull_timer.cancel()
            self.pull_timer = None

    def cancel_timers(self) -> None:
        """Every timer, and a pull it waits for; only for a run that is gone
        (a kill in progress needs its SIGKILL timer)."""
        self.cancel_restart()
        self.cancel_pull()
        if self.kill_timer is not None:
            self.kill_timer.cancel()
            self.kill_timer = None

    def status(self) -> ContainerStatus:
        return ContainerStatus(self.name, self.state, self.ready, self.started,
                               self.restart_count, self.last_state, self.sidecar)


def should_restart(policy: str, exit_code: int) -> bool:
    """ShouldContainerBeRestarted for a container that exited."""
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


ExitHandler = Callable[[ExitStatus], None]


class PodHost(Protocol):
    """What a pod needs of the supervisor that runs it (Supervisor is one; the
    unit tests have a fake). Defined here, by its user, so that nothing in
    this module imports the supervisor."""

    loop: Loop

    def watch(self, child: Child, on_exit: ExitHandler) -> None: ...
    def unwatch(self, child: Child) -> None: ...
    def emit(self, event: Event) -> None: ...
    def echo_for(self, pod: str, container: str) -> Callable[[str, str], None] | None: ...
    def pull_image(self, reference: str, done: PullDone, auth: bytes | None = None
                   ) -> Callable[[], None]:
        """Pull ``reference`` off the loop (runtime/images.py), with the
        docker config.json ``auth`` (the pod's imagePullSecrets), else the
        host's credentials; ``done`` comes from the loop. Returns a function
        that stops waiting for it."""
    def identity(self) -> SupervisorRef: ...
    def pod_changed(self, runner: PodRunner) -> None: ...
    def pod_finished(self, runner: PodRunner) -> None: ...
    def empty_trash_soon(self) -> None: ...
    def log_limits(self) -> tuple[int, int]:
        """(max size, max files) of a container run's log (kernel/logs.py)."""
    def attach_network(self, pod: Pod, hostname: str) -> Attached:
        """The pod's address, hostPorts and resolv.conf (StartError if it
        cannot have them)."""
    def detach_network(self, pod: Pod, record: PodNetworkRecord | None) -> None: ...
    def service_env(self, pod: Pod) -> dict[str, str]:
        """The Service variables of the pod's namespace (enableServiceLinks)."""


class Attached(Protocol):
    """What attach_network gives (runtime/network.py Attachment)."""

    net: PodNet
    record: PodNetworkRecord | None
    warnings: list[tuple[str, str]]


class PodEffects(Protocol):
    """What a pod does to the kernel and the disk (runtime/effects.py for the
    real host; the unit tests have a fake that records). Every method is one
    effect the lifecycle below decides on."""

    def create_sandbox(self, pod: Pod, attach: Callable[[], PodNet],
                       intent: Callable[[Sandbox], None]) -> Sandbox:
        """The sandbox; ``intent`` is called with it before anything is made
        outside its staged directory (no pause yet), so the record comes
        first; ``attach`` once it holds the pod's name, for its network."""
    def replace_pause(self, box: Sandbox) -> None: ...
    def teardown_sandbox(self, box: Sandbox) -> None: ...
    def open_stream(self, box: Sandbox, container: str, stream: str) -> int: ...
    def start_container(self, box: Sandbox, run: ContainerRun, plan: LaunchPlan,
                        binds: tuple[BindMount, ...]) -> Child: ...
    def tidy_runs(self, box: Sandbox, name: str, attempt: int, make_spare: bool) -> None: ...
    def is_dir(self, path: str) -> bool: ...
    def lookup(self) -> Lookup:
        """Where ConfigMaps and Secrets are read (kernel/configstore.py)."""
    def node_facts(self) -> PodFacts:
        """The node's part of the downward API (name, addresses, allocatable);
        the pod's fields are left empty."""
    def project_volume(self, box: Sandbox, volume: Volume, payload: Payload) -> bool:
        """Make the volume's directory show ``payload`` (the atomic writer);
        False if it did already."""
    def bind_subpath(self, box: Sandbox, volume: str, container: str,  # noqa: PLR0917
                     index: int, root: str, sub_path: str) -> str:
        """A path (in the pod's directory) bound to ``root``/``sub_path``, made
        so that it cannot be anything outside ``root`` (a missing one is made
        as a directory); OSError if it would be. The kubelet's volume-subpaths."""
    def lookup_image(self, reference: str) -> Image | None:
        """The stored image ``reference`` names, or None."""
    def signal(self, child: Child, signo: int) -> None: ...
    def kill_and_reap(self, child: Child) -> None: ...
    def kill_container(self, box: Sandbox, name: str, child: Child) -> None:
        """SIGKILL to all of a container's processes (its cgroup)."""
    def watch_oom(self, loop: Loop, box: Sandbox, name: str,
                  callback: Callable[[], None]) -> None:
        """``callback`` in the loop whenever the OOM killer strikes in the
        container's cgroup (which outlives its runs)."""
    def unwatch_oom(self, box: Sandbox, name: str) -> None: ...
    def new_oom_kills(self, box: Sandbox, name: str) -> int:
        """Processes the OOM killer took from the container since last asked."""
    def hold_mount_ns(self, pid: int) -> int:
        """An fd of ``pid``'s mount namespace (-1 if it is gone): a
        container's exit then leaves its unmounts to our close(), done once
        a restart has exec'd (kernel/proc.py says why)."""
    def open_exec_target(self, pid: int, box: Sandbox, plan: LaunchPlan,
                         name: str = "") -> ExecTarget:
        """Where the container ``name``'s probes and hooks run (in its cgroup)."""
    def identity(self, pid: int) -> ProcessRef: ...
    def namespace_inodes(self, pid: int) -> dict[str, int]: ...
    def save_record(self, runner: PodRunner) -> None: ...
    def append_event(self, box: Sandbox, event: Event) -> None: ...
    def tidy_cgroups(self) -> None:
        """No pod of this supervisor is left: its root and QoS cgroups may go."""


class PodRunner:
    def __init__(self, supervisor: PodHost, pod: Pod, images: dict[str, Image | None],
                 backoff: BackoffPolicy | None = None, *, effects: PodEffects) -> None:
        self.sup = supervisor
        self.fx = effects
        self.loop = supervisor.loop
        self.pod = pod
        self.policy = backoff or BackoffPolicy()
        self.sandbox: Sandbox | None = None
        self.inits = [self._run(c, images, True) for c in pod.spec.init_containers]
        self.apps = [self._run(c, images, False) for c in pod.spec.containers]
        self.initialized = False
        self.terminating = False
        self.deletion_time: float | None = None
        self.recreating = False  # pause died: killing everything to start over
        self.creating = False  # start() has not finished: a crash now leaves it half made
        self.final_phase: str | None = None  # Succeeded or Failed, once and for all
        self.failed_reason: str | None = None
        self.started_at = self.loop.clock.wall()
        self._stop_deadline = 0.0
        self._shortened = False  # a second delete cut the grace period
        self._on_stopped: list[Callable[[], None]] = []
        self._save_pending: Deadline | None = None
        self._save_failed = False  # the last pod.json write failed (said once in the log)
        self._identities: dict[int, ProcessRef] = {}  # pid -> identity, while it lives
        self._pause: PauseRef | None = None  # pause_ref's
        # an exit's events while its restart is launched (_on_container_exit)
        self._held_events: list[Event] | None = None
        self.net: PodNetworkRecord | None = None  # its address and hostPorts, once claimed

    def _run(self, container: Container, images: dict[str, Image | None], init: bool
             ) -> ContainerRun:
        run = ContainerRun(container, images.get(container.name), init, Backoff(self.policy))
        if self.pod.spec.init_containers:
            # the kubelet's default waiting reason in a pod with init containers
            run.state = State("waiting", "PodInitializing")
        return run

    @property
    def key(self) -> str:
        return f"{self.pod.namespace}/{self.pod.name}"

    @functools.cached_property
    def qos_class(self) -> str:
        """status.qosClass (the kubelet's QoS class of the spec, which never changes)."""
        spec = self.pod.spec
        return qos_class(c.resources for c in (*spec.containers, *spec.init_containers))

    @property
    def runs(self) -> list[ContainerRun]:
        return self.inits + self.apps

    # -- events ------------------------------------------------------------
    def event(self, type_: str, reason: str, message: str) -> None:
        # A probe's server or command says what it likes (binary, escape
        # sequences, newlines): escaped here, before daemon.log, `up`'s
        # terminal and events.jsonl see it.
        event = Event(self.loop.clock.wall(), type_, reason, f"pod/{self.pod.name}",
                      printable(message))
        if self._held_events is not None:
            self._held_events.append(event)
            return
        self._write_event(event)

    def _write_event(self, event: Event) -> None:
        self.sup.emit(event)
        if self.sandbox is not None:  # kept with the pod, for `describe`
            self.fx.append_event(self.sandbox, event)

    def _write_held_events(self) -> None:
        """The events an exit said while its restart was being launched, in
        order and with the times they were said at (see _on_container_exit:
        the sandbox they go to cannot change meanwhile)."""
        held, self._held_events = self._held_events, None
        for event in held or ():
            self._write_event(event)

    def _pod_ref(self) -> str:
        uid = self.sandbox.uid if self.sandbox else ""
        return f"{self.pod.name}_{self.pod.namespace}({uid})"

    # -- starting ------------------------------------------------------------
    def start(self) -> None:
        """Create the sandbox and the first container; StartError rolls back this
        pod (teardown gives its address back).

        The record is written before each thing it will name is started: first
        in staging (creating, no process), then with the pause, then with the
        first container, and only then does it stop saying "creating". A
        supervisor killed anywhere in between leaves a pod that `recover`
        removes whole (runtime/adopt.py); one killed after, a pod it adopts."""
        self.creating = True
        warnings: list[tuple[str, str]] = []

        def attach() -> PodNet:
            attached = self.sup.attach_network(self.pod, pod_hostname(self.pod))
            self.net = attached.record
            warnings.extend(attached.warnings)
            return attached.net

        try:
            self.sandbox = self.fx.create_sandbox(self.pod, attach, self._write_intent)
        except BaseException:
            self.sandbox = None  # create_sandbox removed what it had made
            raise
        self.sup.watch(self.sandbox.pause, self._on_pause_exit)
        for reason, message in warnings:
            self.event("Warning", reason, message)
        for volume in self.pod.spec.volumes:
            if volume.projections is not None:
                try:
                    self._project(volume)
                except ConfigError as e:  # the kubelet's FailedMount; here, no pod
                    raise StartError(f'MountVolume.SetUp failed for volume "{volume.name}"',
                                     0, str(e)) from None
        self.watch_oom()
        self.event("Normal", "SandboxReady",
                   f"pod sandbox created (pause pid {self.sandbox.pause.pid})")
        self._flush()
        crash_point("create:pause-recorded")
        self._advance()
        self.creating = False
        self._flush()  # after the first container's exec, before `up -d` answers
        crash_point("create:done")

    def _write_intent(self, box: Sandbox) -> None:
        self.sandbox = box
        self.save()

    def watch_oom(self) -> None:
        assert self.sandbox is not None
        for run in self.runs:
            self.fx.watch_oom(self.loop, self.sandbox, run.name,
                              functools.partial(self._on_oom, run))

    def _on_oom(self, run: ContainerRun, again: bool = True) -> None:
        """The kernel says the cgroup ran out of memory. cgroup v1 says so
        before the OOM killer has picked its victim, so a notice that finds
        no kill counted yet looks once more a moment later (the exit of a
        container's main process is checked at once in any case)."""
        if self.sandbox is None:
            return
        count = self.fx.new_oom_kills(self.sandbox, run.name)
        self._oom_kills(run, count)
        if count == 0 and again:
            self.loop.call_later(OOM_SETTLE, functools.partial(self._on_oom, run, False))

    def _oom_kills(self, run: ContainerRun, count: int) -> None:
        if count <= 0:
            return
        if run.running:  # the run ends OOMKilled, whichever process it lost
            run.oom_killed = True
        self.event("Warning", "OOMKilling",
                   f"Memory cgroup out of memory: killed {count} process"
                   f"{'es' if count > 1 else ''} of container {run.name}")

    def _flush(self) -> None:
        if self._save_pending is not None:
            self._save_pending.cancel()
            self._save_pending = None
        self.save()

    def _advance(self) -> None:
        """Start what may start now: the next init container, or the app containers."""
        if self.terminating or self.recreating or self.final_phase:
            return
        if not self.initialized:
            for run in self.inits:
                if run.sidecar and run.running and run.started:
                    continue
                if not run.sidecar and run.state.kind == "terminated" \
                        and run.state.exit_code == 0:
                    continue
                if run.state.kind == "waiting" and run.restart_timer is None:
                    self._launch(run)
                return
            self.initialized = True
        for run in self.apps:
            if run.state.kind == "waiting" and run.restart_timer is None \
                    and not self.terminating:
                self._launch(run)

    def _launch(self, run: ContainerRun) -> None:
        """Start ``run`` now, or once its CrashLoopBackOff has passed."""
        run.restart_timer = None
        if run.finished_mono is not None:
            now = self.loop.clock.now()
            wait = run.backoff.wait(run.finished_mono, now)
            if wait > 0:
                self._back_off(run, wait)
                return
            run.backoff.restarted(run.finished_mono, now)
        self._start_container(run)

    def _back_off(self, run: ContainerRun, wait: float) -> None:
        if run.state.kind == "terminated":
            run.last_state = run.state  # the exit stays visible as lastState
        delay = run.backoff.delay or wait
        run.state = State("waiting", "CrashLoopBackOff",
                          f"back-off {_seconds(delay)} restarting failed "
                          f"container={run.name} pod={self._pod_ref()}")
        self.event("Warning", "BackOff",
                   f"Back-off restarting failed container {run.name} in pod {self._pod_ref()}")
        run.restart_timer = self.loop.call_later(wait, lambda: self._retry(run))
        self._changed()

    def _retry(self, run: ContainerRun) -> None:
        run.restart_timer = None
        if self.terminating or self.recreating or self.final_phase:
            return
        self._launch(run)

    # -- the downward API, ConfigMaps and Secrets ------------------------------------
    def facts(self) -> PodFacts:
        """The pod as the downward API shows it: status.podIP(s) is its address
        on the pod network (none with only loopback), status.hostIP(s) the node's."""
        node = self.fx.node_facts()
        pod_ips = (self.net.ip,) if self.net is not None and self.net.ip else ()
        return PodFacts(self.pod.name, self.pod.namespace,
                        self.sandbox.uid if self.sandbox else "", self.pod.labels,
                        self.pod.annotations, node.node_name, node.host_ips, pod_ips,
                        node.service_account, node.allocatable)

    def _project(self, volume: Volume) -> bool:
        assert self.sandbox is not None
        containers = {c.name: c for c in (*self.pod.spec.init_containers,
                                          *self.pod.spec.containers)}
        payload = volume_payload(volume, self.facts(), self.fx.lookup(), containers)
        return self.fx.project_volume(self.sandbox, volume, payload)

    def set_metadata(self, labels: dict[str, str] | None,
                     annotations: dict[str, str] | None) -> None:
        """`label` and `annotate`: the pod's new labels or annotations, in its
        record at once and in its downward API files."""
        self.pod = dataclasses.replace(
            self.pod, labels=self.pod.labels if labels is None else dict(labels),
            annotations=self.pod.annotations if annotations is None else dict(annotations))
        self._changed()
        self.config_changed("DownwardAPI", None)

    def reads(self, kind: str, namespace: str, name: str) -> bool:
        """The pod reads this ConfigMap or Secret (in env or a volume)."""
        return namespace == self.pod.namespace and (kind, name) in self.pod.spec.refs

    def config_changed(self, kind: str | None = None, name: str | None = None) -> None:
        """A ConfigMap or Secret (``kind``/``name``; None: any) was created,
        changed or deleted, or the pod's labels changed: volumes that show it
        get the new data (a failure keeps the old files, as the kubelet's),
        and containers waiting for it start."""
        if self.sandbox is None or self.terminating or self.final_phase:
            return
        for volume in self.pod.spec.volumes:
            if volume.projections is None:
                continue
            if kind is not None and (kind, name) not in volume.refs and \
                    not any(p.kind == "DownwardAPI" for p in volume.projections):
                continue
            try:
                self._project(volume)
            except (ConfigError, OSError) as e:
                self.event("Warning", "FailedMount", f'MountVolume.SetUp failed for volume '
                           f'"{volume.name}" : {e}')
        retry = [r for r in self.runs if r.state.reason == "CreateContainerConfigError"]
        for run in retry:
            run.cancel_restart()
        if retry:
            self._advance()

    def own_env(self, run: ContainerRun,
                on_skipped: Callable[[str], None] | None = None) -> dict[str, str]:
        """The container's variables as the kubelet makes them now
        (api/downward.py); ConfigError when a ConfigMap, Secret or key is missing."""
        services = self.sup.service_env(self.pod) if self.pod.spec.enable_service_links else {}
        return resolve_env(run.spec, self.facts(), self.fx.lookup(), on_skipped, services)

    def _resolve_env(self, run: ContainerRun) -> bool:
        """The run's own environment (the Service variables with
        enableServiceLinks, envFrom, env with valueFrom); False, with the
        container waiting in CreateContainerConfigError, when a ConfigMap,
        Secret or key it needs is missing."""
        def skipped(message: str) -> None:
            self.event("Warning", "InvalidEnvironmentVariableNames", message)

        try:
            run.env = self.own_env(run, skipped)
        except ConfigError as e:
            if run.state.kind == "terminated":
                run.last_state = run.state
            run.state = State("waiting", "CreateContainerConfigError", str(e))
            self.event("Warning", "Failed", f"Error: {e}")
            run.restart_timer = self.loop.call_later(CONFIG_RETRY, lambda: self._retry(run))
            self._changed()
            return False
        return True

    def _start_container(self, run: ContainerRun) -> None:
        assert self.sandbox is not None
        # the kubelet's order: the image first (EnsureImageExists), then the
        # container's config with its env (CreateContainerConfigError)
        if not self._ensure_image(run):
            return  # a pull is under way, or its back-off; it comes back here
        if not self._resolve_env(run):
            return
        try:
            self._launch_plan(run)
        except ContainerConfigError as e:
            self._config_error(run, e)
            return
        if run.state.kind == "terminated":
            run.last_state = run.state
        run.attempt += 1
        run.started = run.ready = run.post_start_done = run.killing = run.oom_killed = False
        try:
            child = self._spawn(run)
        except StartError as e:
            self._start_failed(run, e)
            return
        except OSError as e:  # EMFILE, ENOMEM, ENOSPC making its streams or log
            self._start_failed(run, StartError(f"start container {run.name}: "
                                               f"{e.filename or 'its streams'}", e.errno or 0))
            return
        self._write_held_events()  # the exit's, now that the restart is under way
        crash_point("container:spawned")
        run.child = child
        run.state = State("running", started_at=self.loop.clock.wall())
        run.started_mono = self.loop.clock.now()
        self.event("Normal", "Created", f"Created container {run.name}")
        self.sup.watch(child, lambda status: self._on_container_exit(run, status))
        self.event("Normal", "Started", f"Started container {run.name} (pid {child.pid})")
        run.mnt_hold = self.fx.hold_mount_ns(child.pid)
        self._open_target(run)
        self._start_probes(run)
        self._post_start(run)
        self._changed()

    # -- images: the kubelet's EnsureImageExists -----------------------------------
    def _ensure_image(self, run: ContainerRun) -> bool:
        """True when ``run.image`` may be used now. Otherwise a pull (or the
        wait after a failed one) is under way, with the kubelet's events and
        waiting reasons, and the start comes back here when it is done.

        imagePullPolicy: IfNotPresent pulls what is not stored; Always pulls
        before every start (a pull of an unchanged image fetches no blob);
        Never never pulls (ErrImageNeverPull). An image made on this host
        (build-busybox, import, load) has no registry copy to compare with:
        Always uses it as it is (README, deliberate differences)."""
        if run.pull_cancel is not None or run.pull_timer is not None:
            return False
        ref = run.spec.image
        if run.image is None:  # another pod's pull may have brought it meanwhile
            run.image = self.fx.lookup_image(ref)
        fresh, run.image_fresh = run.image_fresh, False
        if fresh:
            return True
        image = run.image
        if ref.startswith("/"):
            return image is not None
        policy = run.spec.image_pull_policy
        local = image is not None and image.origin in ("build", "import", "archive")
        if image is not None and (policy != "Always" or local):
            self.event("Normal", "Pulled", f'Container image "{ref}" already present on machine')
            return True
        if policy == "Never":
            message = f'Container image "{ref}" is not present with pull policy of Never'
            self._image_waiting(run, "ErrImageNeverPull", message)
            self.event("Warning", "ErrImageNeverPull", message)
            self.event("Warning", "Failed", "Error: ErrImageNeverPull")
            # the kubelet looks again at every sync of the pod
            run.pull_timer = self.loop.call_later(self._pull_delay(run),
                                                  lambda: self._image_retry(run))
            return False
        auth = pull_auth(self.pod, ref, self.fx.lookup())
        if auth.missing:
            self.event("Warning", "FailedToRetrieveImagePullSecret",
                       f"Unable to retrieve some image pull secrets ({', '.join(auth.missing)});"
                       " attempting to pull the image may not succeed.")
        self.event("Normal", "Pulling", f'Pulling image "{ref}"')
        if auth.error:  # the kubelet's MakeDockerKeyring failed: the pull does too
            failed = self.loop.call_later(
                0, lambda: self._pulled(run, PullOutcome(False, auth.error)))
            run.pull_cancel = failed.cancel
            return False
        run.pull_cancel = self.sup.pull_image(ref, lambda outcome: self._pulled(run, outcome),
                                              auth.config)
        return False

    def _pulled(self, run: ContainerRun, outcome: PullOutcome) -> None:
        run.pull_cancel = None
        if self.terminating or self.recreating or self.final_phase:
            return
        ref = run.spec.image
        error = outcome.error
        if outcome.ok:
            image = self.fx.lookup_image(ref)
            if image is not None:
                run.image, run.image_fresh, run.pull_failures = image, True, 0
                self.event("Normal", "Pulled",
                           f'Successfully pulled image "{ref}" in {_duration(outcome.seconds)} '
                           f"({_duration(outcome.waited)} including waiting). "
                           f"Image size: {outcome.size} bytes.")
                self._start_container(run)
                return
            error = "the pull ended, but the image is not in the store"
        self.event("Warning", "Failed", f'Failed to pull image "{ref}": {error}')
        self.event("Warning", "Failed", "Error: ErrImagePull")
        self._image_waiting(run, "ErrImagePull", error)
        run.pull_failures += 1
        delay = self._pull_delay(run)
        # ErrImagePull shows until the kubelet's next look at the pod, then
        # ImagePullBackOff until the back-off has passed
        shown = min(1.0, delay)
        run.pull_timer = self.loop.call_later(
            shown, lambda: self._pull_back_off(run, error, delay - shown))

    def _pull_back_off(self, run: ContainerRun, error: str, remaining: float) -> None:
        ref = run.spec.image
        self._image_waiting(run, "ImagePullBackOff",
                            f'Back-off pulling image "{ref}": ErrImagePull: {error}')
        self.event("Normal", "BackOff", f'Back-off pulling image "{ref}"')
        self.event("Warning", "Failed", "Error: ImagePullBackOff")
        run.pull_timer = self.loop.call_later(remaining, lambda: self._image_retry(run))

    def _image_retry(self, run: ContainerRun) -> None:
        run.pull_timer = None
        if self.terminating or self.recreating or self.final_phase:
            return
        if run.init and self.initialized and not run.sidecar:
            return
        self._start_container(run)

    def _pull_delay(self, run: ContainerRun) -> float:
        """The kubelet's image back-off: 10 s, doubled per failure, at most
        300 s (the pod's --backoff policy sets both; off: 1 s)."""
        if self.policy.off:
            return 1.0
        steps = max(0, run.pull_failures - 1)
        return float(min(self.policy.initial * 2 ** min(steps, 30), self.policy.maximum))

    def _image_waiting(self, run: ContainerRun, reason: str, message: str) -> None:
        if run.state.kind == "terminated":
            run.last_state = run.state
        run.state = State("waiting", reason, message)
        self._changed()

    def _spawn(self, run: ContainerRun) -> Child:
        assert self.sandbox is not None
        # Not now: removing a layer takes milliseconds, and a restart waits.
        self.loop.call_later(0, functools.partial(self._tidy_runs, run, run.attempt))
        plan = self._launch_plan(run)
        binds = self._run_binds(run)
        self._open_streams(run)
        run.log = LogFile(self.sandbox.log_dir / run.name / f"{run.attempt}.log",
                          *self.sup.log_limits())
        for pipe in run.pipes:
            pipe.attach(run.log)
        try:
            return self.fx.start_container(self.sandbox, run, plan, binds)
        except BaseException:
            for pipe in run.pipes:
                pipe.end_run()
            raise

    def _config_error(self, run: ContainerRun, error: ContainerConfigError) -> None:
        """The kubelet's CreateContainerConfigError (or CreateContainerError):
        the container waits in that reason, nothing is started, and it is
        tried again in CONFIG_RETRY seconds."""
        if run.state.kind == "terminated":
            run.last_state = run.state
        run.state = State("waiting", error.reason, str(error))
        self.event("Warning", "Failed", f"Error: {error}")
        run.restart_timer = self.loop.call_later(CONFIG_RETRY, lambda: self._retry(run))
        self._changed()

    def _launch_plan(self, run: ContainerRun) -> LaunchPlan:
        """launch_plan() is pure: a restart reuses the last run's plan while its
        inputs are the very same objects (a run's spec never changes, its
        image only with a pull; the sandbox's hostname and the pod's
        securityContext are compared too) and its resolved env (the downward
        API's values and the Service variables with it) is equal."""
        assert self.sandbox is not None and run.image is not None
        inputs = (run.spec, run.image, self.sandbox.hostname, self.pod.spec.security_context)
        known = run.plan_inputs
        env = run.env if run.env is not None else {}
        if run.plan is None or known is None or env != run.plan.own_env \
                or any(a is not b for a, b in zip(inputs, known, strict=True)):
            run.plan = launch_plan(*inputs, env=env, pod_ref=self._pod_ref())
            run.plan_inputs = inputs
        return run.plan

    def _open_streams(self, run: ContainerRun) -> None:
        """Our read ends of the container's FIFOs, kept for the sandbox's life."""
        assert self.sandbox is not None
        if run.pipes and all(pipe.open for pipe in run.pipes):
            return
        for pipe in run.pipes:
            pipe.close()
        echo = self.sup.echo_for(self.pod.name, run.name)
        run.pipes = [LogPipe(self.loop, self.fx.open_stream(self.sandbox, run.name, stream),
                             stream, None, echo) for stream in STREAMS]

    def _tidy_runs(self, run: ContainerRun, attempt: int) -> None:
        """Old runs go (the current and the previous one stay); the next run's
        directories are made ahead, off a restart's path, for containers that
        restart (an init container seldom runs again)."""
        if self.sandbox is not None:
            self.fx.tidy_runs(self.sandbox, run.name, attempt, not run.init or run.sidecar)

    def _start_failed(self, run: ContainerRun, error: StartError) -> None:
        """containerd's StartError: a terminated container with exit code 128,
        restarted by the same rules as any other exit."""
        now = self.loop.clock.wall()
        run.state = State("terminated", "StartError", str(error), START_ERROR_EXIT,
                          started_at=now, finished_at=now)
        run.finished_mono = self.loop.clock.now()
        self.event("Warning", "Failed", f"Error: {error}")
        # Decide from the loop, not from inside whoever started it.
        self.loop.call_later(0, lambda: self._after_exit(run))

    def _run_binds(self, run: ContainerRun) -> tuple[BindMount, ...]:
        """_binds, worked out once per run and sandbox: the /etc files and
        emptyDir volumes are the sandbox's own and do not change. A hostPath
        is looked at again on every start, as it may have turned from a file
        into a directory (or back) in between."""
        if run.binds is not None and run.binds[0] is self.sandbox:
            return run.binds[1]
        binds = self._binds(run.spec)
        volumes = {v.name: v for v in self.pod.spec.volumes}
        if not any(volumes[m.name].host_path or m.sub_path for m in run.spec.volume_mounts):
            run.binds = (self.sandbox, binds)
        return binds

    def _binds(self, container: Container) -> tuple[BindMount, ...]:
        """The /etc files and the container's volume mounts. A subPath is
        bound first, safely, to a path of the pod's own (PodEffects.bind_subpath,
        the kubelet's volume-subpaths), and the container gets that: a symlink
        the container put in its volume cannot point the mount outside it."""
        assert self.sandbox is not None
        mounts = {m.mount_path.rstrip("/") or "/" for m in container.volume_mounts}
        binds = [BindMount(str(self.sandbox.dir / "etc" / name), f"/etc/{name}", is_file=True)
                 for name in ETC_FILES if f"/etc/{name}" not in mounts]
        volumes = {v.name: v for v in self.pod.spec.volumes}
        for index, mount in enumerate(container.volume_mounts):
            volume = volumes[mount.name]
            source = volume.host_path or str(self.sandbox.volume_dir(volume.name))
            if mount.sub_path:
                try:
                    source = self.fx.bind_subpath(self.sandbox, volume.name, container.name,
                                                  index, source, mount.sub_path)
                except OSError as e:
                    raise StartError(f"subPath {mount.sub_path} of volume {volume.name}",
                                     e.errno or 0, e.strerror or str(e)) from None
            # configMap, secret, downwardAPI and projected volumes are always
            # read-only, as the kubelet mounts them
            read_only = mount.read_only or volume.projections is not None
            binds.append(BindMount(source, mount.mount_path, read_only,
                                   is_file=not self.fx.is_dir(source)))
        return tuple(binds)

    # -- handlers: probes and hooks ------------------------------------------------
    def _needs_target(self, spec: Container) -> bool:
        hooks = spec.lifecycle
        handlers_ = [p.handler for p in (spec.liveness_probe, spec.readiness_probe,
                                         spec.startup_probe) if p is not None]
        if hooks is not None:
            handlers_ += [h.exec for h in (hooks.post_start, hooks.pre_stop)
                          if h is not None and h.exec is not None]
        return any(isinstance(h, ExecAction) for h in handlers_)

    def _open_target(self, run: ContainerRun) -> None:
        assert run.child is not None and run.plan is not None and self.sandbox is not None
        if not self._needs_target(run.spec):
            return
        try:
            run.target = self.fx.open_exec_target(run.child.pid, self.sandbox, run.plan,
                                                  run.name)
        except OSError as e:  # it died already; its exit is on the way
            log.debug("container %s: no exec target: %s", run.name, e)

    def _context(self, run: ContainerRun) -> handlers.HandlerContext:
        assert self.sandbox is not None
        ports = {p.name: p.container_port for p in run.spec.ports if p.name}
        env = run.env or {}
        return handlers.HandlerContext(self.loop, self.sup.watch, run.target,
                                       self.sandbox.ns.fds["net"], ports, env)

    def _start_probes(self, run: ContainerRun) -> None:
        anchor = run.started_mono if run.started_mono is not None else self.loop.clock.now()
        spec = run.spec
        for kind, probe in (("startup", spec.startup_probe), ("liveness", spec.liveness_probe),
                            ("readiness", spec.readiness_probe)):
            if probe is None:
                continue

            def prober(done: Callable[[Outcome], None], probe: Any = probe) -> InFlight:
                return handlers.start_handler(self._context(run), probe.handler,
                                              probe.timeout_seconds, done)

            # httpGet and tcpSocket are worked out once per run, not per probe
            prepared = handlers.network_prober(self._context(run), probe.handler,
                                               probe.timeout_seconds)
            gate = (lambda: True) if kind == "startup" else (lambda: run.started)
            worker = ProbeWorker(self.loop, kind, probe, prepared or prober,
                                 on_outcome=functools.partial(self._on_probe, run),
                                 on_result=lambda w, r: self._on_probe_result(run, w, r),
                                 gate=gate)
            run.probes[kind] = worker
            worker.start(anchor)

    def _stop_probes(self, run: ContainerRun) -> None:
        for worker in run.probes.values():
            worker.stop()
        run.probes = {}

    def _on_probe(self, run: ContainerRun, worker: ProbeWorker, outcome: Outcome) -> None:
        if outcome.result != SUCCESS:
            self.loop.call_later(0, self.save)  # after the worker counted it
        if outcome.result == FAILURE:
            self.event("Warning", "Unhealthy", f"{worker.label} probe failed: "
                       f"{outcome.message.strip()}")
        elif outcome.result == WARNING:
            self.event("Warning", "ProbeWarning", f"{worker.label} probe warning: "
                       f"{outcome.message.strip()}")
        elif outcome.result not in (SUCCESS,):
            self.event("Warning", "Unhealthy", f"{worker.label} probe errored: "
                       f"{outcome.message.strip()}")

    def _on_probe_result(self, run: ContainerRun, worker: ProbeWorker, result: str) -> None:
        if not run.running or run.killing:
            return
        if worker.kind == "readiness":
            run.ready = run.started and result == SUCCESS
            self._changed()
        elif worker.kind == "startup" and result == SUCCESS:
            self._maybe_started(run)
        elif result == FAILURE:  # liveness, or startup out of attempts
            self._kill_for_probe(run, worker)

    def _kill_for_probe(self, run: ContainerRun, worker: ProbeWorker) -> None:
        restarts = run.sidecar or self.pod.spec.restart_policy != "Never"
        message = f"Container {run.name} failed {worker.kind} probe"
        if restarts:
            message += ", will be restarted"
        grace = worker.probe.termination_grace_period_seconds
        if grace is None:
            grace = self.pod.spec.termination_grace_period_seconds
        self._kill(run, max(capped_grace(grace), MIN_KILL_GRACE), message)

    def _post_start(self, run: ContainerRun) -> None:
        hook = run.spec.lifecycle.post_start if run.spec.lifecycle else None
        if hook is None:
            run.post_start_done = True
            self._maybe_started(run)
            return
        run.hook = self._start_hook(run, hook, None, lambda o: self._post_start_done(run, o))

    def _post_start_done(self, run: ContainerRun, outcome: Outcome) -> None:
        run.hook = None
        if not run.running or run.killing:
            return
        if outcome.result in (SUCCESS, WARNING):
            run.post_start_done = True
            self._maybe_started(run)
            return
        self.event("Warning", "FailedPostStartHook",
                   f"PostStartHook failed for container {run.name}: {outcome.message.strip()}")
        grace = capped_grace(self.pod.spec.termination_grace_period_seconds)
        self._kill(run, max(grace, MIN_KILL_GRACE),
                   f"FailedPostStartHook: container {run.name}")

    def _start_hook(self, run: ContainerRun, hook: LifecycleHandler, timeout: float | None,
                    done: Callable[[Outcome], None]) -> InFlight:
        if hook.sleep_seconds is not None:
            return handlers.start_sleep(self.loop, hook.sleep_seconds, done)
        action = hook.exec or hook.http_get
        assert action is not None
        return handlers.start_handler(self._context(run), action, timeout, done, hook=True)

    def _maybe_started(self, run: ContainerRun) -> None:
        startup = run.probes.get("startup")
        if not run.running or not run.post_start_done or run.started:
            return
        if startup is not None and startup.result != SUCCESS:
            return
        run.started = True
        readiness = run.probes.get("readiness")
        run.ready = readiness is None or readiness.result == SUCCESS
        self._changed()
        if run.sidecar and not self.initialized:
            self._advance()

    # -- exits -----------------------------------------------------------------
    def _on_container_exit(self, run: ContainerRun, status: ExitStatus) -> None:
        assert run.child is not None
        os.close(run.child.pidfd)
        run.child.pidfd = -1
        held, run.mnt_hold = run.mnt_hold, -1
        run.cancel_timers()
        self._release(run)
        for pipe in run.pipes:  # its last words before the news of its exit
            pipe.end_run()
        assert self.sandbox is not None
        if self.pod.spec.share_process_namespace and not self.terminating:
            # what it left in the pod's pid namespace dies with it, before a
            # restart puts a new run in its cgroup (containerd's KillAll)
            self.fx.kill_container(self.sandbox, run.name, run.child)
        # the kernel's notice may still be on its way: read the counter too
        self._oom_kills(run, self.fx.new_oom_kills(self.sandbox, run.name))
        reason = "OOMKilled" if run.oom_killed else status.reason
        started_at = run.state.started_at
        run.state = State("terminated", reason, "", status.exit_code, status.signal or 0,
                          started_at, self.loop.clock.wall())
        run.finished_mono = self.loop.clock.now()
        run.started = run.ready = False
        how = f"signal {status.signal}, " if status.signal else ""
        if run.oom_killed:
            how = f"OOMKilled, {how}"
        message = f"Container {run.name} exited ({how}exit code {status.exit_code})"
        ok = status.exit_code == 0
        if self._exit_leads_to(run) == "restart":
            # Its events (this one, Pulled) are written once the new run is
            # spawned, off the restart's path: a line in daemon.log and one in
            # events.jsonl each, ~0.1 ms of a 2 ms restart. Only here: nothing
            # on this path removes the pod or its sandbox, and its record is
            # saved after this turn of the loop, so no reader sees the restart
            # before the exit's events. Any other way out writes them at once.
            self._held_events = []
        try:
            self.event("Normal" if ok else "Warning", "Completed" if ok else "Failed", message)
            self._after_exit(run)
        finally:
            self._write_held_events()
        if held >= 0:  # the unmounts its exit left to us, once the restart is done
            self.loop.call_later(0, functools.partial(os.close, held))

    def _release(self, run: ContainerRun) -> None:
        """What a run holds besides its process: probes, hooks, exec target,
        its mount namespace."""
        self._stop_probes(run)
        _drop_mount_hold(run)
        if run.hook is not None:
            run.hook.cancel()
            run.hook = None
        if run.target is not None:
            run.target.close()
            run.target = None

    def _after_exit(self, run: ContainerRun) -> None:
        self._changed()  # the exit itself shows (Error, Init:Error) before any restart
        step = self._exit_leads_to(run)
        if step == "stop":
            self._continue_stop()
        elif step == "recreate":
            self._maybe_recreate()
        elif step == "restart":
            self._launch(run)
        elif step == "advance":
            self._advance()
        elif step == "fail":
            code, message = run.state.exit_code, run.state.message
            self.fail(f"init container {run.name} exited with code {code}"
                      + (f": {message}" if message else ""))
        elif step == "finish":
            # Every app container is done for good: the pod is finished. Its
            # sidecars do not keep it alive: they are stopped, and the phase is
            # the one it will have once they are gone.
            self.final_phase = pod_phase([r.status() for r in self.inits if not r.sidecar],
                                         [r.status() for r in self.apps],
                                         self.pod.spec.restart_policy)
            self.sup.pod_finished(self)
        self._changed()

    def _exit_leads_to(self, run: ContainerRun) -> str:
        """What _after_exit does about an exit of ``run``: "stop" (the pod is
        terminating), "recreate" (its sandbox died), "restart" (at once or
        after its back-off), "advance" (an init container is done), "fail",
        "finish" (every app container is done for good), or "" (the others
        run on)."""
        if self.terminating:
            return "stop"
        if self.recreating:
            return "recreate"
        if self.final_phase is not None:
            return ""
        code = run.state.exit_code
        policy = self.pod.spec.restart_policy
        if run.sidecar:
            return "restart"
        if run.init:
            if code == 0:
                return "advance"
            return "fail" if policy == "Never" else "restart"
        if should_restart(policy, code):
            return "restart"
        return "finish" if all(r.state.kind == "terminated" for r in self.apps) else ""

    def _on_pause_exit(self, status: ExitStatus) -> None:
        assert self.sandbox is not None
        os.close(self.sandbox.pause.pidfd)
        self.sandbox.pause.pidfd = -1
        self.sup.unwatch(self.sandbox.pause)
        self.sandbox_lost(f"pause exited with code {status.exit_code}")

    def sandbox_lost(self, why: str) -> None:
        if self.terminating or self.final_phase:
            self._continue_stop()
            return
        self.event("Normal", "SandboxChanged",
                   f"Pod sandbox changed, it will be killed and re-created ({why}).")
        if self.pod.spec.restart_policy == "Never":
            self.fail("pod sandbox died")
            return
        self.recreating = True
        for run in self.runs:
            run.cancel_restart()
            self._kill(run, capped_grace(self.pod.spec.termination_grace_period_seconds),
                       f"Stopping container {run.name}")
        self._maybe_recreate()

    def _maybe_recreate(self) -> None:
        if any(r.running for r in self.runs):
            return
        assert self.sandbox is not None
        self.recreating = False
        try:
            self.fx.replace_pause(self.sandbox)
        except StartError as e:
            self.fail(f"could not re-create the pod sandbox: {e}")
            return
        self.sup.watch(self.sandbox.pause, self._on_pause_exit)
        self.event("Normal", "SandboxReady",
                   f"pod sandbox re-created (pause pid {self.sandbox.pause.pid})")
        self.initialized = False
        for run in self.runs:
            reason = "PodInitializing" if self.inits else "ContainerCreating"
            if run.state.kind == "terminated":
                run.last_state = run.state
            run.state = State("waiting", reason)
        self._advance()

    def fail(self, reason: str) -> None:
        """The pod is Failed for good: stop whatever still runs and remove it."""
        if self.failed_reason is None:
            self.failed_reason = reason
        self.final_phase = "Failed"
        self.event("Warning", "Failed", f"pod failed: {reason}")
        self.sup.pod_finished(self)

    # -- status ------------------------------------------------------------------
    def phase(self) -> str:
        if self.final_phase is not None:
            return self.final_phase
        return pod_phase([r.status() for r in self.inits], [r.status() for r in self.apps],
                         self.pod.spec.restart_policy)

    def row(self) -> PodRow:
        return pod_row(self.phase(), [r.status() for r in self.inits],
                       [r.status() for r in self.apps], self.terminating)

    def _changed(self) -> None:
        self._save_soon()
        self.sup.pod_changed(self)

    def _save_soon(self) -> None:
        """One pod.json write per turn of the loop, after the work of the turn:
        a restart changes the pod three or four times in a row, and the write
        should not stand between a container's exit and its new exec."""
        if self._save_pending is None:
            self._save_pending = self.loop.call_later(0, self._flush)

    # -- stopping ----------------------------------------------------------------
    def stop(self, grace: int | None, on_stopped: Callable[[], None]) -> None:
        """Stop every container, then remove the sandbox: app (and running init)
        containers in parallel, then sidecars one by one in reverse order, all
        within one grace period, as the kubelet's termination ordering does.

        A pod already stopping goes on; a shorter ``grace`` than what it has
        left shortens it (a second `delete --grace-period 0`, or `--now`), as a
        shorter deletionGracePeriodSeconds does in the API server."""
        self._on_stopped.append(on_stopped)
        if self.terminating:
            if grace is not None:
                self._shorten(capped_grace(grace))
            return
        self.terminating = True
        self.deletion_time = self.loop.clock.wall()
        grace = self.pod.spec.termination_grace_period_seconds if grace is None else grace
        grace = capped_grace(grace)
        self._stop_deadline = self.loop.clock.now() + grace
        # The intent first: a supervisor killed from here on leaves a record
        # that says Terminating, and the next one finishes the deletion
        # (runtime/adopt.py) instead of adopting the pod as a running one.
        self._flush()
        crash_point("delete:marked")
        for run in self.runs:
            run.cancel_restart()
            run.cancel_pull()
            if not run.sidecar:
                self._kill(run, grace, f"Stopping container {run.name}")
        crash_point("delete:signalled")
        self._changed()  # Terminating shows at once, as a deletionTimestamp does
        self._continue_stop()

    def _shorten(self, grace: int) -> None:
        """What is left of the grace period becomes ``grace`` if that is shorter."""
        now = self.loop.clock.now()
        if now + grace >= self._stop_deadline:
            return
        self._stop_deadline = now + grace
        self._shortened = True
        for run in self.runs:
            if not (run.killing and run.running and run.child is not None):
                continue
            if run.hook is not None:  # preStop still running: it ends with the new time
                if grace > 0:
                    continue
                run.hook.cancel()
                run.hook = None
            if run.kill_timer is not None:
                run.kill_timer.cancel()
                run.kill_timer = None
            self._terminate(run, grace)

    def _continue_stop(self) -> None:
        if not self.terminating:
            return
        if any(r.running and not r.sidecar for r in self.runs):
            return
        for run in reversed(self.inits):
            if run.sidecar and run.running:
                remaining = max(0, round(self._stop_deadline - self.loop.clock.now()))
                self._kill(run, remaining, f"Stopping container {run.name}")
                return  # the next one waits for this one (termination ordering)
        crash_point("delete:containers-gone")
        self.teardown()
        callbacks, self._on_stopped = self._on_stopped, []
        for callback in callbacks:
            callback()

    def _kill(self, run: ContainerRun, grace: int, message: str) -> None:
        """killContainer: preStop (within the grace period), SIGTERM, SIGKILL at the end."""
        if not run.running or run.killing or run.child is None:
            return
        run.killing = True
        if self.terminating or self.recreating:
            # No restart follows: each process unmounts its own as it exits,
            # in parallel, and not one after the other in our close().
            _drop_mount_hold(run)
        self.event("Normal", "Killing", message)
        self._stop_probes(run)
        if run.hook is not None:  # a postStart still running
            run.hook.cancel()
            run.hook = None
        pre_stop = run.spec.lifecycle.pre_stop if run.spec.lifecycle else None
        if pre_stop is None or grace <= 0:
            self._terminate(run, grace)
            return
        began = self.loop.clock.now()

        def after_pre_stop(outcome: Outcome) -> None:
            run.hook = None
            if outcome.result not in (SUCCESS, WARNING):
                self.event("Warning", "FailedPreStopHook",
                           f"PreStopHook failed for container {run.name}: "
                           f"{outcome.message.strip()}")
            now = self.loop.clock.now()
            left = max(grace - (now - began), MIN_KILL_GRACE)
            if self._shortened:  # a second delete cut the grace period since
                left = min(left, self._stop_deadline - now)
            self._terminate(run, left)

        run.hook = self._start_hook(run, pre_stop, grace, after_pre_stop)

    def _terminate(self, run: ContainerRun, grace: float) -> None:
        if not run.running or run.child is None:
            return
        child, box = run.child, self.sandbox
        assert box is not None
        if grace <= 0:
            self.fx.kill_container(box, run.name, child)
            return
        # the image's StopSignal first, as containerd stops a container: to its
        # main process, as runc kill does
        self.fx.signal(child, (run.image.stop_signal if run.image else None) or signal.SIGTERM)
        # and then SIGKILL to all of it, as containerd's StopContainer (kill --all)
        run.kill_timer = self.loop.call_later(
            grace, lambda: self.fx.kill_container(box, run.name, child))

    def teardown(self) -> None:
        """Stop the sandbox and remove everything of this pod (idempotent)."""
        if self._save_pending is not None:
            self._save_pending.cancel()
            self._save_pending = None
        for run in self.runs:
            run.cancel_timers()
            self._release(run)
            if self.sandbox is not None:
                self.fx.unwatch_oom(self.sandbox, run.name)
            if run.running and run.child is not None and run.child.pidfd >= 0:  # rollback
                self.sup.unwatch(run.child)
                self.fx.kill_and_reap(run.child)
                run.state = State("terminated", "Error", exit_code=137, signal=9)
            for pipe in run.pipes:
                pipe.close()
            run.pipes = []
        if self.sandbox is not None:
            if self.sandbox.pause.pidfd >= 0:
                self.sup.unwatch(self.sandbox.pause)
            self.fx.teardown_sandbox(self.sandbox)
            self.sandbox = None
            self.sup.empty_trash_soon()
            self.event("Normal", "Deleted", "pod sandbox removed")
        if self.net is not None:  # after pause: its veth pair went with its namespace
            net, self.net = self.net, None
            self.sup.detach_network(self.pod, net)

    # -- the on-disk record --------------------------------------------------------
    def save(self) -> None:
        """Write pod.json (runtime/podview.py renders it). While the pod is
        being created a failure is the pod's (StartError, naming the file:
        it is rolled back); afterwards the pod goes on with its last record,
        the failure said once in the log, and the next change writes again."""
        if self.sandbox is None:
            return
        try:
            self.fx.save_record(self)
        except OSError as e:
            path = self.sandbox.record_dir / "pod.json"
            if self.creating:
                raise StartError(f"write {path}", e.errno or 0) from e
            if not self._save_failed:
                log.error("pod %s: cannot write %s: %s", self.key, path, e.strerror)
            self._save_failed = True
            return
        if self._save_failed:
            log.warning("pod %s: %s written again", self.key, self.sandbox.record_dir)
            self._save_failed = False

    def identity(self, pid: int) -> ProcessRef:
        """A process's identity, read once per process (a pid's start time
        never changes while we hold its pidfd)."""
        if pid not in self._identities:
            if len(self._identities) > 64:  # only the current processes matter
                self._identities.clear()
            self._identities[pid] = self.fx.identity(pid)
        return self._identities[pid]

    def pause_ref(self) -> PauseRef:
        """The pause's identity and namespaces, read once per pause: it makes
        its namespaces before it reports ready and never leaves them, and
        seven stats of /proc in every pod.json write stood between a
        container's SIGTERM and the handling of its exit."""
        assert self.sandbox is not None
        pid = self.sandbox.pause.pid
        if self._pause is None or self._pause.pid != pid:
            ident = self.identity(pid)
            self._pause = PauseRef(pid, ident.start_time, self.fx.namespace_inodes(pid))
        return self._pause


def _drop_mount_hold(run: ContainerRun) -> None:
    if run.mnt_hold >= 0:
        os.close(run.mnt_hold)
        run.mnt_hold = -1


def _duration(seconds: float) -> str:
    """Go's time.Duration text of a time truncated to the millisecond, as
    the kubelet's Pulled event prints it: 567ms, 1.234s, 2m3.5s."""
    ms = int(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{secs}" if minutes else secs


def _seconds(delay: float) -> str:
    """Go's time.Duration text for whole seconds (10s, 5m0s)."""
    total = int(delay)
    if total < 60:
        return f"{delay:g}s"
    minutes, secs = divmod(total, 60)
    return f"{minutes}m{secs}s"

