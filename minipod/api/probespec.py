"""A container's probes (livenessProbe, readinessProbe, startupProbe) and
lifecycle hooks (postStart, preStop), with their handlers: exec, httpGet,
tcpSocket, grpc and sleep (pkg/apis/core/validation validateProbe,
validateLifecycle).
"""

from __future__ import annotations

import ipaddress
import re

from minipod.api.fields import (
    NOT_SUPPORTED,
    REQUIRED,
    Keys,
    Obj,
    check,
    check_port_number,
    get_count,
    get_enum,
    get_int64,
    is_int,
    keys,
    one_of,
    port_name_errors,
    wrong_type,
)
from minipod.api.model import (
    ExecAction,
    GRPCAction,
    HTTPGetAction,
    HTTPHeader,
    Lifecycle,
    LifecycleHandler,
    Probe,
    TCPSocketAction,
)

_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_PROBE_KEYS = keys(
    " ".join(_PROBE_HANDLERS) + " initialDelaySeconds periodSeconds timeoutSeconds"
    " successThreshold failureThreshold terminationGracePeriodSeconds"
)
_EXEC_KEYS = keys("command")
_HTTP_GET_KEYS = keys("path port host scheme httpHeaders")
_HTTP_HEADER_KEYS = keys("name value")
_TCP_SOCKET_KEYS = keys("port host")
_GRPC_KEYS = keys("port service")
_SLEEP_KEYS = keys("seconds")
_LIFECYCLE_KEYS = keys("postStart preStop", "stopSignal")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "sleep")
_LIFECYCLE_HANDLER_KEYS = Keys(
    _LIFECYCLE_HANDLERS, {"tcpSocket": "not supported (deprecated in Kubernetes)"}
)

_HTTP_HEADER_NAME_RE = re.compile(r"[-A-Za-z0-9]+")

_Handler = ExecAction | HTTPGetAction | TCPSocketAction | GRPCAction


def parse_probe(container: Obj, kind: str, port_names: frozenset[str]) -> Probe | None:
    """The container's ``kind`` (livenessProbe...), None when absent or its handler invalid.

    ``port_names`` are the container's named ports, which a probe may use for its port.
    """
    obj = container.get_mapping(kind, _PROBE_KEYS)
    if obj is None:
        return None
    handler = _parse_probe_handler(obj, port_names)
    success = _get_probe_count(obj, "successThreshold", 1)
    if success != 1 and kind != "readinessProbe":
        obj.fail("successThreshold", "must be 1")
    probe = Probe(
        handler=handler or ExecAction(()),
        initial_delay_seconds=get_count(obj, "initialDelaySeconds", 0, 0),
        period_seconds=_get_probe_count(obj, "periodSeconds", 10),
        timeout_seconds=_get_probe_count(obj, "timeoutSeconds", 1),
        success_threshold=success,
        failure_threshold=_get_probe_count(obj, "failureThreshold", 3),
        termination_grace_period_seconds=_get_probe_grace_period(obj, kind),
    )
    return probe if handler is not None else None


def _get_probe_count(obj: Obj, key: str, default: int) -> int:
    # SetDefaults_Probe turns 0 into the default before validation runs, so
    # 0 is accepted and what is left to refuse is a negative number.
    return get_count(obj, key, default, 1, zero_is_default=True)


def _get_probe_grace_period(obj: Obj, kind: str) -> int | None:
    # The probe-level grace period only matters when the probe kills the
    # container, which a readiness probe never does (validateProbe).
    key = "terminationGracePeriodSeconds"
    if kind == "readinessProbe":
        if obj.has(key):
            obj.fail(key, "must not be set for readinessProbes")
        return None
    value = get_int64(obj, key)
    if value is not None and value <= 0:
        obj.fail(key, f"Invalid value: {value}: must be greater than 0")
        return None
    return value


def _parse_probe_handler(probe: Obj, port_names: frozenset[str]) -> _Handler | None:
    kind = one_of(probe, _PROBE_HANDLERS, "handler type", ())
    if kind == "exec":
        return _parse_exec(probe)
    if kind == "httpGet":
        return _parse_http_get(probe, port_names)
    if kind == "tcpSocket":
        return _parse_tcp_socket(probe, port_names)
    if kind == "grpc":
        return _parse_grpc(probe)
    return None


def _parse_exec(parent: Obj) -> ExecAction | None:
    obj = parent.get_mapping("exec", _EXEC_KEYS)
    if obj is None:
        return None
    command = obj.get_strings("command", required=True)
    return ExecAction(command) if command else None


def _parse_http_get(parent: Obj, port_names: frozenset[str]) -> HTTPGetAction | None:
    obj = parent.get_mapping("httpGet", _HTTP_GET_KEYS)
    if obj is None:
        return None
    port = _get_port(obj, port_names)
    action = HTTPGetAction(
        port=port or 0,
        path=obj.get_str("path") or "/",  # SetDefaults_HTTPGetAction
        host=_get_probe_host(obj),
        scheme=get_enum(obj, "scheme", ("HTTP", "HTTPS"), "HTTP"),
        http_headers=_parse_http_headers(obj),
    )
    return action if port is not None else None


def _parse_http_headers(http_get: Obj) -> tuple[HTTPHeader, ...]:
    headers = []
    for obj in http_get.get_mappings("httpHeaders", _HTTP_HEADER_KEYS):
        name = obj.get_str("name", required=True)
        if name is not None and not _HTTP_HEADER_NAME_RE.fullmatch(name):
            message = "a valid HTTP header must consist of alphanumeric characters or '-'"
            obj.fail("name", f"Invalid value: \"{name}\": {message} (e.g. 'X-Header-Name')")
        headers.append(HTTPHeader(name or "", obj.get_str("value") or ""))
    return tuple(headers)


def _parse_tcp_socket(parent: Obj, port_names: frozenset[str]) -> TCPSocketAction | None:
    obj = parent.get_mapping("tcpSocket", _TCP_SOCKET_KEYS)
    if obj is None:
        return None
    port = _get_port(obj, port_names)
    host = _get_probe_host(obj)
    return TCPSocketAction(port, host) if port is not None else None


def _get_probe_host(obj: Obj) -> str | None:
    """An IP address or "localhost": the supervisor resolves no names, since a
    DNS lookup would block its loop (and there is no cluster DNS to ask)."""
    host = obj.get_str("host") or None
    if host is None or host == "localhost":
        return host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        obj.fail("host", f'Invalid value: "{host}": {NOT_SUPPORTED}: '
                 "use an IP address or localhost (minipod resolves no host names)")
        return None
    return host


def _parse_grpc(parent: Obj) -> GRPCAction | None:
    obj = parent.get_mapping("grpc", _GRPC_KEYS)
    if obj is None:
        return None
    # GRPCAction.port is an int32: no port names here.
    port = obj.get_int("port", required=True)
    service = obj.get_str("service") or ""
    if port is None or not check_port_number(obj, "port", port):
        return None
    return GRPCAction(port, service)


def _get_port(obj: Obj, port_names: frozenset[str]) -> int | str | None:
    """An IntOrString port: a number, or the name of one of the container's ports."""
    value = obj.data.get("port")
    if value is None:
        obj.fail("port", REQUIRED)
        return None
    if is_int(value):
        return value if check_port_number(obj, "port", value) else None
    if not isinstance(value, str):
        obj.fail("port", wrong_type("must be a port number or a port name", value))
        return None
    errors = port_name_errors(value)
    check(obj, "port", value, errors)
    # The kubelet resolves names at probe time and fails the probe forever
    # when one is missing; refusing it here is kinder.
    if not errors and value not in port_names:
        obj.fail("port", f'port name "{value}" not found in container ports')
        return None
    return None if errors else value


# ---------------------------------------------------------------------------
# Lifecycle hooks
# ---------------------------------------------------------------------------


def parse_lifecycle(container: Obj, port_names: frozenset[str],
                    grace: int) -> Lifecycle | None:
    """``grace``: the pod's terminationGracePeriodSeconds, a sleep's bound."""
    obj = container.get_mapping("lifecycle", _LIFECYCLE_KEYS)
    if obj is None:
        return None
    return Lifecycle(
        post_start=_parse_lifecycle_handler(obj, "postStart", port_names, grace),
        pre_stop=_parse_lifecycle_handler(obj, "preStop", port_names, grace),
    )


def _parse_lifecycle_handler(
    lifecycle: Obj, key: str, port_names: frozenset[str], grace: int
) -> LifecycleHandler | None:
    obj = lifecycle.get_mapping(key, _LIFECYCLE_HANDLER_KEYS)
    if obj is None:
        return None
    # tcpSocket is still accepted by the API server but never run by the kubelet.
    kind = one_of(obj, _LIFECYCLE_HANDLERS, "handler type", ("tcpSocket",))
    if kind == "exec":
        return LifecycleHandler(exec=_parse_exec(obj))
    if kind == "httpGet":
        return LifecycleHandler(http_get=_parse_http_get(obj, port_names))
    if kind == "sleep":
        return LifecycleHandler(sleep_seconds=_get_sleep_seconds(obj, grace))
    return None


def _get_sleep_seconds(handler: Obj, grace: int) -> int | None:
    obj = handler.get_mapping("sleep", _SLEEP_KEYS)
    if obj is None:
        return None
    seconds = get_int64(obj, "seconds")
    if seconds is None:
        if not obj.has("seconds"):
            obj.fail("seconds", REQUIRED)
        return None
    # validateSleepAction, with PodLifecycleSleepActionAllowZero (on by
    # default since 1.34): a sleep longer than the grace period would be cut
    if not 0 <= seconds <= grace:
        handler.fail("sleep", f"Invalid value: {seconds}: must be non-negative and less than "
                     f"terminationGracePeriodSeconds ({grace})")
        return None
    return seconds
