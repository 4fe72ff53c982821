"""The typed model of what minipod reads: v1 Pods (PodSpec, Container, Probe,
Lifecycle, Volume, SecurityContext...), v1 ConfigMaps and Secrets
(ConfigData, kept in api/configdata.py and re-exported here), apps/v1
Deployments and ReplicaSets (Workload, PodTemplate, LabelSelector,
RollingUpdate), and Manifest, a file's objects by kind. Frozen dataclasses
carrying Kubernetes' defaults.

Values only: manifest.py and the validator modules (podspec, workloadspec...)
build them from a manifest; nothing here reads text or checks a field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any, Literal

from minipod.api.configdata import ConfigData, ConfigKind
from minipod.api.frozen import frozen
from minipod.api.resources import NO_RESOURCES, Resources

__all__ = [
    "Capabilities",
    "ConfigData",
    "ConfigKind",
    "Container",
    "ContainerPort",
    "DNSConfig",
    "DownwardAPIFile",
    "EnvFromSource",
    "EnvVar",
    "ExecAction",
    "GRPCAction",
    "HTTPGetAction",
    "HTTPHeader",
    "KeySelector",
    "KeyToPath",
    "LabelSelector",
    "LabelSelectorRequirement",
    "Lifecycle",
    "LifecycleHandler",
    "Manifest",
    "ObjectFieldSelector",
    "OwnerReference",
    "Pod",
    "PodSpec",
    "PodTemplate",
    "Probe",
    "Projection",
    "ResourceFieldSelector",
    "RestartPolicy",
    "RollingUpdate",
    "SeccompProfile",
    "SecurityContext",
    "SelectorOperator",
    "Service",
    "ServicePort",
    "StrategyType",
    "Sysctl",
    "TCPSocketAction",
    "Volume",
    "VolumeMount",
    "Workload",
    "WorkloadKind",
]

# ---------------------------------------------------------------------------
# v1 Pod
# ---------------------------------------------------------------------------

RestartPolicy = Literal["Always", "OnFailure", "Never"]


@frozen
class KeySelector:
    """configMapKeyRef or secretKeyRef: one key of a ConfigMap or Secret."""

    kind: ConfigKind
    name: str
    key: str
    optional: bool = False


@frozen
class ObjectFieldSelector:
    """fieldRef: a field of the pod (metadata.name, metadata.labels['app'], status.podIP...)."""

    field_path: str
    api_version: str = "v1"


@frozen
class ResourceFieldSelector:
    """resourceFieldRef: a container's limit or request (limits.memory...), in ``divisor``s."""

    resource: str
    container_name: str = ""  # "" in env: the container itself
    divisor: str = "1"


EnvSource = KeySelector | ObjectFieldSelector | ResourceFieldSelector


@frozen
class EnvVar:
    name: str
    value: str = ""
    value_from: EnvSource | None = None  # then ``value`` is unused


@frozen
class EnvFromSource:
    """envFrom: every key of a ConfigMap or Secret that is a valid variable name."""

    kind: ConfigKind
    name: str
    prefix: str = ""
    optional: bool = False


@frozen
class ContainerPort:
    container_port: int
    name: str | None = None
    protocol: str = "TCP"
    host_port: int | None = None  # the node's port that forwards to it
    host_ip: str = ""  # "": every address of the node


@frozen
class VolumeMount:
    name: str
    mount_path: str
    read_only: bool = False
    sub_path: str = ""  # a path inside the volume, mounted instead of its root


@frozen
class ExecAction:
    command: tuple[str, ...]


@frozen
class HTTPHeader:
    name: str
    value: str


@frozen
class HTTPGetAction:
    port: int | str  # a number, or the name of one of the container's ports
    path: str = "/"
    host: str | None = None
    scheme: str = "HTTP"  # "HTTP" or "HTTPS"
    http_headers: tuple[HTTPHeader, ...] = ()


@frozen
class TCPSocketAction:
    port: int | str
    host: str | None = None


@frozen
class GRPCAction:
    port: int
    service: str = ""


@frozen
class Probe:
    handler: ExecAction | HTTPGetAction | TCPSocketAction | GRPCAction
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace_period_seconds: int | None = None


@frozen
class LifecycleHandler:
    # exactly one of these is set
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    sleep_seconds: int | None = None


@frozen
class Lifecycle:
    post_start: LifecycleHandler | None = None
    pre_stop: LifecycleHandler | None = None


@frozen
class Capabilities:
    add: tuple[str, ...] = ()  # as written: "NET_ADMIN", "ALL" (no CAP_ prefix)
    drop: tuple[str, ...] = ()


@frozen
class SeccompProfile:
    type: str  # "RuntimeDefault", "Unconfined" or "Localhost"
    localhost_profile: str | None = None


@frozen
class Sysctl:
    name: str
    value: str


@frozen
class SecurityContext:
    """A pod's or a container's securityContext: the fields each level has
    (api/securitycontext.py parses only its own); None is unset."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    seccomp_profile: SeccompProfile | None = None
    # a container's only
    privileged: bool | None = None
    capabilities: Capabilities | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    proc_mount: str | None = None  # "Default"
    # a pod's only
    supplemental_groups: tuple[int, ...] = ()
    supplemental_groups_policy: str | None = None  # "Merge" (default) or "Strict"
    fs_group: int | None = None
    fs_group_change_policy: str | None = None
    sysctls: tuple[Sysctl, ...] = ()


@frozen
class Container:
    name: str
    image: str
    command: tuple[str, ...] | None = None  # None: the image's ENTRYPOINT
    args: tuple[str, ...] | None = None  # None: the image's CMD (see README)
    env: tuple[EnvVar, ...] = ()
    working_dir: str | None = None
    ports: tuple[ContainerPort, ...] = ()
    volume_mounts: tuple[VolumeMount, ...] = ()
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    lifecycle: Lifecycle | None = None
    security_context: SecurityContext | None = None
    # only on initContainers: "Always" makes it a sidecar (KEP-753)
    restart_policy: str | None = None
    image_pull_policy: str = "IfNotPresent"
    env_from: tuple[EnvFromSource, ...] = ()
    resources: Resources = NO_RESOURCES  # cpu and memory (api/resources.py)

    @property
    def refs(self) -> frozenset[tuple[str, str]]:
        """(kind, name) of every ConfigMap and Secret its environment reads."""
        found = {(e.kind, e.name) for e in self.env_from}
        found |= {(v.value_from.kind, v.value_from.name) for v in self.env
                  if isinstance(v.value_from, KeySelector)}
        return frozenset(found)


@frozen
class KeyToPath:
    key: str
    path: str
    mode: int | None = None  # None: the volume's defaultMode


@frozen
class DownwardAPIFile:
    path: str
    field_ref: ObjectFieldSelector | None = None  # exactly one of the two
    resource_field_ref: ResourceFieldSelector | None = None
    mode: int | None = None


@frozen
class Projection:
    """One source of files of a configMap, secret, downwardAPI or projected
    volume: the keys of a ConfigMap or Secret (all, or ``items``), or the
    files of a downward API source."""

    kind: Literal["ConfigMap", "Secret", "DownwardAPI"]
    name: str = ""  # the ConfigMap's or Secret's
    items: tuple[KeyToPath, ...] = ()  # () with a ConfigMap or Secret: every key
    optional: bool = False
    files: tuple[DownwardAPIFile, ...] = ()  # a DownwardAPI source's


@frozen
class Volume:
    name: str
    # exactly one of the two sources is set
    empty_dir: bool = False
    empty_dir_medium: str = ""  # "" (node disk) or "Memory" (tmpfs)
    empty_dir_size_limit: int | None = None  # bytes
    host_path: str | None = None
    # "", DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice
    host_path_type: str = ""
    # configMap, secret, downwardAPI or projected: files the kubelet's way
    # (kernel/projection.py); ``source`` names which of them the manifest wrote
    projections: tuple[Projection, ...] | None = None
    default_mode: int = 0o644
    source: str = ""  # "emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "projected"

    @property
    def refs(self) -> frozenset[tuple[str, str]]:
        """(kind, name) of every ConfigMap and Secret the volume shows."""
        return frozenset((p.kind, p.name) for p in self.projections or () if p.name)


@frozen
class DNSConfig:
    """spec.dnsConfig: merged into what dnsPolicy gives (api/dnsconfig.py)."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[tuple[str, str | None], ...] = ()  # (name, value)


@frozen
class PodSpec:
    containers: tuple[Container, ...]
    init_containers: tuple[Container, ...] = ()
    restart_policy: RestartPolicy = "Always"
    hostname: str | None = None
    subdomain: str | None = None
    share_process_namespace: bool = False
    termination_grace_period_seconds: int = 30
    volumes: tuple[Volume, ...] = ()
    security_context: SecurityContext | None = None
    # ClusterFirst, ClusterFirstWithHostNet, Default or None: the kubelet's
    # resolv.conf for each (api/dnsconfig.py), with dnsConfig merged in
    dns_policy: str = "ClusterFirst"
    dns_config: DNSConfig | None = None
    enable_service_links: bool = True
    # the names of the Secrets whose registry credentials its pulls use
    # (runtime/images.py pull_auth); read at each pull, so not in refs
    image_pull_secrets: tuple[str, ...] = ()

    @property
    def refs(self) -> frozenset[tuple[str, str]]:
        """(kind, name) of every ConfigMap and Secret the pod reads into its
        containers (env, volumes)."""
        found: frozenset[tuple[str, str]] = frozenset()
        for c in (*self.init_containers, *self.containers):
            found |= c.refs
        for v in self.volumes:
            found |= v.refs
        return found


@frozen
class OwnerReference:
    """The controller of a pod a workload made (metadata.ownerReferences[0]).

    As in Kubernetes, a Deployment's pods are owned by its ReplicaSet
    (``<deployment>-<template hash>``), not by the Deployment itself.
    """

    kind: str  # "ReplicaSet"
    name: str
    api_version: str = "apps/v1"

    def to_api(self) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": self.kind, "name": self.name,
                "controller": True, "blockOwnerDeletion": True}


@frozen
class Pod:
    name: str
    spec: PodSpec
    namespace: str = "default"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # where it came from, for messages: "pod.yaml" document 0
    source: str = ""
    # the spec as written (JSON-like), for `get -o yaml`; not compared
    manifest_spec: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # set on the pods a Deployment or ReplicaSet makes (minipod.api.workloads.build_pod)
    owner: OwnerReference | None = None


# ---------------------------------------------------------------------------
# apps/v1 Deployment and ReplicaSet
# ---------------------------------------------------------------------------

WorkloadKind = Literal["Deployment", "ReplicaSet"]
StrategyType = Literal["RollingUpdate", "Recreate"]
SelectorOperator = Literal["In", "NotIn", "Exists", "DoesNotExist"]


@frozen
class LabelSelectorRequirement:
    key: str
    operator: SelectorOperator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":  # an absent label is "not in" (labels.Requirement)
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


@frozen
class LabelSelector:
    """A metav1.LabelSelector: every matchLabels pair and every expression must hold."""

    match_labels: dict[str, str] = field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            r.matches(labels) for r in self.match_expressions
        )

    def to_api(self) -> dict[str, Any]:
        api: dict[str, Any] = {}
        if self.match_labels:
            api["matchLabels"] = dict(self.match_labels)
        if self.match_expressions:
            api["matchExpressions"] = [
                {"key": r.key, "operator": r.operator, **({"values": list(r.values)}
                                                          if r.values else {})}
                for r in self.match_expressions
            ]
        return api


@frozen
class PodTemplate:
    """spec.template of a workload: the pods' labels, annotations and PodSpec."""

    spec: PodSpec
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # the template object as written (metadata and spec), for the template hash
    manifest: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@frozen
class RollingUpdate:
    """An IntOrString each: a count (3) or a percentage of replicas ("25%")."""

    max_surge: int | str = "25%"
    max_unavailable: int | str = "25%"


@frozen
class Workload:
    """An apps/v1 Deployment or ReplicaSet.

    ``strategy``, ``rolling_update``, ``revision_history_limit`` and
    ``progress_deadline_seconds`` only mean something for a Deployment.
    """

    kind: WorkloadKind
    name: str
    selector: LabelSelector
    template: PodTemplate
    replicas: int = 1
    namespace: str = "default"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    strategy: StrategyType = "RollingUpdate"
    rolling_update: RollingUpdate | None = RollingUpdate()  # None with Recreate
    min_ready_seconds: int = 0
    revision_history_limit: int | None = None  # Deployment default 10
    progress_deadline_seconds: int | None = None  # Deployment default 600
    source: str = ""
    manifest_spec: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


# v1 ConfigMap and Secret: ConfigData, in api/configdata.py (imported above)


# ---------------------------------------------------------------------------
# v1 Service
# ---------------------------------------------------------------------------


@frozen
class ServicePort:
    port: int
    protocol: str = "TCP"  # TCP, UDP or SCTP
    name: str = ""  # required when a Service has several ports
    target_port: int | str = 0  # a number, or a container port's name; 0: ``port``
    node_port: int | None = None  # NodePort: the one asked for (None: allocated)
    app_protocol: str | None = None

    @property
    def target(self) -> int | str:
        return self.target_port or self.port


@frozen
class Service:
    """A v1 Service: a stable address (ClusterIP, or NodePort on the node's
    addresses too) in front of the ready pods its selector matches."""

    name: str
    ports: tuple[ServicePort, ...]
    namespace: str = "default"
    selector: dict[str, str] | None = None  # None: no selector, so no endpoints
    type: str = "ClusterIP"  # or NodePort
    cluster_ip: str = ""  # "": allocated; "None": headless; else the one asked for
    publish_not_ready_addresses: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    source: str = ""
    manifest_spec: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    kind = "Service"

    @property
    def headless(self) -> bool:
        return self.cluster_ip == "None"


@frozen
class Manifest:
    """Every object of a manifest file, by kind, each list in document order."""

    pods: list[Pod] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    configs: list[ConfigData] = field(default_factory=list)  # ConfigMaps and Secrets
    services: list[Service] = field(default_factory=list)
