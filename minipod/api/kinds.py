"""The names kubectl accepts for the kinds minipod serves (deployment,
deployments, deploy, deployment.apps, ...), light enough for the command
line's start-up: this module imports nothing but the errors."""

from __future__ import annotations

from minipod.api.errors import SpecError

WORKLOAD_NAMES = {  # kind: singular, plural, short name
    "Deployment": ("deployment", "deployments", "deploy"),
    "ReplicaSet": ("replicaset", "replicasets", "rs"),
}
_ALIASES = {alias: kind for kind, names in WORKLOAD_NAMES.items()
            for name in names for alias in (name, f"{name}.apps")}
WORKLOAD_TYPES = frozenset(_ALIASES)  # every kubectl spelling of a workload type


def workload_kind(type_name: str) -> str:
    """"Deployment" or "ReplicaSet" for any kubectl spelling of them; SpecError otherwise."""
    kind = _ALIASES.get(type_name.lower())
    if kind is None:
        raise SpecError(f'the server doesn\'t have a resource type "{type_name}"'
                        " (minipod scale knows deployment and replicaset)")
    return kind
