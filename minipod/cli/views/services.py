"""Services and their Endpoints as the kubectl verbs see them: the records
every supervisor keeps (services/ and endpoints/ of the state directory,
api/record.py ServiceRecord and EndpointsRecord), kubectl's columns for
them (PORT(S), formatEndpoints, SELECTOR with -o wide), and the v1
Endpoints object of a Service's endpoints.

objects.py lists them as it lists every kind (`get`, `wait`, `delete -l`,
`label`...); describe.py describes a Service from them. Nothing heavy is
imported here, and nothing of the other views (they import this one).
"""

from __future__ import annotations

import sys
from typing import Any

from minipod.api.endpoints import Endpoint
from minipod.api.record import EndpointsRecord, RecordError, ServiceRecord
from minipod.api.status import human_age, rfc3339
from minipod.kernel.records import read_endpoints_record, read_service_record
from minipod.kernel.state import endpoints_record_path, service_record_path, services_dir

MAX_SHOWN_ENDPOINTS = 3  # kubectl's formatEndpoints


def service_records(namespace: str | None) -> list[ServiceRecord]:
    """Every Service (in ``namespace``; None: all), by namespace and name."""
    found = []
    directory = services_dir()
    try:
        paths = sorted(directory.glob("*.json")) if directory.exists() else []
    except OSError:
        return []
    for path in paths:
        try:
            record = read_service_record(path)
        except RecordError as e:
            print(f"warning: {e}", file=sys.stderr)
            continue
        if record is not None and (namespace is None or record.namespace == namespace):
            found.append(record)
    return sorted(found, key=lambda r: (r.namespace, r.name))


def service_record(namespace: str, name: str) -> ServiceRecord | None:
    try:
        return read_service_record(service_record_path(namespace, name))
    except RecordError as e:
        print(f"warning: {e}", file=sys.stderr)
        return None


def endpoints_record(namespace: str, name: str) -> EndpointsRecord | None:
    try:
        return read_endpoints_record(endpoints_record_path(namespace, name))
    except RecordError as e:
        print(f"warning: {e}", file=sys.stderr)
        return None


def ports_text(record: ServiceRecord) -> str:
    """PORT(S): 80/TCP, or 80:30080/TCP with a node port."""
    parts = []
    for p in record.ports:
        node = f":{p.node_port}" if p.node_port else ""
        parts.append(f"{p.port}{node}/{p.protocol}")
    return ",".join(parts) or "<none>"


def endpoints_text(record: EndpointsRecord | None, ready_only: bool = True) -> str:
    """kubectl's formatEndpoints: ip:port of the ready addresses, three at most."""
    if record is None:
        return "<none>"
    shown = []
    for found in record.ports.values():
        for data in found:
            endpoint = Endpoint.from_json(data)
            if endpoint.ready or not ready_only:
                shown.append(f"{endpoint.ip}:{endpoint.port}" if endpoint.port
                             else endpoint.ip)
    if not shown:
        return "<none>"
    text = ",".join(shown[:MAX_SHOWN_ENDPOINTS])
    if len(shown) > MAX_SHOWN_ENDPOINTS:
        text += f" + {len(shown) - MAX_SHOWN_ENDPOINTS} more..."
    return text


def selector_text(selector: dict[str, str] | None) -> str:
    if not selector:
        return "<none>"
    return ",".join(f"{k}={selector[k]}" for k in sorted(selector))


def _age(created: float, now: float) -> str:
    return human_age(now - created) if created else "<unknown>"


def service_cells(record: ServiceRecord, now: float) -> list[str]:
    """printService: NAME, TYPE, CLUSTER-IP, EXTERNAL-IP, PORT(S), AGE."""
    return [record.name, record.type, record.cluster_ip, "<none>", ports_text(record),
            _age(record.created, now)]


def service_wide_cells(record: ServiceRecord, now: float) -> list[str]:
    return [*service_cells(record, now), selector_text(record.selector)]


def endpoints_cells(record: ServiceRecord, now: float) -> list[str]:
    """printEndpoints: NAME, ENDPOINTS, AGE."""
    found = endpoints_record(record.namespace, record.name)
    return [record.name, endpoints_text(found), _age(record.created, now)]


def endpoints_api(record: ServiceRecord) -> dict[str, Any]:
    """The v1 Endpoints object of the Service (the endpoints controller's):
    its ready and not-ready addresses per port, its labels."""
    found = endpoints_record(record.namespace, record.name)
    subsets = []
    for port in record.ports:
        key = port.name or str(port.port)
        entries = [Endpoint.from_json(e) for e in (found.ports.get(key, []) if found else [])]
        if not entries:
            continue
        subset: dict[str, Any] = {"ports": [{**({"name": port.name} if port.name else {}),
                                             "port": entries[0].port,
                                             "protocol": port.protocol}]}
        ready = [_address(e, record.namespace) for e in entries if e.ready]
        not_ready = [_address(e, record.namespace) for e in entries if not e.ready]
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        subsets.append(subset)
    meta: dict[str, Any] = {"name": record.name, "namespace": record.namespace,
                            "creationTimestamp": rfc3339(record.created)}
    labels = (record.api_object.get("metadata") or {}).get("labels")
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": subsets}


def _address(endpoint: Endpoint, namespace: str) -> dict[str, Any]:
    return {"ip": endpoint.ip, "targetRef": {"kind": "Pod", "name": endpoint.pod,
                                             "namespace": namespace}}
