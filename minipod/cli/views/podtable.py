"""The rows of `get pods` (kubectl's printPod: NAME READY STATUS RESTARTS
AGE, -o wide's IP NODE NOMINATED NODE READINESS GATES, --show-labels), and
kubectl's JSON and YAML printers: what get.py and objects.py share."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from minipod.api.status import PodRow, human_age
from minipod.cli.views import host
from minipod.cli.views.records import PodEntry, pod_status

if TYPE_CHECKING:  # start-up: -l's parser loads only with -l (get.py)
    from minipod.api.selector import LabelSelector


@dataclass
class GetOptions:
    namespace: str
    all_namespaces: bool
    output: str
    show_labels: bool
    selector: LabelSelector | None
    names: list[str] = field(default_factory=list)


def row_state(entry: PodEntry) -> tuple[Any, ...]:
    """What makes a row change (its age does not)."""
    r = entry.record
    return (pod_status(entry), r.ready, r.restarts, r.last_restart,
            tuple(sorted(entry.labels.items())))


def pod_cells(entry: PodEntry, opts: GetOptions, now: float) -> list[str]:
    r = entry.record
    row = PodRow(r.ready, pod_status(entry), r.restarts, r.last_restart)
    created = entry.created
    cells = [entry.name, row.ready, row.status, row.restarts_column(now),
             human_age(now - created) if created is not None else "<unknown>"]
    if opts.all_namespaces:
        cells.insert(0, entry.namespace)
    if opts.output == "wide":
        ips = entry.object.get("status", {}).get("podIPs") or []
        ip = ips[0].get("ip", "<none>") if ips else "<none>"
        cells += [ip, host.node_name(), "<none>", "<none>"]
    if opts.show_labels:
        labels = entry.labels
        cells.append(",".join(f"{k}={labels[k]}" for k in sorted(labels)) or "<none>")
    return cells


def pod_header(opts: GetOptions) -> list[str]:
    header = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    if opts.all_namespaces:
        header.insert(0, "NAMESPACE")
    if opts.output == "wide":
        header += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    if opts.show_labels:
        header.append("LABELS")
    return header


def to_json(data: Any) -> str:
    """kubectl's JSON printer: 4-space indent, keys sorted (unstructured objects)."""
    return json.dumps(data, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


def to_yaml(data: Any) -> str:
    """kubectl's YAML printer (sigs.k8s.io/yaml): sorted keys, block style,
    unindented sequences, "" for strings that would read as something else."""
    # start-up: imported with the verb that needs it
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = None
        if "\n" in value:
            style = "|"
        elif value == "" or dumper.resolve(  # type: ignore[no-untyped-call]
                yaml.ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str":
            style = '"'
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, represent_str)
    text: str = yaml.dump(data, Dumper=Dumper, default_flow_style=False, sort_keys=True,
                          allow_unicode=True, width=1 << 30)
    return text
