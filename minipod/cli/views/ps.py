"""`minipod ps` (crictl ps): container runs, newest first, with -a for the
exited ones."""

from __future__ import annotations

import argparse
from typing import Any

from minipod.api.frozen import frozen
from minipod.cli.views import host
from minipod.cli.views.output import write
from minipod.cli.views.records import (
    PodEntry,
    containers_in_order,
    list_pods,
    parse_time,
    strip_kind,
)
from minipod.cli.views.tabwriter import TabWriter, tab_line


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


@frozen
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
    uid = entry.record.uid
    for name, info in containers_in_order(entry.record):
        attempt = info.attempt
        if attempt < 0:
            continue  # never created
        status = statuses.get(name, {})
        state = status.get("state") or {}
        last = (status.get("lastState") or {}).get("terminated")
        running = info.running

        def row(run: int, created: float | None, pid: Any = None,
                name: str = name, image: str = info.image) -> ContainerRunRow:
            return ContainerRunRow(f"{uid[:8]}-{name}-{run}", image, created,
                                   "Running" if pid else "Exited", name, run, uid[:13],
                                   entry.name, entry.namespace, str(pid) if pid else "-")

        if running:
            process = info.process
            rows.append(row(attempt, (process.start_time if process else None) or parse_time(
                (state.get("running") or {}).get("startedAt")),
                (process.pid if process else None) or "?"))
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
        entries = [e for e in entries if e.name == strip_kind(args.pod)]
    rows = [row for e in entries for row in container_runs(e)
            if args.all or row.state == "Running"]
    rows.sort(key=lambda r: r.created or 0.0, reverse=True)  # crictl: newest first
    now = host.now()
    text = tab_line(["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD",
                  "NAMESPACE", "PID"])
    for r in rows:
        created = f"{crictl_age(now - r.created)} ago" if r.created is not None else "<unknown>"
        text += tab_line([r.id, r.image, created, r.state, r.name, str(r.attempt), r.pod_id, r.pod,
                       r.namespace, r.pid])
    write(TabWriter(20, 3).format(text))  # crictl's newDefaultTableDisplay
    return 0

