"""minipod.api.record: pod.json and the workload records, typed.

The records in tests/unit/data/*_7e0d174.json were written by minipod at
7e0d174, the last version without a schema version: a supervisor started
after an upgrade adopts the pods they describe, so they must read as they
are. A record of a newer schema is refused in one line naming both versions.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from minipod.api.record import (
    SCHEMA_VERSION,
    PodRecord,
    ProcessRef,
    RecordError,
    WorkloadRecord,
)
from minipod.api.status import State

DATA = Path(__file__).parent / "data"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text().replace("@ROOT@", "/run/mp"))
    return data


def test_a_pod_record_of_7e0d174_is_read() -> None:
    data = load("pod_record_7e0d174.json")
    assert "schemaVersion" not in data
    record = PodRecord.from_json(data)
    assert record.schema_version == 0
    assert (record.key, record.phase, record.backoff) == ("default/sample", "Running",
                                                          (10.0, 300.0))
    assert record.supervisor.socket.endswith("/supervisors/daemon.sock")
    assert record.pause.pid and record.pause.namespaces["net"]
    assert list(record.containers) == ["init", "side", "web"]
    init, side, web = (record.containers[n] for n in ("init", "side", "web"))
    assert (init.state, init.exit_code, init.process) == ("terminated", 0, None)
    assert init.resume is not None and init.resume.state == State(
        "terminated", "Completed", "", 0, 0, init.started_at, init.finished_at)
    assert side.running and side.process is not None and side.process.pid
    assert side.probes["startup"].result == "success"
    assert web.resume is not None and web.resume.backoff[0] is None
    assert web.probes["readiness"].probes >= 1
    assert record.api_object["kind"] == "Pod"


def test_a_pod_record_writes_what_it_read_plus_its_version() -> None:
    data = load("pod_record_7e0d174.json")
    written = PodRecord.from_json(data).to_json()
    assert written == {"schemaVersion": SCHEMA_VERSION, **data}
    again = PodRecord.from_json(json.loads(json.dumps(written)))
    assert again.to_json() == written and again.schema_version == SCHEMA_VERSION


def test_a_newer_record_is_refused_in_one_line() -> None:
    data = {**load("pod_record_7e0d174.json"), "schemaVersion": SCHEMA_VERSION + 1}
    with pytest.raises(RecordError) as info:
        PodRecord.from_json(data, "/run/mp/pods/default_sample/pod.json")
    assert str(info.value) == (
        f"/run/mp/pods/default_sample/pod.json: written by a newer minipod (record schema "
        f"version {SCHEMA_VERSION + 1}; this one reads versions up to {SCHEMA_VERSION})")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("uid"), "pod.json: no 'uid'"),
    (lambda d: d.__setitem__("created", "yesterday"),
     "pod.json.created: str where float was expected"),
    (lambda d: d["containers"]["web"].__setitem__("attempt", True),
     "pod.json.containers.web.attempt: bool where int was expected"),
    (lambda d: d["containers"]["web"]["resume"].__setitem__("backoff", [1]),
     "pod.json.containers.web.resume.backoff: [1] is not [delay, last update]"),
    (lambda d: d.__setitem__("schemaVersion", "1"), "pod.json: schemaVersion '1' is not a version"),
    (lambda d: d.__setitem__("containers", []),
     "pod.json.containers: list where an object was expected"),
])  # fmt: skip
def test_a_broken_record_names_the_field(change: Any, message: str) -> None:
    data = copy.deepcopy(load("pod_record_7e0d174.json"))
    change(data)
    with pytest.raises(RecordError, match=f"^{re.escape(message)}$"):
        PodRecord.from_json(data)


def test_a_workload_record_of_7e0d174_is_read_and_written_back() -> None:
    data = load("workload_record_7e0d174.json")
    record = WorkloadRecord.from_json(data)
    assert (record.kind, record.namespace, record.name, record.replicas) == (
        "Deployment", "default", "web", 1)
    assert record.manifest["spec"]["template"]["spec"]["containers"][0]["name"] == "c"
    assert record.created == data["status"]["created"]
    assert record.replica_sets and record.replica_sets[0]["name"].startswith("web-")
    assert record.to_json() == {"schemaVersion": SCHEMA_VERSION, **data}


def test_process_refs_without_a_process() -> None:
    assert ProcessRef.from_json({"pid": None, "startTime": None}, "p") == ProcessRef()
    assert ProcessRef(None, None).to_json() == {"pid": None, "startTime": None}
