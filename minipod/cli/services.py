"""`minipod get services|endpoints`, `describe service` and `delete service`,
as kubectl prints and does them.

They read the records every supervisor keeps (services/ and endpoints/ of
the state directory, minipod.api.record ServiceRecord and EndpointsRecord);
`delete service` asks the Service's supervisor, or, when that one is gone,
removes its rules, addresses and records here. Nothing heavy is imported at
the top, so `minipod` starts fast.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from minipod.api.endpoints import Endpoint
from minipod.api.errors import StateError
from minipod.api.record import EndpointsRecord, RecordError, ServiceRecord
from minipod.api.status import human_age
from minipod.cli.views.describe import _annotation_lines, _labels_lines
from minipod.cli.views.get import OUTPUTS, to_json, to_yaml
from minipod.cli.views.output import ViewError
from minipod.cli.views.output import write as _write
from minipod.cli.views.tabwriter import TabWriter, kubectl_table
from minipod.kernel.records import read_endpoints_record, read_service_record
from minipod.kernel.state import (
    endpoints_record_path,
    service_record_path,
    services_dir,
)

SERVICE_KINDS = ("services", "service", "svc")
ENDPOINTS_KINDS = ("endpoints", "endpoint", "ep")
MAX_SHOWN_ENDPOINTS = 3  # kubectl's formatEndpoints


def load_services(namespace: str | None) -> list[ServiceRecord]:
    found = []
    directory = services_dir()
    for path in sorted(directory.glob("*.json")) if directory.exists() else []:
        try:
            record = read_service_record(path)
        except RecordError as e:
            raise ViewError(f"error: {e}") from None
        if record is not None and (namespace is None or record.namespace == namespace):
            found.append(record)
    return found


def load_endpoints(namespace: str, name: str) -> EndpointsRecord | None:
    try:
        return read_endpoints_record(endpoints_record_path(namespace, name))
    except RecordError as e:
        raise ViewError(f"error: {e}") from None


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


def _selector_text(selector: dict[str, str] | None) -> str:
    if not selector:
        return "<none>"
    return ",".join(f"{k}={selector[k]}" for k in sorted(selector))


def _age(created: float, now: float) -> str:
    return human_age(now - created) if created else "<unknown>"


def print_services(kind: str, namespace: str, all_namespaces: bool, output: str | None,
                   names: list[str]) -> int:
    output = output or ""
    if output not in ("", *OUTPUTS):
        raise ViewError(f'error: unable to match a printer suitable for the output format '
                        f'"{output}", allowed formats are: {",".join(sorted(OUTPUTS))}')
    endpoints = kind in ENDPOINTS_KINDS
    plural = "endpoints" if endpoints else "services"
    records = load_services(None if all_namespaces and not names else namespace)
    if names:
        records = [r for r in records if r.name in names]
    status = 0
    for name in names:
        if not any(r.name == name for r in records):
            print(f'Error from server (NotFound): {plural} "{name}" not found', file=sys.stderr)
            status = 1
    if not records:
        if not names:
            where = "" if all_namespaces else f" in {namespace} namespace"
            print(f"No resources found{where}.", file=sys.stderr)
        return status
    if output in ("json", "yaml"):
        objects = [_endpoints_object(r) if endpoints else r.api_object for r in records]
        data = objects[0] if len(names) == 1 and len(objects) == 1 else {
            "apiVersion": "v1", "items": objects, "kind": "List",
            "metadata": {"resourceVersion": ""}}
        _write(to_json(data) if output == "json" else to_yaml(data))
        return status
    if output == "name":
        _write("".join(f"{'endpoints' if endpoints else 'service'}/{r.name}\n"
                       for r in records))
        return status
    header, rows = _table(records, endpoints, output == "wide")
    if all_namespaces:
        header = ["NAMESPACE", *header]
        rows = [[r.namespace, *row] for r, row in zip(records, rows, strict=True)]
    text = "".join("\t".join(cells) + "\n" for cells in [header, *rows])
    _write(kubectl_table().format(text))
    return status


def _table(records: list[ServiceRecord], endpoints: bool, wide: bool
           ) -> tuple[list[str], list[list[str]]]:
    now = time.time()
    if endpoints:
        return ["NAME", "ENDPOINTS", "AGE"], [
            [r.name, endpoints_text(load_endpoints(r.namespace, r.name)), _age(r.created, now)]
            for r in records]
    header = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    rows = [[r.name, r.type, r.cluster_ip, "<none>", ports_text(r), _age(r.created, now)]
            for r in records]
    if wide:
        header.append("SELECTOR")
        for r, row in zip(records, rows, strict=True):
            row.append(_selector_text(r.selector))
    return header, rows


def _endpoints_object(record: ServiceRecord) -> dict[str, Any]:
    """The v1 Endpoints object of the Service: ready and not-ready addresses."""
    found = load_endpoints(record.namespace, record.name)
    subsets = []
    for port in record.ports:
        key = port.name or str(port.port)
        entries = [Endpoint.from_json(e) for e in (found.ports.get(key, []) if found else [])]
        if not entries:
            continue
        subset: dict[str, Any] = {"ports": [{**({"name": port.name} if port.name else {}),
                                             "port": entries[0].port,
                                             "protocol": port.protocol}]}
        ready = [{"ip": e.ip, "targetRef": {"kind": "Pod", "name": e.pod,
                                           "namespace": record.namespace}}
                 for e in entries if e.ready]
        not_ready = [{"ip": e.ip, "targetRef": {"kind": "Pod", "name": e.pod,
                                               "namespace": record.namespace}}
                     for e in entries if not e.ready]
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        subsets.append(subset)
    meta = {"name": record.name, "namespace": record.namespace}
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": subsets}


def describe_services(namespace: str, names: list[str]) -> int:
    records = load_services(namespace)
    if names:
        wanted = [n.partition("/")[2] if "/" in n else n for n in names]
        missing = [n for n in wanted if not any(r.name == n for r in records)]
        if missing:
            raise ViewError(f'Error from server (NotFound): services "{missing[0]}" not found')
        records = [r for n in wanted for r in records if r.name == n]
    elif not records:
        print(f"No resources found in {namespace} namespace.", file=sys.stderr)
        return 0
    _write("\n\n".join(describe_service(r) for r in records))
    return 0


def describe_service(record: ServiceRecord) -> str:
    meta = record.api_object.get("metadata", {})
    spec = record.api_object.get("spec", {})
    found = load_endpoints(record.namespace, record.name)
    lines = [f"Name:\t{record.name}", f"Namespace:\t{record.namespace}",
             *_labels_lines("Labels", meta.get("labels")),
             *_annotation_lines(meta.get("annotations")),
             f"Selector:\t{_selector_text(record.selector)}", f"Type:\t{record.type}",
             "IP Family Policy:\tSingleStack", "IP Families:\tIPv4",
             f"IP:\t{record.cluster_ip}", f"IPs:\t{record.cluster_ip}"]
    for port in record.ports:
        name = port.name or "<unset>"
        lines.append(f"Port:\t{name}  {port.port}/{port.protocol}")
        lines.append(f"TargetPort:\t{port.target_port}/{port.protocol}")
        if port.node_port:
            lines.append(f"NodePort:\t{name}  {port.node_port}/{port.protocol}")
        key = port.name or str(port.port)
        subset = EndpointsRecord(record.name, record.namespace,
                                 {key: found.ports.get(key, [])} if found else {}, 0.0)
        lines.append(f"Endpoints:\t{endpoints_text(subset).replace('<none>', '')}")
    lines.append(f"Session Affinity:\t{spec.get('sessionAffinity', 'None')}")
    if record.type == "NodePort":
        lines.append(f"External Traffic Policy:\t{spec.get('externalTrafficPolicy', 'Cluster')}")
    lines.append(f"Internal Traffic Policy:\t{spec.get('internalTrafficPolicy', 'Cluster')}")
    lines.append("Events:\t<none>")
    text = "".join(line + "\n" for line in lines)
    return kubectl_describe().format(text)


def kubectl_describe() -> TabWriter:
    """kubectl describe's tabwriter: minwidth 0, padding 2 (PrefixWriter)."""
    return TabWriter(0, 2)


def delete_service(namespace: str, name: str) -> str:
    """Ask the Service's supervisor; if it is gone, remove the Service here."""
    # start-up: imported with the verb that needs it
    from minipod.kernel.nft import Nft
    from minipod.kernel.proc import same_process
    from minipod.runtime.proxy import Proxy
    from minipod.runtime.services import remove_service
    from minipod.server.client import request

    path = service_record_path(namespace, name)
    try:
        record = read_service_record(path)
    except RecordError as e:
        raise StateError(str(e)) from None
    if record is None:
        raise StateError(f'services "{name}" not found')
    if same_process(record.supervisor) and record.supervisor.socket:
        answer = request(Path(record.supervisor.socket),
                         {"op": "delete-service", "namespace": namespace, "name": name},
                         timeout=30)
        if not answer.get("ok"):
            raise StateError(answer.get("error", "the supervisor refused"))
        return "deleted"
    proxy = Proxy(Nft())
    if proxy.table_exists():
        proxy.read_back()
    remove_service(namespace, name, proxy, on_error=lambda m: print(f"warning: {m}"))
    return "deleted (its supervisor was gone)"


__all__ = ["ENDPOINTS_KINDS", "SERVICE_KINDS", "delete_service", "describe_services",
           "print_services"]
