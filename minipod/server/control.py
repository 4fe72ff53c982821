"""The control socket: how `minipod` commands reach a running supervisor.

One JSON request line in, one JSON reply line out (minipod/server/protocol.py
has the codec both sides share). The requests are kubectl's verbs as a
supervisor can carry them out: apply a manifest, delete a pod, scale or
delete a workload, ping. This module turns each into calls on the
Supervisor (minipod/runtime/supervisor.py), which knows nothing of sockets.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minipod.api.backoff import BackoffPolicy
from minipod.api.errors import MinipodError, SpecError
from minipod.api.kinds import workload_kind
from minipod.api.manifest import parse_objects, parse_sources
from minipod.api.model import Pod
from minipod.kernel.faults import crash_point
from minipod.kernel.image import images_dir
from minipod.kernel.proc import same_process
from minipod.kernel.records import read_pod_record
from minipod.kernel.state import pod_dir
from minipod.runtime.controller import WorkloadController
from minipod.runtime.images import resolve_images, template_pod
from minipod.runtime.supervisor import Supervisor
from minipod.server import protocol

Reply = Callable[[dict[str, Any]], None]
log = logging.getLogger(__name__)


class ControlServer:
    """The listening socket of one supervisor, served from its loop."""

    def __init__(self, sup: Supervisor, path: Path) -> None:
        self.sup = sup
        self.path = path
        self._server: socket.socket | None = None

    def open(self) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old_umask = os.umask(0o177)  # the socket is root's alone (and so is its directory)
        try:
            server.bind(str(self.path))
        finally:
            os.umask(old_umask)
        server.listen(16)
        server.setblocking(False)
        self._server = server
        self.sup.loop.register(server.fileno(), self._on_connect)

    def close(self) -> None:
        if self._server is None:
            return
        self.sup.loop.unregister(self._server.fileno())
        self._server.close()
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _on_connect(self, _events: int) -> None:
        assert self._server is not None
        try:
            conn, _ = self._server.accept()
        except BlockingIOError:
            return
        except OSError as e:  # EMFILE, ENOMEM: the client waits in the backlog
            log.warning("control socket: cannot accept: %s; again in 0.1 s", e.strerror)
            fd = self._server.fileno()
            self.sup.loop.unregister(fd)
            self.sup.loop.call_later(0.1, lambda: self._resume(fd))
            return
        Connection(self, conn)

    def _resume(self, fd: int) -> None:
        if self._server is not None and self._server.fileno() == fd:
            self.sup.loop.register(fd, self._on_connect)

    def handle(self, request: dict[str, Any], reply: Reply) -> None:
        sup, op = self.sup, request.get("op")
        if op in ("apply", "delete") and _past_deadline(request):
            # the client has given up (or is about to): nothing is done that
            # it would not hear of (server/client.py says so to its user)
            reply({"ok": False, "cancelled": True,
                   "error": "the request came after its deadline: cancelled, nothing done"})
        elif op == "delete":
            delete_pod(sup, request, reply)
        elif op == "ping":
            reply({"ok": True, "pid": os.getpid(), "pods": sorted(sup.pods),
                   "services": sorted(sup.services.services),
                   "removed": sup.recovered[-100:]})
        elif op == "delete-service":
            key = f"{request.get('namespace', 'default')}/{request.get('name')}"
            reply({"ok": True} if sup.services.delete(key)
                  else {"ok": False, "error": f'services "{request.get("name")}" not found'})
        elif op == "apply":
            reply(apply(sup, request))
        elif op == "scale":
            reply(scale(sup, request))
        elif op == "rollout":
            reply(rollout(sup, request))
        elif op == "metadata":
            reply(set_metadata(sup, request))
        elif op == "delete-workload":
            delete_workload(sup, request, reply)
        else:
            reply({"ok": False, "error": f"unknown op {op!r}"})


def delete_pod(sup: Supervisor, request: dict[str, Any], reply: Reply) -> None:
    """`delete pod`: answered once it is gone (or at once with wait false);
    a second client's delete of a pod being deleted is NotFound."""
    crash_point("delete:received")
    namespace, name = request.get("namespace", "default"), request.get("name")
    key = f"{namespace}/{name}"
    grace = request.get("grace")
    wait = request.get("wait") is not False  # kubectl delete --wait=false: at once
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        reply({"ok": False, "error": "grace must be an integer"})
        return
    said = sup.delete_for_client(key, grace, (lambda: reply({"ok": True})) if wait
                                 else (lambda: None))
    if said != "deleting":
        reply({"ok": False, "deleting": said == "already",
               "error": f'pod "{name}" not found in namespace "{namespace}"'})
    elif not wait:
        reply({"ok": True})


def apply(sup: Supervisor, request: dict[str, Any]) -> dict[str, Any]:
    """`up -d`: validate again, resolve, start all or nothing."""
    source = str(request.get("source", "<manifest>"))
    if "images" in request and Path(str(request["images"])) != images_dir():
        # minipod.cli.main's request, from a shell whose MINIPOD_IMAGES is not
        # ours: the full CLI resolves its images there first
        return {"ok": False, "full": True, "error": "another image store"}
    crash_point("apply:received")
    try:
        # `apply -f` sends each file as [source, text]; `up -d` one text
        files = request.get("files")
        if isinstance(files, list):
            manifest = parse_sources([(str(f[0]), str(f[1])) for f in files])
        else:
            manifest = parse_objects(str(request.get("text", "")), source)
        # kubectl apply: what exists as written (ours, or another live
        # supervisor's) is "unchanged", what is missing is made; so re-running
        # `up -d FILE` after a failure (or a crash of the supervisor half-way)
        # completes it. A pod cannot be changed (its spec is immutable), so
        # another spec is refused before anything is done.
        missing: list[Pod] = []
        unchanged: list[Pod] = []
        changed: list[Pod] = []
        for pod in manifest.pods:
            found = _existing_spec(sup, pod)
            target = missing if found is None else unchanged if found == _spec_of(pod) \
                else changed
            target.append(pod)
        if changed:
            return {"ok": False, "code": 1, "error": "\n".join(
                f'The Pod "{p.name}" is invalid: spec: Forbidden: pod updates may not change '
                f"fields other than those minipod lets change (delete it first: minipod "
                f"delete pod {p.name} -n {p.namespace})" for p in changed)}
        pods = missing
        images = resolve_images([*pods, *map(template_pod, manifest.workloads)], source)
        backoff = BackoffPolicy.parse(request["backoff"]) if request.get("backoff") else None
        sup.check_workload_updates(manifest.workloads)  # before any pod starts
        sup.check_configs(manifest.configs)
        if _past_deadline(request):  # validating and resolving took that long: nothing done
            return {"ok": False, "cancelled": True,
                    "error": "the request ran past its deadline: cancelled, nothing done"}
        # Services before pods: containers get the variables of the Services
        # that exist when they start (the API server's allocators may refuse: exit 2)
        services = sup.services.apply(manifest.services)
    except SpecError as e:
        return {"ok": False, "code": 2, "error": str(e)}
    except MinipodError as e:
        return {"ok": False, "code": 1, "error": str(e)}
    try:
        # first, so the pods of the same request find them
        configs = [f"{c.kind.lower()}/{c.name} {word}"
                   for c, word in sup.apply_configs(manifest.configs)]
        started = sup.start_pods(pods, images, backoff)
        if _past_deadline(request):  # the client gave up while they were made: undo
            for runner in started:
                runner.teardown()
                sup.pods.pop(runner.key, None)
            return {"ok": False, "cancelled": True,
                    "error": "the request ran past its deadline: cancelled, no pod made"}
        said = sup.apply_workloads(manifest.workloads, backoff)
    except SpecError as e:
        return {"ok": False, "code": 2, "error": str(e)}
    except MinipodError as e:
        return {"ok": False, "code": 1, "error": str(e)}
    warnings = [w for found in images.values() for image in found.values()
                if image is not None for w in image.warnings]
    made = {r.key for r in started}
    pods_said = [f"pod/{p.name} {'created' if f'{p.namespace}/{p.name}' in made else 'unchanged'}"
                 for p in manifest.pods]
    return {"ok": True, "said": configs + services + pods_said + said,
            "warnings": warnings, "created": sorted(made)}


def _past_deadline(request: dict[str, Any]) -> bool:
    """The client's deadline (CLOCK_MONOTONIC seconds, one clock for the
    host) has passed: it no longer waits for the answer."""
    deadline = request.get("deadline")
    return isinstance(deadline, int | float) and not isinstance(deadline, bool) \
        and time.monotonic() > deadline


def _spec_of(pod: Pod) -> tuple[Any, ...]:
    return (json.loads(json.dumps(pod.manifest_spec)), pod.labels, pod.annotations)


def _existing_spec(sup: Supervisor, pod: Pod) -> tuple[Any, ...] | None:
    """The spec and labels of the pod of that name if one exists (ours, or
    another live supervisor's); None if there is none."""
    runner = sup.pods.get(f"{pod.namespace}/{pod.name}")
    if runner is not None:
        return _spec_of(runner.pod)
    directory = pod_dir(pod.namespace, pod.name)
    if not directory.exists():
        return None
    record = read_pod_record(directory)
    if record is None or not same_process(record.supervisor):
        return None  # start_pods says "exists already" if it is still there
    obj = record.api_object
    spec = {k: v for k, v in obj.get("spec", {}).items() if k != "nodeName"}
    meta = obj.get("metadata", {})
    return (spec, meta.get("labels", {}), meta.get("annotations", {}))


def rollout(sup: Supervisor, request: dict[str, Any]) -> dict[str, Any]:
    """`rollout restart|undo|pause|resume` of a Deployment."""
    controller = _workload(sup, request)
    if controller is None or controller.workload.kind != "Deployment":
        return _not_found(request)
    to_revision = request.get("to_revision") or 0
    if not isinstance(to_revision, int) or isinstance(to_revision, bool) or to_revision < 0:
        return {"ok": False, "code": 2, "error": "to_revision must be an integer >= 0"}
    try:
        said = controller.rollout(str(request.get("action")), to_revision)
    except SpecError as e:
        return {"ok": False, "code": 1, "error": str(e)}
    return {"ok": True, "said": said}


def set_metadata(sup: Supervisor, request: dict[str, Any]) -> dict[str, Any]:
    """`label` and `annotate` of a pod or a Service (``kind``): its new labels
    or annotations (whole)."""
    key = f"{request.get('namespace', 'default')}/{request.get('name')}"
    service = request.get("kind") == "Service"
    runner = None if service else sup.pods.get(key)
    if service and key not in sup.services.services:
        return {"ok": False, "error": f"service {request.get('name')} not found"}
    if not service and (runner is None or runner.terminating):
        return {"ok": False, "error": f"pod {request.get('name')} not found"}
    found = {}
    for field in ("labels", "annotations"):
        value = request.get(field)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return {"ok": False, "error": f"{field} must be a map of strings"}
        found[field] = value
    if runner is not None:
        runner.set_metadata(found.get("labels"), found.get("annotations"))
    else:
        sup.services.set_metadata(key, found.get("labels"), found.get("annotations"))
    return {"ok": True}



def _workload(sup: Supervisor, request: dict[str, Any]) -> WorkloadController | None:
    try:
        kind = workload_kind(str(request.get("kind", "")))  # any kubectl spelling
    except SpecError:
        return None
    return sup.controllers.get(f"{request.get('namespace', 'default')}/{kind.lower()}/"
                               f"{request.get('name')}")


def _not_found(request: dict[str, Any]) -> dict[str, Any]:
    return {"ok": False, "error": f"{request.get('kind')} {request.get('name')!r} not found"}


def scale(sup: Supervisor, request: dict[str, Any]) -> dict[str, Any]:
    controller = _workload(sup, request)
    replicas = request.get("replicas")
    if controller is None:
        return _not_found(request)
    if not isinstance(replicas, int) or replicas < 0:
        return {"ok": False, "error": "replicas must be an integer >= 0"}
    controller.scale(replicas)
    return {"ok": True}


def delete_workload(sup: Supervisor, request: dict[str, Any], reply: Reply) -> None:
    """The workload and its pods; the answer once the pods are gone (unless
    the request says "wait": false), as `kubectl delete` returns."""
    controller = _workload(sup, request)
    if controller is None:
        reply(_not_found(request))
        return
    wait = request.get("wait") is not False
    sup.controllers.pop(controller.key, None)
    controller.delete((lambda: reply({"ok": True})) if wait else None)
    if not wait:
        reply({"ok": True})


class Connection:
    """One client of the control socket: a JSON request line, a JSON reply line."""

    def __init__(self, server: ControlServer, conn: socket.socket) -> None:
        self.server, self.conn, self.buffer = server, conn, bytearray()
        self.loop = server.sup.loop
        conn.setblocking(False)
        self.loop.register(conn.fileno(), self._on_readable)

    def _on_readable(self, _events: int) -> None:
        try:
            data = self.conn.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self.buffer += data  # a bytearray: appending stays linear for megabytes
        if not data or b"\n" in data or len(self.buffer) > protocol.MAX_LINE:
            self.loop.unregister(self.conn.fileno())
            self._dispatch()

    def _dispatch(self) -> None:
        try:
            request = protocol.parse(self.buffer, "request")
        except protocol.ProtocolError as e:
            self.reply({"ok": False, "error": f"bad request: {e}"})
            return
        finally:
            self.buffer = bytearray()  # a megabyte manifest is not kept while a delete waits
        if request.get("op") in ("apply", "delete") and self._client_gone():
            self.reply({"ok": False, "cancelled": True, "error": "the client hung up"})
            return
        try:
            self.server.handle(request, self.reply)
        except Exception as e:  # one request must not take the supervisor down
            log.exception("request %r failed", request.get("op"))
            self.reply({"ok": False, "code": 1,
                        "error": f"the supervisor failed: {type(e).__name__}: {e}"})

    def _client_gone(self) -> bool:
        """The client closed its end (it timed out): nothing it would not hear of is done."""
        try:
            return self.conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def reply(self, answer: dict[str, Any]) -> None:
        if self.conn.fileno() < 0:
            return  # answered already (a handler that failed after its reply)
        try:
            line = protocol.frame(answer)
            with contextlib.suppress(OSError):  # the client is gone: nobody to tell
                self.conn.setblocking(True)
                self.conn.settimeout(1.0)
                self.conn.sendall(line)
        finally:
            self.conn.close()
