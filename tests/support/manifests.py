"""Pod manifests for the validator's unit tests: a rich valid one, the small
valid one the bad cases edit, and the helpers that edit and parse them."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from minipod.api.errors import FieldError, SpecError
from minipod.api.manifest import parse_pods
from minipod.api.model import Pod

RICH = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
    example.com/tier: front
  annotations:
    example.com/owner: "team a"
  uid: 0d1c2a8e-ignored
status:
  phase: Running
spec:
  hostname: www
  shareProcessNamespace: true
  securityContext:
    runAsUser: 1000
    runAsGroup: 1000
  volumes:
  - name: shared
    emptyDir: {}
  - name: cache
    emptyDir:
      medium: Memory
      sizeLimit: 64Mi
  - name: logs
    hostPath:
      path: /var/log/web
      type: DirectoryOrCreate
  initContainers:
  - name: setup
    image: busybox
    command: [sh, -c, "echo ready > /shared/flag"]
    volumeMounts:
    - {name: shared, mountPath: /shared}
  - name: proxy
    image: envoy:local
    restartPolicy: Always
    ports:
    - {containerPort: 9901, name: admin}
    startupProbe:
      tcpSocket: {port: admin}
    livenessProbe:
      grpc: {port: 9901}
  containers:
  - name: app
    image: web:1.0
    imagePullPolicy: Always
    args: []
    workingDir: /srv
    env:
    - {name: MODE, value: prod}
    - {name: EMPTY}
    - {name: MODE, value: again}
    ports:
    - {containerPort: 8080, name: http}
    - {containerPort: 8080, protocol: UDP}
    volumeMounts:
    - {name: shared, mountPath: /shared, readOnly: true}
    - {name: cache, mountPath: /cache}
    - {name: logs, mountPath: /logs}
    livenessProbe:
      httpGet:
        port: http
        path: /healthz
        scheme: HTTPS
        httpHeaders:
        - {name: X-Probe, value: "1"}
      initialDelaySeconds: 5
      terminationGracePeriodSeconds: 3
    readinessProbe:
      exec:
        command: [cat, /tmp/ready]
      periodSeconds: 0
      successThreshold: 2
    startupProbe:
      httpGet: {port: 8080}
      failureThreshold: 30
      periodSeconds: 2
    lifecycle:
      postStart:
        exec: {command: [touch, /tmp/started]}
      preStop:
        sleep: {seconds: 5}
    securityContext:
      runAsUser: 0
  - name: worker
    image: busybox
    command: [sleep, infinity]
"""


def rich_pod() -> Pod:
    (pod,) = parse_pods(RICH, "rich.yaml")
    return pod


def base() -> dict[str, Any]:
    """The smallest interesting valid Pod, as a mapping the bad cases edit."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [
                {
                    "name": "app",
                    "image": "busybox",
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
        },
    }


def container(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", **fields}


DELETE = object()
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def edit(path: str, value: Any) -> str:
    """base() with the field at ``path`` (API-server style) set or DELETEd, as YAML."""
    doc = base()
    steps: list[str | int] = [key if key else int(index) for key, index in _STEP.findall(path)]
    parent: Any = doc
    for step in steps[:-1]:
        parent = parent[step]
    last = steps[-1]
    if value is DELETE:
        del parent[last]
    elif isinstance(parent, list) and last == len(parent):
        parent.append(copy.deepcopy(value))
    else:
        parent[last] = copy.deepcopy(value)
    return yaml.safe_dump(doc, sort_keys=False)


def errors_of(text: str) -> list[FieldError]:
    with pytest.raises(SpecError) as info:
        parse_pods(text, "pod.yaml")
    assert info.value.source == "pod.yaml"
    return info.value.errors


def describe(errors: list[FieldError]) -> str:
    return "\n".join(f"  {e.path!r}: {e.message}" for e in errors)
