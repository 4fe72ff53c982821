"""The v1 Pod validator: the Pod object, its PodSpec (restartPolicy, hostname,
subdomain, grace period...) and its containers and init containers (image,
command, env, ports, volumeMounts, imagePullPolicy, sidecars).

A container's probes and hooks are checked by probespec, spec.volumes by
volumespec, both securityContexts by securitycontext. A workload's pod template
comes through parse_pod_spec, so it is checked as any Pod's spec is.
"""

from __future__ import annotations

import re
from typing import cast

from minipod.api.fields import (
    Obj,
    check,
    check_absolute,
    check_port_number,
    check_unique,
    dns_label_errors,
    get_enum,
    key_errors,
    keys,
    port_name_errors,
    unsupported_value,
)
from minipod.api.meta import parse_metadata
from minipod.api.model import (
    Container,
    ContainerPort,
    EnvVar,
    Pod,
    PodSpec,
    RestartPolicy,
    VolumeMount,
)
from minipod.api.probespec import parse_lifecycle, parse_probe
from minipod.api.securitycontext import (
    CONTAINER_SECURITY_KEYS,
    POD_SECURITY_KEYS,
    parse_security_context,
)
from minipod.api.volumespec import parse_volumes

# `status` is what `kubectl get -o yaml` prints; it is never input, so it is dropped.
_POD_KEYS = keys("apiVersion kind metadata spec", ignored="status")
POD_SPEC_KEYS = keys(
    "containers initContainers volumes restartPolicy terminationGracePeriodSeconds"
    " hostname subdomain shareProcessNamespace securityContext",
    "hostNetwork hostPID hostIPC nodeName nodeSelector affinity tolerations"
    " serviceAccountName serviceAccount automountServiceAccountToken dnsPolicy dnsConfig"
    " hostAliases priorityClassName priority schedulerName imagePullSecrets readinessGates"
    " runtimeClassName enableServiceLinks preemptionPolicy overhead topologySpreadConstraints"
    " setHostnameAsFQDN os hostUsers schedulingGates resourceClaims activeDeadlineSeconds"
    " ephemeralContainers resources hostnameOverride workloadRef",
)


def parse_pod(top: Obj, source: str) -> Pod:
    """A v1 Pod: ``top`` is its document, kind and apiVersion already checked.

    Returned even with errors, for the check of names across documents.
    """
    top.errors.extend(key_errors(top.data, "", _POD_KEYS))
    name, namespace, labels, annotations = parse_metadata(top)
    spec = top.get_mapping("spec", POD_SPEC_KEYS, required=True)
    return Pod(
        name=name,
        spec=parse_pod_spec(spec) if spec is not None else PodSpec(containers=()),
        namespace=namespace,
        labels=labels,
        annotations=annotations,
        source=source,
        manifest_spec=dict(spec.data) if spec is not None else {},
    )


# ---------------------------------------------------------------------------
# PodSpec
# ---------------------------------------------------------------------------

_RESTART_POLICIES = ("Always", "OnFailure", "Never")


def parse_pod_spec(spec: Obj) -> PodSpec:
    """A Pod's spec, or a workload's spec.template.spec."""
    volumes = parse_volumes(spec)
    volume_names = frozenset(v.name for v in volumes if v.name)
    # Container names are unique across containers and initContainers; as in
    # validateInitContainers, app containers claim their names first.
    names: set[str] = set()
    containers = _parse_containers(spec, "containers", volume_names, names)
    init_containers = _parse_containers(spec, "initContainers", volume_names, names)
    restart_policy = get_enum(spec, "restartPolicy", _RESTART_POLICIES, "Always")
    return PodSpec(
        containers=containers,
        init_containers=init_containers,
        restart_policy=cast(RestartPolicy, restart_policy),
        hostname=_get_dns_label(spec, "hostname"),
        subdomain=_get_dns_label(spec, "subdomain"),
        share_process_namespace=spec.get_bool("shareProcessNamespace") or False,
        termination_grace_period_seconds=_get_grace_period(spec),
        volumes=volumes,
        security_context=parse_security_context(spec, POD_SECURITY_KEYS),
    )


def _get_dns_label(obj: Obj, key: str) -> str | None:
    value = obj.get_str(key)
    if value:
        check(obj, key, value, dns_label_errors(value))
    return value or None  # "" means unset, as in the API


def _get_grace_period(spec: Obj) -> int:
    value = spec.get_int("terminationGracePeriodSeconds")
    if value is None:
        return 30  # SetDefaults_PodSpec
    if value < 0:
        spec.fail("terminationGracePeriodSeconds", "must be >= 0")
        return 30
    return value


# ---------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------

_CONTAINER_FIELDS = (
    "name image command args workingDir env ports volumeMounts livenessProbe readinessProbe"
    " startupProbe lifecycle securityContext imagePullPolicy"
)
_CONTAINER_UNSUPPORTED = (
    "resources resizePolicy envFrom volumeDevices stdin stdinOnce tty terminationMessagePath"
    " terminationMessagePolicy restartPolicyRules"
)
_INIT_CONTAINER_KEYS = keys(f"{_CONTAINER_FIELDS} restartPolicy", _CONTAINER_UNSUPPORTED)
# Kubernetes 1.34+ allows restartPolicy on app containers (with restartPolicyRules);
# minipod applies the pod's restartPolicy to every app container.
_APP_CONTAINER_KEYS = keys(_CONTAINER_FIELDS, f"{_CONTAINER_UNSUPPORTED} restartPolicy")
_ENV_KEYS = keys("name value", "valueFrom", hint="only value is supported")
_PORT_KEYS = keys("containerPort name protocol", "hostPort hostIP")
_MOUNT_KEYS = keys(
    "name mountPath readOnly", "subPath subPathExpr mountPropagation recursiveReadOnly"
)
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_PROTOCOLS = ("TCP", "UDP", "SCTP")
_ENV_NAME_RE = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_ENV_NAME_MSG = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_',"
    " '-', or '.', and must not start with a digit (e.g. 'my.env-name')"
)


def _parse_containers(
    spec: Obj, key: str, volume_names: frozenset[str], names: set[str]
) -> tuple[Container, ...]:
    init = key == "initContainers"
    keys = _INIT_CONTAINER_KEYS if init else _APP_CONTAINER_KEYS
    containers = []
    for obj in spec.get_mappings(key, keys, required=not init):
        container = _parse_container(obj, volume_names, init)
        if container.name:
            check_unique(obj, "name", container.name, names)
        containers.append(container)
    return tuple(containers)


def _parse_container(obj: Obj, volume_names: frozenset[str], init: bool) -> Container:
    name = obj.get_str("name", required=True)
    if name is not None:
        check(obj, "name", name, dns_label_errors(name))
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
        liveness_probe=parse_probe(obj, "livenessProbe", port_names),
        readiness_probe=parse_probe(obj, "readinessProbe", port_names),
        startup_probe=parse_probe(obj, "startupProbe", port_names),
        lifecycle=parse_lifecycle(obj, port_names),
        security_context=parse_security_context(obj, CONTAINER_SECURITY_KEYS),
        restart_policy=restart_policy,
        # Images are local, so the policy has no effect; it is accepted (and
        # checked) so that cluster manifests run unchanged.
        image_pull_policy=get_enum(obj, "imagePullPolicy", _PULL_POLICIES, "IfNotPresent"),
    )


def _get_init_restart_policy(obj: Obj) -> str | None:
    # KEP-753: "Always" is the only value, and it makes the init container a sidecar.
    value = obj.get_str("restartPolicy")
    if value is not None and value != "Always":
        obj.fail("restartPolicy", unsupported_value(value, ("Always",)))
        return None
    return value


def _refuse_regular_init_fields(obj: Obj) -> None:
    # A regular init container runs to completion: probes and hooks make no
    # sense there (validateInitContainers); sidecars may have all of them.
    for key in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
        if obj.has(key):
            obj.fail(key, "may not be set for init containers without restartPolicy=Always")


def _get_image(obj: Obj) -> str:
    image = obj.get_str("image", required=True)
    if image is not None and image != image.strip():
        obj.fail("image", f'Invalid value: "{image}": must not have leading or trailing whitespace')
    return image or ""


def _get_working_dir(obj: Obj) -> str | None:
    # Kubernetes accepts a relative workingDir (the runtime decides); minipod
    # creates the directory inside the rootfs, so it wants an absolute one.
    value = obj.get_str("workingDir")
    if value:
        check_absolute(obj, "workingDir", value)
    return value or None


def _parse_env(container: Obj) -> tuple[EnvVar, ...]:
    # Duplicate names are allowed (the API server only warns); order matters
    # for $(VAR) expansion, so they are kept as written.
    env = []
    for obj in container.get_mappings("env", _ENV_KEYS):
        name = obj.get_str("name", required=True)
        if name is not None and not _ENV_NAME_RE.fullmatch(name):
            obj.fail("name", f'Invalid value: "{name}": {_ENV_NAME_MSG}')
        env.append(EnvVar(name or "", obj.get_str("value") or ""))
    return tuple(env)


def _parse_ports(container: Obj) -> tuple[ContainerPort, ...]:
    ports = []
    names: set[str] = set()
    numbers: set[str] = set()
    for obj in container.get_mappings("ports", _PORT_KEYS):
        number = obj.get_int("containerPort", required=True)
        if number is not None:
            check_port_number(obj, "containerPort", number)
        name = obj.get_str("name") or None
        if name is not None:
            check(obj, "name", name, port_name_errors(name))
            check_unique(obj, "name", name, names)
        protocol = get_enum(obj, "protocol", _PROTOCOLS, "TCP")
        if number is not None:
            check_unique(obj, "containerPort", f"{number}/{protocol}", numbers)
        ports.append(ContainerPort(number or 0, name, protocol))
    return tuple(ports)


def _parse_volume_mounts(container: Obj, volume_names: frozenset[str]) -> tuple[VolumeMount, ...]:
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


def _check_mount_path(obj: Obj, path: str, seen: set[str]) -> None:
    check_absolute(obj, "mountPath", path)
    if ":" in path:
        obj.fail("mountPath", f"Invalid value: \"{path}\": must not contain ':'")
    if path in seen:
        obj.fail("mountPath", f'Invalid value: "{path}": must be unique')
    seen.add(path)
