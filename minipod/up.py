"""`minipod up FILE`: validate everything, resolve every image, then start the
pods under one supervisor and serve them in the foreground."""

from __future__ import annotations

import os
import sys

from minipod.backoff import BackoffPolicy
from minipod.errors import FieldError, ImageError, MinipodError, SpecError
from minipod.events import print_sink
from minipod.image import Image, resolve
from minipod.loop import Loop
from minipod.spec import Pod, load_pods
from minipod.supervisor import Supervisor


def resolve_images(pods: list[Pod], source: str) -> dict[str, dict[str, Image]]:
    """Every container's image, before anything is created; all misses reported."""
    images: dict[str, dict[str, Image]] = {}
    errors: list[FieldError] = []
    for pod in pods:
        found = images[f"{pod.namespace}/{pod.name}"] = {}
        for kind, containers in (("initContainers", pod.spec.init_containers),
                                 ("containers", pod.spec.containers)):
            for i, container in enumerate(containers):
                path = f"spec.{kind}[{i}].image"
                try:
                    found[container.name] = resolve(container.image, path)
                except ImageError as e:
                    errors.extend(e.errors)
    if errors:
        raise ImageError(errors, source)
    return images


def check_manifest(path: str) -> tuple[list[Pod], dict[str, dict[str, Image]]]:
    """Everything that makes bad input exit 2 before anything starts."""
    pods = load_pods(path)
    images = resolve_images(pods, path)
    for found in images.values():
        for image in found.values():
            for warning in image.warnings:
                print(f"warning: {warning}", file=sys.stderr)
    if os.geteuid() != 0:
        raise MinipodError("minipod up needs root (namespaces, mounts): run it with sudo")
    return pods, images


def up(path: str, echo_logs: bool = True, backoff: BackoffPolicy | None = None) -> int:
    pods, images = check_manifest(path)
    supervisor = Supervisor(Loop(), print_sink(), echo_logs=echo_logs, backoff=backoff,
                            status_sink=lambda line: print(line, flush=True))
    supervisor.open()
    try:
        supervisor.start_pods(pods, images)
        supervisor.run()
    finally:
        supervisor.rollback()
        supervisor.close()
    if supervisor.failures:
        raise MinipodError("; ".join(supervisor.failures))
    return 0


__all__ = ["SpecError", "up"]
