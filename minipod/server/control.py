"""The control socket: how `minipod` commands reach a running supervisor.

One JSON request line in, one JSON reply line out (minipod/server/protocol.py
has the codec both sides share). The requests are kubectl's verbs as a
supervisor can carry them out: apply a manifest, delete a pod, scale or
delete a workload, ping. This module turns each into calls on the
Supervisor (minipod/runtime/supervisor.py), which knows nothing of sockets.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minipod.api.backoff import BackoffPolicy
from minipod.api.errors import MinipodError, SpecError
from minipod.api.kinds import workload_kind
from minipod.api.manifest import parse_objects, parse_sources
from minipod.api.model import Pod
from minipod.kernel.image import images_dir
from minipod.runtime.controller import WorkloadController
from minipod.runtime.images import resolve_images, template_pod
from minipod.runtime.supervisor import Supervisor
from minipod.server import protocol

Reply = Callable[[dict[str, Any]], None]


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
        Connection(self, conn)

    def handle(self, request: dict[str, Any], reply: Reply) -> None:
        sup, op = self.sup, request.get("op")
        if op == "delete":
            key = f"{request.get('namespace', 'default')}/{request.get('name')}"
            grace = request.get("grace")
            wait = request.get("wait") is not False  # kubectl delete --wait=false: at once
            if not sup.delete_pod(key, grace, (lambda: reply({"ok": True})) if wait
                                  else (lambda: None)):
                reply({"ok": False, "error": f"pod {key} not found"})
            elif not wait:
                reply({"ok": True})
        elif op == "ping":
            reply({"ok": True, "pid": os.getpid(), "pods": sorted(sup.pods),
                   "services": sorted(sup.services.services)})
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


def apply(sup: Supervisor, request: dict[str, Any]) -> dict[str, Any]:
    """`up -d`: validate again, resolve, start all or nothing."""
    source = str(request.get("source", "<manifest>"))
    if "images" in request and Path(str(request["images"])) != images_dir():
        # minipod.cli.main's request, from a shell whose MINIPOD_IMAGES is not
        # ours: the full CLI resolves its images there first
        return {"ok": False, "full": True, "error": "another image store"}
    try:
        # `apply -f` sends each file as [source, text]; `up -d` one text
        files = request.get("files")
        if isinstance(files, list):
            manifest = parse_sources([(str(f[0]), str(f[1])) for f in files])
        else:
            manifest = parse_objects(str(request.get("text", "")), source)
        # kubectl apply: a pod this supervisor runs as written is "unchanged";
        # a pod cannot be changed (its spec is immutable), so another spec is
        # refused before anything is done
        unchanged = [p for p in manifest.pods if _same_pod(sup, p)]
        changed = [p for p in manifest.pods if p not in unchanged
                   and f"{p.namespace}/{p.name}" in sup.pods]
        if changed:
            return {"ok": False, "code": 1, "error": "\n".join(
                f'The Pod "{p.name}" is invalid: spec: Forbidden: pod updates may not change '
                f"fields other than those minipod lets change (delete it first: minipod "
                f"delete pod {p.name} -n {p.namespace})" for p in changed)}
        pods = [p for p in manifest.pods if p not in unchanged]
        images = resolve_images([*pods, *map(template_pod, manifest.workloads)], source)
        backoff = BackoffPolicy.parse(request["backoff"]) if request.get("backoff") else None
        sup.check_workload_updates(manifest.workloads)  # before any pod starts
        sup.check_configs(manifest.configs)
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
        said = sup.apply_workloads(manifest.workloads, backoff)
    except SpecError as e:
        return {"ok": False, "code": 2, "error": str(e)}
    except MinipodError as e:
        return {"ok": False, "code": 1, "error": str(e)}
    warnings = [w for found in images.values() for image in found.values()
                if image is not None for w in image.warnings]
    pods_said = [f"pod/{p.name} unchanged" for p in unchanged] + [
        f"pod/{r.pod.name} created" for r in started]
    return {"ok": True, "said": configs + services + pods_said + said,
            "warnings": warnings}


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


def _same_pod(sup: Supervisor, pod: Pod) -> bool:
    runner = sup.pods.get(f"{pod.namespace}/{pod.name}")
    return runner is not None and not runner.terminating and (
        runner.pod.manifest_spec, runner.pod.labels, runner.pod.annotations) == (
        pod.manifest_spec, pod.labels, pod.annotations)


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
        self.server.handle(request, self.reply)

    def reply(self, answer: dict[str, Any]) -> None:
        try:
            line = protocol.frame(answer)
            with contextlib.suppress(OSError):  # the client is gone: nobody to tell
                self.conn.setblocking(True)
                self.conn.settimeout(1.0)
                self.conn.sendall(line)
        finally:
            self.conn.close()
