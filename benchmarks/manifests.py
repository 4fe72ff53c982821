"""The manifests every figure runs, the same for minipod and for podman.

Written as JSON documents (JSON is YAML) joined by '---', so nothing here
depends on a YAML emitter.
"""

from __future__ import annotations

import json
from typing import Any

IMAGE = "localhost/busybox:latest"  # podman needs it qualified (harness.build_image tags it)
# An app that exits at once on SIGTERM. It cannot be a bare `sleep`: the
# entrypoint is PID 1 of its own pid namespace, and PID 1 never gets a signal
# it has no handler for, so `sleep` would sit out the whole grace period.
TERM_EXITS = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
SLEEPS = ["sleep", "3600"]  # for kill -9, which PID 1 cannot refuse
INIT = ["true"]
PROBE_PORT = 8080


def container(name: str, command: list[str], probe: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                            "command": command}
    if probe is not None:
        spec["livenessProbe"] = probe
    return spec


def pod(name: str, *, apps: int = 1, inits: int = 0, command: list[str] | None = None,
        probe: dict[str, Any] | None = None, grace: int = 5,
        restart: str = "Always") -> dict[str, Any]:
    command = command or TERM_EXITS
    spec: dict[str, Any] = {
        "restartPolicy": restart,
        "terminationGracePeriodSeconds": grace,
        "containers": [container(f"app{i}" if apps > 1 else "app", command, probe)
                       for i in range(apps)],
    }
    if inits:
        spec["initContainers"] = [container(f"init{i}", INIT) for i in range(inits)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def app_names(manifest: dict[str, Any]) -> list[str]:
    return [c["name"] for c in manifest["spec"]["containers"]]


def http_probe(period: int = 1, failure_threshold: int = 1000) -> dict[str, Any]:
    """httpGet every ``period`` s. The high failureThreshold keeps a pod alive
    while its server is being set up (the first probes are refused)."""
    return {"httpGet": {"path": "/", "port": PROBE_PORT}, "periodSeconds": period,
            "timeoutSeconds": 1, "failureThreshold": failure_threshold}


def tcp_probe(period: int = 1, failure_threshold: int = 1000) -> dict[str, Any]:
    return {"tcpSocket": {"port": PROBE_PORT}, "periodSeconds": period,
            "timeoutSeconds": 1, "failureThreshold": failure_threshold}


def exec_probe(period: int = 1) -> dict[str, Any]:
    return {"exec": {"command": ["true"]}, "periodSeconds": period, "timeoutSeconds": 1,
            "failureThreshold": 1000}


# The pod-start variants of figure 1: (key, title, apps, inits, restartPolicy).
# The init variant says OnFailure: with Always, podman 4.3 restarts each init
# container every time it exits 0 (a kubelet never does), and `kube play`
# then takes 20 to 40 s. For Kubernetes both mean the same here: the app
# never exits, and an init container that succeeded is not run again.
START_VARIANTS = (
    ("one", "1 container", 1, 0, "Always"),
    ("inits", "2 init containers then 1 app", 1, 2, "OnFailure"),
    ("two", "2 app containers", 2, 0, "Always"),
)


def documents(*manifests: dict[str, Any]) -> str:
    return "\n---\n".join(json.dumps(m) for m in manifests) + "\n"
