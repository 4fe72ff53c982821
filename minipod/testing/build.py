"""A small builder of manifests, as plain dicts a Node applies.

Each function returns the API object Kubernetes would take, so anything it
does not cover is one more key of the dict (or ``**extra``), and a manifest
file or text works the same. A pod or workload without a name gets a unique
one (``unique_name``), so tests never collide.

    from minipod.testing import build as b

    web = b.pod(
        b.container("web", "httpd", "-f", "-p", "8080",
                    readiness=b.http_get(8080), ports=[8080]),
        labels={"app": "web"})
"""

from __future__ import annotations

import uuid
from typing import Any

Json = dict[str, Any]
BUSYBOX = "busybox"  # the image `minipod image build-busybox` makes (Node makes it)


def unique_name(prefix: str = "t") -> str:
    """``prefix`` and 8 random hex digits: a name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def container(name: str, *command: str, image: str = BUSYBOX, args: list[str] | None = None,
              env: dict[str, str] | None = None, ports: list[int] | None = None,
              readiness: Json | None = None, liveness: Json | None = None,
              startup: Json | None = None, memory_limit: str | None = None,
              **extra: Any) -> Json:
    """A container: ``command`` is its argv (none: the image's entrypoint);
    ``ports`` are containerPorts (TCP); ``memory_limit`` ("32Mi") is
    resources.limits.memory; ``extra`` is put in as it is (camelCase keys)."""
    found: Json = {"name": name, "image": image}
    if command:
        found["command"] = list(command)
    if args is not None:
        found["args"] = list(args)
    if env:
        found["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if ports:
        found["ports"] = [{"containerPort": p} for p in ports]
    for key, probe in (("readinessProbe", readiness), ("livenessProbe", liveness),
                       ("startupProbe", startup)):
        if probe is not None:
            found[key] = probe
    if memory_limit is not None:
        found.setdefault("resources", {}).setdefault("limits", {})["memory"] = memory_limit
    found.update(extra)
    return found


def shell(name: str, script: str, **options: Any) -> Json:
    """A busybox container running ``script`` with sh -c."""
    return container(name, "sh", "-c", script, **options)


def _probe(handler: Json, period: int, failures: int, delay: int, timeout: int) -> Json:
    return {**handler, "periodSeconds": period, "failureThreshold": failures,
            "initialDelaySeconds": delay, "timeoutSeconds": timeout}


def exec_probe(*command: str, period: int = 1, failures: int = 1, delay: int = 0,
               timeout: int = 1) -> Json:
    """An exec probe (fast by default: every second, one failure is enough)."""
    return _probe({"exec": {"command": list(command)}}, period, failures, delay, timeout)


def http_get(port: int | str, path: str = "/", *, period: int = 1, failures: int = 1,
             delay: int = 0, timeout: int = 1) -> Json:
    """An httpGet probe of ``port`` (a number or a port name)."""
    return _probe({"httpGet": {"port": port, "path": path}}, period, failures, delay, timeout)


def tcp_socket(port: int | str, *, period: int = 1, failures: int = 1, delay: int = 0,
               timeout: int = 1) -> Json:
    """A tcpSocket probe of ``port``."""
    return _probe({"tcpSocket": {"port": port}}, period, failures, delay, timeout)


def pod_spec(*containers: Json, init: list[Json] | None = None, restart_policy: str | None = None,
             grace: int = 1, **extra: Any) -> Json:
    """A PodSpec. ``grace`` is terminationGracePeriodSeconds: 1 by default, so
    a container whose PID 1 ignores SIGTERM (sh does) stops within a second."""
    spec: Json = {"terminationGracePeriodSeconds": grace, "containers": list(containers)}
    if init:
        spec["initContainers"] = list(init)
    if restart_policy is not None:
        spec["restartPolicy"] = restart_policy
    spec.update(extra)
    return spec


def _meta(name: str | None, prefix: str, namespace: str, labels: dict[str, str] | None) -> Json:
    meta: Json = {"name": name or unique_name(prefix), "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    return meta


def pod(*containers: Json, name: str | None = None, namespace: str = "default",
        labels: dict[str, str] | None = None, **spec: Any) -> Json:
    """A v1 Pod of ``containers``; ``spec`` goes to pod_spec (init,
    restart_policy, grace, and any PodSpec key)."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _meta(name, "pod", namespace, labels),
            "spec": pod_spec(*containers, **spec)}


def deployment(*containers: Json, replicas: int = 1, name: str | None = None,
               namespace: str = "default", labels: dict[str, str] | None = None,
               **spec: Any) -> Json:
    """An apps/v1 Deployment whose pods run ``containers``, labelled
    ``labels`` (default app: <name>), selected by them."""
    meta = _meta(name, "deploy", namespace, None)
    pod_labels = dict(labels or {"app": meta["name"]})
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": replicas, "selector": {"matchLabels": pod_labels},
                     "template": {"metadata": {"labels": pod_labels},
                                  "spec": pod_spec(*containers, **spec)}}}


def service(selector: dict[str, str], port: int, target_port: int | str | None = None, *,
            name: str | None = None, namespace: str = "default", **spec: Any) -> Json:
    """A v1 ClusterIP Service of one TCP port in front of the pods ``selector`` matches."""
    port_spec: Json = {"port": port, "protocol": "TCP"}
    if target_port is not None:
        port_spec["targetPort"] = target_port
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": _meta(name, "svc", namespace, None),
            "spec": {"selector": dict(selector), "ports": [port_spec], **spec}}


def config_map(data: dict[str, str], *, name: str | None = None,
               namespace: str = "default") -> Json:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(name, "cm", namespace, None), "data": dict(data)}


def secret(data: dict[str, str], *, name: str | None = None, namespace: str = "default") -> Json:
    """A v1 Secret of ``data`` as stringData (the API server base64s it)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(name, "secret", namespace, None), "stringData": dict(data)}


__all__ = ["BUSYBOX", "config_map", "container", "deployment", "exec_probe", "http_get", "pod",
           "pod_spec", "secret", "service", "shell", "tcp_socket", "unique_name"]
