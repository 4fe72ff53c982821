"""Fakes of the runtime's interfaces, for unit tests without a kernel:
FakeHost (a PodHost), FakeEffects (PodEffects) and MountHolds."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minipod.api.downward import Lookup, Payload, PodFacts
from minipod.api.errors import StartError
from minipod.api.events import Event
from minipod.api.model import ConfigData, Pod, Volume
from minipod.api.record import PodNetworkRecord, PodRecord, ProcessRef, SupervisorRef
from minipod.kernel.image import Image
from minipod.kernel.launch import LaunchPlan
from minipod.kernel.ns import NsFds
from minipod.kernel.podnet import PodNet
from minipod.kernel.rootfs import BindMount
from minipod.kernel.sandbox import Sandbox
from minipod.kernel.spawn import Child
from minipod.loop.clock import FakeClock
from minipod.loop.eventloop import Loop
from minipod.runtime.network import Attachment
from minipod.runtime.pod import ContainerRun, PodRunner
from minipod.runtime.podview import pod_record


class FakeHost:
    """The PodHost: watches, events and the pod's last phase, kept."""

    def __init__(self, tmp: Path) -> None:
        self.loop = Loop(FakeClock())
        self.events: list[Event] = []
        self.watched: dict[int, Any] = {}
        self.finished: list[str] = []
        self.socket_path = tmp / "sup.sock"
        self.attached: list[tuple[str, PodNetworkRecord | None]] = []
        self.detached: list[tuple[str, PodNetworkRecord | None]] = []
        self.pulls: list[tuple[str, Any]] = []  # (reference, done) asked for, in order
        self.pull_auths: list[bytes | None] = []  # the credentials of each, in turn
        self.pull_cancels: list[str] = []

    def pull_image(self, reference: str, done: Any, auth: bytes | None = None) -> Any:
        self.pulls.append((reference, done))
        self.pull_auths.append(auth)
        return lambda: self.pull_cancels.append(reference)

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def identity(self) -> SupervisorRef:
        return SupervisorRef(os.getpid(), 0.0, str(self.socket_path))

    def watch(self, child: Child, on_exit: Any) -> None:
        self.watched[child.pid] = on_exit

    def unwatch(self, child: Child) -> None:
        self.watched.pop(child.pid, None)

    def echo_for(self, _pod: str, _container: str) -> None:
        return None

    def empty_trash_soon(self) -> None:
        pass

    def log_limits(self) -> tuple[int, int]:
        return 10 << 20, 5

    def pod_changed(self, runner: PodRunner) -> None:
        pass

    def pod_finished(self, runner: PodRunner) -> None:
        self.finished.append(runner.phase())
        runner.stop(None, lambda: None)

    # the pod network: an address per pod when ``addresses`` is on, and what
    # was given back, recorded
    addresses = False
    service_vars: dict[str, str] = {}  # noqa: RUF012 - a class default, replaced per test

    def attach_network(self, pod: Pod, hostname: str) -> Any:
        record = PodNetworkRecord(f"10.244.0.{len(self.attached) + 2}") \
            if self.addresses else None
        self.attached.append((pod.name, record))
        return Attachment(PodNet("nameserver 10.96.0.10\n", record.ip if record else None,
                                 "10.244.0.1", "minipod0"), record)

    def detach_network(self, pod: Pod, record: PodNetworkRecord | None) -> None:
        self.detached.append((pod.name, record))

    def service_env(self, pod: Pod) -> dict[str, str]:
        return dict(self.service_vars)


class MountHolds:
    """hold_mount_ns with a pipe's write end for the namespace: the read end
    we keep says whether it was closed (EOF) even once its number is reused."""

    def __init__(self) -> None:
        self.ends: list[int] = []  # our read ends, in the order of the holds

    def hold(self, _pid: int) -> int:
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.ends.append(r)
        return w

    def open(self) -> list[bool]:
        """For each hold so far: is it still open?"""
        found = []
        for r in self.ends:
            try:
                os.read(r, 1)
                found.append(False)
            except BlockingIOError:
                found.append(True)
        return found

    def close(self) -> None:
        for r in self.ends:
            os.close(r)


class FakeEffects:
    """PodEffects that start nothing: containers are pids handed out in turn
    (their "pidfds" eventfds), signals and runs are recorded, and every record
    the pod saves is rendered (runtime/podview.py) and kept."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.next_pid = 2000
        self.spawned: list[str] = []
        self.signals: list[tuple[str, int]] = []
        self.fail_spawn: set[str] = set()  # containers whose start fails
        self.fail_sandbox: set[str] = set()  # pods whose sandbox cannot be made
        self.sandboxes: list[str] = []  # pods whose sandbox was made
        self.nets: list[PodNet] = []  # what each sandbox was given
        self.torn_down: list[str] = []
        self.names: dict[int, str] = {}  # pid: container
        self.holds = MountHolds()
        self.records: list[PodRecord] = []
        self.tidied: list[tuple[str, int, bool]] = []
        self.stored: dict[str, Image] = {}  # what lookup_image finds
        self.oom_watches: dict[str, Any] = {}  # container: the loop's callback
        self.oom_counts: dict[str, int] = {}  # container: the kernel's counter
        self.oom_seen: dict[str, int] = {}
        self.cgroup_tidies = 0
        self._fds: list[int] = []  # the write ends of our streams
        # the API's objects, (kind, namespace, name) -> data; and what the
        # volumes were made to show, (pod, volume) -> payload, in turn
        self.configs: dict[tuple[str, str, str], ConfigData] = {}
        self.projected: list[tuple[str, str, Payload]] = []
        self.plans: list[tuple[str, LaunchPlan, tuple[BindMount, ...]]] = []

    def _devnull(self) -> int:
        # an eventfd, not /dev/null: a supervisor registers pidfds with epoll
        return os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)

    def create_sandbox(self, pod: Pod, attach: Callable[[], PodNet] | None = None,
                       intent: Callable[[Sandbox], None] | None = None) -> Sandbox:
        box = Sandbox(pod, self.tmp, "uid-1", pod.name, Child(0, -1), NsFds(0, {}), 0.0,
                      contextlib.ExitStack(), contextlib.ExitStack(), log_dir=self.tmp / "logs")
        if intent is not None:
            intent(box)  # the record first, as the kernel's sandbox does
        net = attach() if attach is not None else PodNet("")
        box.net = net
        if pod.name in self.fail_sandbox:
            raise StartError("start pause: exec /nope", 2)
        self.sandboxes.append(pod.name)
        self.nets.append(net)
        self.next_pid += 1
        box.pause, box.ns = Child(self.next_pid, self._devnull()), NsFds(0, {"net": -1})
        return box

    def replace_pause(self, box: Sandbox) -> None:
        box.attempt += 1
        self.next_pid += 1
        box.pause = Child(self.next_pid, self._devnull())

    def teardown_sandbox(self, box: Sandbox) -> None:
        self.torn_down.append(box.pod.name)
        if box.pause.pidfd >= 0:
            os.close(box.pause.pidfd)
            box.pause.pidfd = -1

    def open_stream(self, box: Sandbox, container: str, stream: str) -> int:
        r, w = os.pipe2(os.O_CLOEXEC)
        self._fds.append(w)
        return r

    def start_container(self, box: Sandbox, run: ContainerRun, plan: LaunchPlan,
                        binds: tuple[BindMount, ...]) -> Child:
        if run.name in self.fail_spawn:
            raise StartError(f"start container {run.name}: exec /nope", 2)
        self.next_pid += 1
        self.spawned.append(run.name)
        self.plans.append((run.name, plan, binds))
        self.names[self.next_pid] = run.name
        return Child(self.next_pid, self._devnull())

    def tidy_runs(self, box: Sandbox, name: str, attempt: int, make_spare: bool) -> None:
        self.tidied.append((name, attempt, make_spare))

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def lookup_image(self, reference: str) -> Image | None:
        return self.stored.get(reference)

    def lookup(self) -> Lookup:
        return lambda kind, namespace, name: self.configs.get((kind, namespace, name))

    def node_facts(self) -> PodFacts:
        return PodFacts("", "", "", node_name="node-1", host_ips=("192.0.2.10",),
                        allocatable={"cpu": 2000, "memory": 4 << 30,
                                     "ephemeral-storage": 10 << 30})

    def project_volume(self, box: Sandbox, volume: Volume, payload: Payload) -> bool:
        last = [p for p in self.projected if p[:2] == (box.pod.name, volume.name)]
        if last and last[-1][2] == payload:
            return False  # as the atomic writer: nothing written
        self.projected.append((box.pod.name, volume.name, dict(payload)))
        return True

    def bind_subpath(self, box: Sandbox, volume: str, container: str,  # noqa: PLR0917
                     index: int, root: str, sub_path: str) -> str:
        return f"{box.dir}/volume-subpaths/{volume}/{container}/{index}"

    def signal(self, child: Child, signo: int) -> None:
        self.signals.append((self.names[child.pid], signo))

    def kill_and_reap(self, child: Child) -> None:
        os.close(child.pidfd)

    def kill_container(self, box: Sandbox, name: str, child: Child) -> None:
        self.signals.append((name, signal.SIGKILL))  # by cgroup: every process of it

    def watch_oom(self, loop: Loop, box: Sandbox, name: str, callback: Any) -> None:
        self.oom_watches[name] = callback

    def unwatch_oom(self, box: Sandbox, name: str) -> None:
        self.oom_watches.pop(name, None)

    def oom_kill(self, name: str, notify: bool = True) -> None:
        """As the kernel: the OOM killer took a process of ``name``'s cgroup,
        and (``notify``) the loop hears of it."""
        self.oom_counts[name] = self.oom_counts.get(name, 0) + 1
        if notify:
            self.oom_watches[name]()

    def new_oom_kills(self, box: Sandbox, name: str) -> int:
        count = self.oom_counts.get(name, 0)
        new, self.oom_seen[name] = count - self.oom_seen.get(name, 0), count
        return new

    def tidy_cgroups(self) -> None:
        self.cgroup_tidies += 1

    def hold_mount_ns(self, pid: int) -> int:
        return self.holds.hold(pid)

    def open_exec_target(self, pid: int, box: Sandbox, plan: LaunchPlan,
                         name: str = "") -> Any:
        raise OSError(3, "no exec targets here")  # as if the container were gone

    def identity(self, pid: int) -> ProcessRef:
        return ProcessRef(pid, 1.0)

    def namespace_inodes(self, pid: int) -> dict[str, int]:
        return {"net": 4026531840 + pid}

    def save_record(self, runner: PodRunner) -> None:
        self.records.append(pod_record(runner))

    def append_event(self, box: Sandbox, event: Event) -> None:
        pass

    def close(self) -> None:
        self.holds.close()
        for fd in self._fds:
            os.close(fd)
