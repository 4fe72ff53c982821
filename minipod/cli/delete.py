"""Deleting a pod from another process: ask its supervisor, or, when the
supervisor is gone, stop the recorded processes and remove the state here.

A recorded process is signalled only if its pid still names the process we
started (same start time) and only through a pidfd, so a reused pid is never hit.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from pathlib import Path
from typing import Any

from minipod.api.errors import StateError
from minipod.kernel.proc import same_process
from minipod.kernel.sandbox import remove_pod_dir
from minipod.kernel.state import pod_dir, read_json, workload_record_path
from minipod.server.client import request


def delete_pod(namespace: str, name: str, grace: int | None) -> str:
    directory = pod_dir(namespace, name)
    record_path = directory / "pod.json"
    if not directory.exists():
        raise StateError(f'pod "{name}" not found in namespace "{namespace}"')
    try:
        record: dict[str, Any] = read_json(record_path)
    except (OSError, ValueError):
        record = {}
    supervisor = record.get("supervisor", {})
    if _is_same_process(supervisor):
        answer = request(Path(supervisor["socket"]), {"op": "delete", "namespace": namespace,
                                                      "name": name, "grace": grace},
                         timeout=_grace_of(grace) + 30)
        if not answer.get("ok"):
            raise StateError(answer.get("error", "the supervisor refused"))
        return "deleted"
    if grace is None:  # the pod's own terminationGracePeriodSeconds, as its supervisor would
        grace = record.get("object", {}).get("spec", {}).get("terminationGracePeriodSeconds")
    _stop_orphaned_pod(record, _grace_of(grace))
    remove_pod_dir(directory)
    return "deleted (its supervisor was gone; processes stopped here)"


def _grace_of(grace: int | None) -> int:
    return 30 if grace is None else grace


def _is_same_process(identity: dict[str, Any]) -> bool:
    return same_process(identity)


def _open_if_same(identity: dict[str, Any]) -> int | None:
    if not _is_same_process(identity):
        return None
    try:
        pidfd = os.pidfd_open(identity["pid"])
    except ProcessLookupError:
        return None
    if not _is_same_process(identity):  # raced with an exit and a reuse
        os.close(pidfd)
        return None
    return pidfd


def _stop_orphaned_pod(record: dict[str, Any], grace: int) -> None:
    containers = [c for c in record.get("containers", {}).values() if c.get("pid")]
    pidfds = [fd for c in containers if (fd := _open_if_same(c)) is not None]
    _terminate(pidfds, grace)
    pause = _open_if_same(record.get("pause", {}))
    if pause is not None:
        _terminate([pause], 2)


def _terminate(pidfds: list[int], grace: int) -> None:
    for fd in pidfds:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(fd, signal.SIGTERM if grace > 0 else signal.SIGKILL)
    deadline = time.monotonic() + grace
    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    alive = set(pidfds)
    while alive and (left := deadline - time.monotonic()) > 0:
        for fd, _ in poller.poll(left * 1000):
            alive.discard(fd)
            poller.unregister(fd)
    for fd in alive:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(fd, signal.SIGKILL)
    for fd in pidfds:
        os.close(fd)


def delete_workload(namespace: str, kind: str, name: str) -> None:
    """Ask the workload's supervisor to delete it and its pods; if that
    supervisor is gone, delete its pods here and forget its record."""
    path = workload_record_path(namespace, kind, name)
    try:
        record: dict[str, Any] = read_json(path)
    except (OSError, ValueError):
        raise StateError(f'{kind.lower()}s.apps "{name}" not found') from None
    supervisor = record.get("supervisor", {})
    if _is_same_process(supervisor):
        answer = request(Path(supervisor["socket"]), {"op": "delete-workload", "kind": kind,
                                                      "namespace": namespace, "name": name},
                         timeout=30)
        if not answer.get("ok"):
            raise StateError(answer.get("error", "the supervisor refused"))
        return
    for pod in _pods_of(namespace, kind, name):
        delete_pod(namespace, pod, None)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _pods_of(namespace: str, kind: str, name: str) -> list[str]:
    # start-up: imported with the verb that needs it
    from minipod.kernel.state import pods_dir

    found = []
    for directory in pods_dir().glob(f"{namespace}_*"):
        try:
            record = read_json(directory / "pod.json")
        except (OSError, ValueError):
            continue
        owner = record.get("owner") or {}
        labels = record.get("object", {}).get("metadata", {}).get("labels", {})
        replica_set = name if kind == "ReplicaSet" else \
            f"{name}-{labels.get('pod-template-hash')}"
        owned = owner.get("name") == replica_set
        if owned:
            found.append(directory.name.split("_", 1)[1])
    return found
