"""Reading the state directory: each pod's record (pods/<ns>_<name>/pod.json)
as a PodEntry, and what every verb derives from it the same way (containers
in spec order, whether its supervisor still runs, its STATUS).

pod.json is read through its typed record (minipod/api/record.py); the
Pod object in it (``api_object``) is the API's own free-form shape, as a
cluster returns it. Nothing is written, and nothing is created: `get` on a
host that never ran a pod finds no state directory and says so.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minipod.api.errors import MinipodError
from minipod.api.record import ContainerRecord, PodRecord, RecordError
from minipod.api.status import parse_rfc3339
from minipod.cli.views.output import ViewError
from minipod.kernel.state import pod_key, root_dir

POD_KINDS = ("pods", "pod", "po")


@dataclass
class PodEntry:
    namespace: str
    name: str
    directory: Path
    record: PodRecord

    @property
    def object(self) -> dict[str, Any]:
        return self.record.api_object

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.object.get("metadata", {}).get("labels") or {}
        return labels

    @property
    def created(self) -> float | None:
        return self.record.created


def containers_in_order(record: PodRecord) -> list[tuple[str, ContainerRecord]]:
    """The record's containers in spec order, init containers first (pod.json
    keeps them in a map with sorted keys)."""
    containers = record.containers
    spec = record.api_object.get("spec") or {}
    order = [c.get("name") for c in [*(spec.get("initContainers") or []),
                                     *(spec.get("containers") or [])]]
    rank = {name: i for i, name in enumerate(order)}
    names = sorted(containers, key=lambda n: (not containers[n].init, rank.get(n, len(rank))))
    return [(name, containers[name]) for name in names]


def pods_root() -> Path:
    return root_dir() / "pods"


def read_record(directory: Path) -> PodRecord | None:
    """The pod's record; None while it is being created or removed.
    RecordError (a MinipodError) for a record this minipod cannot read."""
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
    return PodRecord.from_json(data, str(directory / "pod.json"))


def load_pod(namespace: str, name: str) -> PodEntry | None:
    directory = pods_root() / pod_key(namespace, name)
    record = read_record(directory)
    if record is None:
        return None
    return PodEntry(namespace, name, directory, record)


def list_pods(namespace: str | None = None) -> list[PodEntry]:
    """Every pod with a record, in the API server's order (namespace, name)."""
    root = pods_root()
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    except PermissionError as e:
        raise MinipodError(f"cannot read {root}: permission denied "
                           f"(pod state is root's alone)") from e
    found = []
    for entry in names:
        ns, sep, _name = entry.partition("_")
        if not sep or (namespace is not None and ns != namespace):
            continue
        try:
            record = read_record(root / entry)
        except RecordError as e:  # one pod we cannot show must not hide the others
            print(f"warning: {e}", file=sys.stderr)
            continue
        if record is not None:
            found.append(PodEntry(record.namespace, record.name, root / entry, record))
    return sorted(found, key=lambda p: (p.namespace, p.name))


def supervised(record: PodRecord) -> bool:
    """Whether the supervisor that wrote the record still runs (same pid and start time)."""
    if not record.supervisor.pid or record.supervisor.start_time is None:
        return True  # nothing to check against: trust the record
    # start-up: imported with the verb that needs it
    from minipod.kernel.proc import same_process

    return same_process(record.supervisor)


def pod_status(entry: PodEntry) -> str:
    status = entry.record.status or entry.record.phase or "Unknown"
    if entry.record.phase not in ("Succeeded", "Failed") and not supervised(entry.record):
        return "Unknown"  # kubectl's word for a pod whose node stopped reporting
    return status


def parse_time(text: Any) -> float | None:
    """An RFC 3339 time of the API (seconds, Z) as a Unix time."""
    return parse_rfc3339(text)


def strip_kind(name: str, kinds: Sequence[str] = POD_KINDS) -> str:
    """`pod/NAME` (or pods/, po/) is NAME, as kubectl takes it."""
    kind, sep, rest = name.partition("/")
    if sep and kind in kinds:
        return rest
    return name


def not_found(name: str) -> ViewError:
    return ViewError(f'Error from server (NotFound): pods "{name}" not found')


def require_pod(namespace: str, name: str) -> PodEntry:
    entry = load_pod(namespace, strip_kind(name))
    if entry is None:
        raise not_found(strip_kind(name))
    return entry

