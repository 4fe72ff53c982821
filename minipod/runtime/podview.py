"""A running pod as others see it: the Pod object as the API server would
return it (`get -o yaml`, conditions, container statuses), and the typed
record (api/record.py) its supervisor writes to pod.json after each change.

Rendering only: nothing here changes the pod. The pod's effects call
pod_record() when the pod asks them to save it (runtime/effects.py), so
pod.py, the state machine, never imports this module. The process
identities it needs are read once per process (PodRunner.identity).
"""

from __future__ import annotations

import os
from typing import Any

from minipod.api.record import (
    ContainerRecord,
    OwnerRecord,
    PauseRef,
    PodNetworkRecord,
    PodRecord,
    ProbeCounts,
    Resume,
)
from minipod.api.status import rfc3339
from minipod.runtime.pod import ContainerRun, PodRunner


def pod_record(runner: PodRunner) -> PodRecord:
    box = runner.sandbox
    assert box is not None
    row = runner.row()
    owner = runner.pod.owner
    return PodRecord(
        api_object=api_object(runner), name=runner.pod.name, namespace=runner.pod.namespace,
        uid=box.uid, created=box.created,
        supervisor=runner.sup.identity(),
        pause=runner.pause_ref() if box.pause.pidfd >= 0 else PauseRef(),
        sandbox_attempt=box.attempt, initialized=runner.initialized,
        owner=OwnerRecord(owner.kind, owner.name, owner.api_version) if owner else None,
        backoff=(runner.policy.initial, runner.policy.maximum), started_at=runner.started_at,
        phase=runner.phase(), ready=row.ready, status=row.status, restarts=row.restarts,
        last_restart=row.last_restart,
        containers={r.name: container_record(runner, r) for r in runner.runs},
        init_container_statuses=[r.status().to_api() for r in runner.inits],
        container_statuses=[r.status().to_api() for r in runner.apps],
        log_dir=str(box.log_dir),
        network=PodNetworkRecord(runner.net.ip, box.veth, runner.net.host_ports)
        if runner.net is not None else None,
        cgroup=box.cgroups.path if box.cgroups else box.cgroup_path, qos_class=runner.qos_class,
        creating=runner.creating, deletion_time=runner.deletion_time,
    )


def container_record(runner: PodRunner, run: ContainerRun) -> ContainerRecord:
    box = runner.sandbox
    assert box is not None
    attempt = max(run.attempt, 0)
    alive = run.running and run.child is not None
    return ContainerRecord(
        id=container_id(runner, run), image=run.spec.image,
        log=str(box.log_dir / run.name / f"{attempt}.log"),
        rootfs=str(box.dir / "containers" / run.name / str(attempt) / "merged"),
        state=run.state.kind, reason=run.state.reason, attempt=run.attempt,
        restart_count=run.restart_count, init=run.init, sidecar=run.sidecar,
        started=run.started, ready=run.ready,
        started_at=run.state.started_at, finished_at=run.state.finished_at,
        process=runner.identity(run.child.pid) if alive and run.child else None,
        namespaces=runner.fx.namespace_inodes(run.child.pid) if alive and run.child else {},
        exit_code=run.state.exit_code if run.state.kind == "terminated" else None,
        last_exit_code=run.last_state.exit_code if run.last_state is not None else None,
        # what a new supervisor needs to carry on where this one stopped
        resume=Resume(run.state, run.last_state, run.finished_mono, run.started_mono,
                      run.backoff.snapshot(), run.post_start_done),
        probes={kind: ProbeCounts(w.result, w.probes, w.failures, w.skipped)
                for kind, w in run.probes.items()},
    )


def container_id(runner: PodRunner, run: ContainerRun) -> str:
    """One id per container run, as CRI gives (pod uid, name, attempt)."""
    assert runner.sandbox is not None
    return f"{runner.sandbox.uid[:8]}-{run.name}-{max(run.attempt, 0)}"


def api_object(runner: PodRunner) -> dict[str, Any]:
    """The Pod as the API server would return it (`get -o yaml`)."""
    pod, box = runner.pod, runner.sandbox
    assert box is not None
    meta: dict[str, Any] = {
        "name": pod.name, "namespace": pod.namespace, "uid": box.uid,
        "creationTimestamp": rfc3339(box.created),
    }
    if pod.labels:
        meta["labels"] = dict(pod.labels)
    if pod.annotations:
        meta["annotations"] = dict(pod.annotations)
    if pod.owner is not None:
        meta["ownerReferences"] = [pod.owner.to_api()]
    if runner.deletion_time is not None:
        meta["deletionTimestamp"] = rfc3339(runner.deletion_time)
    inits = [_api_status(runner, r) for r in runner.inits]
    status: dict[str, Any] = {
        "phase": runner.phase(), "conditions": conditions(runner), "podIPs": [],
        "startTime": rfc3339(runner.started_at),
        "containerStatuses": [_api_status(runner, r) for r in runner.apps],
        "qosClass": runner.qos_class,
    }
    if runner.net is not None:  # the kubelet reports the sandbox's address
        status["podIP"] = runner.net.ip
        status["podIPs"] = [{"ip": runner.net.ip}]
    if inits:
        status["initContainerStatuses"] = inits
    if runner.failed_reason:
        status["message"] = runner.failed_reason
    spec = {**pod.manifest_spec, "nodeName": os.uname().nodename}
    for key, containers in (("containers", pod.spec.containers),
                            ("initContainers", pod.spec.init_containers)):
        if key in spec:  # resources as the API server keeps them: requests defaulted
            spec[key] = [{**written, "resources": c.resources.to_api()}
                         if not c.resources.empty else written
                         for written, c in zip(spec[key], containers, strict=True)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": status}


def _api_status(runner: PodRunner, run: ContainerRun) -> dict[str, Any]:
    entry = run.status().to_api()
    entry["image"] = run.spec.image
    entry["imageID"] = run.image.image_id if run.image is not None else ""
    if run.attempt >= 0:
        entry["containerID"] = f"minipod://{container_id(runner, run)}"
    return entry


def conditions(runner: PodRunner) -> list[dict[str, Any]]:
    apps_ready = all(r.ready for r in runner.apps) and all(
        r.ready for r in runner.inits if r.sidecar)
    initialized = runner.initialized or all(
        r.state.kind == "terminated" and r.state.exit_code == 0
        for r in runner.inits if not r.sidecar)
    values = {
        "PodReadyToStartContainers": runner.sandbox is not None
        and runner.sandbox.pause.pidfd >= 0,
        "Initialized": initialized, "Ready": apps_ready,
        "ContainersReady": apps_ready, "PodScheduled": True,
    }
    return [{"type": kind, "status": "True" if ok else "False"}
            for kind, ok in values.items()]
