"""The v1 Pod validator: the Pod object, its PodSpec (restartPolicy, hostname,
subdomain, grace period, dnsPolicy and dnsConfig, enableServiceLinks...) and
its containers and init containers (image, command, env with valueFrom and
envFrom, ports and hostPorts, volumeMounts, imagePullPolicy, sidecars).

A container's probes and hooks are checked by probespec, spec.volumes by
volumespec, both securityContexts by securitycontext. A workload's pod template
comes through parse_pod_spec, so it is checked as any Pod's spec is.
"""

from __future__ import annotations

import ipaddress
import re
from typing import cast

from minipod.api.configspec import config_key_errors
from minipod.api.fields import (
    NOT_SUPPORTED,
    Obj,
    check,
    check_absolute,
    check_port_number,
    check_unique,
    dns_label_errors,
    dns_subdomain_errors,
    get_enum,
    get_int64,
    key_errors,
    keys,
    one_of,
    port_name_errors,
    relative_path_errors,
    unsupported_value,
)
from minipod.api.imageref import PULL_POLICIES, default_pull_policy
from minipod.api.meta import parse_metadata
from minipod.api.model import (
    ConfigKind,
    Container,
    ContainerPort,
    DNSConfig,
    EnvFromSource,
    EnvSource,
    EnvVar,
    KeySelector,
    Pod,
    PodSpec,
    RestartPolicy,
    VolumeMount,
)
from minipod.api.probespec import parse_lifecycle, parse_probe
from minipod.api.resources import NO_RESOURCES, Resources, parse_requirements
from minipod.api.securitycontext import (
    CONTAINER_SECURITY_KEYS,
    POD_SECURITY_KEYS,
    parse_security_context,
)
from minipod.api.volumespec import (
    parse_field_ref,
    parse_resource_field_ref,
    parse_volumes,
)

# `status` is what `kubectl get -o yaml` prints; it is never input, so it is dropped.
_POD_KEYS = keys("apiVersion kind metadata spec", ignored="status")
POD_SPEC_KEYS = keys(
    "containers initContainers volumes restartPolicy terminationGracePeriodSeconds"
    " hostname subdomain shareProcessNamespace securityContext dnsPolicy dnsConfig"
    " enableServiceLinks imagePullSecrets",
    "hostNetwork hostPID hostIPC nodeName nodeSelector affinity tolerations"
    " serviceAccountName serviceAccount automountServiceAccountToken"
    " hostAliases priorityClassName priority schedulerName readinessGates"
    " runtimeClassName preemptionPolicy overhead topologySpreadConstraints"
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
    # first: a sleep hook is checked against it (validateSleepAction)
    grace = _get_grace_period(spec)
    containers = _parse_containers(spec, "containers", volume_names, names, grace)
    init_containers = _parse_containers(spec, "initContainers", volume_names, names, grace)
    restart_policy = get_enum(spec, "restartPolicy", _RESTART_POLICIES, "Always")
    _check_host_ports(spec, containers, init_containers)
    dns_policy = get_enum(spec, "dnsPolicy", DNS_POLICIES, "ClusterFirst")
    return PodSpec(
        containers=containers,
        init_containers=init_containers,
        restart_policy=cast(RestartPolicy, restart_policy),
        hostname=_get_dns_label(spec, "hostname"),
        subdomain=_get_dns_label(spec, "subdomain"),
        share_process_namespace=spec.get_bool("shareProcessNamespace") or False,
        termination_grace_period_seconds=grace,
        volumes=volumes,
        security_context=parse_security_context(spec, POD_SECURITY_KEYS),
        dns_policy=dns_policy,
        dns_config=_parse_dns_config(spec, dns_policy),
        enable_service_links=_get_service_links(spec),
        image_pull_secrets=_get_pull_secrets(spec),
    )


_PULL_SECRET_KEYS = keys("name")


def _get_pull_secrets(spec: Obj) -> tuple[str, ...]:
    """LocalObjectReferences: only name may be set. An empty name is allowed,
    and the kubelet passes over it (kubernetes#99454)."""
    names = (ref.get_str("name") for ref in spec.get_mappings("imagePullSecrets",
                                                              _PULL_SECRET_KEYS))
    return tuple(name for name in names if name)


DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_DNS_CONFIG_KEYS = keys("nameservers searches options")
_DNS_OPTION_KEYS = keys("name value")
_MAX_NAMESERVERS, _MAX_SEARCHES, _MAX_SEARCH_CHARS = 3, 32, 2048  # validation.go


def _parse_dns_config(spec: Obj, policy: str) -> DNSConfig | None:
    """validatePodDNSConfig: None needs a nameserver; at most 3 nameservers,
    32 search paths of 2048 characters in all, options named."""
    obj = spec.get_mapping("dnsConfig", _DNS_CONFIG_KEYS)
    if obj is None:
        if policy == "None":
            spec.fail("dnsConfig", "Required value: must provide `dnsConfig` when "
                      "`dnsPolicy` is None")
        return None
    nameservers = obj.get_strings("nameservers") or ()
    if policy == "None" and not nameservers:
        obj.fail("nameservers", "Required value: must provide at least one DNS nameserver "
                 "when `dnsPolicy` is None")
    if len(nameservers) > _MAX_NAMESERVERS:
        obj.fail("nameservers", f"Invalid value: {list(nameservers)}: must not have more "
                 f"than {_MAX_NAMESERVERS} nameservers")
    for i, server in enumerate(nameservers):
        try:
            ipaddress.ip_address(server)
        except ValueError:
            obj.fail(f"nameservers[{i}]", f'Invalid value: "{server}": must be a valid IP '
                     "address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
    searches = obj.get_strings("searches") or ()
    if len(searches) > _MAX_SEARCHES:
        obj.fail("searches", f"Invalid value: {list(searches)}: must not have more than "
                 f"{_MAX_SEARCHES} search paths")
    if len(" ".join(searches)) > _MAX_SEARCH_CHARS:
        obj.fail("searches", f"Invalid value: {list(searches)}: must not have more than "
                 f"{_MAX_SEARCH_CHARS} characters (including spaces) in the search list")
    for i, search in enumerate(searches):
        check(obj, f"searches[{i}]", search, dns_subdomain_errors(search.removesuffix(".")))
    options = []
    for option in obj.get_mappings("options", _DNS_OPTION_KEYS):
        name = option.get_str("name")
        if not name:
            option.fail_here("Required value: must not be empty")
        options.append((name or "", option.get_str("value")))
    return DNSConfig(tuple(nameservers), tuple(searches), tuple(options))


def _get_service_links(spec: Obj) -> bool:
    value = spec.get_bool("enableServiceLinks")
    return True if value is None else value  # SetDefaults_PodSpec


def _check_host_ports(spec: Obj, containers: tuple[Container, ...],
                      init_containers: tuple[Container, ...]) -> None:
    """AccumulateUniqueHostPorts: app containers share the pod's host ports;
    an init container runs alone, so only its own ports must differ."""
    def accumulate(key: str, group: list[tuple[int, Container]], seen: set[str]) -> None:
        for index, container in group:
            for p, port in enumerate(container.ports):
                if not port.host_port:
                    continue
                text = f"{port.protocol}/{port.host_ip}/{port.host_port}"
                if text in seen:
                    spec.fail(f"{key}[{index}].ports[{p}].hostPort", f'Duplicate value: "{text}"')
                seen.add(text)

    accumulate("containers", list(enumerate(containers)), set())
    for index, container in enumerate(init_containers):
        accumulate("initContainers", [(index, container)], set())


def _get_dns_label(obj: Obj, key: str) -> str | None:
    value = obj.get_str(key)
    if value:
        check(obj, key, value, dns_label_errors(value))
    return value or None  # "" means unset, as in the API


def _get_grace_period(spec: Obj) -> int:
    # An int64 for the API server, which takes any value of one; a negative
    # one it treats as 1 with a warning (minipod refuses it, with the words
    # of that warning). The supervisor waits at most MAX_GRACE_SECONDS
    # (runtime/pod.py says why).
    value = get_int64(spec, "terminationGracePeriodSeconds")
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
    "name image command args workingDir env envFrom ports volumeMounts livenessProbe"
    " readinessProbe startupProbe lifecycle securityContext imagePullPolicy resources"
    " terminationMessagePath terminationMessagePolicy"
)
_CONTAINER_UNSUPPORTED = (
    "resizePolicy volumeDevices stdin stdinOnce tty restartPolicyRules"
)
_RESOURCES_KEYS = keys("limits requests", "claims")
_INIT_CONTAINER_KEYS = keys(f"{_CONTAINER_FIELDS} restartPolicy", _CONTAINER_UNSUPPORTED)
# Kubernetes 1.34+ allows restartPolicy on app containers (with restartPolicyRules);
# minipod applies the pod's restartPolicy to every app container.
_APP_CONTAINER_KEYS = keys(_CONTAINER_FIELDS, f"{_CONTAINER_UNSUPPORTED} restartPolicy")
_ENV_KEYS = keys("name value valueFrom")
_VALUE_FROM_KEYS = keys("configMapKeyRef secretKeyRef fieldRef resourceFieldRef",
                        "fileKeyRef")
_VALUE_FROM_SOURCES = ("configMapKeyRef", "secretKeyRef", "fieldRef", "resourceFieldRef")
_KEY_REF_KEYS = keys("name key optional")
_ENV_FROM_KEYS = keys("prefix configMapRef secretRef")
_ENV_FROM_REF_KEYS = keys("name optional")
_TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_PORT_KEYS = keys("containerPort name protocol hostPort hostIP")
_MOUNT_KEYS = keys(
    "name mountPath readOnly subPath", "subPathExpr mountPropagation recursiveReadOnly"
)
_PULL_POLICIES = PULL_POLICIES
_PROTOCOLS = ("TCP", "UDP", "SCTP")
_ENV_NAME_RE = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_ENV_NAME_MSG = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_',"
    " '-', or '.', and must not start with a digit (e.g. 'my.env-name')"
)


def _parse_containers(
    spec: Obj, key: str, volume_names: frozenset[str], names: set[str], grace: int
) -> tuple[Container, ...]:
    init = key == "initContainers"
    keys = _INIT_CONTAINER_KEYS if init else _APP_CONTAINER_KEYS
    containers = []
    for obj in spec.get_mappings(key, keys, required=not init):
        container = _parse_container(obj, volume_names, init, grace)
        if container.name:
            check_unique(obj, "name", container.name, names)
        containers.append(container)
    return tuple(containers)


def _parse_container(obj: Obj, volume_names: frozenset[str], init: bool,
                     grace: int) -> Container:
    name = obj.get_str("name", required=True)
    if name is not None:
        check(obj, "name", name, dns_label_errors(name))
    restart_policy = _get_init_restart_policy(obj) if init else None
    if init and restart_policy is None:
        _refuse_regular_init_fields(obj)
    ports = _parse_ports(obj)
    port_names = frozenset(p.name for p in ports if p.name)
    image = _get_image(obj)
    container = Container(
        name=name or "",
        image=image,
        command=obj.get_strings("command"),
        args=obj.get_strings("args"),
        env=_parse_env(obj),
        env_from=_parse_env_from(obj),
        working_dir=_get_working_dir(obj),
        ports=ports,
        volume_mounts=_parse_volume_mounts(obj, volume_names),
        liveness_probe=parse_probe(obj, "livenessProbe", port_names),
        readiness_probe=parse_probe(obj, "readinessProbe", port_names),
        startup_probe=parse_probe(obj, "startupProbe", port_names),
        lifecycle=parse_lifecycle(obj, port_names, grace),
        security_context=parse_security_context(obj, CONTAINER_SECURITY_KEYS),
        restart_policy=restart_policy,
        # defaulted as the API server does: Always for :latest or no tag
        image_pull_policy=get_enum(obj, "imagePullPolicy", _PULL_POLICIES,
                                   default_pull_policy(image)),
        resources=_parse_resources(obj),
    )
    _check_defaults_only(obj)
    return container


def _check_defaults_only(obj: Obj) -> None:
    """Fields `kubectl create --dry-run=client -o yaml` and `get -o yaml` print
    with the values that mean what minipod does anyway: taken, and checked
    (resources: _parse_resources)."""
    path = obj.get_str("terminationMessagePath")
    if path is not None and path != "/dev/termination-log":
        obj.fail("terminationMessagePath", f'Invalid value: "{path}": {NOT_SUPPORTED}'
                 " (minipod reads no termination message; only the default"
                 " /dev/termination-log is accepted)")
    get_enum(obj, "terminationMessagePolicy", _TERMINATION_MESSAGE_POLICIES, "File")


def _parse_resources(obj: Obj) -> Resources:
    """The mapping's keys here; everything in it by api/resources.py."""
    found = obj.get_mapping("resources", _RESOURCES_KEYS)
    if found is None:
        return NO_RESOURCES
    resources, errors = parse_requirements(found.data, found.path)
    obj.errors.extend(errors)
    return resources


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
        value = obj.get_str("value") or ""
        source = _parse_value_from(obj)
        if source is not None and value:
            obj.fail("valueFrom", "Invalid value: \"\": may not be specified when `value`"
                     " is not empty")
        env.append(EnvVar(name or "", value, source))
    return tuple(env)


def _parse_value_from(env: Obj) -> EnvSource | None:
    obj = env.get_mapping("valueFrom", _VALUE_FROM_KEYS)
    if obj is None:
        return None
    which = one_of(obj, _VALUE_FROM_SOURCES, "source", _VALUE_FROM_KEYS.unsupported)
    if which in ("configMapKeyRef", "secretKeyRef"):
        ref = obj.get_mapping(which, _KEY_REF_KEYS)
        if ref is None:
            return None
        name = ref.get_str("name", required=True)
        if name:
            check(ref, "name", name, dns_subdomain_errors(name))
        key = ref.get_str("key", required=True)
        if key:
            check(ref, "key", key, config_key_errors(key))
        kind: ConfigKind = "ConfigMap" if which == "configMapKeyRef" else "Secret"
        return KeySelector(kind, name or "", key or "", ref.get_bool("optional") or False)
    if which == "fieldRef":
        return parse_field_ref(obj, which, _ENV_FIELD_PATHS)
    if which == "resourceFieldRef":
        return parse_resource_field_ref(obj, which, in_env=True)
    return None


# validateEnvVarValueFrom's fieldRef paths (validEnvDownwardAPIFieldPathExpressions)
_ENV_FIELD_PATHS = (
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
    "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
    "status.podIPs",
)


def _parse_env_from(container: Obj) -> tuple[EnvFromSource, ...]:
    found = []
    for obj in container.get_mappings("envFrom", _ENV_FROM_KEYS):
        prefix = obj.get_str("prefix") or ""
        if prefix and not _ENV_NAME_RE.fullmatch(prefix):
            obj.fail("prefix", f'Invalid value: "{prefix}": {_ENV_NAME_MSG}')
        which = one_of(obj, ("configMapRef", "secretRef"), "source", ())
        ref = obj.get_mapping(which, _ENV_FROM_REF_KEYS) if which else None
        if ref is None:
            continue
        name = ref.get_str("name", required=True)
        if name:
            check(ref, "name", name, dns_subdomain_errors(name))
        kind: ConfigKind = "ConfigMap" if which == "configMapRef" else "Secret"
        found.append(EnvFromSource(kind, name or "", prefix, ref.get_bool("optional") or False))
    return tuple(found)


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
        host_port = obj.get_int("hostPort") or None  # 0 means none
        if host_port is not None and not check_port_number(obj, "hostPort", host_port):
            host_port = None
        ports.append(ContainerPort(number or 0, name, protocol, host_port, _get_host_ip(obj)))
    return tuple(ports)


def _get_host_ip(port: Obj) -> str:
    value = port.get_str("hostIP") or ""
    if not value:
        return ""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        port.fail("hostIP", f'Invalid value: "{value}": must be a valid IP address, (e.g. '
                  "10.9.8.7 or 2001:db8::ffff)")
        return ""
    if address.version != 4:
        port.fail("hostIP", f'Invalid value: "{value}": {NOT_SUPPORTED} (IPv4 only)')
        return ""
    return "" if address.is_unspecified else value


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
        sub_path = obj.get_str("subPath") or ""
        if sub_path:
            check(obj, "subPath", sub_path, relative_path_errors(sub_path))
        mounts.append(VolumeMount(name or "", path or "", obj.get_bool("readOnly") or False,
                                  sub_path))
    return tuple(mounts)


def _check_mount_path(obj: Obj, path: str, seen: set[str]) -> None:
    check_absolute(obj, "mountPath", path)
    if ":" in path:
        obj.fail("mountPath", f"Invalid value: \"{path}\": must not contain ':'")
    if path in seen:
        obj.fail("mountPath", f'Invalid value: "{path}": must be unique')
    seen.add(path)
