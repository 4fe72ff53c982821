"""Manifests (v1 Pods, apps/v1 Deployments and ReplicaSets): parsing and strict
validation, with Kubernetes' rules. parse_pods takes Pods only; parse_objects
takes all three, a workload's pod template checked by the Pod spec parser.

Pure: no syscalls, no filesystem access beyond reading the manifest text.
Every problem becomes a FieldError naming the field path (the way the API
server does, e.g. ``spec.containers[0].livenessProbe.periodSeconds``); all of
them are collected and raised together as one SpecError.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, DecimalException, localcontext
from typing import Any, Literal, TypeGuard, cast

import yaml

from minipod.api.errors import FieldError, SpecError

__all__ = [
    "Container",
    "ContainerPort",
    "EnvVar",
    "ExecAction",
    "FieldError",
    "GRPCAction",
    "HTTPGetAction",
    "HTTPHeader",
    "LabelSelector",
    "LabelSelectorRequirement",
    "Lifecycle",
    "LifecycleHandler",
    "Manifest",
    "OwnerReference",
    "Pod",
    "PodSpec",
    "PodTemplate",
    "Probe",
    "RollingUpdate",
    "SecurityContext",
    "SpecError",
    "TCPSocketAction",
    "Volume",
    "VolumeMount",
    "Workload",
    "load_objects",
    "load_pods",
    "parse_objects",
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
    # "", DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice
    host_path_type: str = ""


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


@dataclass(frozen=True)
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
# Workloads: apps/v1 Deployment and ReplicaSet
# ---------------------------------------------------------------------------

WorkloadKind = Literal["Deployment", "ReplicaSet"]
StrategyType = Literal["RollingUpdate", "Recreate"]
SelectorOperator = Literal["In", "NotIn", "Exists", "DoesNotExist"]


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class PodTemplate:
    """spec.template of a workload: the pods' labels, annotations and PodSpec."""

    spec: PodSpec
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # the template object as written (metadata and spec), for the template hash
    manifest: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class RollingUpdate:
    """An IntOrString each: a count (3) or a percentage of replicas ("25%")."""

    max_surge: int | str = "25%"
    max_unavailable: int | str = "25%"


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Manifest:
    """Every object of a manifest file, by kind, each list in document order."""

    pods: list[Pod] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def parse_pods(text: str, source: str = "<manifest>") -> list[Pod]:
    """Parse every document in ``text`` (YAML, flow-style YAML or JSON).

    Every document must be a v1 Pod; empty documents are skipped, and a text
    with no document at all is an error. Raises SpecError (with ``source``)
    carrying every FieldError found, in document order.
    """
    objects = _parse_text(text, source, _parse_document, "Pod")
    return [obj for obj in objects if isinstance(obj, Pod)]


def parse_objects(text: str, source: str = "<manifest>") -> Manifest:
    """Like parse_pods, but each document may also be an apps/v1 Deployment or
    ReplicaSet. Names are unique per kind and namespace, as in the API server."""
    objects = _parse_text(text, source, _parse_object, "Pod, Deployment or ReplicaSet")
    return Manifest(
        pods=[obj for obj in objects if isinstance(obj, Pod)],
        workloads=[obj for obj in objects if isinstance(obj, Workload)],
    )


def load_pods(path: str) -> list[Pod]:
    """Read ``path`` and parse_pods() it; an unreadable file is a SpecError too."""
    return parse_pods(_read_manifest(path), source=path)


def load_objects(path: str) -> Manifest:
    """Read ``path`` and parse_objects() it; an unreadable file is a SpecError too."""
    return parse_objects(_read_manifest(path), source=path)


def _read_manifest(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    except OSError as exc:
        raise SpecError(f"cannot read manifest: {exc.strerror or exc}", source=path) from exc
    except UnicodeDecodeError as exc:
        message = f"cannot read manifest: not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise SpecError(message, source=path) from exc


_Object = Pod | Workload
_DocumentParser = Callable[[object, str, list[FieldError]], _Object | None]


def _parse_text(text: str, source: str, parse: _DocumentParser, what: str) -> list[_Object]:
    documents, syntax_error = _load_documents(text)
    # Documents are numbered from 0, counting only non-empty ones (a trailing
    # "---" is not a document). Only a file with several of them gets numbers:
    # each object's source becomes "<source>#N" and each error path gets a
    # "doc[N]." prefix, so FieldError.path stays a plain field path for
    # single-object files.
    numbered = len(documents) > 1 or (syntax_error is not None and bool(documents))
    errors: list[FieldError] = []
    objects: list[_Object] = []
    seen: set[tuple[str, str, str]] = set()
    for index, document in enumerate(documents):
        found: list[FieldError] = []
        obj = parse(document, f"{source}#{index}" if numbered else source, found)
        if obj is not None:
            _check_unique_name(obj, seen, found)
            objects.append(obj)
        errors.extend(_numbered(found, index) if numbered else found)
    if syntax_error is not None:
        errors.append(syntax_error)
    if not documents and not errors:
        errors.append(FieldError("", f"no {what} found: the manifest has no documents"))
    if errors:
        raise SpecError(errors, source=source)
    return objects


def _numbered(errors: list[FieldError], index: int) -> list[FieldError]:
    prefix = f"doc[{index}]"
    return [FieldError(f"{prefix}.{e.path}" if e.path else prefix, e.message) for e in errors]


def _check_unique_name(obj: _Object, seen: set[tuple[str, str, str]],
                       errors: list[FieldError]) -> None:
    # Names are unique per kind and namespace, as in the API server (AlreadyExists).
    if not obj.name:
        return
    key = ("Pod" if isinstance(obj, Pod) else obj.kind, obj.namespace, obj.name)
    if key in seen:
        errors.append(FieldError("metadata.name", f'Duplicate value: "{obj.name}"'))
    seen.add(key)


# ---------------------------------------------------------------------------
# YAML
# ---------------------------------------------------------------------------


# libyaml's parser when PyYAML has it (Debian's and PyPI's wheels do): a
# manifest parses ten times faster, which is a fifth of a pod's start.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[misc]
    """SafeLoader that refuses duplicate keys in a mapping.

    PyYAML silently keeps the last one; the API server's strict decoding
    reports it, and a silently dropped field is exactly what strictness is for.
    Keys brought in by a merge key ("<<") may still be overridden.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _YAML_MERGE_TAG:
                continue
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f'found duplicate key "{key_node.value}"',
                    key_node.start_mark,
                )
            seen.add(key_node.value)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)
        return mapping


_YAML_MERGE_TAG = "tag:yaml.org,2002:merge"


def _load_documents(text: str) -> tuple[list[Any], FieldError | None]:
    """The non-empty documents of ``text``, and the syntax error that ended it early."""
    documents: list[Any] = []
    try:
        for document in yaml.load_all(text, Loader=_StrictLoader):
            if document is not None:
                documents.append(document)
    except yaml.YAMLError as exc:
        return documents, FieldError("", _yaml_message(exc))
    except RecursionError:
        return documents, FieldError("", "invalid YAML: nested too deeply")
    return documents, None


def _yaml_message(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = f" ({exc.context})" if exc.context else ""
        return (
            f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: "
            f"{exc.problem or 'syntax error'}{context}"
        )
    return f"invalid YAML: {exc}"


# ---------------------------------------------------------------------------
# The field names of each level of a Pod (k8s.io/api core/v1 types.go)
# ---------------------------------------------------------------------------

_NOT_SUPPORTED = "not supported by minipod"


@dataclass(frozen=True)
class _Keys:
    """The field names Kubernetes defines at one level of the Pod object.

    Knowing the real Kubernetes names minipod does not implement lets a manifest
    using them get "not supported by minipod" rather than a misleading
    "unknown field" (which is kept for typos).
    """

    supported: tuple[str, ...]
    unsupported: Mapping[str, str] = field(default_factory=dict)  # name -> message
    ignored: frozenset[str] = frozenset()  # accepted and dropped (server-set fields)

    def known(self) -> list[str]:
        return [*self.supported, *self.unsupported, *sorted(self.ignored)]


def _keys(supported: str, unsupported: str = "", hint: str = "", ignored: str = "") -> _Keys:
    message = f"{_NOT_SUPPORTED} ({hint})" if hint else _NOT_SUPPORTED
    return _Keys(
        tuple(supported.split()),
        dict.fromkeys(unsupported.split(), message),
        frozenset(ignored.split()),
    )


# `status` is what `kubectl get -o yaml` prints; it is never input, so it is dropped.
_POD_KEYS = _keys("apiVersion kind metadata spec", ignored="status")
_METADATA_KEYS = _keys(
    "name namespace labels annotations",
    "generateName",
    hint="set metadata.name",
    ignored="uid resourceVersion creationTimestamp generation managedFields ownerReferences"
    " finalizers deletionTimestamp deletionGracePeriodSeconds selfLink clusterName",
)
_POD_SPEC_KEYS = _keys(
    "containers initContainers volumes restartPolicy terminationGracePeriodSeconds"
    " hostname subdomain shareProcessNamespace securityContext",
    "hostNetwork hostPID hostIPC nodeName nodeSelector affinity tolerations"
    " serviceAccountName serviceAccount automountServiceAccountToken dnsPolicy dnsConfig"
    " hostAliases priorityClassName priority schedulerName imagePullSecrets readinessGates"
    " runtimeClassName enableServiceLinks preemptionPolicy overhead topologySpreadConstraints"
    " setHostnameAsFQDN os hostUsers schedulingGates resourceClaims activeDeadlineSeconds"
    " ephemeralContainers resources hostnameOverride workloadRef",
)
_CONTAINER_FIELDS = (
    "name image command args workingDir env ports volumeMounts livenessProbe readinessProbe"
    " startupProbe lifecycle securityContext imagePullPolicy"
)
_CONTAINER_UNSUPPORTED = (
    "resources resizePolicy envFrom volumeDevices stdin stdinOnce tty terminationMessagePath"
    " terminationMessagePolicy restartPolicyRules"
)
_INIT_CONTAINER_KEYS = _keys(f"{_CONTAINER_FIELDS} restartPolicy", _CONTAINER_UNSUPPORTED)
# Kubernetes 1.34+ allows restartPolicy on app containers (with restartPolicyRules);
# minipod applies the pod's restartPolicy to every app container.
_APP_CONTAINER_KEYS = _keys(_CONTAINER_FIELDS, f"{_CONTAINER_UNSUPPORTED} restartPolicy")
_ENV_KEYS = _keys("name value", "valueFrom", hint="only value is supported")
_PORT_KEYS = _keys("containerPort name protocol", "hostPort hostIP")
_MOUNT_KEYS = _keys(
    "name mountPath readOnly", "subPath subPathExpr mountPropagation recursiveReadOnly"
)
_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_PROBE_KEYS = _keys(
    " ".join(_PROBE_HANDLERS) + " initialDelaySeconds periodSeconds timeoutSeconds"
    " successThreshold failureThreshold terminationGracePeriodSeconds"
)
_EXEC_KEYS = _keys("command")
_HTTP_GET_KEYS = _keys("path port host scheme httpHeaders")
_HTTP_HEADER_KEYS = _keys("name value")
_TCP_SOCKET_KEYS = _keys("port host")
_GRPC_KEYS = _keys("port service")
_SLEEP_KEYS = _keys("seconds")
_LIFECYCLE_KEYS = _keys("postStart preStop", "stopSignal")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "sleep")
_LIFECYCLE_HANDLER_KEYS = _Keys(
    _LIFECYCLE_HANDLERS, {"tcpSocket": "not supported (deprecated in Kubernetes)"}
)
_VOLUME_SOURCES = ("emptyDir", "hostPath")
_VOLUME_KEYS = _keys(
    "name " + " ".join(_VOLUME_SOURCES),
    "gcePersistentDisk awsElasticBlockStore gitRepo secret nfs iscsi glusterfs"
    " persistentVolumeClaim rbd flexVolume cinder cephfs flocker downwardAPI fc azureFile"
    " configMap vsphereVolume quobyte azureDisk photonPersistentDisk projected portworxVolume"
    " scaleIO storageos csi ephemeral image",
    hint="supported: emptyDir, hostPath",
)
_EMPTY_DIR_KEYS = _keys("medium sizeLimit")
_HOST_PATH_KEYS = _keys("path type")
_POD_SECURITY_KEYS = _keys(
    "runAsUser runAsGroup",
    "runAsNonRoot fsGroup fsGroupChangePolicy supplementalGroups supplementalGroupsPolicy"
    " sysctls seLinuxOptions seLinuxChangePolicy seccompProfile appArmorProfile windowsOptions",
)
_CONTAINER_SECURITY_KEYS = _keys(
    "runAsUser runAsGroup",
    "runAsNonRoot privileged capabilities readOnlyRootFilesystem allowPrivilegeEscalation"
    " seccompProfile seLinuxOptions procMount appArmorProfile windowsOptions",
)


def _key_errors(data: dict[Any, Any], path: str, keys: _Keys) -> list[FieldError]:
    """One error per key of ``data`` that this level does not accept."""
    errors = []
    for key in data:
        if not isinstance(key, str):
            errors.append(FieldError(path, _wrong_type("field names must be strings", key)))
        elif key in keys.unsupported:
            errors.append(FieldError(_join(path, key), keys.unsupported[key]))
        elif key not in keys.supported and key not in keys.ignored:
            errors.append(FieldError(_join(path, key), _unknown_field(key, keys)))
    return errors


def _unknown_field(key: str, keys: _Keys) -> str:
    message = f'unknown field "{key}"'
    close = difflib.get_close_matches(key, keys.known(), n=1, cutoff=0.6)
    if close:
        return f'{message}; did you mean "{close[0]}"?'
    if len(keys.supported) <= 8:  # short enough to list in full
        return f"{message} (allowed: {', '.join(keys.supported)})"
    return message


# ---------------------------------------------------------------------------
# Typed field readers
# ---------------------------------------------------------------------------

_REQUIRED = "Required value"
_INT32_MAX = 2**31 - 1
_SHOWN_MAX = 40  # characters of a wrong-typed string quoted back in a message


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_int(value: object) -> TypeGuard[int]:
    # YAML booleans are Python ints; the API server rejects true for an int32.
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(value: object) -> str:
    """A value the way the manifest spelled it, for "must be X (got Y)"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= _SHOWN_MAX else value[:_SHOWN_MAX] + "..."
        return f'string "{shown}"'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _wrong_type(expected: str, value: object) -> str:
    return f"{expected} (got {_describe(value)})"


def _wrap(value: object, path: str, errors: list[FieldError], keys: _Keys) -> _Obj | None:
    """``value`` as an _Obj after checking it is a mapping with only known keys."""
    if not isinstance(value, dict):
        errors.append(FieldError(path, _wrong_type("must be a mapping", value)))
        return None
    errors.extend(_key_errors(value, path, keys))
    return _Obj(value, path, errors)


class _Obj:
    """One manifest mapping at a field path.

    The get_* readers check one field's type; on a mismatch they record a
    FieldError and return None, so callers carry on and find every other error.
    A null value counts as absent, as it does for the API server's decoder.
    """

    def __init__(self, data: dict[Any, Any], path: str, errors: list[FieldError]) -> None:
        self.data = data
        self.path = path
        self.errors = errors

    def at(self, key: str) -> str:
        return _join(self.path, key)

    def fail(self, key: str, message: str) -> None:
        self.errors.append(FieldError(self.at(key), message))

    def fail_here(self, message: str) -> None:
        self.errors.append(FieldError(self.path, message))

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _absent(self, key: str, required: bool) -> bool:
        if self.has(key):
            return False
        if required:
            self.fail(key, _REQUIRED)
        return True

    def get_str(self, key: str, *, required: bool = False) -> str | None:
        if self._absent(key, required):
            return None
        value = self.data[key]
        if not isinstance(value, str):
            self.fail(key, _wrong_type("must be a string", value))
            return None
        if required and not value:
            self.fail(key, _REQUIRED)
            return None
        return value

    def get_int(self, key: str, *, required: bool = False) -> int | None:
        # No "5" for 5: the API server's decoder refuses a string for an int32.
        if self._absent(key, required):
            return None
        value = self.data[key]
        if not _is_int(value):
            self.fail(key, _wrong_type("must be an integer", value))
            return None
        return value

    def get_bool(self, key: str) -> bool | None:
        if self._absent(key, False):
            return None
        value = self.data[key]
        if not isinstance(value, bool):
            self.fail(key, _wrong_type("must be a boolean", value))
            return None
        return value

    def get_list(self, key: str, *, required: bool = False) -> list[Any] | None:
        """A list; with ``required``, an empty one is missing too."""
        if self._absent(key, required):
            return None
        value = self.data[key]
        if not isinstance(value, list):
            self.fail(key, _wrong_type("must be a list", value))
            return None
        if required and not value:
            self.fail(key, _REQUIRED)
            return None
        return value

    def get_dict(self, key: str) -> dict[Any, Any] | None:
        """A free-form mapping (labels, annotations): no key check."""
        if self._absent(key, False):
            return None
        value = self.data[key]
        if not isinstance(value, dict):
            self.fail(key, _wrong_type("must be a mapping", value))
            return None
        return value

    def get_mapping(self, key: str, keys: _Keys, *, required: bool = False) -> _Obj | None:
        if self._absent(key, required):
            return None
        return _wrap(self.data[key], self.at(key), self.errors, keys)

    def get_mappings(self, key: str, keys: _Keys, *, required: bool = False) -> list[_Obj]:
        """The items of a list of mappings, each at its ``key[i]`` path."""
        items = self.get_list(key, required=required) or []
        wrapped = (_wrap(v, f"{self.at(key)}[{i}]", self.errors, keys) for i, v in enumerate(items))
        return [obj for obj in wrapped if obj is not None]

    def get_strings(self, key: str, *, required: bool = False) -> tuple[str, ...] | None:
        items = self.get_list(key, required=required)
        if items is None:
            return None
        for i, item in enumerate(items):
            if not isinstance(item, str):
                self.errors.append(
                    FieldError(f"{self.at(key)}[{i}]", _wrong_type("must be a string", item))
                )
        return tuple(item for item in items if isinstance(item, str))


# ---------------------------------------------------------------------------
# Shared value rules (k8s.io/apimachinery pkg/util/validation)
# ---------------------------------------------------------------------------

_DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_ENV_NAME_RE = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_HTTP_HEADER_NAME_RE = re.compile(r"[-A-Za-z0-9]+")
_DNS_LABEL_MAX = 63
_DNS_SUBDOMAIN_MAX = 253
_PORT_NAME_MAX = 15
_ANNOTATIONS_MAX_BYTES = 256 * 1024

_DNS_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-',"
    " and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')"
)
_DNS_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
    " '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')"
)
_QUALIFIED_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and"
    " end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_'"
    " or '.', and must start and end with an alphanumeric character (e.g. 'MyValue')"
)
_ENV_NAME_MSG = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_',"
    " '-', or '.', and must not start with a digit (e.g. 'my.env-name')"
)


def _too_long(value: str, limit: int) -> list[str]:
    return [f"must be no more than {limit} characters"] if len(value) > limit else []


def _dns_label_errors(value: str) -> list[str]:
    errors = _too_long(value, _DNS_LABEL_MAX)
    return errors if _DNS_LABEL_RE.fullmatch(value) else [*errors, _DNS_LABEL_MSG]


def _dns_subdomain_errors(value: str) -> list[str]:
    errors = _too_long(value, _DNS_SUBDOMAIN_MAX)
    return errors if _DNS_SUBDOMAIN_RE.fullmatch(value) else [*errors, _DNS_SUBDOMAIN_MSG]


def _qualified_name_errors(value: str) -> list[str]:
    """Label and annotation keys: an optional DNS subdomain prefix, '/', a name."""
    prefix, slash, name = value.rpartition("/")
    if slash and "/" in prefix:
        return ["a qualified name may contain at most one '/'"]
    errors = [f"prefix part {m}" for m in _dns_subdomain_errors(prefix)] if slash else []
    if not name:
        return [*errors, "name part must be non-empty"]
    errors += [f"name part {m}" for m in _too_long(name, _DNS_LABEL_MAX)]
    return errors if _QUALIFIED_NAME_RE.fullmatch(name) else [*errors, _QUALIFIED_NAME_MSG]


def _label_value_errors(value: str) -> list[str]:
    errors = _too_long(value, _DNS_LABEL_MAX)
    if value and not _QUALIFIED_NAME_RE.fullmatch(value):
        errors.append(_LABEL_VALUE_MSG)
    return errors


def _port_name_errors(name: str) -> list[str]:
    """IANA_SVC_NAME (RFC 6335), as validation.IsValidPortName checks it."""
    errors = _too_long(name, _PORT_NAME_MAX)
    if not re.fullmatch(r"[-a-z0-9]+", name):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        errors.append("must not contain consecutive hyphens")
    if not re.search(r"[a-z]", name):
        errors.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def _check(obj: _Obj, key: str, value: str, messages: list[str]) -> None:
    for message in messages:
        obj.fail(key, f'Invalid value: "{value}": {message}')


def _check_unique(obj: _Obj, key: str, value: str, seen: set[str]) -> None:
    if value in seen:
        obj.fail(key, f'Duplicate value: "{value}"')
    seen.add(value)


def _check_absolute(obj: _Obj, key: str, path: str) -> None:
    if not path.startswith("/"):
        obj.fail(key, f'Invalid value: "{path}": must be an absolute path')


def _unsupported_value(value: str, allowed: tuple[str, ...]) -> str:
    listed = ", ".join(f'"{a}"' for a in allowed)
    return f'Unsupported value: "{value}": supported values: {listed}'


def _get_enum(obj: _Obj, key: str, allowed: tuple[str, ...], default: str) -> str:
    value = obj.get_str(key)
    if value is None:
        return default
    if value not in allowed:
        obj.fail(key, _unsupported_value(value, allowed))
        return default
    return value


def _get_count(
    obj: _Obj, key: str, default: int, minimum: int, *, zero_is_default: bool = False
) -> int:
    """An int32 count with a lower bound; absent means ``default``."""
    value = obj.get_int(key)
    if value is None or (zero_is_default and value == 0):
        return default
    if value < minimum:
        obj.fail(key, f"must be >= {minimum}")
        return default
    if value > _INT32_MAX:
        obj.fail(key, f"must be <= {_INT32_MAX}")
        return default
    return value


def _one_of(
    obj: _Obj,
    names: tuple[str, ...],
    what: str,
    refused: Iterable[str],
    null_is_set: Iterable[str] = (),
) -> str | None:
    """The single field of ``names`` that ``obj`` sets (a handler or volume source).

    ``refused`` are real alternatives minipod does not implement; they have
    been reported already, so their presence is not "must specify" too.
    ``null_is_set`` are fields that count as set even with a null value.
    """
    present = [n for n in names if obj.has(n) or (n in null_is_set and n in obj.data)]
    if not present:
        if not any(name in obj.data for name in refused):
            obj.fail_here(f"must specify a {what} (one of: {', '.join(names)})")
        return None
    for extra in present[1:]:
        obj.fail(extra, f"may not specify more than 1 {what}")
    return present[0]


# ---------------------------------------------------------------------------
# Quantities (k8s.io/apimachinery pkg/api/resource)
# ---------------------------------------------------------------------------

_QUANTITY_RE = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>[KMGTPE]i|[eE][+-]?[0-9]{1,4}|[numkMGTPE])?"
)
_BINARY_POWERS = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_EXPONENTS = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12}
_DECIMAL_EXPONENTS |= {"P": 15, "E": 18}
_INT64_MAX = 2**63 - 1


def _quantity_bytes(text: str) -> int:
    """A quantity ("64Mi", "1G", "1e3", "500") as a whole number of bytes.

    Raises ValueError with the reason when it is not one.
    """
    match = _QUANTITY_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError("must be a quantity such as 64Mi, 1Gi, 500M or 1000")
    suffix = match["suffix"] or ""
    try:
        with localcontext() as ctx:
            ctx.prec = 60  # exact for anything below 2**63 bytes
            value = Decimal(match["number"])
            if suffix in _BINARY_POWERS:
                value *= Decimal(1024) ** _BINARY_POWERS[suffix]
            else:
                exponent = _DECIMAL_EXPONENTS.get(suffix)
                value = value.scaleb(int(suffix[1:]) if exponent is None else exponent)
    except DecimalException as exc:
        raise ValueError("is too large") from exc
    if value != value.to_integral_value():
        raise ValueError("must be a whole number of bytes")
    if value > _INT64_MAX:
        raise ValueError("is too large")
    return int(value)


# ---------------------------------------------------------------------------
# The Pod object
# ---------------------------------------------------------------------------


_POD_KIND = {"Pod": "v1"}
_OBJECT_KINDS = {"Pod": "v1", "Deployment": "apps/v1", "ReplicaSet": "apps/v1"}


def _parse_document(document: object, source: str, errors: list[FieldError]) -> Pod | None:
    """The Pod in one document, or None when it is not a Pod at all.

    The Pod comes back even when ``errors`` grew, so the caller can still check
    names across documents; it is only used when there were no errors.
    """
    top = _top(document, errors, "a Pod object")
    if top is None or _check_kind(top, _POD_KIND) is None:
        return None
    return _parse_pod(top, source)


def _parse_object(document: object, source: str, errors: list[FieldError]) -> _Object | None:
    """The Pod, Deployment or ReplicaSet in one document (see _parse_document)."""
    top = _top(document, errors, "a Kubernetes object")
    kind = _check_kind(top, _OBJECT_KINDS) if top is not None else None
    if top is None or kind is None:
        return None
    if kind == "Pod":
        return _parse_pod(top, source)
    return _parse_workload(top, cast(WorkloadKind, kind), source)


def _top(document: object, errors: list[FieldError], what: str) -> _Obj | None:
    if not isinstance(document, dict):
        errors.append(FieldError("", _wrong_type(f"must be a mapping ({what})", document)))
        return None
    return _Obj(document, "", errors)


def _parse_pod(top: _Obj, source: str) -> Pod:
    top.errors.extend(_key_errors(top.data, "", _POD_KEYS))
    name, namespace, labels, annotations = _parse_metadata(top)
    spec = top.get_mapping("spec", _POD_SPEC_KEYS, required=True)
    return Pod(
        name=name,
        spec=_parse_pod_spec(spec) if spec is not None else PodSpec(containers=()),
        namespace=namespace,
        labels=labels,
        annotations=annotations,
        source=source,
        manifest_spec=dict(spec.data) if spec is not None else {},
    )


def _check_kind(top: _Obj, kinds: Mapping[str, str]) -> str | None:
    """Check kind and apiVersion against ``kinds`` (kind -> apiVersion).

    Returns the kind when its body is worth reading: a Deployment's replicas
    or template are not "unknown Pod fields", so a kind that is not supported
    is reported once, by name, and nothing else is checked.
    """
    kind = top.get_str("kind", required=True)
    if kind is not None and kind not in kinds:
        top.fail("kind", f'"{kind}" is not supported (supported: {", ".join(kinds)})')
    api_version = top.get_str("apiVersion", required=True)
    expected = kinds.get(kind or "")
    allowed = [expected] if expected else sorted(set(kinds.values()), key=len)
    if api_version is not None and api_version not in allowed:
        listed = ", ".join(allowed)
        top.fail("apiVersion", f'"{api_version}" is not supported (supported: {listed})')
    return kind if expected else None


def _parse_metadata(top: _Obj) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """(name, namespace, labels, annotations)."""
    meta = top.get_mapping("metadata", _METADATA_KEYS, required=True)
    if meta is None:
        return "", "default", {}, {}
    # Pod names are DNS subdomains; the hostname derived from a long one is
    # truncated to a label when the pod starts, not refused here.
    name = meta.get_str("name", required=True)
    if name is not None:
        _check(meta, "name", name, _dns_subdomain_errors(name))
    namespace = meta.get_str("namespace") or "default"  # "" means default too
    _check(meta, "namespace", namespace, _dns_label_errors(namespace))
    return name or "", namespace, _parse_labels(meta), _parse_annotations(meta)


def _get_string_map(meta: _Obj, key: str) -> dict[str, str]:
    raw = meta.get_dict(key) or {}
    result = {}
    for k, v in raw.items():
        if not isinstance(k, str):
            meta.fail(key, _wrong_type("keys must be strings", k))
        elif not isinstance(v, str):
            meta.fail(key, _wrong_type(f'value of "{k}" must be a string', v))
        else:
            result[k] = v
    return result


def _parse_labels(meta: _Obj, key: str = "labels") -> dict[str, str]:
    labels = _get_string_map(meta, key)
    for name, value in labels.items():
        _check(meta, key, name, _qualified_name_errors(name))
        _check(meta, key, value, _label_value_errors(value))
    return labels


def _parse_annotations(meta: _Obj) -> dict[str, str]:
    annotations = _get_string_map(meta, "annotations")
    for key in annotations:
        # ValidateAnnotations lowercases the key before checking it.
        _check(meta, "annotations", key, _qualified_name_errors(key.lower()))
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > _ANNOTATIONS_MAX_BYTES:
        meta.fail("annotations", f"Too long: must have at most {_ANNOTATIONS_MAX_BYTES} bytes")
    return annotations


# ---------------------------------------------------------------------------
# PodSpec
# ---------------------------------------------------------------------------

_RESTART_POLICIES = ("Always", "OnFailure", "Never")


def _parse_pod_spec(spec: _Obj) -> PodSpec:
    volumes = _parse_volumes(spec)
    volume_names = frozenset(v.name for v in volumes if v.name)
    # Container names are unique across containers and initContainers; as in
    # validateInitContainers, app containers claim their names first.
    names: set[str] = set()
    containers = _parse_containers(spec, "containers", volume_names, names)
    init_containers = _parse_containers(spec, "initContainers", volume_names, names)
    restart_policy = _get_enum(spec, "restartPolicy", _RESTART_POLICIES, "Always")
    return PodSpec(
        containers=containers,
        init_containers=init_containers,
        restart_policy=cast(RestartPolicy, restart_policy),
        hostname=_get_dns_label(spec, "hostname"),
        subdomain=_get_dns_label(spec, "subdomain"),
        share_process_namespace=spec.get_bool("shareProcessNamespace") or False,
        termination_grace_period_seconds=_get_grace_period(spec),
        volumes=volumes,
        security_context=_parse_security_context(spec, _POD_SECURITY_KEYS),
    )


def _get_dns_label(obj: _Obj, key: str) -> str | None:
    value = obj.get_str(key)
    if value:
        _check(obj, key, value, _dns_label_errors(value))
    return value or None  # "" means unset, as in the API


def _get_grace_period(spec: _Obj) -> int:
    value = spec.get_int("terminationGracePeriodSeconds")
    if value is None:
        return 30  # SetDefaults_PodSpec
    if value < 0:
        spec.fail("terminationGracePeriodSeconds", "must be >= 0")
        return 30
    return value


def _parse_security_context(parent: _Obj, keys: _Keys) -> SecurityContext | None:
    obj = parent.get_mapping("securityContext", keys)
    if obj is None:
        return None
    return SecurityContext(_get_id(obj, "runAsUser"), _get_id(obj, "runAsGroup"))


def _get_id(obj: _Obj, key: str) -> int | None:
    value = obj.get_int(key)
    if value is not None and not 0 <= value <= _INT32_MAX:
        obj.fail(key, f"must be between 0 and {_INT32_MAX}, inclusive")
        return None
    return value


# ---------------------------------------------------------------------------
# Volumes
# ---------------------------------------------------------------------------

_EMPTY_DIR_MEDIA = ("", "Memory")
_HOST_PATH_TYPES = (
    "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
    "BlockDevice",
)  # fmt: skip


def _parse_volumes(spec: _Obj) -> tuple[Volume, ...]:
    volumes = []
    names: set[str] = set()
    for obj in spec.get_mappings("volumes", _VOLUME_KEYS):
        name = obj.get_str("name", required=True)
        if name is not None:
            _check(obj, "name", name, _dns_label_errors(name))
            _check_unique(obj, "name", name, names)
        # "emptyDir:" with no value is a common spelling of "emptyDir: {}" (the
        # API server even defaults a volume with no source to emptyDir).
        source = _one_of(
            obj, _VOLUME_SOURCES, "volume type", _VOLUME_KEYS.unsupported, ("emptyDir",)
        )
        if source == "emptyDir":
            volumes.append(_parse_empty_dir(obj, name or ""))
        elif source == "hostPath":
            volumes.append(_parse_host_path(obj, name or ""))
        else:
            volumes.append(Volume(name or ""))
    return tuple(volumes)


def _parse_empty_dir(volume: _Obj, name: str) -> Volume:
    obj = volume.get_mapping("emptyDir", _EMPTY_DIR_KEYS)
    if obj is None:
        return Volume(name, empty_dir=True)
    return Volume(
        name,
        empty_dir=True,
        empty_dir_medium=_get_enum(obj, "medium", _EMPTY_DIR_MEDIA, ""),
        empty_dir_size_limit=_get_size_limit(obj),
    )


def _get_size_limit(obj: _Obj) -> int | None:
    value = obj.data.get("sizeLimit")
    if value is None:
        return None
    # A quantity is a string in the API, but plain numbers decode to one too.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        obj.fail("sizeLimit", _wrong_type("must be a quantity such as 64Mi", value))
        return None
    try:
        size = _quantity_bytes(str(value))
    except ValueError as exc:
        obj.fail("sizeLimit", f'Invalid value: "{value}": {exc}')
        return None
    if size <= 0:
        obj.fail("sizeLimit", f'Invalid value: "{value}": must be greater than 0')
        return None
    return size


def _parse_host_path(volume: _Obj, name: str) -> Volume:
    obj = volume.get_mapping("hostPath", _HOST_PATH_KEYS)
    if obj is None:
        return Volume(name, host_path="")
    path = obj.get_str("path", required=True)
    if path is not None:
        _check_absolute(obj, "path", path)
        if ".." in path.split("/"):  # validatePathNoBacksteps
            obj.fail("path", f"Invalid value: \"{path}\": must not contain '..'")
    return Volume(
        name, host_path=path or "", host_path_type=_get_enum(obj, "type", _HOST_PATH_TYPES, "")
    )


# ---------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------

_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_PROTOCOLS = ("TCP", "UDP", "SCTP")
_PORT_MAX = 65535


def _parse_containers(
    spec: _Obj, key: str, volume_names: frozenset[str], names: set[str]
) -> tuple[Container, ...]:
    init = key == "initContainers"
    keys = _INIT_CONTAINER_KEYS if init else _APP_CONTAINER_KEYS
    containers = []
    for obj in spec.get_mappings(key, keys, required=not init):
        container = _parse_container(obj, volume_names, init)
        if container.name:
            _check_unique(obj, "name", container.name, names)
        containers.append(container)
    return tuple(containers)


def _parse_container(obj: _Obj, volume_names: frozenset[str], init: bool) -> Container:
    name = obj.get_str("name", required=True)
    if name is not None:
        _check(obj, "name", name, _dns_label_errors(name))
    restart_policy = _get_init_restart_policy(obj) if init else None
    if init and restart_policy is None:
        _refuse_regular_init_fields(obj)
    ports = _parse_ports(obj)
    port_names = frozenset(p.name for p in ports if p.name)
    return Container(
        name=name or "",
        image=_get_image(obj),
        command=obj.get_strings("command"),
        args=obj.get_strings("args"),
        env=_parse_env(obj),
        working_dir=_get_working_dir(obj),
        ports=ports,
        volume_mounts=_parse_volume_mounts(obj, volume_names),
        liveness_probe=_parse_probe(obj, "livenessProbe", port_names),
        readiness_probe=_parse_probe(obj, "readinessProbe", port_names),
        startup_probe=_parse_probe(obj, "startupProbe", port_names),
        lifecycle=_parse_lifecycle(obj, port_names),
        security_context=_parse_security_context(obj, _CONTAINER_SECURITY_KEYS),
        restart_policy=restart_policy,
        # Images are local, so the policy has no effect; it is accepted (and
        # checked) so that cluster manifests run unchanged.
        image_pull_policy=_get_enum(obj, "imagePullPolicy", _PULL_POLICIES, "IfNotPresent"),
    )


def _get_init_restart_policy(obj: _Obj) -> str | None:
    # KEP-753: "Always" is the only value, and it makes the init container a sidecar.
    value = obj.get_str("restartPolicy")
    if value is not None and value != "Always":
        obj.fail("restartPolicy", _unsupported_value(value, ("Always",)))
        return None
    return value


def _refuse_regular_init_fields(obj: _Obj) -> None:
    # A regular init container runs to completion: probes and hooks make no
    # sense there (validateInitContainers); sidecars may have all of them.
    for key in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
        if obj.has(key):
            obj.fail(key, "may not be set for init containers without restartPolicy=Always")


def _get_image(obj: _Obj) -> str:
    image = obj.get_str("image", required=True)
    if image is not None and image != image.strip():
        obj.fail("image", f'Invalid value: "{image}": must not have leading or trailing whitespace')
    return image or ""


def _get_working_dir(obj: _Obj) -> str | None:
    # Kubernetes accepts a relative workingDir (the runtime decides); minipod
    # creates the directory inside the rootfs, so it wants an absolute one.
    value = obj.get_str("workingDir")
    if value:
        _check_absolute(obj, "workingDir", value)
    return value or None


def _parse_env(container: _Obj) -> tuple[EnvVar, ...]:
    # Duplicate names are allowed (the API server only warns); order matters
    # for $(VAR) expansion, so they are kept as written.
    env = []
    for obj in container.get_mappings("env", _ENV_KEYS):
        name = obj.get_str("name", required=True)
        if name is not None and not _ENV_NAME_RE.fullmatch(name):
            obj.fail("name", f'Invalid value: "{name}": {_ENV_NAME_MSG}')
        env.append(EnvVar(name or "", obj.get_str("value") or ""))
    return tuple(env)


def _parse_ports(container: _Obj) -> tuple[ContainerPort, ...]:
    ports = []
    names: set[str] = set()
    numbers: set[str] = set()
    for obj in container.get_mappings("ports", _PORT_KEYS):
        number = obj.get_int("containerPort", required=True)
        if number is not None:
            _check_port_number(obj, "containerPort", number)
        name = obj.get_str("name") or None
        if name is not None:
            _check(obj, "name", name, _port_name_errors(name))
            _check_unique(obj, "name", name, names)
        protocol = _get_enum(obj, "protocol", _PROTOCOLS, "TCP")
        if number is not None:
            _check_unique(obj, "containerPort", f"{number}/{protocol}", numbers)
        ports.append(ContainerPort(number or 0, name, protocol))
    return tuple(ports)


def _check_port_number(obj: _Obj, key: str, number: int) -> bool:
    if 1 <= number <= _PORT_MAX:
        return True
    obj.fail(key, f"Invalid value: {number}: must be between 1 and {_PORT_MAX}, inclusive")
    return False


def _parse_volume_mounts(container: _Obj, volume_names: frozenset[str]) -> tuple[VolumeMount, ...]:
    mounts = []
    paths: set[str] = set()
    for obj in container.get_mappings("volumeMounts", _MOUNT_KEYS):
        name = obj.get_str("name", required=True)
        if name is not None and name not in volume_names:
            obj.fail("name", f'Not found: "{name}" (no volume of that name in spec.volumes)')
        path = obj.get_str("mountPath", required=True)
        if path is not None:
            _check_mount_path(obj, path, paths)
        mounts.append(VolumeMount(name or "", path or "", obj.get_bool("readOnly") or False))
    return tuple(mounts)


def _check_mount_path(obj: _Obj, path: str, seen: set[str]) -> None:
    _check_absolute(obj, "mountPath", path)
    if ":" in path:
        obj.fail("mountPath", f"Invalid value: \"{path}\": must not contain ':'")
    if path in seen:
        obj.fail("mountPath", f'Invalid value: "{path}": must be unique')
    seen.add(path)


# ---------------------------------------------------------------------------
# Probes and lifecycle hooks
# ---------------------------------------------------------------------------

_Handler = ExecAction | HTTPGetAction | TCPSocketAction | GRPCAction


def _parse_probe(container: _Obj, kind: str, port_names: frozenset[str]) -> Probe | None:
    obj = container.get_mapping(kind, _PROBE_KEYS)
    if obj is None:
        return None
    handler = _parse_probe_handler(obj, port_names)
    success = _get_probe_count(obj, "successThreshold", 1)
    if success != 1 and kind != "readinessProbe":
        obj.fail("successThreshold", "must be 1")
    probe = Probe(
        handler=handler or ExecAction(()),
        initial_delay_seconds=_get_count(obj, "initialDelaySeconds", 0, 0),
        period_seconds=_get_probe_count(obj, "periodSeconds", 10),
        timeout_seconds=_get_probe_count(obj, "timeoutSeconds", 1),
        success_threshold=success,
        failure_threshold=_get_probe_count(obj, "failureThreshold", 3),
        termination_grace_period_seconds=_get_probe_grace_period(obj, kind),
    )
    return probe if handler is not None else None


def _get_probe_count(obj: _Obj, key: str, default: int) -> int:
    # SetDefaults_Probe turns 0 into the default before validation runs, so
    # 0 is accepted and what is left to refuse is a negative number.
    return _get_count(obj, key, default, 1, zero_is_default=True)


def _get_probe_grace_period(obj: _Obj, kind: str) -> int | None:
    # The probe-level grace period only matters when the probe kills the
    # container, which a readiness probe never does (validateProbe).
    key = "terminationGracePeriodSeconds"
    if kind == "readinessProbe":
        if obj.has(key):
            obj.fail(key, "must not be set for readinessProbes")
        return None
    value = obj.get_int(key)
    if value is not None and value < 1:
        obj.fail(key, "must be >= 1")
        return None
    return value


def _parse_probe_handler(probe: _Obj, port_names: frozenset[str]) -> _Handler | None:
    kind = _one_of(probe, _PROBE_HANDLERS, "handler type", ())
    if kind == "exec":
        return _parse_exec(probe)
    if kind == "httpGet":
        return _parse_http_get(probe, port_names)
    if kind == "tcpSocket":
        return _parse_tcp_socket(probe, port_names)
    if kind == "grpc":
        return _parse_grpc(probe)
    return None


def _parse_exec(parent: _Obj) -> ExecAction | None:
    obj = parent.get_mapping("exec", _EXEC_KEYS)
    if obj is None:
        return None
    command = obj.get_strings("command", required=True)
    return ExecAction(command) if command else None


def _parse_http_get(parent: _Obj, port_names: frozenset[str]) -> HTTPGetAction | None:
    obj = parent.get_mapping("httpGet", _HTTP_GET_KEYS)
    if obj is None:
        return None
    port = _get_port(obj, port_names)
    action = HTTPGetAction(
        port=port or 0,
        path=obj.get_str("path") or "/",  # SetDefaults_HTTPGetAction
        host=_get_probe_host(obj),
        scheme=_get_enum(obj, "scheme", ("HTTP", "HTTPS"), "HTTP"),
        http_headers=_parse_http_headers(obj),
    )
    return action if port is not None else None


def _parse_http_headers(http_get: _Obj) -> tuple[HTTPHeader, ...]:
    headers = []
    for obj in http_get.get_mappings("httpHeaders", _HTTP_HEADER_KEYS):
        name = obj.get_str("name", required=True)
        if name is not None and not _HTTP_HEADER_NAME_RE.fullmatch(name):
            message = "a valid HTTP header must consist of alphanumeric characters or '-'"
            obj.fail("name", f"Invalid value: \"{name}\": {message} (e.g. 'X-Header-Name')")
        headers.append(HTTPHeader(name or "", obj.get_str("value") or ""))
    return tuple(headers)


def _parse_tcp_socket(parent: _Obj, port_names: frozenset[str]) -> TCPSocketAction | None:
    obj = parent.get_mapping("tcpSocket", _TCP_SOCKET_KEYS)
    if obj is None:
        return None
    port = _get_port(obj, port_names)
    host = _get_probe_host(obj)
    return TCPSocketAction(port, host) if port is not None else None


def _get_probe_host(obj: _Obj) -> str | None:
    """An IP address or "localhost": the supervisor resolves no names, since a
    DNS lookup would block its loop (and there is no cluster DNS to ask)."""
    host = obj.get_str("host") or None
    if host is None or host == "localhost":
        return host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        obj.fail("host", f'Invalid value: "{host}": {_NOT_SUPPORTED}: '
                 "use an IP address or localhost (minipod resolves no host names)")
        return None
    return host


def _parse_grpc(parent: _Obj) -> GRPCAction | None:
    obj = parent.get_mapping("grpc", _GRPC_KEYS)
    if obj is None:
        return None
    # GRPCAction.port is an int32: no port names here.
    port = obj.get_int("port", required=True)
    service = obj.get_str("service") or ""
    if port is None or not _check_port_number(obj, "port", port):
        return None
    return GRPCAction(port, service)


def _get_port(obj: _Obj, port_names: frozenset[str]) -> int | str | None:
    """An IntOrString port: a number, or the name of one of the container's ports."""
    value = obj.data.get("port")
    if value is None:
        obj.fail("port", _REQUIRED)
        return None
    if _is_int(value):
        return value if _check_port_number(obj, "port", value) else None
    if not isinstance(value, str):
        obj.fail("port", _wrong_type("must be a port number or a port name", value))
        return None
    errors = _port_name_errors(value)
    _check(obj, "port", value, errors)
    # The kubelet resolves names at probe time and fails the probe forever
    # when one is missing; refusing it here is kinder.
    if not errors and value not in port_names:
        obj.fail("port", f'port name "{value}" not found in container ports')
        return None
    return None if errors else value


def _parse_lifecycle(container: _Obj, port_names: frozenset[str]) -> Lifecycle | None:
    obj = container.get_mapping("lifecycle", _LIFECYCLE_KEYS)
    if obj is None:
        return None
    return Lifecycle(
        post_start=_parse_lifecycle_handler(obj, "postStart", port_names),
        pre_stop=_parse_lifecycle_handler(obj, "preStop", port_names),
    )


def _parse_lifecycle_handler(
    lifecycle: _Obj, key: str, port_names: frozenset[str]
) -> LifecycleHandler | None:
    obj = lifecycle.get_mapping(key, _LIFECYCLE_HANDLER_KEYS)
    if obj is None:
        return None
    # tcpSocket is still accepted by the API server but never run by the kubelet.
    kind = _one_of(obj, _LIFECYCLE_HANDLERS, "handler type", ("tcpSocket",))
    if kind == "exec":
        return LifecycleHandler(exec=_parse_exec(obj))
    if kind == "httpGet":
        return LifecycleHandler(http_get=_parse_http_get(obj, port_names))
    if kind == "sleep":
        return LifecycleHandler(sleep_seconds=_get_sleep_seconds(obj))
    return None


def _get_sleep_seconds(handler: _Obj) -> int | None:
    obj = handler.get_mapping("sleep", _SLEEP_KEYS)
    if obj is None:
        return None
    seconds = obj.get_int("seconds", required=True)
    if seconds is not None and seconds < 0:
        obj.fail("seconds", "must be >= 0")
        return None
    return seconds


# ---------------------------------------------------------------------------
# Workloads: apps/v1 Deployment and ReplicaSet (pkg/apis/apps/validation)
# ---------------------------------------------------------------------------

_WORKLOAD_KEYS = _keys("apiVersion kind metadata spec", ignored="status")
_REPLICA_SET_SPEC_KEYS = _keys("replicas selector template minReadySeconds")
_DEPLOYMENT_SPEC_KEYS = _keys(
    "replicas selector template strategy minReadySeconds revisionHistoryLimit"
    " progressDeadlineSeconds paused"
)
_SELECTOR_KEYS = _keys("matchLabels matchExpressions")
_REQUIREMENT_KEYS = _keys("key operator values")
_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_TEMPLATE_KEYS = _keys("metadata spec")
# The controller names the pods and puts them in its own namespace, so a
# template's name and namespace are ignored, as by GetPodFromTemplate.
_TEMPLATE_METADATA_KEYS = _Keys(
    ("labels", "annotations"), {}, _METADATA_KEYS.ignored | {"name", "namespace", "generateName"}
)
_STRATEGY_KEYS = _keys("type rollingUpdate")
_STRATEGY_TYPES = ("Recreate", "RollingUpdate")
_ROLLING_UPDATE_KEYS = _keys("maxSurge maxUnavailable")
_NONNEGATIVE = "must be greater than or equal to 0"  # ValidateNonnegativeField
_PERCENT_RE = re.compile(r"[0-9]+%")
_PERCENT_MSG = (
    "a valid percent string must be a numeric string followed by an ending '%'"
    " (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
)
_DEFAULT_PROGRESS_DEADLINE = 600  # SetDefaults_Deployment
_DEFAULT_REVISION_HISTORY = 10


def _parse_workload(top: _Obj, kind: WorkloadKind, source: str) -> Workload:
    """A Deployment or ReplicaSet; returned even with errors (see _parse_document)."""
    top.errors.extend(_key_errors(top.data, "", _WORKLOAD_KEYS))
    name, namespace, labels, annotations = _parse_metadata(top)
    deployment = kind == "Deployment"
    keys = _DEPLOYMENT_SPEC_KEYS if deployment else _REPLICA_SET_SPEC_KEYS
    spec = top.get_mapping("spec", keys, required=True)
    if spec is None:
        empty = PodTemplate(PodSpec(containers=()))
        return Workload(kind, name, LabelSelector(), empty, namespace=namespace, source=source)
    replicas = _get_nonnegative(spec, "replicas", 1)
    selector = _parse_selector(spec)
    template = _parse_template(spec, selector)
    min_ready = _get_nonnegative(spec, "minReadySeconds", 0)
    strategy, rolling_update = _parse_strategy(spec) if deployment else ("RollingUpdate", None)
    if deployment:
        _refuse_paused(spec)
    return Workload(
        kind=kind,
        name=name,
        selector=selector or LabelSelector(),
        template=template,
        replicas=replicas,
        namespace=namespace,
        labels=labels,
        annotations=annotations,
        strategy=strategy,
        rolling_update=rolling_update,
        min_ready_seconds=min_ready,
        revision_history_limit=(
            _get_nonnegative(spec, "revisionHistoryLimit", _DEFAULT_REVISION_HISTORY)
            if deployment else None
        ),
        progress_deadline_seconds=_get_progress_deadline(spec, min_ready) if deployment else None,
        source=source,
        manifest_spec=dict(spec.data),
    )


def _get_nonnegative(obj: _Obj, key: str, default: int) -> int:
    value = obj.get_int(key)
    if value is None:
        return default
    if value < 0:
        obj.fail(key, f"Invalid value: {value}: {_NONNEGATIVE}")
        return default
    if value > _INT32_MAX:
        obj.fail(key, f"must be <= {_INT32_MAX}")
        return default
    return value


def _get_progress_deadline(spec: _Obj, min_ready: int) -> int:
    # Checked after defaulting, as by the API server: a minReadySeconds of
    # 600 or more needs a longer progressDeadlineSeconds written out.
    key = "progressDeadlineSeconds"
    value = _get_nonnegative(spec, key, _DEFAULT_PROGRESS_DEADLINE)
    if value <= min_ready:
        spec.fail(key, f"Invalid value: {value}: must be greater than minReadySeconds")
    return value


def _refuse_paused(spec: _Obj) -> None:
    # A paused Deployment scales the ReplicaSets of older templates; minipod
    # keeps only the current template, so it cannot.
    if spec.get_bool("paused"):
        spec.fail("paused", f"Invalid value: true: {_NOT_SUPPORTED}"
                  " (a changed template is rolled out at once)")


def _parse_selector(spec: _Obj) -> LabelSelector | None:
    """spec.selector, or None when it is missing or invalid (nothing to match)."""
    obj = spec.get_mapping("selector", _SELECTOR_KEYS, required=True)
    if obj is None:
        return None
    errors_before = len(obj.errors)
    match_labels = _parse_labels(obj, "matchLabels")
    requirements = [_parse_requirement(r)
                    for r in obj.get_mappings("matchExpressions", _REQUIREMENT_KEYS)]
    if not obj.data.get("matchLabels") and not obj.data.get("matchExpressions"):
        # The Go value printed as JSON, as API servers from v1.34 do.
        obj.fail_here("Invalid value: {}: empty selector is invalid for deployment")
    if len(obj.errors) > errors_before:
        return None
    expressions = tuple(r for r in requirements if r is not None)
    return LabelSelector(match_labels, expressions)


def _parse_requirement(obj: _Obj) -> LabelSelectorRequirement | None:
    key = obj.get_str("key", required=True)
    if key is not None:
        _check(obj, "key", key, _qualified_name_errors(key))
    operator = obj.get_str("operator", required=True)
    values = obj.get_strings("values") or ()
    for index, value in enumerate(values):
        for message in _label_value_errors(value):
            obj.errors.append(
                FieldError(f"{obj.at('values')}[{index}]", f'Invalid value: "{value}": {message}')
            )
    if operator in ("In", "NotIn"):
        if not values:
            obj.fail("values", f"{_REQUIRED}: must be specified when `operator` is 'In' or 'NotIn'")
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            obj.fail("values", "Forbidden: may not be specified when `operator` is"
                     " 'Exists' or 'DoesNotExist'")
    elif operator is not None:
        obj.fail("operator", f'Invalid value: "{operator}": not a valid selector operator'
                 f" (supported: {', '.join(_SELECTOR_OPERATORS)})")
        return None
    if key is None or operator is None:
        return None
    return LabelSelectorRequirement(key, cast(SelectorOperator, operator), values)


def _parse_template(spec: _Obj, selector: LabelSelector | None) -> PodTemplate:
    """spec.template: a PodTemplateSpec, its spec checked as any Pod's spec is."""
    obj = spec.get_mapping("template", _TEMPLATE_KEYS, required=True)
    if obj is None:
        return PodTemplate(PodSpec(containers=()))
    meta = obj.get_mapping("metadata", _TEMPLATE_METADATA_KEYS)
    labels = _parse_labels(meta) if meta is not None else {}
    annotations = _parse_annotations(meta) if meta is not None else {}
    # ValidatePodTemplateSpecForReplicaSet
    if selector is not None and not selector.matches(labels):
        shown = json.dumps(labels, sort_keys=True, separators=(",", ":"))
        obj.errors.append(FieldError(
            obj.at("metadata.labels"),
            f"Invalid value: {shown}: `selector` does not match template `labels`",
        ))
    pod_spec_obj = obj.get_mapping("spec", _POD_SPEC_KEYS, required=True)
    if pod_spec_obj is None:
        return PodTemplate(PodSpec(containers=()), labels, annotations, dict(obj.data))
    pod_spec = _parse_pod_spec(pod_spec_obj)
    if pod_spec.restart_policy != "Always":  # a controller's pods never finish on purpose
        pod_spec_obj.fail("restartPolicy", _unsupported_value(pod_spec.restart_policy, ("Always",)))
    return PodTemplate(pod_spec, labels, annotations, dict(obj.data))


def _parse_strategy(spec: _Obj) -> tuple[StrategyType, RollingUpdate | None]:
    obj = spec.get_mapping("strategy", _STRATEGY_KEYS)
    if obj is None:
        return "RollingUpdate", RollingUpdate()
    if _get_enum(obj, "type", _STRATEGY_TYPES, "RollingUpdate") == "Recreate":
        if obj.has("rollingUpdate"):
            obj.fail("rollingUpdate",
                     "Forbidden: may not be specified when strategy `type` is 'Recreate'")
        return "Recreate", None
    rolling = obj.get_mapping("rollingUpdate", _ROLLING_UPDATE_KEYS)
    if rolling is None:
        return "RollingUpdate", RollingUpdate()
    surge = _get_int_or_percent(rolling, "maxSurge")
    unavailable = _get_int_or_percent(rolling, "maxUnavailable")
    if surge is None or unavailable is None:
        return "RollingUpdate", RollingUpdate()
    if _int_or_percent_value(surge) == 0 and _int_or_percent_value(unavailable) == 0:
        rolling.fail("maxUnavailable",
                     f"Invalid value: {json.dumps(unavailable)}: may not be 0 when `maxSurge` is 0")
    elif isinstance(unavailable, str) and _int_or_percent_value(unavailable) > 100:
        rolling.fail("maxUnavailable",
                     f'Invalid value: "{unavailable}": must not be greater than 100%')
    return "RollingUpdate", RollingUpdate(surge, unavailable)


def _get_int_or_percent(obj: _Obj, key: str) -> int | str | None:
    """An IntOrString of a rolling update: absent is "25%"; None when invalid."""
    value = obj.data.get(key)
    if value is None:
        return "25%"  # SetDefaults_Deployment
    if _is_int(value):
        if value < 0:
            obj.fail(key, f"Invalid value: {value}: {_NONNEGATIVE}")
            return None
        return value
    if not isinstance(value, str):
        obj.fail(key, _wrong_type("must be an integer or a percentage such as 25%", value))
        return None
    if not _PERCENT_RE.fullmatch(value):
        obj.fail(key, f'Invalid value: "{value}": {_PERCENT_MSG}')
        return None
    return value


def _int_or_percent_value(value: int | str) -> int:
    return int(value[:-1]) if isinstance(value, str) else value
