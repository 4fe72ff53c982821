"""The records a supervisor keeps on disk, typed: pod.json of every pod and
the record of every workload. Every writer and every reader goes through
these classes; nothing reads them by string key elsewhere.

A record says which process wrote it and carries what a new supervisor
needs to adopt the pod (runtime/adopt.py), what `get`, `describe`, `logs`,
`exec` and `delete` show or act on (cli/), and the Pod as the API server
would return it (``api_object``, free-form JSON by nature, as in a cluster).

Versions: SCHEMA_VERSION is written into every record. A record without
one was written before it existed (7e0d174 and earlier): same shape,
version 0, read as it is. A record of a newer version than this code knows
is refused with RecordError, one line naming both versions, rather than
misread.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from minipod.api.configdata import ConfigData
from minipod.api.errors import MinipodError
from minipod.api.frozen import frozen
from minipod.api.status import State, parse_rfc3339, rfc3339

SCHEMA_VERSION = 1

Json = dict[str, Any]


class RecordError(MinipodError, ValueError):
    """A record this code cannot read: a newer schema, or a broken file."""


# -- small readers: a missing or mistyped key is a RecordError naming it ----------


def _get(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = ...) -> Any:
    if key not in data or (data[key] is None and default is not ...):
        if default is ...:
            raise RecordError(f"{where}: no {key!r}")
        return default
    value = data[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
        raise RecordError(f"{where}.{key}: {type(value).__name__} where "
                          f"{getattr(kind, '__name__', kind)} was expected")
    return value


def _opt_float(data: Mapping[str, Any], key: str, where: str) -> float | None:
    value: float | None = _get(data, key, float, where, None)
    return value


def _obj(data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise RecordError(f"{where}: {type(data).__name__} where an object was expected")
    return data


# -- processes ---------------------------------------------------------------------


@frozen
class ProcessRef:
    """A process named by pid and start time (one process, even after pid reuse)."""

    pid: int | None = None
    start_time: float | None = None

    def to_json(self) -> Json:
        return {"pid": self.pid, "startTime": self.start_time}

    @classmethod
    def from_json(cls, data: Any, where: str) -> ProcessRef:
        obj = _obj(data, where)
        return cls(_get(obj, "pid", int, where, None), _opt_float(obj, "startTime", where))


@frozen
class SupervisorRef(ProcessRef):
    """The supervisor that wrote a record, and its control socket."""

    socket: str = ""

    def to_json(self) -> Json:
        return {**super().to_json(), "socket": self.socket}

    @classmethod
    def from_json(cls, data: Any, where: str) -> SupervisorRef:
        obj = _obj(data, where)
        return cls(_get(obj, "pid", int, where, None), _opt_float(obj, "startTime", where),
                   _get(obj, "socket", str, where, ""))


@frozen
class PauseRef(ProcessRef):
    """The pod's pause process and the inodes of the namespaces it holds."""

    namespaces: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> Json:
        body = super().to_json()
        if self.pid is not None:
            body["namespaces"] = dict(self.namespaces)
        return body

    @classmethod
    def from_json(cls, data: Any, where: str) -> PauseRef:
        obj = _obj(data, where)
        return cls(_get(obj, "pid", int, where, None), _opt_float(obj, "startTime", where),
                   dict(_get(obj, "namespaces", dict, where, {})))


# -- containers --------------------------------------------------------------------


@frozen
class ProbeCounts:
    result: str
    probes: int
    failures: int
    skipped: int

    def to_json(self) -> Json:
        return {"result": self.result, "probes": self.probes, "failures": self.failures,
                "skipped": self.skipped}

    @classmethod
    def from_json(cls, data: Any, where: str) -> ProbeCounts:
        obj = _obj(data, where)
        return cls(_get(obj, "result", str, where), _get(obj, "probes", int, where, 0),
                   _get(obj, "failures", int, where, 0), _get(obj, "skipped", int, where, 0))


def _state_to_json(state: State) -> Json:
    return {"kind": state.kind, "reason": state.reason, "message": state.message,
            "exit_code": state.exit_code, "signal": state.signal,
            "started_at": state.started_at, "finished_at": state.finished_at}


def _state_from_json(data: Any, where: str) -> State:
    obj = _obj(data, where)
    return State(_get(obj, "kind", str, where), _get(obj, "reason", str, where, ""),
                 _get(obj, "message", str, where, ""), _get(obj, "exit_code", int, where, 0),
                 _get(obj, "signal", int, where, 0), _opt_float(obj, "started_at", where),
                 _opt_float(obj, "finished_at", where))


@frozen
class Resume:
    """What a new supervisor needs to carry a container on where the last one
    stopped (monotonic times: CLOCK_MONOTONIC is one clock for the boot)."""

    state: State
    last_state: State | None
    finished_mono: float | None
    started_mono: float | None
    backoff: tuple[float | None, float | None]  # Backoff.snapshot(): delay, last update
    post_start_done: bool

    def to_json(self) -> Json:
        return {"state": _state_to_json(self.state),
                "lastState": _state_to_json(self.last_state) if self.last_state else None,
                "finishedMono": self.finished_mono, "startedMono": self.started_mono,
                "backoff": list(self.backoff), "postStartDone": self.post_start_done}

    @classmethod
    def from_json(cls, data: Any, where: str) -> Resume:
        obj = _obj(data, where)
        last = obj.get("lastState")
        backoff = _get(obj, "backoff", list, where, [None, 0.0])
        if len(backoff) != 2:
            raise RecordError(f"{where}.backoff: {backoff!r} is not [delay, last update]")
        return cls(_state_from_json(obj.get("state"), f"{where}.state"),
                   _state_from_json(last, f"{where}.lastState") if last else None,
                   _opt_float(obj, "finishedMono", where), _opt_float(obj, "startedMono", where),
                   (backoff[0], backoff[1]), _get(obj, "postStartDone", bool, where, False))


@frozen
class ContainerRecord:
    """One container of a pod: its current run, its state and how to find it."""

    id: str
    image: str
    log: str  # the current (or last) run's CRI log file
    rootfs: str  # the current run's merged root, as the host sees it
    state: str  # "waiting", "running" or "terminated"
    reason: str
    attempt: int  # the current run's index; -1: never created
    restart_count: int
    init: bool
    sidecar: bool
    started: bool
    ready: bool
    started_at: float | None = None
    finished_at: float | None = None
    process: ProcessRef | None = None  # while it runs
    namespaces: dict[str, int] = field(default_factory=dict)  # while it runs
    exit_code: int | None = None  # when terminated
    last_exit_code: int | None = None
    resume: Resume | None = None
    probes: dict[str, ProbeCounts] = field(default_factory=dict)

    def to_json(self) -> Json:
        body: Json = {
            "id": self.id, "image": self.image, "log": self.log, "rootfs": self.rootfs,
            "state": self.state, "reason": self.reason, "attempt": self.attempt,
            "restartCount": self.restart_count, "init": self.init, "sidecar": self.sidecar,
            "started": self.started, "ready": self.ready,
            "startedAt": self.started_at, "finishedAt": self.finished_at,
        }
        if self.process is not None:
            body.update(self.process.to_json())
            body["namespaces"] = dict(self.namespaces)
        if self.exit_code is not None:
            body["exitCode"] = self.exit_code
        if self.last_exit_code is not None:
            body["lastExitCode"] = self.last_exit_code
        if self.resume is not None:
            body["resume"] = self.resume.to_json()
        if self.probes:
            body["probes"] = {kind: counts.to_json() for kind, counts in self.probes.items()}
        return body

    @classmethod
    def from_json(cls, data: Any, where: str) -> ContainerRecord:
        obj = _obj(data, where)
        process = ProcessRef.from_json(obj, where) if obj.get("pid") else None
        resume = obj.get("resume")
        probes = _get(obj, "probes", dict, where, {})
        return cls(
            _get(obj, "id", str, where), _get(obj, "image", str, where),
            _get(obj, "log", str, where), _get(obj, "rootfs", str, where),
            _get(obj, "state", str, where), _get(obj, "reason", str, where, ""),
            _get(obj, "attempt", int, where, -1), _get(obj, "restartCount", int, where, 0),
            _get(obj, "init", bool, where, False), _get(obj, "sidecar", bool, where, False),
            _get(obj, "started", bool, where, False), _get(obj, "ready", bool, where, False),
            _opt_float(obj, "startedAt", where), _opt_float(obj, "finishedAt", where),
            process, dict(_get(obj, "namespaces", dict, where, {})),
            _get(obj, "exitCode", int, where, None), _get(obj, "lastExitCode", int, where, None),
            Resume.from_json(resume, f"{where}.resume") if resume else None,
            {kind: ProbeCounts.from_json(v, f"{where}.probes.{kind}")
             for kind, v in probes.items()},
        )

    @property
    def running(self) -> bool:
        return self.state == "running"


# -- the pod -----------------------------------------------------------------------


@frozen
class OwnerRecord:
    """metadata.ownerReferences[0] of a workload's pod."""

    kind: str
    name: str
    api_version: str = "apps/v1"

    def to_json(self) -> Json:
        return {"kind": self.kind, "name": self.name, "api_version": self.api_version}

    @classmethod
    def from_json(cls, data: Any, where: str) -> OwnerRecord:
        obj = _obj(data, where)
        return cls(_get(obj, "kind", str, where), _get(obj, "name", str, where),
                   _get(obj, "api_version", str, where, "apps/v1"))


@frozen
class PodRecord:
    """pod.json: one pod as its supervisor last wrote it."""

    api_object: Json  # the Pod as the API server would return it (`get -o yaml`)
    name: str
    namespace: str
    uid: str
    created: float
    supervisor: SupervisorRef
    pause: PauseRef
    sandbox_attempt: int
    initialized: bool
    owner: OwnerRecord | None
    backoff: tuple[float, float]  # the pod's CrashLoopBackOff: initial, maximum
    started_at: float
    phase: str
    ready: str  # kubectl's READY column, "1/2"
    status: str  # kubectl's STATUS column
    restarts: int
    last_restart: float | None
    containers: dict[str, ContainerRecord]  # init containers first, in spec order
    init_container_statuses: list[Json] = field(default_factory=list)  # API form
    container_statuses: list[Json] = field(default_factory=list)
    network: PodNetworkRecord | None = None  # None: the pod has only loopback
    cgroup: str = ""  # pod<uid>'s path below each hierarchy's root; "": none
    qos_class: str = ""  # Guaranteed, Burstable or BestEffort
    # The supervisor's intent, written before it acts (runtime/adopt.py reads it):
    # creating until the pod's first container runs and the record names it (a
    # pod still creating when its supervisor died is half made, and removed);
    # deletion_time once a delete began (the next supervisor finishes it).
    creating: bool = False
    deletion_time: float | None = None
    schema_version: int = SCHEMA_VERSION
    log_dir: str = ""  # the containers' logs (kernel/paths.py logs_root); "": <pod dir>/logs

    def to_json(self) -> Json:
        body: Json = {
            "schemaVersion": SCHEMA_VERSION,
            "object": self.api_object,
            "name": self.name, "namespace": self.namespace, "uid": self.uid,
            "created": self.created, "supervisor": self.supervisor.to_json(),
            "pause": self.pause.to_json(), "sandboxAttempt": self.sandbox_attempt,
            "initialized": self.initialized,
            "owner": self.owner.to_json() if self.owner else None,
            "backoff": list(self.backoff), "startedAt": self.started_at,
            "phase": self.phase, "ready": self.ready, "status": self.status,
            "restarts": self.restarts, "lastRestart": self.last_restart,
            "containers": {name: c.to_json() for name, c in self.containers.items()},
            "initContainerStatuses": self.init_container_statuses,
            "containerStatuses": self.container_statuses,
            # (written since cgroups came; a record without them is read as it is)
            **({"cgroup": self.cgroup} if self.cgroup else {}),
            **({"qosClass": self.qos_class} if self.qos_class else {}),
        }
        if self.log_dir:  # a record of before it had none: <pod dir>/logs
            body["logDir"] = self.log_dir
        if self.network is not None:
            body["network"] = self.network.to_json()
        if self.creating:
            body["creating"] = True
        if self.deletion_time is not None:
            body["deletionTime"] = self.deletion_time
        return body

    @classmethod
    def from_json(cls, data: Any, where: str = "pod.json") -> PodRecord:
        obj = _obj(data, where)
        version = check_version(obj, where)
        owner = obj.get("owner")
        backoff = _get(obj, "backoff", list, where, [10.0, 300.0])
        containers = _obj(obj.get("containers", {}), f"{where}.containers")
        network = obj.get("network")
        return cls(
            dict(_get(obj, "object", dict, where)),
            _get(obj, "name", str, where), _get(obj, "namespace", str, where),
            _get(obj, "uid", str, where), _get(obj, "created", float, where),
            SupervisorRef.from_json(obj.get("supervisor", {}), f"{where}.supervisor"),
            PauseRef.from_json(obj.get("pause", {}), f"{where}.pause"),
            _get(obj, "sandboxAttempt", int, where, 0), _get(obj, "initialized", bool, where,
                                                               False),
            OwnerRecord.from_json(owner, f"{where}.owner") if owner else None,
            (float(backoff[0]), float(backoff[1])),
            _get(obj, "startedAt", float, where, 0.0),
            _get(obj, "phase", str, where, "Unknown"), _get(obj, "ready", str, where, "0/0"),
            _get(obj, "status", str, where, ""), _get(obj, "restarts", int, where, 0),
            _opt_float(obj, "lastRestart", where),
            {name: ContainerRecord.from_json(c, f"{where}.containers.{name}")
             for name, c in containers.items()},
            list(_get(obj, "initContainerStatuses", list, where, [])),
            list(_get(obj, "containerStatuses", list, where, [])),
            PodNetworkRecord.from_json(network, f"{where}.network") if network else None,
            _get(obj, "cgroup", str, where, ""), _get(obj, "qosClass", str, where, ""),
            _get(obj, "creating", bool, where, False), _opt_float(obj, "deletionTime", where),
            version,
            _get(obj, "logDir", str, where, ""),
        )

    def container(self, name: str) -> ContainerRecord | None:
        return self.containers.get(name)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def check_version(data: Mapping[str, Any], where: str) -> int:
    """The record's schema version; RecordError if this code cannot read it."""
    version = data.get("schemaVersion", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise RecordError(f"{where}: schemaVersion {version!r} is not a version")
    if version > SCHEMA_VERSION:
        raise RecordError(f"{where}: written by a newer minipod (record schema version "
                          f"{version}; this one reads versions up to {SCHEMA_VERSION})")
    return version


# -- the pod network ---------------------------------------------------------------


@frozen
class PodNetworkRecord:
    """A pod's place on the pod network, in its pod.json: its address (kept
    across a supervisor's crash and a sandbox's replacement) and the node's
    end of its current veth pair."""

    ip: str
    veth: str = ""
    host_ports: list[Json] = field(default_factory=list)  # the claims (podnet.HostPort)

    def to_json(self) -> Json:
        return {"ip": self.ip, "veth": self.veth, "hostPorts": list(self.host_ports)}

    @classmethod
    def from_json(cls, data: Any, where: str) -> PodNetworkRecord:
        obj = _obj(data, where)
        return cls(_get(obj, "ip", str, where), _get(obj, "veth", str, where, ""),
                   list(_get(obj, "hostPorts", list, where, [])))


@frozen
class NetworkRecord:
    """$MINIPOD_ROOT/network/config.json: the node's pod network as the first
    supervisor that needed it made it; every later one uses it as it is."""

    bridge: str
    pod_cidr: str
    service_cidr: str
    gateway: str  # the bridge's address: the pods' default route, and cluster DNS
    dns_ip: str  # the cluster DNS Service's address (10th of the service range)
    egress: bool = False  # pods may reach beyond the node (masquerade), opt-in
    cluster_domain: str = "cluster.local"
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> Json:
        return {"schemaVersion": SCHEMA_VERSION, "bridge": self.bridge,
                "podCIDR": self.pod_cidr, "serviceCIDR": self.service_cidr,
                "gateway": self.gateway, "dnsIP": self.dns_ip, "egress": self.egress,
                "clusterDomain": self.cluster_domain}

    @classmethod
    def from_json(cls, data: Any, where: str = "network config") -> NetworkRecord:
        obj = _obj(data, where)
        version = check_version(obj, where)
        return cls(_get(obj, "bridge", str, where), _get(obj, "podCIDR", str, where),
                   _get(obj, "serviceCIDR", str, where), _get(obj, "gateway", str, where),
                   _get(obj, "dnsIP", str, where), _get(obj, "egress", bool, where, False),
                   _get(obj, "clusterDomain", str, where, "cluster.local"), version)


@frozen
class ServicePortRecord:
    name: str
    protocol: str
    port: int
    target_port: int | str
    node_port: int | None = None

    def to_json(self) -> Json:
        body: Json = {"name": self.name, "protocol": self.protocol, "port": self.port,
                      "targetPort": self.target_port}
        if self.node_port is not None:
            body["nodePort"] = self.node_port
        return body

    @classmethod
    def from_json(cls, data: Any, where: str) -> ServicePortRecord:
        obj = _obj(data, where)
        return cls(_get(obj, "name", str, where, ""), _get(obj, "protocol", str, where, "TCP"),
                   _get(obj, "port", int, where), _get(obj, "targetPort", (int, str), where, 0),
                   _get(obj, "nodePort", int, where, None))


@frozen
class ServiceRecord:
    """$MINIPOD_ROOT/services/<ns>_<name>.json: a Service as its supervisor
    made it (its cluster IP and node ports are allocated once and kept); what
    `get services`, cluster DNS and the Service environment variables read.
    Written when the Service is applied, not when its endpoints change
    (those are in endpoints/), so readers can cache it by directory mtime."""

    name: str
    namespace: str
    type: str
    cluster_ip: str  # "None" for a headless Service
    ports: list[ServicePortRecord]
    selector: dict[str, str] | None
    created: float
    supervisor: SupervisorRef
    api_object: Json = field(default_factory=dict)  # as the API server would return it
    manifest: Json = field(default_factory=dict)  # v1 object as applied (for adoption)
    schema_version: int = SCHEMA_VERSION

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def to_json(self) -> Json:
        return {"schemaVersion": SCHEMA_VERSION, "name": self.name,
                "namespace": self.namespace, "type": self.type, "clusterIP": self.cluster_ip,
                "ports": [p.to_json() for p in self.ports], "selector": self.selector,
                "created": self.created, "supervisor": self.supervisor.to_json(),
                "object": self.api_object, "manifest": self.manifest}

    @classmethod
    def from_json(cls, data: Any, where: str = "service record") -> ServiceRecord:
        obj = _obj(data, where)
        version = check_version(obj, where)
        selector = obj.get("selector")
        return cls(
            _get(obj, "name", str, where), _get(obj, "namespace", str, where),
            _get(obj, "type", str, where, "ClusterIP"), _get(obj, "clusterIP", str, where),
            [ServicePortRecord.from_json(p, f"{where}.ports[{i}]")
             for i, p in enumerate(_get(obj, "ports", list, where, []))],
            dict(selector) if isinstance(selector, dict) else None,
            _get(obj, "created", float, where, 0.0),
            SupervisorRef.from_json(obj.get("supervisor", {}), f"{where}.supervisor"),
            dict(_get(obj, "object", dict, where, {})),
            dict(_get(obj, "manifest", dict, where, {})),
            version,
        )


@frozen
class EndpointsRecord:
    """$MINIPOD_ROOT/endpoints/<ns>_<name>.json: a Service's endpoints by port
    (api/endpoints.py Endpoint.to_json), rewritten when they change."""

    name: str
    namespace: str
    ports: dict[str, list[Json]]  # port_key -> endpoints
    updated: float
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> Json:
        return {"schemaVersion": SCHEMA_VERSION, "name": self.name,
                "namespace": self.namespace, "ports": self.ports, "updated": self.updated}

    @classmethod
    def from_json(cls, data: Any, where: str = "endpoints record") -> EndpointsRecord:
        obj = _obj(data, where)
        version = check_version(obj, where)
        ports = _obj(obj.get("ports", {}), f"{where}.ports")
        return cls(_get(obj, "name", str, where), _get(obj, "namespace", str, where),
                   {str(k): list(v) for k, v in ports.items() if isinstance(v, list)},
                   _get(obj, "updated", float, where, 0.0), version)


# -- workloads ---------------------------------------------------------------------


@frozen
class WorkloadRecord:
    """A Deployment's or ReplicaSet's record: the object as `get -o yaml` would
    show it (what `get deployments`, `get replicasets` and `scale` read), its
    ReplicaSets (a Deployment's), and the manifest as applied, so that a new
    supervisor can adopt the workload."""

    kind: str  # "Deployment" or "ReplicaSet"
    name: str
    namespace: str
    labels: dict[str, str]
    replicas: int
    selector: Json  # the LabelSelector in API form
    template_hash: str
    status: Json  # api.workloads.status() and "created"
    supervisor: SupervisorRef
    manifest: Json = field(default_factory=dict)  # apps/v1 object as applied
    replica_sets: list[Json] | None = None  # a Deployment's, newest template first
    backoff: tuple[float, float] | None = None  # the pods' CrashLoopBackOff
    schema_version: int = SCHEMA_VERSION
    # a Deployment's rollouts: the templates it had, oldest first, each
    # {"revision": N, "template": {...}, "changeCause": "..."}, the current
    # one last; and `rollout pause`'s state (the template applied while
    # paused waits in ``pending``, a Deployment manifest)
    revisions: list[Json] = field(default_factory=list)
    paused: bool = False
    pending: Json | None = None

    @property
    def created(self) -> float | None:
        value = self.status.get("created")
        return float(value) if isinstance(value, int | float) else None

    def to_json(self) -> Json:
        body: Json = {
            "schemaVersion": SCHEMA_VERSION,
            "apiVersion": "apps/v1", "kind": self.kind,
            "metadata": {"name": self.name, "namespace": self.namespace,
                         "labels": dict(self.labels)},
            "spec": {"replicas": self.replicas, "selector": self.selector,
                     "templateHash": self.template_hash},
            "status": self.status, "supervisor": self.supervisor.to_json(),
            "manifest": self.manifest,
        }
        if self.replica_sets is not None:
            body["replicaSets"] = self.replica_sets
        if self.backoff is not None:
            body["backoff"] = list(self.backoff)
        if self.revisions:
            body["revisions"] = self.revisions
        if self.paused:
            body["paused"] = True
        if self.pending is not None:
            body["pending"] = self.pending
        return body

    @classmethod
    def from_json(cls, data: Any, where: str = "workload record") -> WorkloadRecord:
        obj = _obj(data, where)
        version = check_version(obj, where)
        meta = _obj(obj.get("metadata", {}), f"{where}.metadata")
        spec = _obj(obj.get("spec", {}), f"{where}.spec")
        backoff = obj.get("backoff")
        sets = obj.get("replicaSets")
        return cls(
            _get(obj, "kind", str, where), _get(meta, "name", str, f"{where}.metadata"),
            _get(meta, "namespace", str, f"{where}.metadata", "default"),
            dict(_get(meta, "labels", dict, f"{where}.metadata", {})),
            _get(spec, "replicas", int, f"{where}.spec", 0),
            dict(_get(spec, "selector", dict, f"{where}.spec", {})),
            _get(spec, "templateHash", str, f"{where}.spec", ""),
            dict(_get(obj, "status", dict, where, {})),
            SupervisorRef.from_json(obj.get("supervisor", {}), f"{where}.supervisor"),
            dict(_get(obj, "manifest", dict, where, {})),
            list(sets) if isinstance(sets, list) else None,
            (float(backoff[0]), float(backoff[1])) if backoff else None,
            version,
            list(_get(obj, "revisions", list, where, [])),
            _get(obj, "paused", bool, where, False),
            obj.get("pending") if isinstance(obj.get("pending"), dict) else None,
        )


# -- ConfigMaps and Secrets --------------------------------------------------------


@frozen
class ConfigRecord:
    """A ConfigMap or Secret as applied: $MINIPOD_ROOT/configmaps/ or secrets/
    <namespace>_<name>.json, root's alone (kernel/configstore.py). The file
    is the API object as `get -o yaml` shows it (a Secret's data base64, as
    the API server keeps it), plus the schema version."""

    config: ConfigData
    uid: str
    created: float
    resource_version: int = 1

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def namespace(self) -> str:
        return self.config.namespace

    def api_object(self) -> Json:
        c = self.config
        meta: Json = {"name": c.name, "namespace": c.namespace, "uid": self.uid,
                      "creationTimestamp": rfc3339(self.created),
                      "resourceVersion": str(self.resource_version)}
        if c.labels:
            meta["labels"] = dict(c.labels)
        if c.annotations:
            meta["annotations"] = dict(c.annotations)
        body: Json = {"apiVersion": "v1", "kind": c.kind, "metadata": meta}
        if c.kind == "Secret":
            if c.data:
                body["data"] = {k: _b64(v) for k, v in c.data.items()}
            body["type"] = c.type or "Opaque"
        else:
            text = {k: v.decode() for k, v in c.data.items() if k not in c.binary_keys}
            binary = {k: _b64(v) for k, v in c.data.items() if k in c.binary_keys}
            if text:
                body["data"] = text
            if binary:
                body["binaryData"] = binary
        if c.immutable:
            body["immutable"] = True
        return body

    def to_json(self) -> Json:
        return {"schemaVersion": SCHEMA_VERSION, **self.api_object()}

    @classmethod
    def from_json(cls, data: Any, where: str = "config record") -> ConfigRecord:
        obj = _obj(data, where)
        check_version(obj, where)
        kind = _get(obj, "kind", str, where)
        if kind not in ("ConfigMap", "Secret"):
            raise RecordError(f"{where}: kind {kind!r} is not ConfigMap or Secret")
        meta = _obj(obj.get("metadata", {}), f"{where}.metadata")
        values: dict[str, bytes] = {}
        binary: set[str] = set()
        for key, value in _get(obj, "data", dict, where, {}).items():
            values[key] = _unb64(value, where) if kind == "Secret" else str(value).encode()
        for key, value in _get(obj, "binaryData", dict, where, {}).items():
            values[key] = _unb64(value, where)
            binary.add(key)
        config = ConfigData(
            kind, _get(meta, "name", str, f"{where}.metadata"), values,
            _get(meta, "namespace", str, f"{where}.metadata", "default"),
            dict(_get(meta, "labels", dict, f"{where}.metadata", {})),
            dict(_get(meta, "annotations", dict, f"{where}.metadata", {})),
            _get(obj, "immutable", bool, where, False),
            _get(obj, "type", str, where, "Opaque" if kind == "Secret" else ""),
            frozenset(binary))
        version = _get(meta, "resourceVersion", str, f"{where}.metadata", "1")
        created = _get(meta, "creationTimestamp", str, f"{where}.metadata", "")
        return cls(config, _get(meta, "uid", str, f"{where}.metadata", ""),
                   parse_rfc3339(created) or 0.0, int(version) if version.isdigit() else 1)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _unb64(value: Any, where: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError as e:
        raise RecordError(f"{where}: bad base64 data: {e}") from None
