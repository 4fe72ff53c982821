"""The v1 Service validator (ValidateService in pkg/apis/core/validation):
type ClusterIP or NodePort, the ports (named when there are several, unique
by port and protocol, targetPort a number or a container port's name,
nodePort only on a NodePort Service and within the node port range), the
selector, and clusterIP: empty (allocated), "None" (headless) or an address.

What needs the node's state (an address or a node port already taken, an
address outside the service range) is checked when the Service is applied
(runtime/services.py), with the allocator's messages.
"""

from __future__ import annotations

import ipaddress

from minipod.api.errors import FieldError
from minipod.api.fields import (
    NOT_SUPPORTED,
    REQUIRED,
    Obj,
    check,
    check_port_number,
    dns_label_errors,
    get_enum,
    is_int,
    key_errors,
    keys,
    port_name_errors,
    unsupported_value,
    wrong_type,
)
from minipod.api.meta import parse_labels, parse_metadata
from minipod.api.model import Service, ServicePort

_SERVICE_KEYS = keys("apiVersion kind metadata spec", ignored="status")
_SERVICE_SPEC_KEYS = keys(
    "ports selector type clusterIP clusterIPs sessionAffinity publishNotReadyAddresses"
    " ipFamilies ipFamilyPolicy internalTrafficPolicy externalTrafficPolicy",
    "externalIPs externalName loadBalancerIP loadBalancerSourceRanges loadBalancerClass"
    " healthCheckNodePort allocateLoadBalancerNodePorts sessionAffinityConfig"
    " trafficDistribution topologyKeys",
)
_PORT_KEYS = keys("name protocol port targetPort nodePort appProtocol")
SERVICE_TYPES = ("ClusterIP", "NodePort")
_ALL_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_PROTOCOLS = ("TCP", "UDP", "SCTP")
_TRAFFIC_POLICIES = ("Cluster", "Local")
# DNS-1035: a Service's name becomes a DNS label that may not start with a digit
_DNS_1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with"
    " an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or"
    " 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
NODE_PORT_MIN, NODE_PORT_MAX = 30000, 32767


def parse_service(top: Obj, source: str) -> Service:
    """A Service; returned even with errors, as parse_pod's Pod is."""
    top.errors.extend(key_errors(top.data, "", _SERVICE_KEYS))
    name, namespace, labels, annotations = parse_metadata(top)
    if name and (not name[0].isalpha() or dns_label_errors(name)):
        top.errors.append(FieldError("metadata.name", f'Invalid value: "{name}": {_DNS_1035_MSG}'))
    spec = top.get_mapping("spec", _SERVICE_SPEC_KEYS, required=True)
    if spec is None:
        return Service(name, (), namespace, labels=labels, annotations=annotations,
                       source=source)
    service_type = _get_type(spec)
    cluster_ip = _get_cluster_ip(spec, service_type)
    ports = _parse_ports(spec, service_type, headless=cluster_ip == "None")
    selector = parse_labels(spec, "selector") if spec.has("selector") else None
    session = get_enum(spec, "sessionAffinity", ("None", "ClientIP"), "None")
    if session == "ClientIP":
        spec.fail("sessionAffinity", f'Invalid value: "ClientIP": {NOT_SUPPORTED}')
    _check_families(spec)
    get_enum(spec, "internalTrafficPolicy", _TRAFFIC_POLICIES, "Cluster")
    if spec.has("externalTrafficPolicy"):
        if service_type == "ClusterIP":
            spec.fail("externalTrafficPolicy", "Invalid value: may only be set for NodePort"
                      " or LoadBalancer Services")
        get_enum(spec, "externalTrafficPolicy", _TRAFFIC_POLICIES, "Cluster")
    return Service(
        name=name, ports=ports, namespace=namespace, selector=selector, type=service_type,
        cluster_ip=cluster_ip,
        publish_not_ready_addresses=spec.get_bool("publishNotReadyAddresses") or False,
        labels=labels, annotations=annotations, source=source,
        manifest_spec=dict(spec.data),
    )


def _get_type(spec: Obj) -> str:
    value = spec.get_str("type")
    if value is None:
        return "ClusterIP"
    if value in ("LoadBalancer", "ExternalName"):
        spec.fail("type", f'Unsupported value: "{value}": {NOT_SUPPORTED} '
                  "(ClusterIP or NodePort)")
        return "ClusterIP"
    if value not in _ALL_TYPES:
        spec.fail("type", unsupported_value(value, _ALL_TYPES))
        return "ClusterIP"
    return value


def _get_cluster_ip(spec: Obj, service_type: str) -> str:
    """clusterIP, and clusterIPs (which must agree with it, one IPv4 family)."""
    value = spec.get_str("clusterIP") or ""
    listed = spec.get_strings("clusterIPs") or ()
    if listed:
        if value and listed[0] != value:
            spec.fail("clusterIPs[0]", f'Invalid value: "{listed[0]}": must match '
                      "`clusterIP` when both are specified")
        if len(listed) > 1:
            spec.fail("clusterIPs", f"Invalid value: {list(listed)}: {NOT_SUPPORTED} "
                      "(one address: minipod's Services are IPv4 only)")
        value = value or listed[0]
    key = "clusterIP" if spec.has("clusterIP") else "clusterIPs[0]"
    if value == "None":
        if service_type != "ClusterIP":
            spec.fail(key, f'Invalid value: "None": may not be set to \'None\' for '
                      f"{service_type} services")
        return value
    if value:
        try:
            if ipaddress.ip_address(value).version != 4:
                spec.fail(key, f'Invalid value: "{value}": {NOT_SUPPORTED} (IPv6)')
        except ValueError:
            spec.fail(key, f'Invalid value: "{value}": must be empty, \'None\', or a valid '
                      "IP address")
    return value


def _check_families(spec: Obj) -> None:
    for i, family in enumerate(spec.get_strings("ipFamilies") or ()):
        if family != "IPv4":
            spec.fail(f"ipFamilies[{i}]", f'Invalid value: "{family}": {NOT_SUPPORTED} '
                      "(IPv4 only)")
    policy = spec.get_str("ipFamilyPolicy")
    if policy is not None and policy != "SingleStack":
        allowed = ("SingleStack", "PreferDualStack", "RequireDualStack")
        message = (unsupported_value(policy, allowed) if policy not in allowed
                   else f'Invalid value: "{policy}": {NOT_SUPPORTED} (IPv4 only)')
        spec.fail("ipFamilyPolicy", message)


def _parse_ports(spec: Obj, service_type: str, headless: bool) -> tuple[ServicePort, ...]:
    items = spec.get_mappings("ports", _PORT_KEYS, required=not headless)
    ports = []
    names: set[str] = set()
    seen: set[str] = set()
    node_ports: set[str] = set()
    for obj in items:
        name = obj.get_str("name") or ""
        if len(items) > 1 and not name:
            obj.fail("name", REQUIRED)
        if name:
            check(obj, "name", name, dns_label_errors(name))
            if name in names:
                obj.fail("name", f'Duplicate value: "{name}"')
            names.add(name)
        protocol = get_enum(obj, "protocol", _PROTOCOLS, "TCP")
        port = obj.get_int("port", required=True)
        if port is not None and check_port_number(obj, "port", port):
            key = f"{port}/{protocol}"
            if key in seen:
                obj.fail_here(f'Duplicate value: "{key}"')
            seen.add(key)
        node_port = _get_node_port(obj, service_type)
        if node_port is not None:
            key = f"{node_port}/{protocol}"
            if key in node_ports:
                obj.fail("nodePort", f"Duplicate value: {node_port}")
            node_ports.add(key)
        app_protocol = obj.get_str("appProtocol")
        ports.append(ServicePort(port or 0, protocol, name, _get_target_port(obj),
                                 node_port, app_protocol))
    return tuple(ports)


def _get_target_port(obj: Obj) -> int | str:
    """An IntOrString: a port number, or the name of a container port."""
    value = obj.data.get("targetPort")
    if value is None:
        return 0
    if is_int(value):
        return value if check_port_number(obj, "targetPort", value) else 0
    if isinstance(value, str):  # a quoted number too is a name (and an invalid one)
        errors = port_name_errors(value)
        check(obj, "targetPort", value, errors)
        return 0 if errors else value
    obj.fail("targetPort", wrong_type("must be an integer or a string", value))
    return 0


def _get_node_port(obj: Obj, service_type: str) -> int | None:
    value = obj.get_int("nodePort")
    if value is None or value == 0:
        return None
    if service_type != "NodePort":
        obj.fail("nodePort", f"Forbidden: may not be used when `type` is '{service_type}'")
        return None
    if not NODE_PORT_MIN <= value <= NODE_PORT_MAX:
        obj.fail("nodePort", f"Invalid value: {value}: provided port is not in the valid "
                 f"range. The range of valid ports is {NODE_PORT_MIN}-{NODE_PORT_MAX}")
        return None
    return value
