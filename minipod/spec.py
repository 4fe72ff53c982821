"""Pod manifests: parsing and strict validation, with Kubernetes' rules.

Pure: no syscalls, no filesystem access beyond reading the manifest text.
Every problem becomes a FieldError naming the field path (the way the API
server does, e.g. ``spec.containers[0].livenessProbe.periodSeconds``); all of
them are collected and raised together as one SpecError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from minipod.errors import FieldError, SpecError

__all__ = [
    "Container",
    "ContainerPort",
    "EnvVar",
    "ExecAction",
    "FieldError",
    "GRPCAction",
    "HTTPGetAction",
    "HTTPHeader",
    "LifecycleHandler",
    "Lifecycle",
    "Pod",
    "PodSpec",
    "Probe",
    "SecurityContext",
    "SpecError",
    "TCPSocketAction",
    "Volume",
    "VolumeMount",
    "load_pods",
    "parse_pods",
]

RestartPolicy = Literal["Always", "OnFailure", "Never"]


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str


@dataclass(frozen=True)
class ContainerPort:
    container_port: int
    name: str | None = None
    protocol: str = "TCP"


@dataclass(frozen=True)
class VolumeMount:
    name: str
    mount_path: str
    read_only: bool = False


@dataclass(frozen=True)
class ExecAction:
    command: tuple[str, ...]


@dataclass(frozen=True)
class HTTPHeader:
    name: str
    value: str


@dataclass(frozen=True)
class HTTPGetAction:
    port: int | str  # a number, or the name of one of the container's ports
    path: str = "/"
    host: str | None = None
    scheme: str = "HTTP"  # "HTTP" or "HTTPS"
    http_headers: tuple[HTTPHeader, ...] = ()


@dataclass(frozen=True)
class TCPSocketAction:
    port: int | str
    host: str | None = None


@dataclass(frozen=True)
class GRPCAction:
    port: int
    service: str = ""


@dataclass(frozen=True)
class Probe:
    handler: ExecAction | HTTPGetAction | TCPSocketAction | GRPCAction
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace_period_seconds: int | None = None


@dataclass(frozen=True)
class LifecycleHandler:
    # exactly one of these is set
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    sleep_seconds: int | None = None


@dataclass(frozen=True)
class Lifecycle:
    post_start: LifecycleHandler | None = None
    pre_stop: LifecycleHandler | None = None


@dataclass(frozen=True)
class SecurityContext:
    run_as_user: int | None = None
    run_as_group: int | None = None


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Volume:
    name: str
    # exactly one of the two sources is set
    empty_dir: bool = False
    empty_dir_medium: str = ""  # "" (node disk) or "Memory" (tmpfs)
    empty_dir_size_limit: int | None = None  # bytes
    host_path: str | None = None
    host_path_type: str = ""  # "", DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Pod:
    name: str
    spec: PodSpec
    namespace: str = "default"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # where it came from, for messages: "pod.yaml" document 0
    source: str = ""


def parse_pods(text: str, source: str = "<manifest>") -> list[Pod]:
    """Parse every document in ``text`` (YAML, flow-style YAML or JSON).

    Raises SpecError carrying every FieldError found, in document order.
    """
    raise NotImplementedError


def load_pods(path: str) -> list[Pod]:
    """Read ``path`` and parse_pods() it; an unreadable file is a SpecError too."""
    raise NotImplementedError
