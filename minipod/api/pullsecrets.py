"""imagePullSecrets as the kubelet reads them (pure): a keyring of the pod's
Secrets of type kubernetes.io/dockerconfigjson (and the older
kubernetes.io/dockercfg), and the credentials it has for an image.

The kubelet's pkg/credentialprovider: secrets.go takes each such Secret's
"auths" (Secrets of other types are passed over); keyring.go keys each entry
by its registry host and path (a scheme dropped, /v1/ and /v2/ counting as
none), looks keys up most specific first (reverse sorted), a key matching an
image when its port is the image's, its host has as many dot-separated parts,
each a glob of the image's, and its path is a prefix of the image's path;
credentials for index.docker.io (the "https://index.docker.io/v1/" key of
`docker login`) also serve any Docker Hub image. config.go: an entry's
"auth" (base64 of user:password) wins over its username and password.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from collections.abc import Iterable

from minipod.api.configdata import ConfigData
from minipod.api.frozen import frozen
from minipod.api.imageref import ImageRef

DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKERCFG = "kubernetes.io/dockercfg"
_DEFAULT_REGISTRY_HOST = "index.docker.io"


class PullSecretError(ValueError):
    """A Secret whose docker config the kubelet could not read (its pull fails)."""


@frozen
class Credential:
    username: str
    password: str
    key: str  # the keyring's key: registry.example.com, or with a path
    secret: str  # the Secret it came from


Keyring = list[tuple[str, Credential]]  # most specific key first


def keyring(secrets: Iterable[ConfigData]) -> Keyring:
    """The credentials of ``secrets`` (in imagePullSecrets' order)."""
    found: dict[str, list[Credential]] = {}
    for secret in secrets:
        auths = _auths(secret)
        for location, entry in auths.items():
            key = _key(str(location))
            if key is None:
                continue  # the kubelet logs an invalid entry and ignores it
            username, password = _entry(secret, str(location), entry)
            found.setdefault(key, []).append(Credential(username, password, key, secret.name))
    return [(key, cred) for key in sorted(found, reverse=True) for cred in found[key]]


def _auths(secret: ConfigData) -> dict[str, object]:
    if secret.type == DOCKER_CONFIG_JSON and secret.data.get(".dockerconfigjson"):
        doc = _json(secret, ".dockerconfigjson")
        auths = doc.get("auths") if isinstance(doc, dict) else None
        if auths is not None and not isinstance(auths, dict):
            raise PullSecretError(f'secret "{secret.name}": .dockerconfigjson: "auths" is '
                                  "not an object")
        return auths or {}
    if secret.type == DOCKERCFG and secret.data.get(".dockercfg"):
        return _json(secret, ".dockercfg")
    return {}


def _json(secret: ConfigData, key: str) -> dict[str, object]:
    try:
        doc = json.loads(secret.data[key])
    except ValueError as e:
        raise PullSecretError(f'secret "{secret.name}": {key}: {e}') from None
    if not isinstance(doc, dict):
        raise PullSecretError(f'secret "{secret.name}": {key}: not a JSON object')
    return doc


def _entry(secret: ConfigData, location: str, entry: object) -> tuple[str, str]:
    where = f'secret "{secret.name}": auths["{location}"]'
    if not isinstance(entry, dict):
        raise PullSecretError(f"{where}: not an object")
    fields = {k: entry.get(k) or "" for k in ("username", "password", "auth")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise PullSecretError(f"{where}: username, password and auth must be strings")
    auth = str(fields["auth"])
    if not auth:
        return str(fields["username"]), str(fields["password"])
    try:
        # padded or not, as config.go's decodeDockerConfigFieldAuth takes it
        decoded = base64.b64decode(auth + "=" * (-len(auth) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise PullSecretError(f"{where}: auth is not base64") from None
    username, colon, password = decoded.decode("utf-8", "replace").partition(":")
    if not colon:
        raise PullSecretError(f"{where}: unable to parse auth field, must be formatted as "
                              "base64(username:password)")
    return username, password


def _key(location: str) -> str | None:
    """keyring.go's Add: the host and the path, /v1/ or /v2/ dropped."""
    for scheme in ("https://", "http://"):
        location = location.removeprefix(scheme)
    host, slash, path = location.partition("/")
    path = (slash + path).split("?")[0].split("#")[0]
    if not host:
        return None
    if path.startswith(("/v1/", "/v2/")):
        path = path[3:]
    return host + path if path and path != "/" else host


def _split(url: str) -> tuple[list[str], str, str]:
    """(host's dot-separated parts, port, path) of a URL without a scheme."""
    host, slash, path = url.partition("/")
    name, colon, port = host.rpartition(":")
    if not colon or not port.isdigit():
        name, port = host, ""
    return name.split("."), port, slash + path


def urls_match(glob: str, target: str) -> bool:
    """keyring.go's URLsMatch: ``glob`` (a keyring key, globs in its host)
    against ``target`` (an image's repository, registry/path)."""
    glob_parts, glob_port, glob_path = _split(glob)
    parts, port, path = _split(target)
    if glob_port != port or len(glob_parts) != len(parts) or not path.startswith(glob_path):
        return False
    return all(fnmatch.fnmatchcase(part, pattern)
               for pattern, part in zip(glob_parts, parts, strict=True))


def lookup(ring: Keyring, ref: ImageRef) -> list[Credential]:
    """The credentials the kubelet tries for ``ref``, in its order."""
    repo = ref.name  # docker.io/library/nginx, as ParseImageName gives it
    found = [cred for key, cred in ring if urls_match(key, repo)]
    if found:
        return found
    if ref.domain in ("docker.io", _DEFAULT_REGISTRY_HOST):
        return [cred for key, cred in ring if key == _DEFAULT_REGISTRY_HOST]
    return []


def auth_config(cred: Credential, registry: str) -> bytes:
    """A docker config.json with ``cred`` for ``registry`` (what skopeo
    reads with --authfile)."""
    token = base64.b64encode(f"{cred.username}:{cred.password}".encode()).decode()
    return json.dumps({"auths": {registry: {"auth": token}}}).encode()
