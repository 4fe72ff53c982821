"""The resource words kubectl takes (pods, po, deploy, cm, svc, ...) and the
kinds they name, for every verb that names a kind: `get`, `describe`,
`delete`, `wait`, `label`, `port-forward`. Apart from views/objects.py, so
that a verb that only names a kind (`delete pod NAME`) does not import the
objects' readers and printers (start-up: ~10 ms of `minipod delete`).
"""

from __future__ import annotations

from collections.abc import Sequence

from minipod.api.frozen import frozen
from minipod.cli.views.output import ViewError


@frozen
class Resource:
    kind: str
    plural: str  # "pods": the NotFound message's word
    qualified: str  # "deployment.apps": -o name, "deleted" lines
    namespaced: bool = True


RESOURCES_BY_KIND = {
    "Pod": Resource("Pod", "pods", "pod"),
    "Deployment": Resource("Deployment", "deployments.apps", "deployment.apps"),
    "ReplicaSet": Resource("ReplicaSet", "replicasets.apps", "replicaset.apps"),
    "ConfigMap": Resource("ConfigMap", "configmaps", "configmap"),
    "Secret": Resource("Secret", "secrets", "secret"),
    "Service": Resource("Service", "services", "service"),
    "Endpoints": Resource("Endpoints", "endpoints", "endpoints"),
    "Event": Resource("Event", "events", "event"),
}
_ALIASES = {
    "Pod": ("pods", "pod", "po"),
    "Deployment": ("deployments", "deployment", "deploy"),
    "ReplicaSet": ("replicasets", "replicaset", "rs"),
    "ConfigMap": ("configmaps", "configmap", "cm"),
    "Secret": ("secrets", "secret"),
    "Service": ("services", "service", "svc"),
    "Endpoints": ("endpoints", "endpoint", "ep"),
    "Event": ("events", "event", "ev"),
}
RESOURCES: dict[str, Resource] = {}
for _kind, _names in _ALIASES.items():
    for _name in _names:
        RESOURCES[_name] = RESOURCES_BY_KIND[_kind]
        if _kind in ("Deployment", "ReplicaSet"):
            RESOURCES[f"{_name}.apps"] = RESOURCES_BY_KIND[_kind]


def resource(word: str) -> Resource:
    """The kind a kubectl resource word names; ViewError as kubectl says it."""
    found = RESOURCES.get(word.lower())
    if found is None:
        raise ViewError(f'error: the server doesn\'t have a resource type "{word}"')
    return found


def split_targets(first: str | None, rest: Sequence[str]) -> list[tuple[Resource, str | None]]:
    """`TYPE NAME...`, `TYPE/NAME...` (kinds may differ) or `TYPE`: (resource, name)
    pairs; a bare TYPE is (resource, None)."""
    words = [w for w in [first, *rest] if w]
    if not words:
        raise ViewError("error: You must specify the type of resource to get. Use "
                        '"minipod api-resources" for a complete list of supported resources.')
    if "/" in words[0]:
        targets: list[tuple[Resource, str | None]] = []
        for word in words:
            kind, sep, name = word.partition("/")
            if not sep:
                raise ViewError("error: there is no need to specify a resource type as a "
                                "separate argument when passing arguments in resource/name "
                                "form (e.g. 'minipod get resource/<resource_name>' instead of "
                                "'minipod get resource resource/<resource_name>'")
            targets.append((resource(kind), name))
        return targets
    found = resource(words[0])
    if len(words) == 1:
        return [(found, None)]
    return [(found, name) for name in words[1:]]
