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

from minipod.api.errors import StateError
from minipod.api.record import PodRecord
from minipod.kernel.proc import open_if_same, same_process
from minipod.kernel.records import read_pod_record, read_workload_record
from minipod.kernel.sandbox import remove_pod_dir
from minipod.kernel.state import pod_dir, pods_dir, workload_record_path
from minipod.server.client import request


def delete_pod(namespace: str, name: str, grace: int | None) -> str:
    directory = pod_dir(namespace, name)
    if not directory.exists():
        raise StateError(f'pod "{name}" not found in namespace "{namespace}"')
    record = read_pod_record(directory)
    if record is not None and same_process(record.supervisor):
        answer = request(Path(record.supervisor.socket),
                         {"op": "delete", "namespace": namespace, "name": name,
                          "grace": grace}, timeout=_grace_of(grace) + 30)
        if not answer.get("ok"):
            raise StateError(answer.get("error", "the supervisor refused"))
        return "deleted"
    if record is not None:
        if grace is None:  # the pod's own terminationGracePeriodSeconds, as its supervisor would
            grace = record.api_object.get("spec", {}).get("terminationGracePeriodSeconds")
        _stop_orphaned_pod(record, _grace_of(grace))
    remove_pod_dir(directory)
    return "deleted (its supervisor was gone; processes stopped here)"


def _grace_of(grace: int | None) -> int:
    return 30 if grace is None else grace


def _stop_orphaned_pod(record: PodRecord, grace: int) -> None:
    refs = [c.process for c in record.containers.values() if c.process is not None]
    pidfds = [fd for ref in refs if (fd := open_if_same(ref)) is not None]
    _terminate(pidfds, grace)
    pause = open_if_same(record.pause)
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
    record = read_workload_record(path)
    if record is None:
        raise StateError(f'{kind.lower()}s.apps "{name}" not found')
    if same_process(record.supervisor):
        answer = request(Path(record.supervisor.socket),
                         {"op": "delete-workload", "kind": kind, "namespace": namespace,
                          "name": name}, timeout=30)
        if not answer.get("ok"):
            raise StateError(answer.get("error", "the supervisor refused"))
        return
    for pod in _pods_of(namespace, kind, name):
        delete_pod(namespace, pod, None)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _pods_of(namespace: str, kind: str, name: str) -> list[str]:
    found = []
    for directory in pods_dir().glob(f"{namespace}_*"):
        record = read_pod_record(directory)
        if record is None or record.owner is None:
            continue
        labels = record.api_object.get("metadata", {}).get("labels", {})
        replica_set = name if kind == "ReplicaSet" else \
            f"{name}-{labels.get('pod-template-hash')}"
        if record.owner.name == replica_set:
            found.append(directory.name.split("_", 1)[1])
    return found
