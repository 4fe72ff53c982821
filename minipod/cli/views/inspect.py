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
        "phase": record.get("phase"), "status": pod_status(entry),
        "directory": str(entry.directory),
        "pause": {"pid": pause.get("pid"), "namespaces": pause.get("namespaces", {})},
        "supervisor": record.get("supervisor") or {},
        "containers": containers,
    }


def cmd_inspect(args: argparse.Namespace) -> int:
    entry = require_pod(args.namespace, args.pod)
    write(json.dumps(inspect_pod(entry), indent=2) + "\n")
    return 0

