"""`minipod scale` and the Deployment and ReplicaSet tables of `minipod get`.

Both read the record a supervisor keeps for each workload it runs
(minipod.kernel.state.workload_record_path, minipod.api.workloads.record);
`scale` then asks that supervisor, over its control socket, to change the
replica count. Nothing heavy is imported at the top, so `minipod` starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minipod.api.errors import SpecError, StateError
from minipod.api.kinds import WORKLOAD_NAMES, workload_kind
from minipod.api.status import human_age
from minipod.kernel.state import workload_record_path, workload_records_dir

if TYPE_CHECKING:
    from minipod.api.record import WorkloadRecord

__all__ = ["print_workloads", "register"]

_SCALE_TIMEOUT = 10.0


def register(sub: Any) -> None:  # argparse's _SubParsersAction is private
    scale = sub.add_parser(
        "scale", help="set the replica count: minipod scale deployment NAME --replicas N",
        description="Set the number of replicas of a Deployment or ReplicaSet.",
    )
    scale.add_argument("type", metavar="TYPE",
                       help="deployment or replicaset (or TYPE/NAME, as kubectl takes it)")
    scale.add_argument("name", nargs="?", metavar="NAME")
    scale.add_argument("--replicas", type=_replicas, required=True, metavar="N",
                       help="the new number of replicas (0 or more)")
    scale.add_argument("-n", "--namespace", default="default")
    scale.set_defaults(handler=cmd_scale)


def _replicas(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"invalid count {text!r}: the --replicas=COUNT flag is required, "
            "and COUNT must be greater than or equal to 0")
    return value


def _target(type_arg: str, name: str | None) -> tuple[str, str]:
    """(kind, name) from `TYPE NAME` or `TYPE/NAME`."""
    type_name, slash, inline = type_arg.partition("/")
    if slash and name:
        raise SpecError("there is no need to specify a resource type as a separate argument"
                        " when passing arguments in resource/name form")
    name = inline if slash else name
    if not name:
        raise SpecError(f"resource(s) were provided, but no name was specified ({type_arg} NAME)")
    return workload_kind(type_name), name


def _singular(kind: str) -> str:
    return f"{WORKLOAD_NAMES[kind][0]}.apps"


def _plural(kind: str) -> str:
    return f"{WORKLOAD_NAMES[kind][1]}.apps"


def cmd_scale(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.server.client import request

    kind, name = _target(args.type, args.name)
    path = workload_record_path(args.namespace, kind, name)
    # start-up: the record classes take milliseconds to import
    from minipod.api.record import WorkloadRecord

    try:
        record = WorkloadRecord.from_json(json.loads(path.read_text()), str(path))
    except FileNotFoundError:
        raise StateError(f'{_plural(kind)} "{name}" not found') from None
    except (OSError, ValueError) as e:  # RecordError is a ValueError
        raise StateError(f"cannot read {path}: {e}") from e
    socket = record.supervisor.socket
    if not socket:
        raise StateError(f"{_singular(kind)}/{name}: no supervisor recorded in {path}")
    message = {"op": "scale", "kind": kind, "namespace": args.namespace, "name": name,
               "replicas": args.replicas}
    try:
        answer = request(Path(socket), message, timeout=_SCALE_TIMEOUT)
    except OSError as e:
        raise StateError(f"the supervisor of {_singular(kind)}/{name} does not answer"
                         f" at {socket}: {e.strerror or e}") from e
    if not answer.get("ok"):
        raise StateError(str(answer.get("error") or "the supervisor refused"))
    print(f"{_singular(kind)}/{name} scaled")
    return 0


# ---------------------------------------------------------------------------
# get deployments / get replicasets
# ---------------------------------------------------------------------------


def print_workloads(kind: str, namespace: str, all_namespaces: bool,
                    names: Sequence[str] = ()) -> int:
    """Print `kubectl get deployments` (NAME READY UP-TO-DATE AVAILABLE AGE) or
    `kubectl get replicasets` (NAME DESIRED CURRENT READY AGE); ``kind`` is any
    spelling in WORKLOAD_TYPES. A Deployment's ReplicaSets are listed with the
    ReplicaSets. Returns the exit status: 1 when a name asked for is missing."""

    kind = workload_kind(kind)
    directory = workload_records_dir()
    now = time.time()
    rows = [row for row in _rows(kind, _records(directory), now)
            if (all_namespaces or row[0] == namespace) and (not names or row[1] in names)]
    rows.sort(key=lambda row: (row[0], row[1]))
    status = 0
    for name in names:
        if not any(row[1] == name for row in rows):
            print(f'Error from server (NotFound): {_plural(kind)} "{name}" not found',
                  file=sys.stderr)
            status = 1
    if not rows:
        if not names:
            where = "" if all_namespaces else f" in {namespace} namespace"
            print(f"No resources found{where}.", file=sys.stderr)
        return status
    header = (["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"] if kind == "Deployment"
              else ["NAME", "DESIRED", "CURRENT", "READY", "AGE"])
    table = [header, *(list(row[1:]) for row in rows)]
    if all_namespaces:
        table = [["NAMESPACE", *header], *([row[0], *row[1:]] for row in rows)]
    for line in _columns(table):
        print(line)
    return status


def _records(directory: Path) -> list[WorkloadRecord]:
    # start-up: the record classes take milliseconds to import
    from minipod.api.record import RecordError, WorkloadRecord

    records = []
    try:
        paths = sorted(directory.glob("*.json"))
    except OSError:
        return []
    for path in paths:
        try:
            records.append(WorkloadRecord.from_json(json.loads(path.read_text()), str(path)))
        except RecordError as e:
            print(f"warning: {e}", file=sys.stderr)
        except (OSError, ValueError):
            continue  # removed or replaced while we listed: its supervisor is at work
    return records


def _rows(kind: str, records: list[WorkloadRecord], now: float) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for record in records:
        namespace, name, status = record.namespace, record.name, record.status
        age = _age(record.created, now)
        if kind == "Deployment" and record.kind == "Deployment":
            rows.append((namespace, name, f"{status.get('readyReplicas', 0)}/"
                         f"{record.replicas}", str(status.get("updatedReplicas", 0)),
                         str(status.get("availableReplicas", 0)), age))
        elif kind == "ReplicaSet" and record.kind == "ReplicaSet":
            rows.append((namespace, name, str(record.replicas),
                         str(status.get("replicas", 0)), str(status.get("readyReplicas", 0)), age))
        elif kind == "ReplicaSet" and record.kind == "Deployment":
            for rs in record.replica_sets or []:
                rows.append((namespace, str(rs.get("name", "")), str(rs.get("desired", 0)),
                             str(rs.get("replicas", 0)), str(rs.get("readyReplicas", 0)),
                             _age(rs.get("created"), now)))
    return rows


def _age(created: object, now: float) -> str:
    if not isinstance(created, int | float) or isinstance(created, bool):
        return "<unknown>"
    return human_age(now - created)


def _columns(table: list[list[str]]) -> list[str]:
    """kubectl's tabwriter: every column but the last padded to its widest cell + 3."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["".join(cell.ljust(widths[i] + 3) for i, cell in enumerate(row[:-1])) + row[-1]
            for row in table]

