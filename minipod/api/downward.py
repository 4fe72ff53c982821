"""What the kubelet hands a container from the API: its environment with
valueFrom and envFrom resolved (kubelet_pods.go makeEnvironmentVariables),
and the files of configMap, secret, downwardAPI and projected volumes
(the volume plugins' payloads, before the atomic writer puts them on disk).

Pure: the ConfigMaps and Secrets come from a ``lookup`` the caller gives
(runtime reads the store, tests pass a dict), the pod's and the node's facts
as values. A missing object or key that is not optional is a ConfigError
with the kubelet's words; the caller decides what it means (a container
waiting in CreateContainerConfigError, a sandbox that cannot be set up).
"""

from __future__ import annotations

import math
import re
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import field

from minipod.api.errors import MinipodError
from minipod.api.expand import expand
from minipod.api.frozen import frozen
from minipod.api.model import (
    ConfigData,
    Container,
    DownwardAPIFile,
    KeySelector,
    ObjectFieldSelector,
    Projection,
    ResourceFieldSelector,
    Volume,
)
from minipod.api.quantity import Quantity, quantity_bytes

Lookup = Callable[[str, str, str], ConfigData | None]  # (kind, namespace, name)

_ENV_NAME_RE = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_SUBSCRIPT_RE = re.compile(r"metadata\.(labels|annotations)\['([^']*)'\]")


class ConfigError(MinipodError):
    """A ConfigMap, Secret or key a container or volume needs is missing."""


@frozen
class PodFacts:
    """What the downward API can tell about a pod and its node."""

    name: str
    namespace: str
    uid: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    node_name: str = ""
    host_ips: tuple[str, ...] = ()
    pod_ips: tuple[str, ...] = ()
    service_account: str = "default"  # the API server's default
    # the node's allocatable cpu (millicores), memory and ephemeral storage
    # (bytes): what a limit that is not set stands for
    allocatable: Mapping[str, int] = field(default_factory=dict)


# -- fieldRef and resourceFieldRef ----------------------------------------------------


def field_value(path: str, pod: PodFacts) -> str:
    """fieldpath.ExtractFieldPathAsString, and the status fields the kubelet fills."""
    subscript = _SUBSCRIPT_RE.fullmatch(path)
    if subscript is not None:
        which = pod.labels if subscript.group(1) == "labels" else pod.annotations
        return which.get(subscript.group(2), "")
    values = {
        "metadata.name": pod.name, "metadata.namespace": pod.namespace,
        "metadata.uid": pod.uid, "metadata.labels": format_map(pod.labels),
        "metadata.annotations": format_map(pod.annotations), "spec.nodeName": pod.node_name,
        "spec.serviceAccountName": pod.service_account,
        "status.hostIP": pod.host_ips[0] if pod.host_ips else "",
        "status.hostIPs": ",".join(pod.host_ips),
        "status.podIP": pod.pod_ips[0] if pod.pod_ips else "",
        "status.podIPs": ",".join(pod.pod_ips),
    }
    if path not in values:
        raise ConfigError(f"unsupported fieldPath: {path}")
    return values[path]


def format_map(values: Mapping[str, str]) -> str:
    """fieldpath.FormatMap: ``key="value"`` lines in key order, Go-quoted, no
    newline after the last."""
    return "\n".join(f"{key}={go_quote(values[key])}" for key in sorted(values))


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """Go's %q of a string: printable characters as they are."""
    out = []
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def resource_value(selector: ResourceFieldSelector, pod: PodFacts,
                   requests: Mapping[str, int] | None = None,
                   limits: Mapping[str, int] | None = None) -> str:
    """resource.ExtractContainerResourceValue: cpu in whole ``divisor``s
    (millicores in, rounded up), memory and storage likewise in bytes; a
    limit that is not set is the node's allocatable (MergeContainerResourceLimits),
    a request that is not set is 0."""
    kind, _, name = selector.resource.partition(".")
    given = (limits if kind == "limits" else requests) or {}
    value = given.get(name)
    if value is None:
        value = pod.allocatable.get(name, 0) if kind == "limits" else 0
    if name == "cpu":
        divisor_millis = 1 if selector.divisor == "1m" else 1000
        return str(math.ceil(value / divisor_millis))
    return str(math.ceil(value / quantity_bytes(selector.divisor)))


# -- the environment ---------------------------------------------------------------


def resolve_env(container: Container, pod: PodFacts, lookup: Lookup,
                on_skipped: Callable[[str], None] | None = None,
                services: Mapping[str, str] | None = None) -> dict[str, str]:
    """The container's own variables, as makeEnvironmentVariables makes them:
    envFrom sources first, in order (keys that are not variable names are
    skipped and reported through ``on_skipped``); then env, each value
    $(VAR)-expanded against everything before it and then the Service
    variables (``services``, api/serviceenv.py), a valueFrom taken as it is;
    last the Service variables the container did not set itself.
    ConfigError for a missing ConfigMap, Secret or key that is not optional."""
    services = dict(services or {})
    env: dict[str, str] = {}
    for source in container.env_from:
        found = _get(lookup, source.kind, pod.namespace, source.name, source.optional)
        if found is None:
            continue
        invalid = []
        for key in sorted(found.data):
            name = source.prefix + key
            if not _ENV_NAME_RE.fullmatch(name):
                invalid.append(name)
                continue
            env[name] = found.data[key].decode(errors="replace")
        if invalid and on_skipped is not None:
            what = "configMap" if source.kind == "ConfigMap" else "secret"
            on_skipped(f"Keys [{', '.join(invalid)}] from the EnvFrom {what} "
                       f"{pod.namespace}/{source.name} were skipped since they are considered "
                       "invalid environment variable names.")
    for var in container.env:
        ref = var.value_from
        if ref is None:
            # expansion.MappingFuncFor(tmpEnv, serviceEnv): the first that has it
            env[var.name] = expand(var.value, ChainMap(env, services))
        elif isinstance(ref, KeySelector):
            value = _key_value(lookup, pod.namespace, ref)
            if value is not None:
                env[var.name] = value
        elif isinstance(ref, ObjectFieldSelector):
            env[var.name] = field_value(ref.field_path, pod)
        else:
            env[var.name] = resource_value(ref, pod, *container_figures(container))
    for name, value in services.items():
        env.setdefault(name, value)
    return env


def container_figures(container: Container) -> tuple[dict[str, int], dict[str, int]]:
    """The container's requests and limits as resource_value takes them:
    cpu in millicores, memory in bytes (MilliValue and Value, rounded up)."""
    def figures(values: Mapping[str, Quantity]) -> dict[str, int]:
        return {name: q.milli_value() if name == "cpu" else q.value()
                for name, q in values.items()}

    return figures(container.resources.requests), figures(container.resources.limits)


def _get(lookup: Lookup, kind: str, namespace: str, name: str,
         optional: bool) -> ConfigData | None:
    found = lookup(kind, namespace, name)
    if found is None and not optional:
        raise ConfigError(f'{kind.lower()} "{name}" not found')
    return found


def _key_value(lookup: Lookup, namespace: str, ref: KeySelector) -> str | None:
    found = _get(lookup, ref.kind, namespace, ref.name, ref.optional)
    if found is None:
        return None
    if ref.key not in found.data:
        if ref.optional:
            return None
        raise ConfigError(f"couldn't find key {ref.key} in {ref.kind} {namespace}/{ref.name}")
    return found.data[ref.key].decode(errors="replace")


# -- volume files ---------------------------------------------------------------------


Payload = dict[str, tuple[bytes, int]]  # path in the volume -> (content, mode)


def volume_payload(volume: Volume, pod: PodFacts, lookup: Lookup,
                   containers: Mapping[str, Container] | None = None) -> Payload:
    """The files of a configMap, secret, downwardAPI or projected volume,
    with their modes. ConfigError as the volume plugins' SetUp fails: a
    ConfigMap or Secret missing and not optional, or an item's key missing."""
    payload: Payload = {}
    for projection in volume.projections or ():
        if projection.kind == "DownwardAPI":
            for file in projection.files:
                payload[file.path] = (_downward_file(file, pod, containers),
                                      volume.default_mode if file.mode is None else file.mode)
            continue
        payload.update(_key_files(projection, volume.default_mode, pod, lookup))
    return payload


def _key_files(projection: Projection, default_mode: int, pod: PodFacts,
               lookup: Lookup) -> Payload:
    found = _get(lookup, projection.kind, pod.namespace, projection.name, projection.optional)
    if found is None:
        return {}  # optional and missing: no files (the volume is set up empty)
    if not projection.items:
        return {key: (value, default_mode) for key, value in found.data.items()}
    files: Payload = {}
    for item in projection.items:
        if item.key not in found.data:
            if projection.optional:
                continue
            what = "config" if projection.kind == "ConfigMap" else "secret"
            raise ConfigError(f"{projection.kind.lower()} references non-existent {what} key: "
                              f"{item.key}")
        files[item.path] = (found.data[item.key], default_mode if item.mode is None
                            else item.mode)
    return files


def _downward_file(file: DownwardAPIFile, pod: PodFacts,
                   containers: Mapping[str, Container] | None) -> bytes:
    if file.field_ref is not None:
        return field_value(file.field_ref.field_path, pod).encode()
    assert file.resource_field_ref is not None
    selector = file.resource_field_ref
    if containers is not None and selector.container_name not in containers:
        raise ConfigError(f"container {selector.container_name} not found in pod "
                          f"{pod.namespace}/{pod.name}")
    figures = container_figures(containers[selector.container_name]) \
        if containers is not None else ({}, {})
    return resource_value(selector, pod, *figures).encode()

