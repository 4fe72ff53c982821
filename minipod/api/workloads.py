"""Deployments and ReplicaSets: the pure half of their controllers.

The supervisor owns the pods; this module only decides. ``reconcile`` looks at
a workload and the pods it made (``PodView``) and answers with ``Actions``:
pods to create (a generated name and the template hash) and pods to delete.
The supervisor carries them out, then calls ``reconcile`` again whenever a pod
of the workload changes (created, ready or not, gone), the workload is scaled
or re-applied, or ``Actions.requeue_at`` comes. Nothing here reads a clock or
a random source of its own: ``now`` and ``rng`` are passed in, so the rollout
is unit-tested step by step.

Names and labels follow Kubernetes. A Deployment's ReplicaSet is
``<deployment>-<template hash>`` and labels its pods ``pod-template-hash``; a
pod is ``<replicaset>-<5 characters>``, its base cut to 58 characters as the
API server's generateName does, so a pod name (and the hostname made from it)
is never longer than 63. Pods are owned by the ReplicaSet (``Pod.owner``).

Where this simplifies Kubernetes' controllers (pkg/controller/deployment and
pkg/controller/replicaset):

- No ReplicaSet objects. A Deployment's pods are grouped by template hash, and
  each group's size is what its ReplicaSet's ``spec.replicas`` would be. So an
  old-template pod that dies during a rollout is not recreated from the old
  template: the rollout just goes on with new pods (within maxSurge).
- Scaling during a rollout is not proportional (``dc.scale`` spreads a new
  replica count over the old and new ReplicaSets): new pods are made up to
  ``replicas + maxSurge`` and old ones removed within ``maxUnavailable``, as for
  any other step of the rollout.
- No adoption or orphaning: a workload's pods are the ones it made, not every
  pod its selector matches. Finished pods (Succeeded, Failed) are neither
  counted nor deleted here; the supervisor removes them as it does any pod.
- Which pod goes first on scale-down follows the ReplicaSet controller's
  ActivePods ordering (Pending before Unknown before Running, not ready before
  ready, ready for less time first, more restarts first, newer first) without
  the LogarithmicScaleDown buckets of creation times: the newest pod goes first.
- ``minReadySeconds`` makes a ready pod available only after that long (the
  caller gives ``PodView.ready_since``); there is no Progressing condition, so
  ``progressDeadlineSeconds`` is checked and has no effect, and neither has
  ``revisionHistoryLimit`` (no old ReplicaSets are kept). ``paused: true`` is
  refused by the parser.
- The template hash is FNV-1a over canonical JSON of the template as written,
  not over Go's printout of the defaulted object (see ``template_hash``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from minipod.api.errors import FieldError, SpecError
from minipod.api.frozen import frozen
from minipod.api.model import OwnerReference, Pod, PodTemplate, Workload
from minipod.api.record import SupervisorRef, WorkloadRecord

__all__ = [
    "ALPHANUMS",
    "POD_TEMPLATE_HASH_LABEL",
    "Actions",
    "PodView",
    "build_pod",
    "check_update",
    "deletion_order",
    "is_active",
    "is_available",
    "pod_name",
    "reconcile",
    "record",
    "replica_set_name",
    "resolve_fenceposts",
    "safe_encode_string",
    "scaled",
    "status",
    "template_hash",
    "workload_key",
]

# k8s.io/apimachinery/pkg/util/rand: no vowels, so no words (good or bad)
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"  # apps/v1 DefaultDeploymentUniqueLabelKey
_RANDOM_LENGTH = 5
_MAX_NAME_LENGTH = 63
MAX_GENERATED_BASE = _MAX_NAME_LENGTH - _RANDOM_LENGTH  # names.MaxGeneratedNameLength: 58
_DNS_SUBDOMAIN_MAX = 253
_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193
# The ReplicaSet controller's burstReplicas (pkg/controller/replicaset:
# BurstReplicas): at most this many pods are created or deleted in one sync,
# the rest in the next. Without it a Deployment of replicas: 2147483647 (a
# valid int32) had the supervisor draw two billion names before anything
# else, serving no request meanwhile.
BURST_REPLICAS = 500
_FINISHED = ("Succeeded", "Failed")
_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}  # controller.ActivePods


# ---------------------------------------------------------------------------
# Hashes and names
# ---------------------------------------------------------------------------


def fnv1a_32(data: bytes) -> int:
    """FNV-1a, 32 bits (Go's hash/fnv New32a)."""
    value = _FNV32_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return value


def safe_encode_string(text: str) -> str:
    """rand.SafeEncodeString: each character mapped into ALPHANUMS by its code."""
    return "".join(ALPHANUMS[ord(c) % len(ALPHANUMS)] for c in text)


def template_hash(template: PodTemplate | Mapping[str, Any],
                  collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of a pod template, as controller.ComputeHash makes it:
    FNV-1a 32 over the template, the decimal number safe-encoded
    (``rand.SafeEncodeString(fmt.Sprint(hash))``), 1 to 10 characters.

    What is hashed differs, so the value never equals a cluster's for the same
    manifest: Kubernetes hashes Go's spew printout of the *defaulted*
    PodTemplateSpec struct, which cannot be reproduced outside Go. minipod
    hashes the template as written (``PodTemplate.manifest``) as canonical JSON
    (sorted keys, no spaces). It is stable (key order and formatting do not
    count) and changes with any field, but a field spelled out with its default
    value (``imagePullPolicy: IfNotPresent``) changes it too, where a cluster's
    would not. ``collision_count`` is appended as ComputeHash does (four bytes
    little-endian, then four zero bytes).
    """
    manifest = template.manifest if isinstance(template, PodTemplate) else template
    if isinstance(template, PodTemplate) and not manifest:  # built in code, not parsed
        text = repr(template)
    else:
        text = json.dumps(_canonical(manifest), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)
    data = text.encode()
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + bytes(4)
    return safe_encode_string(str(fnv1a_32(data)))


def _canonical(value: Any) -> Any:
    """JSON-able: YAML may give timestamps, or non-string keys in free-form maps."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def replica_set_name(workload: Workload, pod_template_hash: str | None = None) -> str:
    """The ReplicaSet that owns the pods: ``<deployment>-<hash>``, or the ReplicaSet itself."""
    if workload.kind == "ReplicaSet":
        return workload.name
    return f"{workload.name}-{pod_template_hash or template_hash(workload.template)}"


def pod_name(base: str, rng: random.Random) -> str:
    """A pod name for the ReplicaSet ``base``: ``<base>-`` (getPodsPrefix), cut to
    58 characters, then 5 random ALPHANUMS (names.SimpleNameGenerator)."""
    prefix = f"{base}-"
    if len(prefix) > _DNS_SUBDOMAIN_MAX:  # ValidatePodName(prefix, true) fails
        prefix = base
    prefix = prefix[:MAX_GENERATED_BASE]
    return prefix + "".join(rng.choice(ALPHANUMS) for _ in range(_RANDOM_LENGTH))


def _new_names(base: str, count: int, rng: random.Random, taken: set[str]) -> list[str]:
    # The API server answers AlreadyExists and the controller retries; here the
    # names in use are known, so draw again (27**5 names: a clash is rare).
    names: list[str] = []
    while len(names) < count:
        name = pod_name(base, rng)
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def build_pod(workload: Workload, name: str, pod_template_hash: str | None = None) -> Pod:
    """The Pod the supervisor starts for one replica (controller.GetPodFromTemplate).

    Labels are the template's, plus ``pod-template-hash`` for a Deployment's
    pods (its ReplicaSet template carries it; a bare ReplicaSet's pods do not
    get one). Annotations are the template's; the owner is the ReplicaSet.
    """
    current = pod_template_hash or template_hash(workload.template)
    labels = dict(workload.template.labels)
    if workload.kind == "Deployment":
        labels[POD_TEMPLATE_HASH_LABEL] = current
    spec_manifest = workload.template.manifest.get("spec")
    return Pod(
        name=name,
        spec=workload.template.spec,
        namespace=workload.namespace,
        labels=labels,
        annotations=dict(workload.template.annotations),
        source=workload.source,
        manifest_spec=dict(spec_manifest) if isinstance(spec_manifest, dict) else {},
        owner=OwnerReference("ReplicaSet", replica_set_name(workload, current)),
    )


# ---------------------------------------------------------------------------
# Pods as the controllers see them
# ---------------------------------------------------------------------------


@frozen
class PodView:
    """One pod of a workload, as the supervisor last saw it. Times are wall clock."""

    name: str
    template_hash: str
    phase: str  # Pending, Running, Succeeded, Failed or Unknown
    ready: bool
    terminating: bool  # being deleted, not gone yet
    created: float
    restarts: int = 0  # the most restarts of any of its containers
    ready_since: float | None = None  # when it last became Ready (None: not known)


@dataclass
class Actions:
    """What to do now. ``create`` pairs a new pod name with its template hash."""

    create: list[tuple[str, str]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    # call reconcile again at this time even if no pod changes (minReadySeconds)
    requeue_at: float | None = None


def is_active(pod: PodView) -> bool:
    """controller.FilterActivePods: not being deleted, not finished."""
    return not pod.terminating and pod.phase not in _FINISHED


def is_available(pod: PodView, min_ready_seconds: int, now: float) -> bool:
    """podutil.IsPodAvailable: ready for at least minReadySeconds."""
    if not pod.ready:
        return False
    since = pod.ready_since if pod.ready_since is not None else pod.created
    return min_ready_seconds == 0 or now - since >= min_ready_seconds


def deletion_order(pods: Sequence[PodView]) -> list[PodView]:
    """``pods`` sorted so that the first should be deleted first (controller.ActivePods)."""
    return sorted(pods, key=_deletion_key)


def _deletion_key(pod: PodView) -> tuple[Any, ...]:
    # Ready for less time goes first; an unknown ready time before any known one.
    if pod.ready and pod.ready_since is not None:
        ready_time: tuple[int, float] = (1, -pod.ready_since)
    else:
        ready_time = (0, 0.0)
    return (_PHASE_ORDER.get(pod.phase, 0), pod.ready, ready_time, -pod.restarts,
            -pod.created, pod.name)


# ---------------------------------------------------------------------------
# The controllers
# ---------------------------------------------------------------------------


def resolve_fenceposts(max_surge: int | str, max_unavailable: int | str,
                       replicas: int) -> tuple[int, int]:
    """deploymentutil.ResolveFenceposts: surge rounds up, unavailable down; never both 0."""
    surge = _scaled_value(max_surge, replicas, round_up=True)
    unavailable = _scaled_value(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # or the rollout could never move
    return surge, unavailable


def _scaled_value(value: int | str, total: int, *, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent (the parser checked the format)."""
    if isinstance(value, int):
        return value
    scaled = int(value.rstrip("%")) * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def reconcile(workload: Workload, pods: Sequence[PodView], now: float,
              rng: random.Random | None = None, taken: Collection[str] = ()) -> Actions:
    """One sync of the workload's controller over its pods.

    ``pods`` are every pod the workload made that still exists (terminating
    ones included); ``taken`` are other pod names in the namespace that a new
    name must not reuse. ``rng`` draws the names (default: the OS's).
    """
    current = template_hash(workload.template)
    active = [p for p in pods if is_active(p)]
    if workload.kind == "ReplicaSet":
        # A ReplicaSet does not replace its pods when its template changes.
        count, doomed = _scale(active, workload.replicas)
    elif workload.strategy == "Recreate":
        count, doomed = _recreate(workload, pods, active, current)
    else:
        count, doomed = _rolling_update(workload, active, current, now)
    requeue_at = _next_available(active, workload.min_ready_seconds, now)
    if count > BURST_REPLICAS or len(doomed) > BURST_REPLICAS:
        count, doomed = min(count, BURST_REPLICAS), list(doomed)[:BURST_REPLICAS]
        requeue_at = now  # the rest in the next sync
    names = _new_names(replica_set_name(workload, current), count, rng or _SYSTEM_RANDOM,
                       {p.name for p in pods} | set(taken))
    return Actions(
        create=[(name, current) for name in names],
        delete=[p.name for p in doomed],
        requeue_at=requeue_at,
    )


_SYSTEM_RANDOM = random.SystemRandom()


def _scale(active: Sequence[PodView], replicas: int) -> tuple[int, list[PodView]]:
    """ReplicaSetController.manageReplicas: make the missing, delete the extras."""
    diff = len(active) - replicas
    if diff < 0:
        return -diff, []
    return 0, deletion_order(active)[:diff]


def _recreate(workload: Workload, pods: Sequence[PodView], active: Sequence[PodView],
              current: str) -> tuple[int, list[PodView]]:
    """rolloutRecreate: delete every old pod, wait until none runs, then scale up."""
    old = [p for p in active if p.template_hash != current]
    if old:
        return 0, deletion_order(old)
    # oldPodsRunning: a terminating old pod still counts until it is gone
    if any(p.template_hash != current and p.phase not in _FINISHED for p in pods):
        return 0, []
    return _scale([p for p in active if p.template_hash == current], workload.replicas)


def _rolling_update(workload: Workload, active: Sequence[PodView], current: str,
                    now: float) -> tuple[int, list[PodView]]:
    """rolloutRolling: scale the new pods up within maxSurge or, if that did
    nothing, the old ones down within maxUnavailable (one of the two per sync)."""
    replicas = workload.replicas
    rolling = workload.rolling_update
    surge, unavailable = resolve_fenceposts(
        rolling.max_surge if rolling else "25%",
        rolling.max_unavailable if rolling else "25%",
        replicas,
    )
    new = [p for p in active if p.template_hash == current]
    old = [p for p in active if p.template_hash != current]

    # reconcileNewReplicaSet / NewRSNewReplicas
    if len(new) > replicas:
        return 0, deletion_order(new)[: len(new) - replicas]
    if len(new) < replicas:
        max_total = replicas + surge
        if len(active) < max_total:
            return min(max_total - len(active), replicas - len(new)), []

    # reconcileOldReplicaSets
    if not old:
        return 0, []
    min_ready = workload.min_ready_seconds
    max_unavailable = min(unavailable, replicas)  # deploymentutil.MaxUnavailable
    min_available = replicas - max_unavailable
    new_unavailable = sum(not is_available(p, min_ready, now) for p in new)
    max_scaled_down = len(active) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return 0, []
    groups = _oldest_first(old)
    doomed: list[PodView] = []
    # cleanupUnhealthyReplicas: unavailable old pods first, they block nothing
    budget = max_scaled_down
    for group in groups:
        unhealthy = sum(not is_available(p, min_ready, now) for p in group)
        count = min(budget, unhealthy)
        doomed += deletion_order(group)[:count]
        budget -= count
    # scaleDownOldReplicaSetsForRollingUpdate: keep minAvailable available
    budget = sum(is_available(p, min_ready, now) for p in active) - min_available
    for group in groups:
        remaining = [p for p in group if p not in doomed]
        count = max(0, min(budget, len(remaining)))
        doomed += deletion_order(remaining)[:count]
        budget -= count
    return 0, doomed


def _oldest_first(pods: Sequence[PodView]) -> list[list[PodView]]:
    """Pods grouped by template hash, the group with the oldest pod first
    (as old ReplicaSets are scaled down oldest first)."""
    groups: dict[str, list[PodView]] = {}
    for pod in pods:
        groups.setdefault(pod.template_hash, []).append(pod)
    return sorted(groups.values(), key=lambda g: (min(p.created for p in g), g[0].template_hash))


def _next_available(active: Sequence[PodView], min_ready_seconds: int,
                    now: float) -> float | None:
    if min_ready_seconds == 0:
        return None
    times = [(p.ready_since if p.ready_since is not None else p.created) + min_ready_seconds
             for p in active if p.ready and not is_available(p, min_ready_seconds, now)]
    return min(times, default=None)


# ---------------------------------------------------------------------------
# Scale, re-apply, status
# ---------------------------------------------------------------------------


def scaled(workload: Workload, replicas: int) -> Workload:
    """The workload with another replica count (``minipod scale``)."""
    if replicas < 0:
        raise SpecError(FieldError(
            "spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0"))
    return dataclasses.replace(workload, replicas=replicas)


def check_update(old: Workload, new: Workload) -> list[FieldError]:
    """What the API server refuses when ``new`` replaces ``old`` (a re-applied file):
    an apps/v1 selector is immutable. Anything else may change; a changed
    template is rolled out by reconcile."""
    if old.selector == new.selector:
        return []
    shown = json.dumps(new.selector.to_api(), sort_keys=True, separators=(",", ":"))
    return [FieldError("spec.selector", f"Invalid value: {shown}: field is immutable")]


def status(workload: Workload, pods: Sequence[PodView], now: float) -> dict[str, int]:
    """The workload's status counts (DeploymentStatus / ReplicaSetStatus)."""
    current = template_hash(workload.template)
    active = [p for p in pods if is_active(p)]
    available = sum(is_available(p, workload.min_ready_seconds, now) for p in active)
    counts = {
        "replicas": len(active),
        "readyReplicas": sum(p.ready for p in active),
        "availableReplicas": available,
    }
    if workload.kind == "Deployment":
        counts["updatedReplicas"] = sum(p.template_hash == current for p in active)
        counts["unavailableReplicas"] = max(0, workload.replicas - available)
    return counts


def record(workload: Workload, pods: Sequence[PodView], now: float, *, created: float,
           supervisor: SupervisorRef, backoff: tuple[float, float] | None = None,
           revisions: list[dict[str, Any]] | None = None, paused: bool = False,
           pending: dict[str, Any] | None = None) -> WorkloadRecord:
    """The record the supervisor writes for a workload (what ``minipod get``,
    ``scale`` and adoption read). ``created`` is when the workload was first
    applied."""
    current = template_hash(workload.template)
    manifest = {"apiVersion": "apps/v1", "kind": workload.kind,
                "metadata": {"name": workload.name, "namespace": workload.namespace,
                             "labels": dict(workload.labels),
                             "annotations": dict(workload.annotations)},
                "spec": workload.manifest_spec}
    sets = (_replica_sets(workload, pods, now, current, created)
            if workload.kind == "Deployment" else None)
    return WorkloadRecord(
        kind=workload.kind, name=workload.name, namespace=workload.namespace,
        labels=dict(workload.labels), replicas=workload.replicas,
        selector=workload.selector.to_api(), template_hash=current,
        status={**status(workload, pods, now), "created": created,
                "revision": revisions[-1]["revision"] if revisions else 1},
        supervisor=supervisor, manifest=manifest, replica_sets=sets, backoff=backoff,
        revisions=list(revisions or []), paused=paused, pending=pending)


def _replica_sets(workload: Workload, pods: Sequence[PodView], now: float, current: str,
                  created: float) -> list[dict[str, Any]]:
    """The ReplicaSets a cluster would list for the Deployment: one per template
    hash with pods, and the current one. An old one's DESIRED is its pod count."""
    active = [p for p in pods if is_active(p)]
    rolling_out = any(p.template_hash != current for p in active)
    hashes = sorted({p.template_hash for p in pods} | {current})
    sets = []
    for hash_ in hashes:
        group = [p for p in active if p.template_hash == hash_]
        if hash_ == current:
            desired = len(group) if rolling_out else workload.replicas
        else:
            desired = len(group)
        sets.append({
            "name": f"{workload.name}-{hash_}",
            "templateHash": hash_,
            "desired": desired,
            "replicas": len(group),
            "readyReplicas": sum(p.ready for p in group),
            "availableReplicas": sum(is_available(p, workload.min_ready_seconds, now)
                                     for p in group),
            "created": min((p.created for p in pods if p.template_hash == hash_),
                           default=created if hash_ == current else now),
        })
    return sets


def workload_key(workload: Workload) -> str:
    """namespace/kind/name, the key of a workload's controller."""
    return f"{workload.namespace}/{workload.kind.lower()}/{workload.name}"
