"""`minipod get pods` (kubectl get): the table, -o wide/json/yaml/name,
--show-labels, -l, and -w, which prints a row whenever a pod's row changes.
`get deployments` and `get replicasets` are minipod/cli/workloads.py's."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from minipod.api.errors import MinipodError
from minipod.api.status import PodRow, human_age
from minipod.cli.views import host
from minipod.cli.views.output import EXIT_FAILURE, ViewError, write
from minipod.cli.views.records import (
    POD_KINDS,
    PodEntry,
    list_pods,
    load_pod,
    pod_status,
    strip_kind,
)
from minipod.cli.views.tabwriter import TabWriter, kubectl_table, tab_line

WORKLOAD_KINDS = {"deployments": "deployments", "deployment": "deployments",
                  "deploy": "deployments", "replicasets": "replicasets",
                  "replicaset": "replicasets", "rs": "replicasets"}


OUTPUTS = ("wide", "json", "yaml", "name")


@dataclass(frozen=True)
class Selector:
    """An equality-based label selector: a=b, a==b, a!=b, a, !a (comma-separated)."""

    requirements: tuple[tuple[str, str, str], ...]  # (key, op, value)

    @classmethod
    def parse(cls, text: str) -> Selector:
        reqs = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            if " in " in part or " notin " in part or "(" in part:
                raise MinipodError(f"set-based label selectors are not supported: {part!r}")
            if part.startswith("!"):
                reqs.append((part[1:].strip(), "!", ""))
                continue
            match = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", part)
            if match is None:
                reqs.append((part, "exists", ""))
                continue
            key, op, value = match.groups()
            reqs.append((key, "!=" if op == "!=" else "=", value))
        return cls(tuple(reqs))

    def matches(self, labels: dict[str, str]) -> bool:
        for key, op, value in self.requirements:
            if op == "=" and labels.get(key) != value:
                return False
            if op == "!=" and labels.get(key) == value:
                return False
            if op == "exists" and key not in labels:
                return False
            if op == "!" and key in labels:
                return False
        return True


@dataclass
class GetOptions:
    namespace: str
    all_namespaces: bool
    output: str
    show_labels: bool
    selector: Selector | None
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


def _select(opts: GetOptions) -> tuple[list[PodEntry], list[str]]:
    """The pods asked for, and the names asked for that do not exist."""
    namespace = None if opts.all_namespaces else opts.namespace
    if opts.names:
        found, missing = [], []
        for name in opts.names:
            entry = load_pod(opts.namespace, name)
            if entry is None:
                missing.append(name)
            else:
                found.append(entry)
        return found, missing
    pods = list_pods(namespace)
    if opts.selector is not None:
        pods = [p for p in pods if opts.selector.matches(p.labels)]
    return pods, []


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


def _list_object(entries: Sequence[PodEntry]) -> dict[str, Any]:
    return {"apiVersion": "v1", "items": [e.object for e in entries], "kind": "List",
            "metadata": {"resourceVersion": ""}}


def _render(entries: Sequence[PodEntry], opts: GetOptions, single: bool,
            table: TabWriter, header: bool) -> str:
    if opts.output in ("json", "yaml"):
        data = entries[0].object if single and len(entries) == 1 else _list_object(entries)
        return to_json(data) if opts.output == "json" else to_yaml(data)
    if opts.output == "name":
        return "".join(f"pod/{e.name}\n" for e in entries)
    now = host.now()
    text = tab_line(pod_header(opts)) if header else ""
    text += "".join(tab_line(pod_cells(e, opts, now)) for e in entries)
    return table.format(text)


def cmd_get(args: argparse.Namespace) -> int:
    resource, names = args.resource, list(args.names)
    kind, sep, first = resource.partition("/")
    if sep:  # get pod/NAME
        resource, names = kind, [first, *names]
    if resource in WORKLOAD_KINDS:
        return _get_workloads(WORKLOAD_KINDS[resource], args, names)
    if resource not in POD_KINDS:
        raise ViewError(f'error: the server doesn\'t have a resource type "{resource}"')
    output = args.output or ""
    if output not in ("", *OUTPUTS):
        raise ViewError(f'error: unable to match a printer suitable for the output format '
                        f'"{output}", allowed formats are: {",".join(sorted(OUTPUTS))}')
    if names and args.selector:
        raise ViewError("error: name cannot be provided when a selector is specified")
    opts = GetOptions(args.namespace, args.all_namespaces and not names, output,
                      args.show_labels, Selector.parse(args.selector) if args.selector else None,
                      [strip_kind(n) for n in names])
    entries, missing = _select(opts)
    table = kubectl_table()
    if entries:
        write(_render(entries, opts, single=len(names) == 1, table=table, header=True))
    for name in missing:
        print(f'Error from server (NotFound): pods "{name}" not found', file=sys.stderr)
    if not entries and not missing and not args.watch:
        where = "" if opts.all_namespaces else f" in {opts.namespace} namespace"
        print(f"No resources found{where}.", file=sys.stderr)
    if args.watch:
        _watch_pods(opts, entries, table, header=not entries)
    return EXIT_FAILURE if missing else 0


def _get_workloads(kind: str, args: argparse.Namespace, names: list[str]) -> int:
    """minipod.cli.workloads.print_workloads(kind, namespace, all_namespaces[, names])."""
    # start-up: imported with the verb that needs it
    import importlib

    try:
        module: Any = importlib.import_module("minipod.cli.workloads")
    except ModuleNotFoundError as e:
        if e.name != "minipod.cli.workloads":
            raise
        module = None
    printer = getattr(module, "print_workloads", None)
    if printer is None:
        raise ViewError(f'error: the server doesn\'t have a resource type "{kind}"')
    if names:
        return int(printer(kind, args.namespace, args.all_namespaces, names))
    return int(printer(kind, args.namespace, args.all_namespaces))


def _watch_pods(opts: GetOptions, shown: list[PodEntry], table: TabWriter,
                header: bool) -> None:
    """Print a row whenever a pod's row changes, appears or disappears (until Ctrl-C)."""
    # start-up: imported with the verb that needs it (inotify's ctypes only for -w)
    from minipod.cli.views.watch import DirectoryWatch
    from minipod.kernel.state import pods_dir

    root = pods_dir()  # created if missing, so there is something to watch
    last = {(e.namespace, e.name): (row_state(e), e) for e in shown}
    with DirectoryWatch(root) as watch:
        while True:
            # First right after the watch is set up: whatever changed since the
            # table was printed (and before inotify watched) is seen here.
            entries, _ = _select(opts)
            current = {(e.namespace, e.name): e for e in entries}
            changed = []
            for key, entry in current.items():
                previous = last.get(key)
                if previous is None or previous[0] != row_state(entry):
                    changed.append(entry)
                    last[key] = (row_state(entry), entry)
            for key in [k for k in last if k not in current]:
                changed.append(last.pop(key)[1])  # deleted: its last row, as kubectl's DELETED
            for entry in changed:  # one object per flush, as kubectl prints watch events
                write(_render([entry], opts, single=True, table=table, header=header))
                header = False
            watch.wait()

