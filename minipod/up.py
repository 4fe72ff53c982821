"""`minipod up FILE`: validate everything, resolve every image, then start the
pods under one supervisor and serve them in the foreground."""

from __future__ import annotations

import os
import sys

from minipod.backoff import BackoffPolicy
from minipod.errors import FieldError, ImageError, MinipodError, SpecError
from minipod.image import Image, resolve
from minipod.spec import Manifest, Pod, Workload, load_objects


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


def check_manifest(path: str) -> tuple[Manifest, dict[str, dict[str, Image]]]:
    """Everything that makes bad input exit 2 before anything starts: the
    manifest, and the images of its pods and of its workloads' templates."""
    manifest = load_objects(path)
    images = resolve_images([*manifest.pods, *map(template_pod, manifest.workloads)], path)
    for found in images.values():
        for image in found.values():
            for warning in image.warnings:
                print(f"warning: {warning}", file=sys.stderr)
    if os.geteuid() != 0:
        raise MinipodError("minipod up needs root (namespaces, mounts): run it with sudo")
    return manifest, images


def template_pod(workload: Workload) -> Pod:
    """A stand-in pod of a workload's template, to resolve its images early."""
    from minipod.workloads import build_pod

    return build_pod(workload, f"{workload.name}-template")


def up(path: str, echo_logs: bool = True, backoff: BackoffPolicy | None = None) -> int:
    from minipod.events import print_sink, say
    from minipod.loop import Loop
    from minipod.supervisor import Supervisor

    manifest, images = check_manifest(path)
    pods = manifest.pods
    supervisor = Supervisor(Loop(), print_sink(), echo_logs=echo_logs, backoff=backoff,
                            status_sink=say)
    supervisor.open()
    try:
        supervisor.start_pods(pods, images)
        for line in supervisor.apply_workloads(manifest.workloads, backoff):
            say(line)
        supervisor.run()
    finally:
        supervisor.rollback()
        supervisor.close()
    if supervisor.failures:
        raise MinipodError("; ".join(supervisor.failures))
    return 0


__all__ = ["SpecError", "up"]
