"""Deployments and ReplicaSets inside the supervisor: the auto-healing of
whole pods.

workloads.reconcile() decides (pure); a WorkloadController carries the
decision out on the supervisor's pods and runs it again whenever one of its
pods changes or goes, the workload is scaled or re-applied, or a requeue time
comes. Its record ($MINIPOD_ROOT/workloads/<ns>_<kind>_<name>.json) holds the
workload as written, so a new supervisor can adopt it, and the status that
`minipod get deployments` prints.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from minipod.api import workloads
from minipod.api.backoff import BackoffPolicy
from minipod.api.errors import MinipodError, SpecError
from minipod.api.events import Event
from minipod.api.manifest import parse_objects
from minipod.api.model import Pod, Workload
from minipod.api.record import SupervisorRef, WorkloadRecord
from minipod.api.text import printable
from minipod.api.workloads import workload_key
from minipod.kernel.image import Image
from minipod.kernel.state import (
    ensure_dir,
    workload_record_path,
    workload_records_dir,
    write_json_atomic,
)
from minipod.loop.eventloop import Deadline, Loop
from minipod.runtime.images import resolve_images
from minipod.runtime.pod import PodRunner

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = 10.0  # seconds before a pod that could not start is tried again


class WorkloadHost(Protocol):
    """What a controller needs of the supervisor that runs its pods
    (Supervisor is one); defined here so that this module does not import it."""

    loop: Loop
    pods: dict[str, PodRunner]
    stopping: bool

    def start_pods(self, pods: list[Pod], images: dict[str, dict[str, Image | None]],
                   backoff: BackoffPolicy | None = None) -> list[PodRunner]: ...
    def delete_pod(self, key: str, grace: int | None, on_done: Callable[[], None]) -> bool: ...
    def emit(self, event: Event) -> None: ...
    def identity(self) -> SupervisorRef: ...


class WorkloadController:
    def __init__(self, sup: WorkloadHost, workload: Workload, created: float | None = None,
                 backoff: BackoffPolicy | None = None) -> None:
        self.sup = sup
        self.workload = workload
        self.created = created if created is not None else time.time()
        self.backoff = backoff
        self._pending: Deadline | None = None
        self._requeue: Deadline | None = None
        self.deleted = False
        # `rollout history`, `undo`, `pause`, `resume` (a Deployment's)
        self.revisions: list[dict[str, Any]] = [_revision(1, workload)]
        self.paused = False
        self.held: Workload | None = None  # applied while paused, rolled out on resume

    @property
    def key(self) -> str:
        return workload_key(self.workload)

    # -- which pods are ours ------------------------------------------------------
    def owns(self, runner: PodRunner) -> bool:
        owner, w = runner.pod.owner, self.workload
        if owner is None or runner.pod.namespace != w.namespace:
            return False
        if w.kind == "ReplicaSet":
            return owner.name == w.name
        pod_hash = runner.pod.labels.get(workloads.POD_TEMPLATE_HASH_LABEL)
        return pod_hash is not None and owner.name == f"{w.name}-{pod_hash}"

    def pods(self) -> list[PodRunner]:
        return [r for r in self.sup.pods.values() if self.owns(r)]

    def _view(self, runner: PodRunner) -> workloads.PodView:
        current = workloads.template_hash(self.workload.template)
        return workloads.PodView(
            name=runner.pod.name,
            template_hash=runner.pod.labels.get(workloads.POD_TEMPLATE_HASH_LABEL, current),
            phase=runner.phase(),
            ready=bool(runner.apps) and all(r.ready for r in runner.apps),
            terminating=runner.terminating,
            created=runner.sandbox.created if runner.sandbox else runner.started_at,
            restarts=max((r.restart_count for r in runner.runs), default=0),
        )

    # -- reconciling ---------------------------------------------------------------
    def poke(self) -> None:
        """Reconcile soon, once, from the loop (many pod changes come in bursts)."""
        if self._pending is None and not self.deleted:
            self._pending = self.sup.loop.call_later(0, self._reconcile_now)

    def _reconcile_now(self) -> None:
        self._pending = None
        if self.deleted or self.sup.stopping:
            return
        views = [self._view(r) for r in self.pods()]
        now = time.time()
        taken = {r.pod.name for r in self.sup.pods.values()
                 if r.pod.namespace == self.workload.namespace}
        actions = workloads.reconcile(self.workload, views, now, taken=taken)
        for name in actions.delete:
            self.sup.delete_pod(f"{self.workload.namespace}/{name}", None, self.poke)
        for name, pod_hash in actions.create:
            self._create(name, pod_hash)
        self._schedule_requeue(actions.requeue_at, now)
        self.save()

    def _create(self, name: str, pod_hash: str) -> None:
        pod = workloads.build_pod(self.workload, name, pod_hash)
        try:
            images = resolve_images([pod], self.workload.source or self.key)
            self.sup.start_pods([pod], images, self.backoff)
        except MinipodError as e:
            self._event("Warning", "FailedCreate", f"Error creating: pods \"{name}\": {e}")
            self._schedule_requeue(time.time() + RETRY_AFTER_FAILURE, time.time())
            return
        self._event("Normal", "SuccessfulCreate", f"Created pod: {name}")

    def _schedule_requeue(self, when: float | None, now: float) -> None:
        if when is None:
            return
        if self._requeue is not None:
            self._requeue.cancel()
        self._requeue = self.sup.loop.call_later(max(0.0, when - now), self.poke)

    def _event(self, type_: str, reason: str, message: str) -> None:
        w = self.workload
        self.sup.emit(Event(time.time(), type_, reason,
                            f"{w.kind.lower()}/{w.name}", printable(message)))

    # -- changes from outside --------------------------------------------------------
    def update(self, workload: Workload) -> None:
        """A re-applied manifest: a changed template rolls the pods (a new
        revision); while paused, only the replica count changes now."""
        if self.paused:
            self.held = workload
            self.workload = dataclasses.replace(self.workload, replicas=workload.replicas)
        else:
            self._roll_to(workload)
        self.poke()

    def _roll_to(self, workload: Workload) -> None:
        new = workloads.template_hash(workload.template)
        if new != workloads.template_hash(self.workload.template):
            # a template of before (undo) becomes the newest revision, as the
            # Deployment controller renumbers the ReplicaSet it scales up again
            self.revisions = [r for r in self.revisions
                              if workloads.template_hash(r["template"]) != new]
            number = max((r["revision"] for r in self.revisions), default=0) + 1
            self.revisions.append(_revision(number, workload))
            limit = workload.revision_history_limit
            if limit is not None:
                self.revisions = self.revisions[-(limit + 1):]
        self.workload = workload
        # the record says at once that the pods are not the new template's, so
        # a `rollout status` right after this does not see the last rollout's
        # end (kubectl has the Deployment's observedGeneration for that)
        self.save()

    def rollout(self, action: str, to_revision: int = 0) -> str:
        """`rollout restart|undo|pause|resume`: kubectl's word for it, or
        SpecError with kubectl's refusal."""
        name = f'deployments.apps "{self.workload.name}"'
        if action == "pause":
            if self.paused:
                raise SpecError(f"{name} is already paused")
            self.paused = True
            self.save()
            return "paused"
        if action == "resume":
            if not self.paused:
                raise SpecError(f"{name} is not paused")
            self.paused = False
            held, self.held = self.held, None
            if held is not None:
                self._roll_to(held)
            self.poke()
            return "resumed"
        if self.paused:
            raise SpecError(f"{name} can't {action} paused deployment (run rollout resume "
                            "first)")
        if action == "restart":
            template = copy.deepcopy(self.workload.template.manifest)
            meta = template.setdefault("metadata", {})
            annotations = meta.setdefault("annotations", {})
            annotations["kubectl.kubernetes.io/restartedAt"] = time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self._roll_to(self._with_template(template))
            self.poke()
            return "restarted"
        if action == "undo":
            if to_revision:
                found = [r for r in self.revisions if r["revision"] == to_revision]
                if not found:
                    raise SpecError(f"unable to find specified revision {to_revision} in "
                                    "history")
            elif len(self.revisions) < 2:
                raise SpecError(f'no rollout history found for deployment '
                                f'"{self.workload.name}"')
            else:
                found = [self.revisions[-2]]
            self._roll_to(self._with_template(copy.deepcopy(found[0]["template"])))
            self.poke()
            return "rolled back"
        raise SpecError(f"unknown rollout action {action!r}")

    def _with_template(self, template: dict[str, Any]) -> Workload:
        w = self.workload
        doc = {"apiVersion": "apps/v1", "kind": w.kind,
               "metadata": {"name": w.name, "namespace": w.namespace,
                            "labels": dict(w.labels), "annotations": dict(w.annotations)},
               "spec": {**w.manifest_spec, "replicas": w.replicas, "template": template}}
        [workload] = parse_objects(json.dumps(doc), w.source or self.key).workloads
        return dataclasses.replace(workload, source=w.source)

    def scale(self, replicas: int) -> None:
        self._event("Normal", "ScalingReplicaSet",
                    f"Scaled {self.workload.kind.lower()} from {self.workload.replicas} "
                    f"to {replicas}")
        self.workload = workloads.scaled(self.workload, replicas)
        self.poke()

    def delete(self, on_gone: Callable[[], None] | None = None) -> None:
        """Stop controlling, delete every pod, forget the record; ``on_gone``
        once every pod is gone (kubectl delete waits for that, as the
        garbage collector's foreground deletion would)."""
        self.deleted = True
        for timer in (self._pending, self._requeue):
            if timer is not None:
                timer.cancel()
        left = {runner.key for runner in self.pods()}

        def gone(key: str) -> None:
            left.discard(key)
            if not left and on_gone is not None:
                on_gone()

        for key in list(left):
            self.sup.delete_pod(key, None, functools.partial(gone, key))
        with contextlib.suppress(FileNotFoundError):
            self.path().unlink()
        if not left and on_gone is not None:
            on_gone()

    # -- the record ------------------------------------------------------------------
    def path(self) -> Any:
        w = self.workload
        return workload_record_path(w.namespace, w.kind, w.name)

    def save(self) -> None:
        if self.deleted:
            return
        views = [self._view(r) for r in self.pods()]
        backoff = (self.backoff.initial, self.backoff.maximum) if self.backoff else None
        held = None
        if self.held is not None:
            held = {"apiVersion": "apps/v1", "kind": self.held.kind,
                    "metadata": {"name": self.held.name, "namespace": self.held.namespace,
                                 "labels": dict(self.held.labels),
                                 "annotations": dict(self.held.annotations)},
                    "spec": self.held.manifest_spec}
        body = workloads.record(self.workload, views, time.time(), created=self.created,
                                supervisor=self.sup.identity(), backoff=backoff,
                                revisions=self.revisions, paused=self.paused, pending=held)
        ensure_dir(workload_records_dir())
        write_json_atomic(self.path(), body.to_json())


def controller_from_record(sup: WorkloadHost, record: WorkloadRecord) -> WorkloadController:
    """Adopt a workload whose supervisor died, from its record."""
    manifest = parse_objects(json.dumps(record.manifest), "workload record")
    [workload] = manifest.workloads
    backoff = BackoffPolicy(*record.backoff) if record.backoff else None
    controller = WorkloadController(sup, workload, record.created, backoff)
    if record.revisions:
        controller.revisions = list(record.revisions)
    controller.paused = record.paused
    if record.pending is not None:
        [controller.held] = parse_objects(json.dumps(record.pending),
                                          "workload record").workloads
    return controller


def _revision(number: int, workload: Workload) -> dict[str, Any]:
    return {"revision": number, "template": dict(workload.template.manifest),
            "changeCause": workload.annotations.get("kubernetes.io/change-cause", "")}
