"""The supervisors' records read from the state directory, typed
(api/record.py). Apart from kernel/state.py, which every command imports
for its paths, since the record classes take milliseconds to import."""

from __future__ import annotations

from pathlib import Path

from minipod.api.record import EndpointsRecord, PodRecord, ServiceRecord, WorkloadRecord
from minipod.kernel.state import read_json


def read_pod_record(directory: Path) -> PodRecord | None:
    """pod.json of the pod in ``directory``; None while it is being written or
    removed. RecordError for a record this minipod cannot read."""
    path = directory / "pod.json"
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return PodRecord.from_json(data, str(path))


def read_workload_record(path: Path) -> WorkloadRecord | None:
    """A workload's record; None if there is none. RecordError as above."""
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return WorkloadRecord.from_json(data, str(path))


def read_service_record(path: Path) -> ServiceRecord | None:
    """A Service's record; None if there is none. RecordError as above."""
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return ServiceRecord.from_json(data, str(path))


def read_endpoints_record(path: Path) -> EndpointsRecord | None:
    """A Service's endpoints; None if there are none yet. RecordError as above."""
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return EndpointsRecord.from_json(data, str(path))
