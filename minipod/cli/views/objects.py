"""Every kind `get` and `describe` know, as API objects: pods (their records),
Deployments and ReplicaSets (the workload records), ConfigMaps and Secrets
(the store), Services and their Endpoints (the service records, views/
services.py) and Events (each pod's events.jsonl, aggregated as the event
recorder does). One list of objects per command, filtered by -l and
--field-selector, sorted by --sort-by, then printed as kubectl's table for
that kind, or -o json|yaml|name|jsonpath=|custom-columns=.

The resource names kubectl takes (pods, po, deploy, cm, ...) are in
views/resources.py, for every verb that names a kind.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from minipod.api.errors import SpecError
from minipod.api.record import ConfigRecord, RecordError, WorkloadRecord
from minipod.api.status import human_age, rfc3339
from minipod.cli.views import host
from minipod.cli.views.output import ViewError
from minipod.cli.views.resources import Resource
from minipod.cli.views.tabwriter import TabWriter, kubectl_table, tab_line

if TYPE_CHECKING:
    from minipod.api.events import Event

# -- the objects -----------------------------------------------------------------------


@dataclass
class Item:
    """One object: its API form, and its table row (kind-specific cells)."""

    namespace: str
    name: str
    api: dict[str, Any]
    cells: Callable[[float], list[str]]
    wide: Callable[[float], list[str]] | None = None  # -o wide's row, if the kind has one


def load_items(kind: str, namespace: str | None) -> list[Item]:
    """Every object of ``kind`` (in ``namespace``; None: all), in the API
    server's order (namespace, name)."""
    loaders: dict[str, Callable[[str | None], list[Item]]] = {
        "Pod": _pods, "Deployment": _deployments, "ReplicaSet": _replica_sets,
        "ConfigMap": _configs, "Secret": _configs, "Service": _services,
        "Endpoints": _endpoints, "Event": _events,
    }
    if kind in ("ConfigMap", "Secret"):
        return _configs(namespace, kind)
    return loaders[kind](namespace)


def _pods(namespace: str | None) -> list[Item]:
    # start-up: imported with the verb that needs it
    from minipod.cli.views.podtable import GetOptions, pod_cells
    from minipod.cli.views.records import list_pods

    items = []
    for entry in list_pods(namespace):
        opts = GetOptions(entry.namespace, False, "", False, None)
        items.append(Item(entry.namespace, entry.name, entry.object,
                          functools.partial(_pod_row, pod_cells, entry, opts)))
    return items


def _pod_row(cells: Callable[..., list[str]], entry: Any, opts: Any, now: float) -> list[str]:
    return cells(entry, opts, now)


def workload_records() -> list[WorkloadRecord]:
    # start-up: imported with the verb that needs it
    from minipod.kernel.state import workload_records_dir

    records = []
    try:
        paths = sorted(workload_records_dir().glob("*.json"))
    except OSError:
        return []
    for path in paths:
        try:
            records.append(WorkloadRecord.from_json(json.loads(path.read_text()), str(path)))
        except RecordError as e:
            print(f"warning: {e}", file=sys.stderr)
        except (OSError, ValueError):
            continue  # removed or replaced while we listed
    return records


def workload_api(record: WorkloadRecord) -> dict[str, Any]:
    """A workload record as the API object `get -o yaml` would show."""
    manifest_meta = record.manifest.get("metadata") or {}
    meta: dict[str, Any] = {"name": record.name, "namespace": record.namespace,
                            "creationTimestamp": rfc3339(record.created)}
    if record.labels:
        meta["labels"] = dict(record.labels)
    annotations = dict(manifest_meta.get("annotations") or {})
    if record.kind == "Deployment":
        annotations["deployment.kubernetes.io/revision"] = str(
            record.status.get("revision", 1))
    if annotations:
        meta["annotations"] = annotations
    status = {k: v for k, v in record.status.items() if k not in ("created", "revision")}
    spec = dict(record.manifest.get("spec") or {})
    if record.kind == "Deployment":
        status["conditions"] = deployment_conditions(record, spec)
    return {"apiVersion": "apps/v1", "kind": record.kind, "metadata": meta,
            "spec": spec, "status": status}


def deployment_conditions(record: WorkloadRecord, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The Deployment controller's Available and Progressing conditions, from
    the counts (deploymentutil.MaxUnavailable; NewReplicaSetAvailable once
    every replica is new and available)."""
    # start-up: imported with the verb that needs it
    from minipod.api.workloads import resolve_fenceposts

    s, replicas = record.status, record.replicas
    rolling = ((spec.get("strategy") or {}).get("rollingUpdate") or {})
    recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
    _surge, unavailable = (0, 0) if recreate else resolve_fenceposts(
        rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%"), replicas)
    available = int(s.get("availableReplicas", 0))
    ok = available >= replicas - min(unavailable, replicas)
    current = f"{record.name}-{record.template_hash}"
    done = (s.get("updatedReplicas", 0) == replicas == s.get("replicas", 0)
            and available == replicas)
    return [
        {"type": "Available", "status": "True" if ok else "False",
         "reason": "MinimumReplicasAvailable" if ok else "MinimumReplicasUnavailable",
         "message": "Deployment has minimum availability." if ok
         else "Deployment does not have minimum availability."},
        {"type": "Progressing", "status": "True",
         "reason": "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
         "message": f'ReplicaSet "{current}" has successfully progressed.' if done
         else f'ReplicaSet "{current}" is progressing.'},
    ]


def _deployments(namespace: str | None) -> list[Item]:
    items = []
    for record in workload_records():
        if record.kind != "Deployment" or (namespace and record.namespace != namespace):
            continue
        items.append(Item(record.namespace, record.name, workload_api(record),
                          functools.partial(_deployment_row, record)))
    return sorted(items, key=lambda i: (i.namespace, i.name))


def _deployment_row(r: WorkloadRecord, now: float) -> list[str]:
    s = r.status
    return [r.name, f"{s.get('readyReplicas', 0)}/{r.replicas}", str(s.get("updatedReplicas", 0)),
            str(s.get("availableReplicas", 0)), _age(r.created, now)]


def _replica_set_row(r: WorkloadRecord, now: float) -> list[str]:
    s = r.status
    return [r.name, str(r.replicas), str(s.get("replicas", 0)), str(s.get("readyReplicas", 0)),
            _age(r.created, now)]


def _owned_replica_set_row(name: str, rs: dict[str, Any], now: float) -> list[str]:
    return [name, str(rs.get("desired", 0)), str(rs.get("replicas", 0)),
            str(rs.get("readyReplicas", 0)), _age(rs.get("created"), now)]


def _replica_sets(namespace: str | None) -> list[Item]:
    items = []
    for record in workload_records():
        if namespace and record.namespace != namespace:
            continue
        if record.kind == "ReplicaSet":
            items.append(Item(record.namespace, record.name, workload_api(record),
                              functools.partial(_replica_set_row, record)))
            continue
        for rs in record.replica_sets or []:
            name = str(rs.get("name", ""))
            api = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                   "metadata": {"name": name, "namespace": record.namespace,
                                "labels": {**record.labels,
                                           "pod-template-hash": str(rs.get("templateHash", ""))},
                                "ownerReferences": [{"apiVersion": "apps/v1",
                                                     "kind": "Deployment", "name": record.name,
                                                     "controller": True}],
                                "creationTimestamp": rfc3339(_num(rs.get("created")))},
                   "spec": {"replicas": rs.get("desired", 0)},
                   "status": {"replicas": rs.get("replicas", 0),
                              "readyReplicas": rs.get("readyReplicas", 0),
                              "availableReplicas": rs.get("availableReplicas", 0)}}
            items.append(Item(record.namespace, name, api,
                              functools.partial(_owned_replica_set_row, name, rs)))
    return sorted(items, key=lambda i: (i.namespace, i.name))


def _configs(namespace: str | None, kind: str = "ConfigMap") -> list[Item]:
    # start-up: imported with the verb that needs it
    from minipod.kernel import configstore

    items = []
    for record in configstore.list_records(kind, namespace):
        items.append(Item(record.namespace, record.name, record.api_object(),
                          functools.partial(_config_row, record)))
    return items


def _config_row(r: ConfigRecord, now: float) -> list[str]:
    count = str(len(r.config.data))
    age = human_age(now - r.created)
    if r.kind == "Secret":
        return [r.name, r.config.type or "Opaque", count, age]
    return [r.name, count, age]


def _services(namespace: str | None) -> list[Item]:
    # start-up: imported with the verb that needs it
    from minipod.cli.views import services

    return [Item(r.namespace, r.name, r.api_object, functools.partial(services.service_cells, r),
                 functools.partial(services.service_wide_cells, r))
            for r in services.service_records(namespace)]


def _endpoints(namespace: str | None) -> list[Item]:
    """The endpoints controller's objects: one per Service with a selector
    (a Service without one has only the Endpoints someone writes by hand)."""
    # start-up: imported with the verb that needs it
    from minipod.cli.views import services

    return [Item(r.namespace, r.name, services.endpoints_api(r),
                 functools.partial(services.endpoints_cells, r))
            for r in services.service_records(namespace) if r.selector]


@dataclass
class Aggregate:
    first: float
    last: float
    count: int
    event: Event
    namespace: str


def aggregated_events(namespace: str | None) -> list[Aggregate]:
    """Each pod's events, one per (object, type, reason, message) with its
    count, first and last time, as the event recorder aggregates them."""
    # start-up: imported with the verb that needs it
    from minipod.cli.views.records import list_pods
    from minipod.kernel.eventlog import read_events

    seen: dict[tuple[str, str, str, str, str], Aggregate] = {}
    for entry in list_pods(namespace):
        for event in read_events(entry.directory / "events.jsonl"):
            key = (entry.namespace, event.obj, event.type, event.reason, event.message)
            agg = seen.get(key)
            if agg is None:
                seen[key] = Aggregate(event.timestamp, event.timestamp, 1, event, entry.namespace)
            else:
                agg.count += 1
                agg.first = min(agg.first, event.timestamp)
                agg.last = max(agg.last, event.timestamp)
    return sorted(seen.values(), key=lambda a: a.first)


def event_api(agg: Aggregate) -> dict[str, Any]:
    e = agg.event
    kind_word, _, name = e.obj.partition("/")
    name = name.split("/")[0]
    # start-up: imported with the kind that needs it (hashlib: 3 ms)
    import hashlib

    digest = hashlib.sha1(f"{e.obj}{e.reason}{e.message}".encode()).hexdigest()[:16]
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{name}.{digest}", "namespace": agg.namespace,
                     "creationTimestamp": rfc3339(agg.first)},
        "involvedObject": {"apiVersion": "v1" if kind_word == "pod" else "apps/v1",
                           "kind": kind_word.capitalize() if kind_word != "replicaset"
                           else "ReplicaSet", "name": name, "namespace": agg.namespace},
        "reason": e.reason, "message": e.message, "type": e.type, "count": agg.count,
        "firstTimestamp": rfc3339(agg.first), "lastTimestamp": rfc3339(agg.last),
        "source": {"component": "minipod", "host": host.node_name()},
        "reportingComponent": "minipod",
    }


def event_cells(agg: Aggregate, now: float) -> list[str]:
    """printEvent: LAST SEEN (with the count), TYPE, REASON, OBJECT, MESSAGE."""
    last = human_age(now - agg.last)
    if agg.count > 1:
        last = f"{last} (x{agg.count} over {human_age(now - agg.first)})"
    return [last, agg.event.type, agg.event.reason, agg.event.obj.rsplit("/", 1)[0]
            if agg.event.obj.count("/") > 1 else agg.event.obj, agg.event.message.strip()]


def _events(namespace: str | None) -> list[Item]:
    return [Item(a.namespace, event_api(a)["metadata"]["name"], event_api(a),
                 functools.partial(event_cells, a)) for a in aggregated_events(namespace)]


def _age(created: object, now: float) -> str:
    value = _num(created)
    return "<unknown>" if value is None else human_age(now - value)


def _num(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


HEADERS = {
    "Pod": ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
    "Deployment": ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
    "ReplicaSet": ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
    "ConfigMap": ["NAME", "DATA", "AGE"],
    "Secret": ["NAME", "TYPE", "DATA", "AGE"],
    "Service": ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
    "Endpoints": ["NAME", "ENDPOINTS", "AGE"],
    "Event": ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
}
# -o wide: the columns after HEADERS' (a pod's are podtable.py's)
WIDE_COLUMNS = {"Service": ["SELECTOR"]}


# -- selecting, sorting, printing ------------------------------------------------------


def labels_of(item: Item) -> dict[str, str]:
    labels: dict[str, str] = (item.api.get("metadata") or {}).get("labels") or {}
    return labels


def field_value(item: Item, path: str) -> str:
    # start-up: imported with the verb that needs it
    from minipod.cli.views.jsonpath import go_value, relaxed_values

    values = relaxed_values(path, item.api)
    if not values or values[0] is None:
        return ""
    return go_value(values[0])


def select(items: list[Item], res: Resource, labels: str | None, fields: str | None
           ) -> list[Item]:
    if not labels and not fields:
        return items
    # start-up: imported with the flags that need it
    from minipod.api.selector import FieldSelector, LabelSelector

    try:
        label_selector = LabelSelector.parse(labels) if labels else None
        field_selector = FieldSelector.parse(fields, res.plural.split(".")[0]) if fields \
            else None
    except SpecError as e:
        raise ViewError(f"error: {e}") from None
    found = []
    for item in items:
        if label_selector is not None and not label_selector.matches(labels_of(item)):
            continue
        if field_selector is not None and not field_selector.matches(
                functools.partial(field_value, item)):
            continue
        found.append(item)
    return found


def list_object(items: Sequence[Item]) -> dict[str, Any]:
    return {"apiVersion": "v1", "items": [i.api for i in items], "kind": "List",
            "metadata": {"resourceVersion": ""}}


def render(  # noqa: PLR0912 - a case per output format
        items: Sequence[Item], res: Resource, output: str, *, single: bool,
           all_namespaces: bool, no_headers: bool, show_labels: bool = False,
           wide_header: list[str] | None = None, table: TabWriter | None = None) -> str:
    """The text of `get` for ``items`` in one of kubectl's output formats."""
    # start-up: imported with the verb that needs it
    from minipod.cli.views.podtable import to_json, to_yaml

    fmt, _, arg = output.partition("=")
    data = items[0].api if single and len(items) == 1 else list_object(items)
    if fmt == "json":
        return to_json(data)
    if fmt == "yaml":
        return to_yaml(data)
    if fmt == "name":
        return "".join(f"{res.qualified}/{i.name}\n" for i in items)
    # start-up: imported with the formats that need it
    from minipod.cli.views.jsonpath import column_cell, execute, parse_columns

    if fmt in ("jsonpath", "jsonpath-as-json"):
        if not arg:
            raise ViewError("error: template format specified but no template given")
        if fmt == "jsonpath-as-json":
            return to_json(_jsonpath_values(arg, data))
        try:
            return execute(arg, data)
        except SpecError as e:
            raise ViewError(f"error: error parsing jsonpath {arg}, {e}") from None
    if fmt == "custom-columns":
        try:
            columns = parse_columns(arg)
        except SpecError as e:
            raise ViewError(f"error: {e}") from None
        text = "" if no_headers else tab_line([h for h, _ in columns])
        text += "".join(tab_line([column_cell(p, i.api) for _, p in columns]) for i in items)
        return kubectl_table().format(text)
    now = host.now()
    header = list(HEADERS[res.kind])
    wide = fmt == "wide" and res.kind in WIDE_COLUMNS
    if wide:
        header += WIDE_COLUMNS[res.kind]
    rows = []
    for item in items:
        cells = item.wide(now) if wide and item.wide is not None else item.cells(now)
        if all_namespaces:
            cells = [item.namespace, *cells]
        if show_labels:
            labels = labels_of(item)
            cells.append(",".join(f"{k}={labels[k]}" for k in sorted(labels)) or "<none>")
        rows.append(cells)
    if all_namespaces:
        header = ["NAMESPACE", *header]
    if show_labels:
        header.append("LABELS")
    text = "" if no_headers else tab_line(wide_header or header)
    text += "".join(tab_line(r) for r in rows)
    return (table or kubectl_table()).format(text)


def _jsonpath_values(template: str, data: Any) -> list[Any]:
    # start-up: imported with the verb that needs it
    from minipod.cli.views.jsonpath import Path, find, parse_template

    found: list[Any] = []
    for node in parse_template(template):
        if isinstance(node, Path):
            found += find(node, data)
    return found


def sort_items(items: list[Item], path: str | None) -> list[Item]:
    if not path:
        return items
    # start-up: imported with the flag that needs it
    from minipod.cli.views.jsonpath import sort_key

    key = sort_key(path)
    return sorted(items, key=lambda i: key(i.api))


OUTPUTS = ("wide", "json", "yaml", "name", "jsonpath", "jsonpath-as-json", "custom-columns")


def check_output(output: str) -> None:
    fmt = output.partition("=")[0]
    if output and fmt not in OUTPUTS:
        raise ViewError(f'error: unable to match a printer suitable for the output format '
                        f'"{output}", allowed formats are: custom-columns,custom-columns-file,'
                        "go-template,go-template-file,json,jsonpath,jsonpath-as-json,"
                        "jsonpath-file,name,template,templatefile,wide,yaml")
