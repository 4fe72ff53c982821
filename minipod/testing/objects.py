"""Handles on the objects a Node made: Pod, Workload, Service, Config.

A handle is a name and the node's directories: each look reads the record
the supervisor keeps (api/record.py), so a handle is never stale, and
every wait is a StateWatch over the state directory (watch.py). Deleting
goes through the node's supervisor (the control socket), as `minipod
delete` does; a handle's ``delete`` is safe to call twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from minipod.api.errors import MinipodError, StateError
from minipod.api.record import (
    ContainerRecord,
    EndpointsRecord,
    PodRecord,
    RecordError,
    ServiceRecord,
    WorkloadRecord,
)
from minipod.kernel import cgroups, configstore
from minipod.kernel.cgroups import Cgroup
from minipod.kernel.logs import CriDecoder, log_files
from minipod.kernel.proc import open_if_same
from minipod.kernel.records import (
    read_endpoints_record,
    read_pod_record,
    read_service_record,
    read_workload_record,
)
from minipod.kernel.state import pod_key
from minipod.server.client import request
from minipod.testing.execute import ExecResult, exec_in
from minipod.testing.leaks import LeakTracker
from minipod.testing.watch import wait_until

Json = dict[str, Any]
T = TypeVar("T")
DEFAULT_TIMEOUT = 30.0  # seconds: a bound on a wait, never a sleep
DELETE_TIMEOUT = 120.0  # seconds: a pod's grace period, then its sandbox


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in this process's environment, as it was afterwards."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class NodeCore:
    """What every handle of one node shares: its directories, its
    supervisor's socket, and the leak tracker its reads feed."""

    root: Path
    logs: Path
    env: dict[str, str] = field(default_factory=dict)  # MINIPOD_ROOT, MINIPOD_IMAGES...
    tracker: LeakTracker = field(default_factory=LeakTracker)

    @property
    def socket(self) -> Path:
        return self.root / "supervisors" / "daemon.sock"

    @property
    def events_path(self) -> Path:
        """The node's event log (testing/daemon.py writes it)."""
        return self.root / "supervisors" / "events.jsonl"

    @property
    def watch_roots(self) -> list[Path]:
        return [self.root, self.logs]

    @contextlib.contextmanager
    def environ(self) -> Iterator[None]:
        """The node's MINIPOD_* variables in this process's environment, for
        the calls into minipod that read them (exec's image, the config
        store); as they were afterwards."""
        with environment(self.env):
            yield

    def request(self, message: Json, timeout: float = 60) -> Json:
        """One request to the node's supervisor; its answer."""
        return request(self.socket, message, timeout)

    def ask(self, message: Json, timeout: float = 60) -> Json:
        """One request to the node's supervisor; MinipodError when it refuses."""
        answer = self.request(message, timeout)
        if not answer.get("ok"):
            raise MinipodError(str(answer.get("error", "the supervisor refused")))
        return answer

    def wait(self, look: Callable[[], T | None], what: str, timeout: float,
             last_seen: Callable[[], str]) -> T:
        return wait_until(self.watch_roots, look, what, timeout, last_seen)


# -- pods ----------------------------------------------------------------------------


class _Named:
    """An object of the node by kind, namespace and name (what each class
    below has in common)."""

    kind: str

    def __init__(self, core: NodeCore, name: str, namespace: str = "default") -> None:
        self._core = core
        self.name = name
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"<{self.kind} {self.namespace}/{self.name}>"


class Pod(_Named):
    """A pod of the node, by namespace and name."""

    kind = "Pod"

    @property
    def directory(self) -> Path:
        return self._core.root / "pods" / pod_key(self.namespace, self.name)

    # -- status --------------------------------------------------------------------
    def record(self) -> PodRecord | None:
        """The pod's record as its supervisor last wrote it (None: no such pod)."""
        try:
            found = read_pod_record(self.directory)
        except RecordError:
            return None
        if found is not None:
            self._core.tracker.note(found)
        return found

    def _require(self) -> PodRecord:
        found = self.record()
        if found is None:
            raise StateError(f'pods "{self.name}" not found in namespace "{self.namespace}"')
        return found

    def get(self) -> Json:
        """The Pod as the API server returns it (`minipod get pod -o json`)."""
        return self._require().api_object

    @property
    def status(self) -> Json:
        """The Pod's ``status``: phase, conditions, podIP, containerStatuses..."""
        found: Json = self.get().get("status") or {}
        return found

    @property
    def phase(self) -> str:
        """Pending, Running; Succeeded or Failed from its PodCompleted event
        once it finished (its supervisor removes a finished pod at once)."""
        record = self.record()
        if record is not None:
            return record.phase
        finished = self.finished_phase()
        if finished is None:
            raise StateError(f'pods "{self.name}" not found in namespace "{self.namespace}"')
        return finished

    def events(self) -> list[Json]:
        """The pod's events (timestamp, type, reason, obj, message), oldest
        first, from the node's event log: they outlive the pod."""
        mine = (f"pod/{self.name}", f"pod/{self.name}/")
        found = []
        try:
            with open(self._core.events_path, encoding="utf-8") as f:
                for line in f:
                    with contextlib.suppress(ValueError):
                        event = json.loads(line)
                        obj = str(event.get("obj", ""))
                        if obj == mine[0] or obj.startswith(mine[1]):
                            found.append(event)
        except FileNotFoundError:
            pass
        return found

    def wait_event(self, reason: str, message: str = "",
                   timeout: float = DEFAULT_TIMEOUT) -> Json:
        """Until the pod has an event of ``reason`` (OOMKilling, Killing,
        Unhealthy, BackOff...) whose message matches the regular expression
        ``message``; that event."""
        regex = re.compile(message)

        def look() -> Json | None:
            return next((e for e in self.events() if e.get("reason") == reason
                         and regex.search(str(e.get("message", "")))), None)

        def last_seen() -> str:
            return f"events: {[e.get('reason') for e in self.events()][-10:]}"

        return self._core.wait(look, f"an event {reason} {message!r} of pod "
                               f"{self.namespace}/{self.name}".replace(" ''", ""),
                               timeout, last_seen)

    def finished_phase(self) -> str | None:
        """Succeeded or Failed once the pod finished (its PodCompleted event), else None."""
        for event in reversed(self.events()):
            if event.get("reason") == "PodCompleted":
                return str(event.get("message", "")).rpartition(" ")[2]
        return None

    @property
    def ip(self) -> str | None:
        """The pod's address on the pod network (None: loopback only)."""
        network = self._require().network
        return network.ip if network is not None else None

    def container(self, name: str | None = None) -> ContainerRecord:
        """A container's record (default: the first app container)."""
        record = self._require()
        found = record.container(self._container_name(record, name))
        assert found is not None
        return found

    def pid(self, container: str | None = None) -> int:
        """The host pid of the container's main process (it must be running)."""
        process = self.container(container).process
        if process is None or process.pid is None:
            raise StateError(f"pod {self.name}: container {container or ''} is not running")
        return process.pid

    def cgroup(self, container: str | None = None, *, pod: bool = False) -> Cgroup:
        """A container's cgroup on the host (``pod``: the pod's own,
        pod<uid>), to read what the kernel has: ``limits()`` as it enforces
        them, ``usage()`` (CPU, working set, OOM kills), ``procs()``."""
        record = self._require()
        if not record.cgroup:
            raise StateError(f"pod {self.name} has no cgroup (a record from before cgroups)")
        rel = record.cgroup if pod else f"{record.cgroup}/{self._container_name(record, container)}"
        return Cgroup(cgroups.reader(), rel)

    @staticmethod
    def _container_name(record: PodRecord, name: str | None) -> str:
        if name is not None:
            if record.container(name) is None:
                raise StateError(f"pod {record.name} has no container {name!r}: "
                                 f"{', '.join(record.containers)}")
            return name
        apps = [c.get("name") for c in (record.api_object.get("spec") or {}).get(
            "containers") or []]
        names = [n for n in apps if isinstance(n, str)] or [
            n for n, c in record.containers.items() if not c.init]
        return names[0]

    def _summary(self) -> str:
        record = self.record()
        if record is None:
            events = [f"{e.get('reason')}: {e.get('message')}" for e in self.events()[-3:]]
            return f"no pod record; its last events: {events}"
        return describe(record)

    # -- waiting -------------------------------------------------------------------
    def wait_until(self, check: Callable[[PodRecord], bool], what: str,
                   timeout: float = DEFAULT_TIMEOUT) -> PodRecord:
        """Until ``check(record)`` holds; the record it held on."""
        def look() -> PodRecord | None:
            record = self.record()
            return record if record is not None and check(record) else None

        return self._core.wait(look, f"{what} of pod {self.namespace}/{self.name}", timeout,
                               self._summary)

    def wait_condition(self, condition: str, status: str = "True",
                       timeout: float = DEFAULT_TIMEOUT) -> PodRecord:
        """Until the pod's status condition (Ready, ContainersReady,
        Initialized, PodScheduled) is ``status``, as `kubectl wait --for=condition`."""
        def met(record: PodRecord) -> bool:
            conditions = (record.api_object.get("status") or {}).get("conditions") or []
            return any(str(c.get("type")).lower() == condition.lower()
                       and str(c.get("status")).lower() == status.lower() for c in conditions)

        return self.wait_until(met, f"condition {condition}={status}", timeout)

    def wait_ready(self, timeout: float = DEFAULT_TIMEOUT) -> PodRecord:
        return self.wait_condition("Ready", "True", timeout)

    def wait_phase(self, *phases: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Until the pod's phase is one of ``phases`` (Running, Succeeded,
        Failed...); the phase. A finished pod is seen by its PodCompleted
        event, as its supervisor removes it at once."""
        def look() -> str | None:
            record = self.record()
            if record is not None and record.phase in phases:
                return record.phase
            finished = self.finished_phase() if record is None or record.phase in (
                "Succeeded", "Failed") else None
            return finished if finished in phases else None

        return self._core.wait(look, f"phase {' or '.join(phases)} of pod "
                               f"{self.namespace}/{self.name}", timeout, self._summary)

    def wait_running(self, *containers: str, timeout: float = DEFAULT_TIMEOUT) -> PodRecord:
        """Until every container named (default: every app container) runs."""
        def running(record: PodRecord) -> bool:
            names = containers or tuple(n for n, c in record.containers.items() if not c.init)
            return all((c := record.container(n)) is not None and c.running for n in names)

        return self.wait_until(running, f"containers {', '.join(containers) or 'all'} running",
                               timeout)

    def wait_restarts(self, count: int, container: str | None = None,
                      timeout: float = DEFAULT_TIMEOUT) -> PodRecord:
        """Until the container has restarted ``count`` times and runs again."""
        def restarted(record: PodRecord) -> bool:
            found = record.container(self._container_name(record, container))
            return found is not None and found.restart_count >= count and found.running

        return self.wait_until(restarted, f"{count} restart(s) of {container or 'its container'}",
                               timeout)

    def wait_probe(self, probe: str, result: str, container: str | None = None,
                   timeout: float = DEFAULT_TIMEOUT) -> PodRecord:
        """Until the container's ``probe`` (liveness, readiness, startup) last
        said ``result`` (success, failure)."""
        def said(record: PodRecord) -> bool:
            found = record.container(self._container_name(record, container))
            counts = found.probes.get(probe) if found is not None else None
            return counts is not None and counts.result == result

        return self.wait_until(said, f"{probe} probe {result}", timeout)

    def wait_log(self, pattern: str, container: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, *, every_run: bool = True) -> str:
        """Until a line of the container's log matches the regular expression
        ``pattern``; that line. ``every_run``: in any run kept (False: in the
        current run only, as after a restart)."""
        regex = re.compile(pattern)

        def look() -> str | None:
            return next((line for line in self.log_lines(container, every_run=every_run)
                         if regex.search(line)), None)

        def last_seen() -> str:
            lines = self.log_lines(container, every_run=every_run)
            return f"{self._summary()}; log: {lines[-5:]}"

        return self._core.wait(look, f"a log line matching {pattern!r} of pod "
                               f"{self.namespace}/{self.name}", timeout, last_seen)

    def wait_deleted(self, timeout: float = DELETE_TIMEOUT) -> None:
        self._core.wait(lambda: not self.directory.exists(),
                        f"pod {self.namespace}/{self.name} to be gone", timeout, self._summary)

    # -- logs ----------------------------------------------------------------------
    def log_lines(self, container: str | None = None, *, every_run: bool = False,
                  previous: bool = False, stream: str | None = None) -> list[str]:
        """The container's log lines (the current run's; ``previous``: the run
        before; ``every_run``: all runs kept, oldest first); ``stream``:
        "stdout" or "stderr" only."""
        record = self.record()
        if record is None:
            return []
        name = self._container_name(record, container)
        entry = record.container(name)
        if entry is None or not entry.log:
            return []
        current = Path(entry.log)
        if every_run:
            runs = sorted(current.parent.glob("*.log"), key=_run_number)
        elif previous:
            runs = [current.parent / f"{entry.attempt - 1}.log"]
        else:
            runs = [current]
        lines = []
        for run in runs:
            decoder = CriDecoder()
            for path in log_files(run):
                with contextlib.suppress(FileNotFoundError):
                    lines += decoder.feed(path.read_bytes())
            lines += decoder.finish()
        return [line.text.decode(errors="replace") for line in lines
                if stream is None or line.stream == stream]

    def logs(self, container: str | None = None, *, previous: bool = False) -> str:
        """The container's log, as `minipod logs` prints it."""
        return "".join(f"{line}\n" for line in self.log_lines(container, previous=previous))

    # -- acting --------------------------------------------------------------------
    def exec(self, *argv: str, container: str | None = None, stdin: bytes | str | None = None,
             timeout: float = DEFAULT_TIMEOUT, check: bool = False) -> ExecResult:
        """Run ``argv`` in the container (`minipod exec`): its namespaces,
        root, environment and identity; output and exit code captured.
        ``check``: AssertionError unless it exits 0."""
        record = self._require()
        data = stdin.encode() if isinstance(stdin, str) else stdin
        with self._core.environ():  # exec works out the container's env from its image
            result = exec_in(record, self._container_name(record, container), tuple(argv),
                             stdin=data, timeout=timeout)
        return result.check() if check else result

    def kill(self, container: str | None = None, signo: int = signal.SIGKILL) -> int:
        """Send ``signo`` to the container's main process from the host (a
        pidfd, checked to be the recorded process), as a crash would; the
        supervisor heals it by its restart policy. Returns the restart count
        it had, for wait_restarts(count + 1)."""
        entry = self.container(container)
        if entry.process is None:
            raise StateError(f"pod {self.name}: container {entry.id} is not running")
        pidfd = open_if_same(entry.process)
        if pidfd is None:
            raise StateError(f"pod {self.name}: container process {entry.process.pid} is gone")
        try:
            signal.pidfd_send_signal(pidfd, signo)
        finally:
            os.close(pidfd)
        return entry.restart_count

    def delete(self, grace: int | None = 0, *, wait: bool = True) -> None:
        """Delete the pod through its supervisor (``grace``: seconds before
        SIGKILL, None: the pod's own); with ``wait``, return once it is gone.
        Nothing happens if there is no such pod."""
        if not self.directory.exists():
            return
        try:
            self._core.ask({"op": "delete", "namespace": self.namespace, "name": self.name,
                            "grace": grace, "wait": wait}, timeout=DELETE_TIMEOUT)
        except MinipodError as e:
            if "not found" not in str(e):
                raise
        if wait:
            self.wait_deleted()


def _run_number(path: Path) -> int:
    stem = path.name.split(".")[0]
    return int(stem) if stem.isdigit() else -1


def describe(record: PodRecord) -> str:
    """One line of what a pod's record says: phase, STATUS, READY, and each container."""
    containers = []
    for name, c in record.containers.items():
        bits = [c.state]
        if c.reason:
            bits.append(c.reason)
        if c.exit_code is not None:
            bits.append(f"exit {c.exit_code}")
        if c.restart_count:
            bits.append(f"restarts {c.restart_count}")
        bits += [f"{kind} {counts.result}" for kind, counts in sorted(c.probes.items())]
        containers.append(f"{name}: {', '.join(bits)}")
    return (f"phase {record.phase}, status {record.status}, ready {record.ready}; "
            + "; ".join(containers))


# -- workloads, Services, ConfigMaps and Secrets ----------------------------------------


class Workload(_Named):
    """A Deployment or ReplicaSet of the node."""

    def __init__(self, core: NodeCore, kind: str, name: str, namespace: str = "default") -> None:
        super().__init__(core, name, namespace)
        self.kind = kind

    @property
    def path(self) -> Path:
        name = f"{self.namespace}_{self.kind.lower()}_{self.name}.json"
        return self._core.root / "workloads" / name

    def record(self) -> WorkloadRecord | None:
        try:
            return read_workload_record(self.path)
        except RecordError:
            return None

    def pods(self) -> list[Pod]:
        """Its pods now (their records name it as owner, or its ReplicaSets)."""
        found = []
        for directory in sorted((self._core.root / "pods").glob(f"{self.namespace}_*")):
            try:
                record = read_pod_record(directory)
            except RecordError:
                continue
            if record is None or record.owner is None:
                continue
            owner = record.owner.name
            if owner == self.name or (self.kind == "Deployment"
                                      and owner.rsplit("-", 1)[0] == self.name):
                found.append(Pod(self._core, record.name, record.namespace))
        return found

    def _summary(self) -> str:
        record = self.record()
        if record is None:
            return "no workload record"
        pods = [f"{p.name} ({describe(r)})" for p in self.pods() if (r := p.record())]
        return f"status {record.status}; pods: {pods}"

    def wait_available(self, replicas: int | None = None,
                       timeout: float = DEFAULT_TIMEOUT) -> WorkloadRecord:
        """Until ``replicas`` (default: spec.replicas) of its pods are available."""
        def look() -> WorkloadRecord | None:
            record = self.record()
            if record is None:
                return None
            want = record.replicas if replicas is None else replicas
            return record if int(record.status.get("availableReplicas", 0)) >= want else None

        return self._core.wait(look, f"{replicas if replicas is not None else 'all'} available "
                               f"replicas of {self.kind.lower()} {self.namespace}/{self.name}",
                               timeout, self._summary)

    def wait_pods(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> list[Pod]:
        """Until it has exactly ``count`` pods (deleted ones gone); those."""
        def look() -> list[Pod] | None:
            found = self.pods()
            return found if len(found) == count else None

        return self._core.wait(look, f"{count} pod(s) of {self.kind.lower()} "
                               f"{self.namespace}/{self.name}", timeout, self._summary)

    def scale(self, replicas: int) -> None:
        self._core.ask({"op": "scale", "kind": self.kind, "namespace": self.namespace,
                        "name": self.name, "replicas": replicas})

    def delete(self) -> None:
        """Delete it and its pods; return once they are gone. Nothing if gone
        already. Asked even with no record on disk: a controller writes its
        record after its first reconcile, a moment after apply answered."""
        try:
            self._core.ask({"op": "delete-workload", "kind": self.kind,
                            "namespace": self.namespace, "name": self.name, "wait": True},
                           timeout=DELETE_TIMEOUT * 2)
        except MinipodError as e:
            if "not found" not in str(e):
                raise


class Service(_Named):
    """A Service of the node (its supervisor must have the pod network)."""

    kind = "Service"

    @property
    def path(self) -> Path:
        return self._core.root / "services" / f"{pod_key(self.namespace, self.name)}.json"

    def record(self) -> ServiceRecord | None:
        try:
            return read_service_record(self.path)
        except RecordError:
            return None

    def get(self) -> Json:
        """The Service as the API server returns it."""
        record = self.record()
        if record is None:
            raise StateError(f'services "{self.name}" not found')
        return record.api_object

    @property
    def cluster_ip(self) -> str:
        record = self.record()
        if record is None:
            raise StateError(f'services "{self.name}" not found')
        return record.cluster_ip

    def endpoints(self) -> EndpointsRecord | None:
        try:
            return read_endpoints_record(
                self._core.root / "endpoints" / f"{pod_key(self.namespace, self.name)}.json")
        except RecordError:
            return None

    def ready_addresses(self) -> list[str]:
        """The addresses of its ready endpoints (of every port), sorted."""
        record = self.endpoints()
        if record is None:
            return []
        return sorted({str(e.get("ip")) for found in record.ports.values() for e in found
                       if e.get("ready")})

    def wait_endpoints(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """Until it has exactly ``count`` ready endpoint addresses; those."""
        def look() -> list[str] | None:
            found = self.ready_addresses()
            return found if len(found) == count else None

        return self._core.wait(look, f"{count} ready endpoint(s) of service "
                               f"{self.namespace}/{self.name}", timeout,
                               lambda: f"ready endpoints {self.ready_addresses()}")

    def delete(self) -> None:
        """Delete it (its rules and endpoints go with it). Nothing if gone
        already; asked whatever is on disk, as a workload is."""
        try:
            self._core.ask({"op": "delete-service", "namespace": self.namespace,
                            "name": self.name})
        except MinipodError as e:
            if "not found" not in str(e):
                raise


class Config(_Named):
    """A ConfigMap or Secret of the node (kept in its state directory)."""

    def __init__(self, core: NodeCore, kind: str, name: str, namespace: str = "default") -> None:
        super().__init__(core, name, namespace)
        self.kind = kind

    def get(self) -> Json | None:
        """The object as the API server returns it (None: there is none)."""
        with self._core.environ():
            record = configstore.load(self.kind, self.namespace, self.name)
        return record.api_object() if record is not None else None

    def delete(self) -> None:
        with self._core.environ():
            configstore.delete(self.kind, self.namespace, self.name)


Handle = Pod | Workload | Service | Config

__all__ = ["DEFAULT_TIMEOUT", "Config", "Handle", "NodeCore", "Pod", "Service", "Workload",
           "describe"]
