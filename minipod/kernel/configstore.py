"""ConfigMaps and Secrets on the host: one file per object in
$MINIPOD_ROOT/configmaps/ and $MINIPOD_ROOT/secrets/ (<namespace>_<name>.json,
api/record.py ConfigRecord), written atomically.

Root's alone: both directories are 0700 and every file 0600 (mkstemp's
mode, kept by the rename), so a Secret is readable by root only, as the
kubelet keeps it. Each write bumps the object's resourceVersion; a
supervisor that serves a pod mounting the object watches the directory
(runtime/configwatch.py) and projects the new data into the pod's volume.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from pathlib import Path

from minipod.api.configdata import ConfigData
from minipod.api.errors import SpecError, StateError
from minipod.api.record import ConfigRecord, RecordError
from minipod.kernel.state import ensure_dir, root_dir, write_json_atomic

DIRECTORIES = {"ConfigMap": "configmaps", "Secret": "secrets"}


def store_dir(kind: str) -> Path:
    """The directory of ``kind``'s objects (not created here)."""
    return root_dir() / DIRECTORIES[kind]


def record_path(kind: str, namespace: str, name: str) -> Path:
    return store_dir(kind) / f"{namespace}_{name}.json"


def load(kind: str, namespace: str, name: str) -> ConfigRecord | None:
    """The object, or None if there is none. RecordError for a file this
    minipod cannot read."""
    path = record_path(kind, namespace, name)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise RecordError(f"{path}: {e}") from None
    return ConfigRecord.from_json(data, str(path))


def lookup(kind: str, namespace: str, name: str) -> ConfigData | None:
    """The object's data (api/downward.py's Lookup); an unreadable file is
    as good as none."""
    try:
        found = load(kind, namespace, name)
    except (OSError, RecordError):
        return None
    return found.config if found is not None else None


def list_records(kind: str, namespace: str | None = None) -> list[ConfigRecord]:
    """Every object of ``kind`` (in ``namespace``), by namespace and name."""
    directory = store_dir(kind)
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    found = []
    for entry in names:
        ns, sep, rest = entry.partition("_")
        if not sep or not rest.endswith(".json") or (namespace is not None and ns != namespace):
            continue
        with contextlib.suppress(OSError, ValueError):  # removed or replaced meanwhile
            found.append(ConfigRecord.from_json(json.loads((directory / entry).read_text()),
                                                str(directory / entry)))
    return sorted(found, key=lambda r: (r.namespace, r.name))


def check(config: ConfigData) -> None:
    """SpecError if saving ``config`` would be refused (see save)."""
    _check(load(config.kind, config.namespace, config.name), config)


def save(config: ConfigData) -> tuple[ConfigRecord, str]:
    """Create or update the object; (its record, kubectl's word: created,
    configured or unchanged). SpecError if it is immutable and its data
    would change (the API server's "field is immutable")."""
    old = load(config.kind, config.namespace, config.name)
    if old is not None and _same(old.config, config):
        return old, "unchanged"
    _check(old, config)
    record = ConfigRecord(
        _without_source(config), old.uid if old else str(uuid.uuid4()),
        old.created if old else time.time(), old.resource_version + 1 if old else 1)
    directory = ensure_dir(ensure_dir(root_dir()) / DIRECTORIES[config.kind])
    write_json_atomic(directory / f"{config.namespace}_{config.name}.json", record.to_json())
    return record, "configured" if old else "created"


def _check(old: ConfigRecord | None, config: ConfigData) -> None:
    if old is not None and not _same(old.config, config) and old.config.immutable:
        if old.config.data != config.data:
            raise SpecError(f'{config.kind}s "{config.name}" is invalid: data: Forbidden: '
                            "field is immutable when `immutable` is set")
        if not config.immutable:
            raise SpecError(f'{config.kind}s "{config.name}" is invalid: immutable: '
                            "Forbidden: field is immutable when `immutable` is set")


def delete(kind: str, namespace: str, name: str) -> bool:
    """Remove the object; False if there was none."""
    try:
        record_path(kind, namespace, name).unlink()
    except FileNotFoundError:
        return False
    return True


def replace_metadata(kind: str, namespace: str, name: str, labels: dict[str, str],
                     annotations: dict[str, str]) -> ConfigRecord:
    """`label` and `annotate`: the same object with other labels or annotations."""
    old = load(kind, namespace, name)
    if old is None:
        raise StateError(f'{kind.lower()}s "{name}" not found')
    config = ConfigData(old.config.kind, name, old.config.data, namespace, labels, annotations,
                        old.config.immutable, old.config.type, old.config.binary_keys)
    record = ConfigRecord(config, old.uid, old.created, old.resource_version + 1)
    write_json_atomic(record_path(kind, namespace, name), record.to_json())
    return record


def _same(a: ConfigData, b: ConfigData) -> bool:
    return _without_source(a) == _without_source(b)


def _without_source(config: ConfigData) -> ConfigData:
    return ConfigData(config.kind, config.name, dict(config.data), config.namespace,
                      dict(config.labels), dict(config.annotations), config.immutable,
                      config.type, config.binary_keys)
