"""Deleting a pod from another process: ask its supervisor, or, when the
supervisor is gone, stop the recorded processes and remove the state here.

A recorded process is signalled only if its pid still names the process we
started (same start time) and only through a pidfd, so a reused pid is never hit.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from minipod.api.errors import StateError
from minipod.kernel.proc import same_process
from minipod.kernel.records import read_pod_record, read_workload_record
from minipod.kernel.state import pod_dir, pods_dir, workload_record_path
from minipod.server.client import request


def delete_pod(namespace: str, name: str, grace: int | None, wait: bool = True) -> str:
    directory = pod_dir(namespace, name)
    if not directory.exists():
        raise StateError(f'pod "{name}" not found in namespace "{namespace}"')
    record = read_pod_record(directory)
    if record is not None and same_process(record.supervisor):
        answer = request(Path(record.supervisor.socket),
                         {"op": "delete", "namespace": namespace, "name": name,
                          "grace": grace, "wait": wait}, timeout=_grace_of(grace) + 30)
        if not answer.get("ok"):
            raise StateError(answer.get("error", "the supervisor refused"))
        return "deleted"
    if record is not None and grace is None:
        # the pod's own terminationGracePeriodSeconds, as its supervisor would
        grace = record.api_object.get("spec", {}).get("terminationGracePeriodSeconds")
    # Every process the host has of the pod, not only those its record names
    # (a supervisor killed half-way leaves a pause or a container it never
    # wrote down): "deleted" is said once each of them is gone, and not before.
    # start-up: the supervisor's code (~110 ms of imports) only for an orphan
    from minipod.runtime.adopt import remove_pod
    remove_pod(directory, record, float(_grace_of(grace)))
    return "deleted (its supervisor was gone; processes stopped here)"


WORKLOAD_DELETE_TIMEOUT = 300.0  # seconds: its pods' grace periods, in parallel


def _grace_of(grace: int | None) -> int:
    """What `delete` waits at most: the grace period, capped as the supervisor caps it."""
    # start-up: imported with the verb that needs it (runtime.pod is the supervisor's)
    from minipod.runtime.pod import capped_grace
    return 30 if grace is None else max(0, capped_grace(grace))


def delete_workload(namespace: str, kind: str, name: str, wait: bool = True) -> None:
    """Ask the workload's supervisor to delete it and its pods, and (``wait``)
    to answer once they are gone; if that supervisor is gone, delete its pods
    here and forget its record."""
    path = workload_record_path(namespace, kind, name)
    record = read_workload_record(path)
    if record is None:
        raise StateError(f'{kind.lower()}s.apps "{name}" not found')
    if same_process(record.supervisor):
        # a pod's grace period is 30 s unless its spec says otherwise
        answer = request(Path(record.supervisor.socket),
                         {"op": "delete-workload", "kind": kind, "namespace": namespace,
                          "name": name, "wait": wait}, timeout=WORKLOAD_DELETE_TIMEOUT)
        if not answer.get("ok"):
            raise StateError(answer.get("error", "the supervisor refused"))
        return
    for pod in _pods_of(namespace, kind, name):
        delete_pod(namespace, pod, None)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def delete_service(namespace: str, name: str) -> str:
    """Ask the Service's supervisor; if it is gone, remove the Service here
    (its rules, its addresses and ports, its records)."""
    # start-up: imported with the verb that needs it
    from minipod.api.record import RecordError
    from minipod.kernel.nft import Nft
    from minipod.kernel.records import read_service_record
    from minipod.kernel.state import service_record_path
    from minipod.runtime.proxy import Proxy
    from minipod.runtime.services import remove_service

    try:
        record = read_service_record(service_record_path(namespace, name))
    except RecordError as e:
        raise StateError(str(e)) from None
    if record is None:
        raise StateError(f'services "{name}" not found')
    if same_process(record.supervisor) and record.supervisor.socket:
        answer = request(Path(record.supervisor.socket),
                         {"op": "delete-service", "namespace": namespace, "name": name},
                         timeout=30)
        if not answer.get("ok"):
            raise StateError(answer.get("error", "the supervisor refused"))
        return "deleted"
    proxy = Proxy(Nft())
    if proxy.table_exists():
        proxy.read_back()
    remove_service(namespace, name, proxy, on_error=lambda m: print(f"warning: {m}"))
    return "deleted (its supervisor was gone)"


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


# ---------------------------------------------------------------------------
# `minipod delete`: kubectl delete's targets, flags and lines
# ---------------------------------------------------------------------------

FORCE_WARNING = ("Warning: Immediate deletion does not wait for confirmation that the running "
                 "resource has been terminated. The resource may continue to run on the "
                 "cluster indefinitely.")


def grace_of(args: Any) -> int | None:
    """kubectl's rules: --now is 1; 0 without --force is 1 (no accidental
    SIGKILL); --force with no period is 0; -1 (and None) the pod's own."""
    grace = 1 if args.now else args.grace_period
    if grace is None:
        grace = -1
    if grace == 0 and not args.force:
        grace = 1
    if args.force and grace < 0:
        grace = 0
    return None if grace < 0 else grace


def cmd_delete(args: Any) -> int:
    # start-up: imported with the verb that needs it
    import sys

    # start-up: imported with the verb that needs it
    from minipod.api.errors import MinipodError, SpecError

    grace = grace_of(args)
    targets = _targets(args)
    if grace == 0:
        print(FORCE_WARNING, file=sys.stderr)
    word = "force deleted" if grace == 0 else "deleted"
    status = 0
    for kind, namespace, name, source in targets:
        try:
            said = _delete_one(kind, namespace, name, grace, args.wait)
        except SpecError:
            raise
        except MinipodError as e:
            if "not found" in str(e) and args.ignore_not_found:
                continue
            where = f'error when deleting "{source}": ' if source else ""
            plural = _PLURALS[kind]
            print(f'Error from server (NotFound): {where}{plural} "{name}" not found'
                  if "not found" in str(e) else f"error: {e}", file=sys.stderr)
            status = 1
            continue
        if said != "deleted" and kind in ("Pod", "Service"):  # its supervisor was gone: say so
            print(f'{_SINGULARS[kind]} "{name}" {said}')
        else:
            print(f'{_SINGULARS[kind]} "{name}" {word}')
    return status


_SINGULARS = {"Pod": "pod", "Deployment": "deployment.apps", "ReplicaSet": "replicaset.apps",
              "ConfigMap": "configmap", "Secret": "secret", "Service": "service"}
_PLURALS = {"Pod": "pods", "Deployment": "deployments.apps", "ReplicaSet": "replicasets.apps",
            "ConfigMap": "configmaps", "Secret": "secrets", "Service": "services"}
# derived objects: they go with what they are made from
_NOT_DELETED = {"Event": "minipod does not delete events: they go with their pod",
                "Endpoints": "minipod does not delete endpoints: they go with their Service"}


def _targets(args: Any) -> list[tuple[str, str, str, str]]:
    """(kind, namespace, name, source file) of every object the command names."""
    # start-up: imported with the verb that needs it
    import sys

    # start-up: imported with the verb that needs it
    from minipod.api.errors import SpecError
    from minipod.cli.views.resources import split_targets

    kind, names = (args.names[0], args.names[1:]) if args.names else (None, [])
    if args.filename:
        if kind or args.all or args.selector:
            raise SpecError("resources and -f cannot be given together (kubectl: "
                            "--filename and resource names are exclusive)")
        # start-up: the manifest's parser only for -f
        from minipod.api.manifest import load_paths

        stdin = sys.stdin.read() if "-" in args.filename else None
        manifest = load_paths(args.filename, args.recursive, stdin)
        found: list[tuple[str, str, str, str]] = [
            (c.kind, c.namespace, c.name, c.source.partition("#")[0]) for c in manifest.configs]
        found += [("Pod", p.namespace, p.name, p.source.partition("#")[0]) for p in manifest.pods]
        found += [(w.kind, w.namespace, w.name, w.source.partition("#")[0])
                  for w in manifest.workloads]
        found += [("Service", s.namespace, s.name, s.source.partition("#")[0])
                  for s in manifest.services]
        # Services and workloads first: no new connection is sent to the
        # pods, and the pods go with their workload rather than being
        # replaced; then pods; ConfigMaps and Secrets last, once nothing reads them
        order = {"Service": 0, "Deployment": 0, "ReplicaSet": 0, "Pod": 1, "ConfigMap": 2,
                 "Secret": 2}
        return sorted(found, key=lambda t: order[t[0]])
    if not kind:
        raise SpecError("You must provide one or more resources by argument or filename.")
    try:
        pairs = split_targets(kind, names)
    except Exception as e:  # ViewError: the message is kubectl's
        raise SpecError(str(e).removeprefix("error: ")) from None
    named = [(res, name) for res, name in pairs if name]
    if named and (args.all or args.selector):
        raise SpecError("name cannot be provided when a selector or --all is specified")
    for res, _name in pairs:
        if res.kind in _NOT_DELETED:
            raise SpecError(_NOT_DELETED[res.kind])
    if named:
        return [(res.kind, args.namespace, name, "") for res, name in named]
    if not (args.all or args.selector):
        raise SpecError('resource(s) were provided, but no name was specified')
    # start-up: the objects' readers only for --all and -l
    from minipod.cli.views.objects import load_items, select

    res = pairs[0][0]
    namespace = None if args.all_namespaces else args.namespace
    items = select(load_items(res.kind, namespace), res, args.selector, None)
    if res.kind == "ReplicaSet":  # a Deployment's are not objects here
        items = [i for i in items if not (i.api.get("metadata") or {}).get("ownerReferences")]
    if not items:
        where = "" if args.all_namespaces else f" in {args.namespace} namespace"
        print(f"No resources found{where}.", file=sys.stderr)
    return [(res.kind, i.namespace, i.name, "") for i in items]


def _delete_one(kind: str, namespace: str, name: str, grace: int | None, wait: bool) -> str:
    # start-up: imported with the verb that needs it
    from minipod.kernel import configstore

    if kind == "Pod":
        return delete_pod(namespace, name, grace, wait)
    if kind in ("Deployment", "ReplicaSet"):
        delete_workload(namespace, kind, name, wait)
        return "deleted"
    if kind == "Service":
        return delete_service(namespace, name)
    if not configstore.delete(kind, namespace, name):
        raise StateError(f'{_PLURALS[kind]} "{name}" not found')
    return "deleted"
