"""A v1 ConfigMap or Secret as values (ConfigData), apart from the Pod
model: the records of configs (api/record.py) hold one, and every command
that reads records (`get pods`, `delete`...) imports those, where making the
Pod model's dataclasses would cost it ~20 ms of start-up. api/model.py
re-exports both names. Pure: imports nothing of minipod."""

from __future__ import annotations

from dataclasses import field
from typing import Literal

from minipod.api.frozen import frozen

__all__ = ["ConfigData", "ConfigKind"]

ConfigKind = Literal["ConfigMap", "Secret"]


@frozen
class ConfigData:
    """A v1 ConfigMap or Secret: named bytes. A ConfigMap's data and
    binaryData, a Secret's data (base64 decoded) and stringData, one map."""

    kind: ConfigKind
    name: str
    data: dict[str, bytes] = field(default_factory=dict)
    namespace: str = "default"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    immutable: bool = False
    type: str = ""  # a Secret's (Opaque, kubernetes.io/tls...); "" for a ConfigMap
    binary_keys: frozenset[str] = frozenset()  # a ConfigMap's keys from binaryData
    source: str = ""
