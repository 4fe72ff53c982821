"""`minipod get pods` (kubectl get): the table, -o wide/json/yaml/name,
--show-labels, -l, and -w, which prints a row whenever a pod's row changes.
`get deployments` and `get replicasets` are minipod/cli/workloads.py's."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from typing import Any

from minipod.cli.views import host
from minipod.cli.views.output import EXIT_FAILURE, ViewError, write
from minipod.cli.views.podtable import (
    GetOptions,
    pod_cells,
    pod_header,
    row_state,
    to_json,
    to_yaml,
)
from minipod.cli.views.records import (
    PodEntry,
    list_pods,
    load_pod,
)
from minipod.cli.views.tabwriter import TabWriter, kubectl_table, tab_line

__all__ = ["GetOptions", "cmd_get", "pod_cells", "pod_header", "row_state",
           "to_json", "to_yaml"]

WORKLOAD_KINDS = {"deployments": "deployments", "deployment": "deployments",
                  "deploy": "deployments", "replicasets": "replicasets",
                  "replicaset": "replicasets", "rs": "replicasets"}


OUTPUTS = ("wide", "json", "yaml", "name")


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
    # start-up: imported with the verb that needs it
    from minipod.cli.views import objects, resources

    targets = resources.split_targets(args.resource, args.names)
    output = args.output or ""
    objects.check_output(output)
    named = [name for _, name in targets if name]
    if named and args.selector:
        raise ViewError("error: name cannot be provided when a selector is specified")
    groups: dict[str, list[str]] = {}
    for res, name in targets:
        groups.setdefault(res.kind, [])
        if name:
            groups[res.kind].append(name)
    status = 0
    texts = []
    for kind, names in groups.items():
        res = resources.RESOURCES_BY_KIND[kind]
        if args.watch and kind != "Pod":
            raise ViewError(f"error: minipod get -w watches pods only, not {res.plural}")
        text, missing = _get_kind(args, res, names, output)
        if text:
            texts.append(text)
        for name in missing:
            print(f'Error from server (NotFound): {res.plural} "{name}" not found',
                  file=sys.stderr)
            status = EXIT_FAILURE
    # kubectl separates the tables of several kinds by a blank line
    write("\n".join(texts))
    return status


def _get_kind(args: argparse.Namespace, res: Any, names: list[str], output: str
              ) -> tuple[str, list[str]]:
    # start-up: imported with the verb that needs it
    from minipod.cli.views import objects

    all_namespaces = args.all_namespaces and not names
    namespace = None if all_namespaces else args.namespace
    items = objects.load_items(res.kind, namespace)
    opts = GetOptions(args.namespace, all_namespaces, output, args.show_labels, None, names)
    wide_header = None
    by_name: dict[tuple[str, str], PodEntry] = {}
    if res.kind == "Pod":
        by_name = {(e.namespace, e.name): e for e in list_pods(namespace)}
        row_opts = GetOptions(opts.namespace, False, opts.output, opts.show_labels, None)
        for item in items:
            entry = by_name.get((item.namespace, item.name))
            if entry is not None:
                item.cells = functools.partial(_pod_row, entry, row_opts)
        header = pod_header(row_opts)
        wide_header = (["NAMESPACE", *header] if all_namespaces else header)
    missing: list[str] = []
    if names:
        found = {i.name: i for i in items}
        missing = [n for n in names if n not in found]
        items = [found[n] for n in names if n in found]
    items = objects.select(items, res, args.selector, args.field_selector)
    items = objects.sort_items(items, args.sort_by)
    if not items:
        if not names and not args.watch:
            where = "" if all_namespaces else f" in {args.namespace} namespace"
            print(f"No resources found{where}.", file=sys.stderr)
        if args.watch:
            _watch(args, opts)
        return "", missing
    table = kubectl_table()
    text = objects.render(items, res, output, single=len(names) == 1,
                          all_namespaces=all_namespaces, no_headers=args.no_headers,
                          show_labels=args.show_labels and res.kind != "Pod",
                          wide_header=wide_header, table=table)
    if args.watch:
        write(text)
        # the entries the rows were made of: a change after them is printed
        _watch(args, opts, [by_name[(i.namespace, i.name)] for i in items
                            if (i.namespace, i.name) in by_name], table)
        return "", missing
    return text, missing


def _pod_row(entry: PodEntry, opts: GetOptions, now: float) -> list[str]:
    return pod_cells(entry, opts, now)


def _watch(args: argparse.Namespace, opts: GetOptions, shown: list[PodEntry] | None = None,
           table: TabWriter | None = None) -> None:
    if args.selector:
        # start-up: -l's parser (api/selector.py, set-based too) loads only with -l
        from minipod.api.selector import LabelSelector

        opts.selector = LabelSelector.parse(args.selector)
    _watch_pods(opts, shown or [], table or kubectl_table(), header=not shown)


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

