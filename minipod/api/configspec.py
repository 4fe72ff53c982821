"""The v1 ConfigMap and Secret validator (pkg/apis/core/validation
ValidateConfigMap, ValidateSecret): keys, sizes, a Secret's base64 data and
stringData, its type and the keys each type requires, immutable.

A ConfigMap's data and binaryData, and a Secret's data and stringData, end
in one map of bytes (ConfigData.data); a key may be in only one of a
ConfigMap's two maps, and a Secret's stringData wins over its data, as the
API server merges them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Literal

from minipod.api.fields import Obj, check, key_errors, keys, wrong_type
from minipod.api.meta import parse_metadata
from minipod.api.model import ConfigData

_CONFIG_MAP_KEYS = keys("apiVersion kind metadata data binaryData immutable")
_SECRET_KEYS = keys("apiVersion kind metadata data stringData type immutable")

MAX_SIZE = 1024 * 1024  # corev1.MaxSecretSize, and a ConfigMap's total
_KEY_RE = re.compile(r"[-._a-zA-Z0-9]+")
_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
            "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
            "'[-._a-zA-Z0-9]+')")

# Secret types minipod keeps, and the keys each requires (ValidateSecret).
# A service-account token is the API server's to make: there is none here.
SECRET_TYPES: dict[str, tuple[str, ...]] = {
    "Opaque": (),
    "kubernetes.io/basic-auth": (),  # username or password, checked below
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "bootstrap.kubernetes.io/token": (),
}
_REFUSED_TYPES = {"kubernetes.io/service-account-token":
                  "not supported by minipod (there is no API server to issue tokens)"}


def config_key_errors(key: str) -> list[str]:
    """validation.IsConfigMapKey."""
    errors = [] if len(key) <= 253 else ["must be no more than 253 characters"]
    if not _KEY_RE.fullmatch(key):
        errors.append(_KEY_MSG)
    if key.startswith(".."):
        errors.append("must not start with '..'")
    elif key == ".":
        errors.append("must not be '.'")
    return errors


def parse_config_map(top: Obj, source: str) -> ConfigData:
    top.errors.extend(key_errors(top.data, "", _CONFIG_MAP_KEYS))
    name, namespace, labels, annotations = parse_metadata(top)
    data: dict[str, bytes] = {}
    for key, value in _string_map(top, "data").items():
        data[key] = value.encode()
    binary: set[str] = set()
    for key, value in _string_map(top, "binaryData").items():
        if key in data:
            top.fail("binaryData", f'Invalid value: "{key}": duplicate of key present in data')
            continue
        decoded = _base64(top, "binaryData", key, value)
        if decoded is not None:
            data[key] = decoded
            binary.add(key)
    _check_size(top, "data", data)
    return ConfigData("ConfigMap", name, data, namespace, labels, annotations,
                      top.get_bool("immutable") or False, "", frozenset(binary), source)


def parse_secret(top: Obj, source: str) -> ConfigData:
    top.errors.extend(key_errors(top.data, "", _SECRET_KEYS))
    name, namespace, labels, annotations = parse_metadata(top)
    data: dict[str, bytes] = {}
    for key, value in _string_map(top, "data").items():
        decoded = _base64(top, "data", key, value)
        if decoded is not None:
            data[key] = decoded
    for key, value in _string_map(top, "stringData").items():
        data[key] = value.encode()  # stringData is merged over data (API server)
    kind = top.get_str("type") or "Opaque"
    _check_type(top, kind, data)
    _check_size(top, "data", data)
    return ConfigData("Secret", name, data, namespace, labels, annotations,
                      top.get_bool("immutable") or False, kind, frozenset(), source)


def _string_map(top: Obj, field: Literal["data", "binaryData", "stringData"]) -> dict[str, str]:
    raw = top.get_dict(field) or {}
    found: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            top.fail(field, wrong_type("keys must be strings", key))
            continue
        errors = config_key_errors(key)
        if errors:
            check(top, field, key, errors)
            continue
        if value is None:  # a key with no value is an empty one, as JSON's null decodes
            found[key] = ""
            continue
        if not isinstance(value, str):
            top.fail(f"{field}[{key}]", wrong_type("must be a string", value))
            continue
        found[key] = value
    return found


def _base64(top: Obj, field: str, key: str, value: str) -> bytes | None:
    try:
        return base64.b64decode(value.encode(), validate=True)
    except (binascii.Error, ValueError):
        top.fail(f"{field}[{key}]", "illegal base64 data (a Secret's data and a ConfigMap's"
                 " binaryData are base64; stringData takes plain text)")
        return None


def _check_size(top: Obj, field: str, data: dict[str, bytes]) -> None:
    size = sum(len(k) + len(v) for k, v in data.items())
    if size > MAX_SIZE:
        top.fail(field, f"Too long: must have at most {MAX_SIZE} bytes")


def _check_type(top: Obj, kind: str, data: dict[str, bytes]) -> None:
    if kind in _REFUSED_TYPES:
        top.fail("type", f'Invalid value: "{kind}": {_REFUSED_TYPES[kind]}')
        return
    if kind not in SECRET_TYPES:
        return  # any other type is the user's own, as in the API
    for required in SECRET_TYPES[kind]:
        if required not in data:
            top.fail(f"data[{required}]", "Required value")
    if kind == "kubernetes.io/basic-auth" and not {"username", "password"} & set(data):
        top.fail("data[username]", "Required value: either username or password must be set")
    # a docker config must be a JSON object (the values stay unshown)
    key = {"kubernetes.io/dockerconfigjson": ".dockerconfigjson",
           "kubernetes.io/dockercfg": ".dockercfg"}.get(kind)
    if key is not None and key in data:
        try:
            doc = json.loads(data[key])
            error = "" if isinstance(doc, dict) else "not a JSON object"
        except ValueError as e:
            error = str(e)
        if error:
            top.fail(f"data[{key}]", f'Invalid value: "<secret contents redacted>": {error}')
