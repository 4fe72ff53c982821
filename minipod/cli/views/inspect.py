"""`minipod inspect POD`: a pod's processes, namespaces and paths, as JSON
(crictl inspectp's place)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from minipod.cli.views.output import write
from minipod.cli.views.records import PodEntry, containers_in_order, pod_status, require_pod


def inspect_pod(entry: PodEntry) -> dict[str, Any]:
    record = entry.record
    containers = []
    for name, info in containers_in_order(record):
        running = info.running and info.process is not None
        containers.append({
            "name": name, "id": info.id, "image": info.image,
            "init": info.init, "sidecar": info.sidecar,
            "state": info.state, "reason": info.reason,
            "attempt": info.attempt, "restartCount": info.restart_count,
            "pid": info.process.pid if running and info.process else None,
            "namespaces": info.namespaces if running else {},
            "rootfs": info.rootfs, "log": info.log,
        } | ({"exitCode": info.exit_code} if info.exit_code is not None else {}))
    return {
        "name": entry.name, "namespace": entry.namespace, "uid": record.uid,
        "phase": record.phase, "status": pod_status(entry),
        "directory": str(entry.directory),
        "pause": {"pid": record.pause.pid, "namespaces": record.pause.namespaces},
        "supervisor": record.supervisor.to_json(),
        "containers": containers,
    }


def cmd_inspect(args: argparse.Namespace) -> int:
    entry = require_pod(args.namespace, args.pod)
    write(json.dumps(inspect_pod(entry), indent=2) + "\n")
    return 0

