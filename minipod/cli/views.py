"""The read-only kubectl and crictl verbs: get, describe, logs, ps, inspect.

They read the state directory only (pods/<ns>_<name>/pod.json, events.jsonl,
logs/), so they work from any terminal while `minipod up` runs elsewhere, and
never talk to a supervisor. The text is kubectl's own: tables go through an
emulation of Go's text/tabwriter with kubectl's settings, so columns line up
exactly as kubectl lines them up.

`get -w` and `logs -f` wait on inotify (pod.json is replaced by rename, pod
directories appear and disappear under pods/, log files grow); a 1 s poll is
only the fallback where inotify is missing.

Nothing heavy is imported at the top: yaml, ctypes and psutil load on use.
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import errno
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minipod.api.errors import MinipodError
from minipod.api.events import Event
from minipod.api.status import PodRow, human_age
from minipod.kernel.eventlog import read_events
from minipod.kernel.state import pod_key, root_dir

EXIT_FAILURE = 1
POD_KINDS = ("pods", "pod", "po")
WORKLOAD_KINDS = {"deployments": "deployments", "deployment": "deployments",
                  "deploy": "deployments", "replicasets": "replicasets",
                  "replicaset": "replicasets", "rs": "replicasets"}
OUTPUTS = ("wide", "json", "yaml", "name")
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
NAMESPACE_KINDS = ("net", "ipc", "uts", "pid", "mnt", "cgroup", "user")


def _now() -> float:
    """The wall clock (a seam for the tests)."""
    return time.time()


def _node_name() -> str:
    """The kubelet's node name: the host name, lower-cased."""
    return os.uname().nodename.lower()


class ViewError(MinipodError):
    """An error printed as is, without "error: " (kubectl's "Error from server ...")."""


# -- reading the state directory ---------------------------------------------------


@dataclass
class PodEntry:
    namespace: str
    name: str
    directory: Path
    record: dict[str, Any]

    @property
    def object(self) -> dict[str, Any]:
        obj: dict[str, Any] = self.record.get("object") or {}
        return obj

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.object.get("metadata", {}).get("labels") or {}
        return labels

    @property
    def created(self) -> float | None:
        created = self.record.get("created")
        if isinstance(created, int | float):
            return float(created)
        return parse_time(self.object.get("metadata", {}).get("creationTimestamp"))


def containers_in_order(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The record's containers in spec order, init containers first (pod.json
    keeps them in a map with sorted keys)."""
    containers: dict[str, dict[str, Any]] = record.get("containers") or {}
    spec = (record.get("object") or {}).get("spec") or {}
    order = [c.get("name") for c in [*(spec.get("initContainers") or []),
                                     *(spec.get("containers") or [])]]
    rank = {name: i for i, name in enumerate(order)}
    names = sorted(containers, key=lambda n: (not containers[n].get("init"),
                                              rank.get(n, len(rank))))
    return [(name, containers[name]) for name in names]


def _pods_root() -> Path:
    return root_dir() / "pods"


def _read_record(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / "pod.json").read_text())
    except FileNotFoundError:
        return None  # being created, or just removed
    except NotADirectoryError:
        return None
    except ValueError:
        return None  # never half-written (atomic rename), but never a traceback either
    except PermissionError as e:
        raise MinipodError(f"cannot read {directory}: permission denied "
                           f"(pod state is root's alone)") from e
    return data if isinstance(data, dict) else None


def load_pod(namespace: str, name: str) -> PodEntry | None:
    directory = _pods_root() / pod_key(namespace, name)
    record = _read_record(directory)
    if record is None:
        return None
    return PodEntry(namespace, name, directory, record)


def list_pods(namespace: str | None = None) -> list[PodEntry]:
    """Every pod with a record, in the API server's order (namespace, name)."""
    root = _pods_root()
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    except PermissionError as e:
        raise MinipodError(f"cannot read {root}: permission denied "
                           f"(pod state is root's alone)") from e
    found = []
    for entry in names:
        ns, sep, name = entry.partition("_")
        if not sep or (namespace is not None and ns != namespace):
            continue
        record = _read_record(root / entry)
        if record is not None:
            found.append(PodEntry(record.get("namespace", ns), record.get("name", name),
                                  root / entry, record))
    return sorted(found, key=lambda p: (p.namespace, p.name))


def _supervised(record: dict[str, Any]) -> bool:
    """Whether the supervisor that wrote the record still runs (same pid and start time)."""
    identity = record.get("supervisor") or {}
    pid, start = identity.get("pid"), identity.get("startTime")
    if not pid or start is None:
        return True  # nothing to check against: trust the record
    # start-up: imported with the verb that needs it
    import psutil

    try:
        return bool(abs(psutil.Process(pid).create_time() - start) < 0.05)
    except psutil.Error:
        return False


def parse_time(text: Any) -> float | None:
    """An RFC 3339 time of the API (seconds, Z) as a Unix time."""
    if not isinstance(text, str) or not text:
        return None
    match = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z", text)
    if match is None:
        return None
    fields = tuple(int(g) for g in match.groups()[:6])
    fraction = float(match.group(7)) if match.group(7) else 0.0
    return calendar.timegm(fields) + fraction


def rfc1123z(when: float) -> str:
    """Go's time.RFC1123Z, in local time: "Mon, 02 Jan 2006 15:04:05 -0700"."""
    return time.strftime("%a, %d %b %Y %H:%M:%S %z", time.localtime(when))


# -- Go's text/tabwriter ---------------------------------------------------------------


class TabWriter:
    """Go's text/tabwriter (padchar ' ', left-aligned), over whole text.

    A cell is text ended by a tab; a column block is a run of consecutive
    lines that have a cell in that column, and each block is as wide as its
    widest cell plus ``padding`` (at least ``minwidth``). The last cell of a
    line is not part of any column. ``remember`` is the RememberWidths flag of
    kubectl's fork (github.com/liggitt/tabwriter): a column never gets
    narrower than it was in an earlier flush, so `get -w` rows stay aligned
    with the header.
    """

    def __init__(self, minwidth: int, padding: int, remember: bool = False) -> None:
        self.minwidth, self.padding, self.remember = minwidth, padding, remember
        self._maxwidths: list[int] = []

    def format(self, text: str) -> str:
        lines = [line.split("\t") for line in text.split("\n")]
        if lines and lines[-1] == [""]:
            lines.pop()  # text ends with a newline
        out: list[str] = []
        self._format(lines, 0, len(lines), [], out)
        return "".join(out)

    def _format(self, lines: list[list[str]], line0: int, line1: int, widths: list[int],
                out: list[str]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            self._write_lines(lines, line0, this, widths, out)
            line0 = this
            width = self.minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + self.padding)
                this += 1
            if self.remember:
                if len(self._maxwidths) <= column:
                    self._maxwidths.append(width)
                elif self._maxwidths[column] > width:
                    width = self._maxwidths[column]
                else:
                    self._maxwidths[column] = width
            self._format(lines, line0, this, [*widths, width], out)
            line0 = this
        self._write_lines(lines, line0, line1, widths, out)

    @staticmethod
    def _write_lines(lines: list[list[str]], line0: int, line1: int, widths: list[int],
                     out: list[str]) -> None:
        for cells in lines[line0:line1]:
            for j, cell in enumerate(cells):
                out.append(cell.ljust(widths[j]) if j < len(widths) else cell)
            out.append("\n")


def kubectl_table() -> TabWriter:
    """kubectl's printers.GetNewTabWriter: minwidth 6, padding 3, RememberWidths."""
    return TabWriter(6, 3, remember=True)


# -- small helpers ---------------------------------------------------------------------


def _strip_kind(name: str, kinds: Sequence[str] = POD_KINDS) -> str:
    """`pod/NAME` (or pods/, po/) is NAME, as kubectl takes it."""
    kind, sep, rest = name.partition("/")
    if sep and kind in kinds:
        return rest
    return name


def _not_found(name: str) -> ViewError:
    return ViewError(f'Error from server (NotFound): pods "{name}" not found')


def _require_pod(namespace: str, name: str) -> PodEntry:
    entry = load_pod(namespace, _strip_kind(name))
    if entry is None:
        raise _not_found(_strip_kind(name))
    return entry


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


# -- get -------------------------------------------------------------------------------


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


def _pod_status(entry: PodEntry) -> str:
    status = str(entry.record.get("status") or entry.record.get("phase") or "Unknown")
    if entry.record.get("phase") not in ("Succeeded", "Failed") \
            and not _supervised(entry.record):
        return "Unknown"  # kubectl's word for a pod whose node stopped reporting
    return status


def _row_state(entry: PodEntry) -> tuple[Any, ...]:
    """What makes a row change (its age does not)."""
    r = entry.record
    return (_pod_status(entry), r.get("ready"), r.get("restarts"), r.get("lastRestart"),
            tuple(sorted(entry.labels.items())))


def pod_cells(entry: PodEntry, opts: GetOptions, now: float) -> list[str]:
    r = entry.record
    row = PodRow(str(r.get("ready", "0/0")), _pod_status(entry), int(r.get("restarts") or 0),
                 r.get("lastRestart"))
    created = entry.created
    cells = [entry.name, row.ready, row.status, row.restarts_column(now),
             human_age(now - created) if created is not None else "<unknown>"]
    if opts.all_namespaces:
        cells.insert(0, entry.namespace)
    if opts.output == "wide":
        ips = entry.object.get("status", {}).get("podIPs") or []
        ip = ips[0].get("ip", "<none>") if ips else "<none>"
        cells += [ip, _node_name(), "<none>", "<none>"]
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


def _line(cells: Sequence[str]) -> str:
    return "\t".join(cells) + "\n"


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
    now = _now()
    text = _line(pod_header(opts)) if header else ""
    text += "".join(_line(pod_cells(e, opts, now)) for e in entries)
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
                      [_strip_kind(n) for n in names])
    entries, missing = _select(opts)
    table = kubectl_table()
    if entries:
        _write(_render(entries, opts, single=len(names) == 1, table=table, header=True))
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
    # start-up: imported with the verb that needs it
    from minipod.kernel.state import pods_dir

    root = pods_dir()  # created if missing, so there is something to watch
    last = {(e.namespace, e.name): (_row_state(e), e) for e in shown}
    with DirectoryWatch(root) as watch:
        while True:
            # First right after the watch is set up: whatever changed since the
            # table was printed (and before inotify watched) is seen here.
            entries, _ = _select(opts)
            current = {(e.namespace, e.name): e for e in entries}
            changed = []
            for key, entry in current.items():
                previous = last.get(key)
                if previous is None or previous[0] != _row_state(entry):
                    changed.append(entry)
                    last[key] = (_row_state(entry), entry)
            for key in [k for k in last if k not in current]:
                changed.append(last.pop(key)[1])  # deleted: its last row, as kubectl's DELETED
            for entry in changed:  # one object per flush, as kubectl prints watch events
                _write(_render([entry], opts, single=True, table=table, header=header))
                header = False
            watch.wait()


# -- describe --------------------------------------------------------------------------

L1, L2, L3 = "  ", "    ", "      "  # kubectl's PrefixWriter levels


def _probe_text(probe: dict[str, Any]) -> str:
    """kubectl's DescribeProbe, with the API server's defaults applied."""
    attrs = (f"delay={probe.get('initialDelaySeconds', 0)}s "
             f"timeout={probe.get('timeoutSeconds', 1)}s "
             f"period={probe.get('periodSeconds', 10)}s "
             f"#success={probe.get('successThreshold', 1)} "
             f"#failure={probe.get('failureThreshold', 3)}")
    if "exec" in probe:
        command = (probe["exec"] or {}).get("command") or []
        return f"exec [{' '.join(command)}] {attrs}"
    if "httpGet" in probe:
        get = probe["httpGet"] or {}
        host, port = str(get.get("host", "")), str(get.get("port", ""))
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{port}" if port else host
        path = _escape_path(str(get.get("path") or "/"))
        if not path.startswith("/"):
            path = "/" + path
        return f"http-get {str(get.get('scheme') or 'HTTP').lower()}://{netloc}{path} {attrs}"
    if "tcpSocket" in probe:
        tcp = probe["tcpSocket"] or {}
        return f"tcp-socket {tcp.get('host', '')}:{tcp.get('port', '')} {attrs}"
    if "grpc" in probe:
        grpc = probe["grpc"] or {}
        return f"grpc <pod>:{grpc.get('port', '')} {grpc.get('service', '')} {attrs}"
    return f"unknown {attrs}"


def _escape_path(path: str) -> str:
    # start-up: imported with the verb that needs it
    from urllib.parse import quote

    return quote(path, safe="/$&+,:;=@-._~")  # Go's url path escaping


def _state_lines(name: str, state: dict[str, Any]) -> list[str]:
    if "running" in state:
        started = parse_time((state["running"] or {}).get("startedAt"))
        return [f"{L2}{name}:\tRunning",
                f"{L3}Started:\t{rfc1123z(started) if started is not None else ''}"]
    if "terminated" in state:
        t = state["terminated"] or {}
        lines = [f"{L2}{name}:\tTerminated"]
        if t.get("reason"):
            lines.append(f"{L3}Reason:\t{t['reason']}")
        if t.get("message"):
            lines.append(f"{L3}Message:\t{t['message']}")
        lines.append(f"{L3}Exit Code:\t{t.get('exitCode', 0)}")
        if t.get("signal"):
            lines.append(f"{L3}Signal:\t{t['signal']}")
        for label, key in (("Started", "startedAt"), ("Finished", "finishedAt")):
            when = parse_time(t.get(key))
            lines.append(f"{L3}{label}:\t{rfc1123z(when) if when is not None else ''}")
        return lines
    lines = [f"{L2}{name}:\tWaiting"]
    reason = (state.get("waiting") or {}).get("reason")
    if reason:
        lines.append(f"{L3}Reason:\t{reason}")
    return lines


def _container_lines(container: dict[str, Any], status: dict[str, Any] | None) -> list[str]:
    lines = [f"{L1}{container.get('name', '')}:"]
    if status is not None:
        lines.append(f"{L2}Container ID:\t{status.get('containerID', '')}")
    lines.append(f"{L2}Image:\t{container.get('image', '')}")
    if status is not None:
        lines.append(f"{L2}Image ID:\t{status.get('imageID', '')}")
    ports = container.get("ports") or []
    port_text = ", ".join(f"{p.get('containerPort', 0)}/{p.get('protocol', 'TCP')}"
                          for p in ports)
    host_text = ", ".join(f"{p.get('hostPort', 0)}/{p.get('protocol', 'TCP')}" for p in ports)
    lines.append(f"{L2}Ports:\t{port_text}" if "," in port_text
                 else f"{L2}Port:\t{port_text or '<none>'}")
    lines.append(f"{L2}Host Ports:\t{host_text}" if "," in host_text
                 else f"{L2}Host Port:\t{host_text or '<none>'}")
    for title, key in (("Command", "command"), ("Args", "args")):
        if container.get(key):
            lines.append(f"{L2}{title}:")
            lines += [f"{L3}{part}" for arg in container[key] for part in str(arg).split("\n")]
    if status is not None:
        lines += _state_lines("State", status.get("state") or {})
        last = status.get("lastState") or {}
        if "terminated" in last:
            lines += _state_lines("Last State", last)
        lines.append(f"{L2}Ready:\t{'True' if status.get('ready') else 'False'}")
        lines.append(f"{L2}Restart Count:\t{status.get('restartCount', 0)}")
    for title, key in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"),
                       ("Startup", "startupProbe")):
        if container.get(key):
            lines.append(f"{L2}{title}:\t{_probe_text(container[key])}")
    return lines + _env_lines(container) + _mount_lines(container)


def _env_lines(container: dict[str, Any]) -> list[str]:
    env = container.get("env") or []
    lines = [f"{L2}Environment:" + ("" if env else "\t<none>")]
    for var in env:
        if "valueFrom" in var:
            lines.append(f"{L3}{var.get('name', '')}:\t<set from valueFrom>")
            continue
        for i, part in enumerate(str(var.get("value", "")).split("\n")):
            lines.append(f"{L3}{var.get('name', '')}:\t{part}" if i == 0 else f"{L3}\t{part}")
    return lines


def _mount_lines(container: dict[str, Any]) -> list[str]:
    mounts = sorted(container.get("volumeMounts") or [], key=lambda m: m.get("mountPath", ""))
    lines = [f"{L2}Mounts:" + ("" if mounts else "\t<none>")]
    for mount in mounts:
        flags = ["ro" if mount.get("readOnly") else "rw"]
        if mount.get("subPath"):
            flags.append(f'path="{mount["subPath"]}"')
        lines.append(f"{L3}{mount.get('mountPath', '')} from {mount.get('name', '')} "
                     f"({','.join(flags)})")
    return lines


def _containers_section(title: str, containers: list[dict[str, Any]],
                        statuses: list[dict[str, Any]]) -> list[str]:
    by_name = {s.get("name"): s for s in statuses}
    lines = [f"{title}:" + ("" if containers else " <none>")]
    for container in containers:
        lines += _container_lines(container, by_name.get(container.get("name")))
    return lines


def _volume_lines(volumes: list[dict[str, Any]]) -> list[str]:
    if not volumes:
        return ["Volumes:\t<none>"]
    lines = ["Volumes:"]
    for volume in volumes:
        lines.append(f"{L1}{volume.get('name', '')}:")
        if "hostPath" in volume:
            host = volume["hostPath"] or {}
            lines += [f"{L2}Type:\tHostPath (bare host directory volume)",
                      f"{L2}Path:\t{host.get('path', '')}",
                      f"{L2}HostPathType:\t{host.get('type', '')}"]
        elif "emptyDir" in volume:
            empty = volume["emptyDir"] or {}
            lines += [f"{L2}Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)",
                      f"{L2}Medium:\t{empty.get('medium', '')}",
                      f"{L2}SizeLimit:\t{empty.get('sizeLimit') or '<unset>'}"]
        else:
            lines.append(f"{L1}<unknown>")
    return lines


def _labels_lines(title: str, labels: dict[str, str] | None) -> list[str]:
    if not labels:
        return [f"{title}:\t<none>"]
    keys = sorted(labels)
    return [f"{title}:\t{keys[0]}={labels[keys[0]]}"] + [f"\t{k}={labels[k]}" for k in keys[1:]]


MAX_ANNOTATION_LEN = 140


def _annotation_lines(annotations: dict[str, str] | None) -> list[str]:
    keys = sorted(k for k in (annotations or {})
                  if k != "kubectl.kubernetes.io/last-applied-configuration")
    if not annotations or not keys:
        return ["Annotations:\t<none>"]
    lines = []
    for i, key in enumerate(keys):
        lead = "Annotations:\t" if i == 0 else "\t"
        value = str(annotations[key]).removesuffix("\n")
        if len(value) + len(key) + 2 > MAX_ANNOTATION_LEN or "\n" in value:
            lines.append(f"{lead}{key}:")
            for part in value.split("\n"):
                short = part if len(part) <= MAX_ANNOTATION_LEN - 2 \
                    else part[:MAX_ANNOTATION_LEN - 2] + "..."
                lines.append(f"\t  {short}")
        else:
            lines.append(f"{lead}{key}: {value}")
    return lines


def _host_namespaces() -> dict[str, int]:
    found = {}
    for kind in NAMESPACE_KINDS:
        with contextlib.suppress(OSError):
            found[kind] = os.stat(f"/proc/self/ns/{kind}").st_ino
    return found


def _namespace_lines(record: dict[str, Any]) -> list[str]:
    """minipod's own section: whose namespaces each process is in."""
    host = _host_namespaces()
    pause = record.get("pause") or {}
    pod_ns: dict[str, int] = pause.get("namespaces") or {}
    lines = ["Namespaces:"]

    def block(title: str, pid: Any, namespaces: dict[str, int], is_pause: bool) -> None:
        if not pid or not namespaces:
            lines.append(f"{L1}{title}:\t<not running>")
            return
        lines.append(f"{L1}{title}:")
        lines.append(f"{L2}PID:\t{pid}")
        for kind in NAMESPACE_KINDS:
            if kind not in namespaces:
                continue
            inode = namespaces[kind]
            whose = ""
            if not is_pause and pod_ns.get(kind) == inode and host.get(kind) != inode:
                whose = " (pod)"
            elif host.get(kind) == inode:
                whose = " (host)"
            lines.append(f"{L2}{kind}:\t{kind}:[{inode}]{whose}")

    block("pause", pause.get("pid"), pod_ns, True)
    for name, container in containers_in_order(record):
        block(name, container.get("pid") if container.get("state") == "running" else None,
              container.get("namespaces") or {}, False)
    return lines


@dataclass
class _Aggregate:
    first: float
    last: float
    count: int
    event: Event


def _aggregate(events: list[Event]) -> list[_Aggregate]:
    """The event recorder's aggregation: one line per identical (type, reason,
    message), with its count, first and last time; sorted by the last time."""
    seen: dict[tuple[str, str, str, str], _Aggregate] = {}
    for event in events:
        key = (event.type, event.reason, event.obj, event.message)
        agg = seen.get(key)
        if agg is None:
            seen[key] = _Aggregate(event.timestamp, event.timestamp, 1, event)
        else:
            agg.last, agg.count = max(agg.last, event.timestamp), agg.count + 1
            agg.first = min(agg.first, event.timestamp)
    return sorted(seen.values(), key=lambda a: a.last)


def _events_text(events: list[Event], now: float) -> str:
    if not events:
        return "Events:\t<none>\n"
    text = f"Events:\n{L1}Type\tReason\tAge\tFrom\tMessage\n{L1}----\t------\t----\t----\t-------\n"
    for agg in _aggregate(events):
        first = human_age(now - agg.first)
        age = first if agg.count == 1 else \
            f"{human_age(now - agg.last)} (x{agg.count} over {first})"
        e = agg.event
        text += f"{L1}{e.type}\t{e.reason}\t{age}\tminipod\t{e.message.strip()}\n"
    return text


def describe_pod(entry: PodEntry, now: float) -> str:
    record, obj = entry.record, entry.object
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    status = obj.get("status") or {}
    lines = [f"Name:\t{entry.name}", f"Namespace:\t{entry.namespace}", "Priority:\t0",
             f"Node:\t{_node_name()}"]
    started = parse_time(status.get("startTime"))
    if started is not None:
        lines.append(f"Start Time:\t{rfc1123z(started)}")
    lines += _labels_lines("Labels", meta.get("labels"))
    lines += _annotation_lines(meta.get("annotations"))
    phase = status.get("phase") or record.get("phase", "")
    deleted = parse_time(meta.get("deletionTimestamp"))
    if deleted is not None and phase not in ("Succeeded", "Failed"):
        grace = spec.get("terminationGracePeriodSeconds", 30)
        lines += [f"Status:\tTerminating (lasts {human_age(now - deleted)})",
                  f"Termination Grace Period:\t{grace}s"]
    else:
        lines.append(f"Status:\t{phase}")
    supervisor = record.get("supervisor") or {}
    if phase not in ("Succeeded", "Failed") and not _supervised(record):
        lines += ["Reason:\tNodeLost",
                  f"Message:\tits supervisor (pid {supervisor.get('pid')}) is gone; "
                  f"`minipod delete pod {entry.name}` stops what is left"]
    elif status.get("message"):
        lines.append(f"Message:\t{status['message']}")
    ips = status.get("podIPs") or []
    lines.append(f"IP:\t{ips[0].get('ip', '') if ips else ''}")
    if ips:
        lines.append("IPs:")
        lines += [f"{L1}IP:\t{ip.get('ip', '')}" for ip in ips]
    else:
        lines.append("IPs:\t<none>")
    if spec.get("initContainers"):
        lines += _containers_section("Init Containers", spec["initContainers"],
                                     status.get("initContainerStatuses") or [])
    lines += _containers_section("Containers", spec.get("containers") or [],
                                 status.get("containerStatuses") or [])
    conditions = status.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        lines.append(f"{L1}Type\tStatus")
        lines += [f"{L1}{c.get('type', '')} \t{c.get('status', '')} " for c in conditions]
    lines += _volume_lines(spec.get("volumes") or [])
    lines += ["QoS Class:\tBestEffort", "Node-Selectors:\t<none>", "Tolerations:\t<none>"]
    lines += _namespace_lines(record)
    events = read_events(entry.directory / "events.jsonl")
    tab = TabWriter(0, 2)
    if not events:  # no flush before "Events: <none>": it joins the block above
        return tab.format("\n".join(lines) + "\n" + _events_text(events, now))
    return tab.format("\n".join(lines) + "\n") + TabWriter(0, 2).format(
        _events_text(events, now))


def cmd_describe(args: argparse.Namespace) -> int:
    words = list(args.names)
    kind, sep, first = args.resource.partition("/")
    if sep:
        words.insert(0, first)
    if kind not in POD_KINDS:
        raise ViewError(f'error: the server doesn\'t have a resource type "{kind}"')
    if words:
        entries = [_require_pod(args.namespace, name) for name in words]
    else:
        entries = list_pods(args.namespace)
        if not entries:
            print(f"No resources found in {args.namespace} namespace.", file=sys.stderr)
            return 0
    now = _now()
    _write("\n\n".join(describe_pod(e, now) for e in entries))
    return 0


# -- logs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    timestamp: str  # the CRI one, RFC3339Nano with 9 digits
    stream: str
    text: bytes


class CriDecoder:
    """CRI log records to lines: `<RFC3339Nano> <stream> <P|F> <text>`; P
    (partial) records are joined with the records that follow on the same
    stream, up to the F one."""

    def __init__(self) -> None:
        self._rest = b""
        self._partial: dict[str, tuple[str, bytearray]] = {}

    def feed(self, data: bytes) -> list[LogLine]:
        *records, self._rest = (self._rest + data).split(b"\n")
        lines = []
        for record in records:
            line = self._record(record)
            if line is not None:
                lines.append(line)
        return lines

    def finish(self) -> list[LogLine]:
        """What is left at the end: a record cut short, unfinished partial lines."""
        lines = []
        if self._rest:
            line = self._record(self._rest)
            self._rest = b""
            if line is not None:
                lines.append(line)
        for stream, (stamp, text) in self._partial.items():
            lines.append(LogLine(stamp, stream, bytes(text)))
        self._partial.clear()
        return lines

    def _record(self, record: bytes) -> LogLine | None:
        parts = record.split(b" ", 3)
        if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr"):
            return LogLine("", "stdout", record)  # not CRI: shown as is
        stamp, stream = parts[0].decode(errors="replace"), parts[1].decode()
        tag, text = parts[2], parts[3] if len(parts) > 3 else b""
        if stream in self._partial:
            first, buffer = self._partial[stream]
            buffer += text
        else:
            first, buffer = stamp, bytearray(text)
        if tag == b"P":
            self._partial[stream] = (first, buffer)
            return None
        self._partial.pop(stream, None)
        return LogLine(first, stream, bytes(buffer))


def rfc3339nano(cri_stamp: str) -> str:
    """Go's time.RFC3339Nano (trailing zeros of the fraction dropped), as the
    kubelet prints `--timestamps`."""
    match = re.fullmatch(r"([^.]+)\.(\d+)(Z|[+-]\d\d:\d\d)", cri_stamp)
    if match is None:
        return cri_stamp
    head, fraction, zone = match.groups()
    fraction = fraction.rstrip("0")
    return f"{head}.{fraction}{zone}" if fraction else f"{head}{zone}"


def _format_line(line: LogLine, timestamps: bool) -> bytes:
    if timestamps and line.timestamp:
        return rfc3339nano(line.timestamp).encode() + b" " + line.text + b"\n"
    return line.text + b"\n"


def _emit(data: bytes) -> None:
    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        sys.stdout.write(data.decode(errors="replace"))
    else:
        sys.stdout.flush()
        out.write(data)
        out.flush()


def _default_container(entry: PodEntry) -> str:
    spec = entry.object.get("spec") or {}
    apps = [c.get("name", "") for c in spec.get("containers") or []]
    inits = [c.get("name", "") for c in spec.get("initContainers") or []]
    if not apps:  # no object: the record's own list
        ordered = containers_in_order(entry.record)
        apps = [n for n, c in ordered if not c.get("init")]
        inits = [n for n, c in ordered if c.get("init")]
    wanted = ((entry.object.get("metadata") or {}).get("annotations") or {}).get(
        DEFAULT_CONTAINER_ANNOTATION)
    if wanted and wanted in apps + inits:
        return str(wanted)
    if wanted:
        print(f'Default container name "{wanted}" not found in pod {entry.name}',
              file=sys.stderr)
    if not apps:
        raise MinipodError(f"pod {entry.name} has no containers")
    if len(apps) > 1 or inits:
        names = ", ".join([*apps, *(f"{n} (init)" for n in inits)])
        print(f'Defaulted container "{apps[0]}" out of: {names}', file=sys.stderr)
    return str(apps[0])


def _log_path(entry: PodEntry, container: str, attempt: int) -> Path:
    return entry.directory / "logs" / container / f"{attempt}.log"


def cmd_logs(args: argparse.Namespace) -> int:
    entry = _require_pod(args.namespace, args.pod)
    name = args.container or _default_container(entry)
    containers = entry.record.get("containers") or {}
    if name not in containers:
        raise MinipodError(f"container {name} is not valid for pod {entry.name}")
    info = containers[name]
    attempt = int(info.get("attempt", -1))
    if args.previous:
        # the kubelet's lastState.terminated: the run before this one, or, for a
        # container waiting to start again, the run that last exited
        previous = attempt if info.get("state") == "waiting" else attempt - 1
        path = _log_path(entry, name, previous)
        if previous < 0 or not path.exists():
            raise ViewError(f"Error from server (BadRequest): previous terminated container "
                            f'"{name}" in pod "{entry.name}" not found')
    else:
        if attempt < 0:
            reason = info.get("reason") or "ContainerCreating"
            raise ViewError(f'Error from server (BadRequest): container "{name}" in pod '
                            f'"{entry.name}" is waiting to start: {reason}')
        path = _log_path(entry, name, attempt)
    tail = args.tail if args.tail is not None and args.tail >= 0 else None
    follow = args.follow and not args.previous
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        if not follow:
            return 0  # the run wrote nothing yet
        fd = -1
    try:
        _print_log(entry, name, attempt, path, fd, tail=tail, timestamps=args.timestamps,
                   follow=follow)
    finally:
        if fd >= 0:
            os.close(fd)
    return 0


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _print_log(entry: PodEntry, container: str, attempt: int, path: Path, fd: int, *,
               tail: int | None, timestamps: bool, follow: bool) -> None:
    decoder = CriDecoder()
    if not follow:
        lines = decoder.feed(_read_all(fd)) + decoder.finish()
        if tail is not None:
            lines = lines[len(lines) - tail:] if tail else []
        _emit(b"".join(_format_line(line, timestamps) for line in lines))
        return
    # Watch before the first read, so nothing written in between is missed.
    with FileWatch(entry.directory, path) as watch:
        first = True
        while True:
            if fd < 0:
                with contextlib.suppress(FileNotFoundError):
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            finished = _run_finished(entry, container, attempt)
            lines = decoder.feed(_read_all(fd)) if fd >= 0 else []
            if finished:
                lines += decoder.finish()
            if first and tail is not None:
                lines = lines[len(lines) - tail:] if tail else []
            first = False
            if lines:
                _emit(b"".join(_format_line(line, timestamps) for line in lines))
            if finished:
                return
            watch.wait()


def _run_finished(entry: PodEntry, container: str, attempt: int) -> bool:
    """The run `logs -f` follows has ended: it exited, the container started
    again, or the pod is gone. Checked *before* the last read of the file, so
    the run's last words are still read."""
    record = _read_record(entry.directory)
    if record is None:
        return not entry.directory.exists()
    info = (record.get("containers") or {}).get(container) or {}
    return int(info.get("attempt", -1)) != attempt or info.get("state") != "running"


# -- ps (crictl ps) --------------------------------------------------------------------


def crictl_age(seconds: float) -> str:
    """go-units HumanDuration, as crictl's CREATED column ("... ago")."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)  # Go's math.Round
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


@dataclass(frozen=True)
class ContainerRunRow:
    id: str
    image: str
    created: float | None
    state: str  # crictl's Running / Exited
    name: str
    attempt: int
    pod_id: str
    pod: str
    namespace: str
    pid: str


def _statuses(entry: PodEntry) -> dict[str, dict[str, Any]]:
    status = entry.object.get("status") or {}
    return {s.get("name", ""): s for s in [*(status.get("initContainerStatuses") or []),
                                           *(status.get("containerStatuses") or [])]}


def container_runs(entry: PodEntry) -> list[ContainerRunRow]:
    """Every container run the runtime still holds: the current (or last) one
    of each container, and the one before it (kept for `logs --previous`)."""
    rows = []
    statuses = _statuses(entry)
    uid = str(entry.record.get("uid", ""))
    for name, info in containers_in_order(entry.record):
        attempt = int(info.get("attempt", -1))
        if attempt < 0:
            continue  # never created
        status = statuses.get(name, {})
        state = status.get("state") or {}
        last = (status.get("lastState") or {}).get("terminated")
        running = info.get("state") == "running"

        def row(run: int, created: float | None, pid: Any = None,
                name: str = name, image: str = str(info.get("image", ""))) -> ContainerRunRow:
            return ContainerRunRow(f"{uid[:8]}-{name}-{run}", image, created,
                                   "Running" if pid else "Exited", name, run, uid[:13],
                                   entry.name, entry.namespace, str(pid) if pid else "-")

        if running:
            rows.append(row(attempt, info.get("startTime") or parse_time(
                (state.get("running") or {}).get("startedAt")), info.get("pid") or "?"))
        elif "terminated" in state:
            rows.append(row(attempt, parse_time((state["terminated"] or {}).get("startedAt"))))
        else:  # waiting to start again (back-off): the last run is its lastState
            rows.append(row(attempt, parse_time((last or {}).get("startedAt"))))
            continue
        if attempt >= 1 and last:
            rows.append(row(attempt - 1, parse_time(last.get("startedAt"))))
    return rows


def cmd_ps(args: argparse.Namespace) -> int:
    entries = list_pods(args.namespace)
    if args.pod:
        entries = [e for e in entries if e.name == _strip_kind(args.pod)]
    rows = [row for e in entries for row in container_runs(e)
            if args.all or row.state == "Running"]
    rows.sort(key=lambda r: r.created or 0.0, reverse=True)  # crictl: newest first
    now = _now()
    text = _line(["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD",
                  "NAMESPACE", "PID"])
    for r in rows:
        created = f"{crictl_age(now - r.created)} ago" if r.created is not None else "<unknown>"
        text += _line([r.id, r.image, created, r.state, r.name, str(r.attempt), r.pod_id, r.pod,
                       r.namespace, r.pid])
    _write(TabWriter(20, 3).format(text))  # crictl's newDefaultTableDisplay
    return 0


# -- inspect ---------------------------------------------------------------------------


def inspect_pod(entry: PodEntry) -> dict[str, Any]:
    record = entry.record
    pause = record.get("pause") or {}
    containers = []
    for name, info in containers_in_order(record):
        running = info.get("state") == "running"
        containers.append({
            "name": name, "id": info.get("id"), "image": info.get("image"),
            "init": info.get("init", False), "sidecar": info.get("sidecar", False),
            "state": info.get("state"), "reason": info.get("reason", ""),
            "attempt": info.get("attempt"), "restartCount": info.get("restartCount", 0),
            "pid": info.get("pid") if running else None,
            "namespaces": info.get("namespaces", {}) if running else {},
            "rootfs": info.get("rootfs"), "log": info.get("log"),
        } | ({"exitCode": info["exitCode"]} if "exitCode" in info else {}))
    return {
        "name": entry.name, "namespace": entry.namespace, "uid": record.get("uid"),
        "phase": record.get("phase"), "status": _pod_status(entry),
        "directory": str(entry.directory),
        "pause": {"pid": pause.get("pid"), "namespaces": pause.get("namespaces", {})},
        "supervisor": record.get("supervisor") or {},
        "containers": containers,
    }


def cmd_inspect(args: argparse.Namespace) -> int:
    entry = _require_pod(args.namespace, args.pod)
    _write(json.dumps(inspect_pod(entry), indent=2) + "\n")
    return 0


# -- inotify -------------------------------------------------------------------------

IN_MODIFY = 0x2
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x1000000
POLL_FALLBACK = 1.0  # seconds, only where inotify is missing


class Inotify:
    """inotify(7) through libc (ctypes): a non-blocking fd, read after poll(2)."""

    def __init__(self) -> None:
        # start-up: imported with the verb that needs it
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        self._init1 = libc.inotify_init1
        self._init1.argtypes, self._init1.restype = [ctypes.c_int], ctypes.c_int
        self._add = libc.inotify_add_watch
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._add.restype = ctypes.c_int
        self._get_errno = ctypes.get_errno
        fd = self._init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if fd < 0:
            err = self._get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self.fd = fd

    def add(self, path: Path, mask: int) -> int | None:
        """Watch ``path``; None if it does not exist (any more)."""
        wd = int(self._add(self.fd, os.fsencode(path), mask))
        if wd < 0:
            err = self._get_errno()
            if err in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise OSError(err, f"inotify_add_watch {path}: {os.strerror(err)}")
        return wd

    def read(self, timeout: float | None = None) -> list[tuple[int, int, str]]:
        """Block until events arrive (or ``timeout``), then take all of them:
        (watch descriptor, mask, name) each."""
        # start-up: imported with the verb that needs it
        import select
        import struct

        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        if not poller.poll(None if timeout is None else int(timeout * 1000)):
            return []
        events: list[tuple[int, int, str]] = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return events
            offset = 0
            while offset + 16 <= len(data):
                wd, mask, _cookie, length = struct.unpack_from("iIII", data, offset)
                raw = data[offset + 16:offset + 16 + length].rstrip(b"\0")
                events.append((wd, mask, os.fsdecode(raw)))
                offset += 16 + length

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _open_inotify() -> Inotify | None:
    try:
        return Inotify()
    except (OSError, AttributeError):  # no inotify here (or no libc symbol)
        return None


class DirectoryWatch:
    """Wakes `get -w` when anything under pods/ may have changed: a pod
    directory made or removed, a pod.json renamed into one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inotify = _open_inotify()
        self._pod_dirs: dict[int, str] = {}

    def __enter__(self) -> DirectoryWatch:
        if self.inotify is not None:
            self.inotify.add(self.root, IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM
                             | IN_ONLYDIR)
            self._sync()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.inotify is not None:
            self.inotify.close()

    def _sync(self) -> None:
        """Watch every pod directory there is (one made since the last look too)."""
        assert self.inotify is not None
        watched = set(self._pod_dirs.values())
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.root):
                if name not in watched:
                    wd = self.inotify.add(self.root / name, IN_MOVED_TO | IN_ONLYDIR)
                    if wd is not None:
                        self._pod_dirs[wd] = name

    def wait(self) -> None:
        if self.inotify is None:
            time.sleep(POLL_FALLBACK)
            return
        for wd, mask, _name in self.inotify.read():
            if mask & IN_IGNORED:
                self._pod_dirs.pop(wd, None)
        self._sync()  # after reading: a directory made meanwhile is then seen by the rescan


class FileWatch:
    """Wakes `logs -f` when its log file grows, the pod record changes, or the
    pod directory goes away."""

    def __init__(self, pod_dir: Path, log: Path) -> None:
        self.pod_dir, self.log = pod_dir, log
        self.inotify = _open_inotify()
        self._log_wd: int | None = None

    def __enter__(self) -> FileWatch:
        if self.inotify is not None:
            self.inotify.add(self.pod_dir, IN_MOVED_TO | IN_ONLYDIR)
            # The pod directory's removal, seen from pods/: its own IN_DELETE_SELF
            # comes only once nothing pins it, and our open log file does.
            self.inotify.add(self.pod_dir.parent, IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR)
            # The log directory, for a log file not made yet.
            self.inotify.add(self.log.parent, IN_CREATE | IN_ONLYDIR)
            self._log_wd = self.inotify.add(self.log, IN_MODIFY)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.inotify is not None:
            self.inotify.close()

    def wait(self) -> None:
        if self.inotify is None:
            time.sleep(POLL_FALLBACK)
            return
        self.inotify.read()
        if self._log_wd is None:
            self._log_wd = self.inotify.add(self.log, IN_MODIFY)


# -- the command line ---------------------------------------------------------------------

Handler = Callable[[argparse.Namespace], int]


def _handled(handler: Handler) -> Handler:
    """ViewError lines are printed as they are; a closed pipe (`| head`) is no error."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ViewError as e:
            print(str(e), file=sys.stderr)
            return EXIT_FAILURE
        except BrokenPipeError:
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            return 0

    run.__doc__ = handler.__doc__
    return run


def _tail(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None


def register(sub: Any) -> None:
    get = sub.add_parser("get", help="list pods (kubectl get pods), deployments, replicasets")
    get.add_argument("resource", metavar="RESOURCE",
                     help="pods (pod, po), deployments (deploy), replicasets (rs)")
    get.add_argument("names", nargs="*", metavar="NAME")
    get.add_argument("-n", "--namespace", default="default")
    get.add_argument("-A", "--all-namespaces", action="store_true")
    get.add_argument("-o", "--output", default=None, metavar="FORMAT",
                     help="wide, json, yaml or name")
    get.add_argument("-w", "--watch", action="store_true",
                     help="after the list, print a row whenever a pod changes")
    get.add_argument("--show-labels", action="store_true")
    get.add_argument("-l", "--selector", default=None, metavar="SELECTOR",
                     help="label selector: key=value,key!=value,key,!key")
    get.set_defaults(handler=_handled(cmd_get))

    describe = sub.add_parser("describe", help="describe a pod (kubectl describe pod NAME)")
    describe.add_argument("resource", metavar="RESOURCE", help="pod (or pod/NAME)")
    describe.add_argument("names", nargs="*", metavar="NAME")
    describe.add_argument("-n", "--namespace", default="default")
    describe.set_defaults(handler=_handled(cmd_describe))

    logs = sub.add_parser("logs", help="a container's output (kubectl logs)")
    logs.add_argument("pod", metavar="POD")
    logs.add_argument("-c", "--container", default=None)
    logs.add_argument("-f", "--follow", action="store_true",
                      help="keep printing until the container's run ends")
    logs.add_argument("-p", "--previous", action="store_true",
                      help="the previous run of the container")
    logs.add_argument("--tail", type=_tail, default=None, metavar="N",
                      help="only the last N lines (-1: all)")
    logs.add_argument("--timestamps", action="store_true")
    logs.add_argument("-n", "--namespace", default="default")
    logs.set_defaults(handler=_handled(cmd_logs))

    ps = sub.add_parser("ps", help="list containers (crictl ps)")
    ps.add_argument("-a", "--all", action="store_true", help="exited containers too")
    ps.add_argument("--pod", default=None, metavar="NAME")
    ps.add_argument("-n", "--namespace", default=None)
    ps.set_defaults(handler=_handled(cmd_ps))

    inspect = sub.add_parser("inspect", help="a pod's processes, namespaces and paths (JSON)")
    inspect.add_argument("pod", metavar="POD")
    inspect.add_argument("-n", "--namespace", default="default")
    inspect.set_defaults(handler=_handled(cmd_inspect))

