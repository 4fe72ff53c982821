"""Image resolution for pods: every container's image found before anything
of a pod is created, all misses reported together (the service `up`, the
daemon's apply, the workload controllers and adoption share)."""

from __future__ import annotations

from minipod.api.errors import FieldError, ImageError
from minipod.api.model import Pod, Workload
from minipod.api.workloads import build_pod
from minipod.kernel.image import Image, resolve


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


def template_pod(workload: Workload) -> Pod:
    """A stand-in pod of a workload's template, to resolve its images early."""
    return build_pod(workload, f"{workload.name}-template")
