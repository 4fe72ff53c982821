"""spec.volumes: the volume sources minipod mounts (emptyDir, hostPath, and
the kubelet's projections of API data: configMap, secret, downwardAPI and
projected) with their options, and the names that volumeMounts refer to;
every other source Kubernetes has is named and refused. Also the downward
API's selectors, which env's valueFrom shares (podspec).
"""

from __future__ import annotations

import re

from minipod.api.fields import (
    Obj,
    check,
    check_absolute,
    check_unique,
    dns_label_errors,
    dns_subdomain_errors,
    get_enum,
    keys,
    one_of,
    qualified_name_errors,
    relative_path_errors,
    unsupported_value,
    wrong_type,
)
from minipod.api.model import (
    DownwardAPIFile,
    KeyToPath,
    ObjectFieldSelector,
    Projection,
    ResourceFieldSelector,
    Volume,
)
from minipod.api.quantity import quantity_bytes

_VOLUME_SOURCES = ("emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "projected")
_VOLUME_KEYS = keys(
    "name " + " ".join(_VOLUME_SOURCES),
    "gcePersistentDisk awsElasticBlockStore gitRepo nfs iscsi glusterfs"
    " persistentVolumeClaim rbd flexVolume cinder cephfs flocker fc azureFile"
    " vsphereVolume quobyte azureDisk photonPersistentDisk portworxVolume"
    " scaleIO storageos csi ephemeral image",
    hint="supported: " + ", ".join(_VOLUME_SOURCES),
)
_CONFIG_MAP_KEYS = keys("name items defaultMode optional")
_SECRET_KEYS = keys("secretName items defaultMode optional")
_DOWNWARD_KEYS = keys("items defaultMode")
_PROJECTED_KEYS = keys("sources defaultMode")
_PROJECTION_KEYS = keys("configMap secret downwardAPI",
                        "serviceAccountToken clusterTrustBundle podCertificate",
                        hint="there is no API server to issue tokens or bundles")
_PROJECTED_CONFIG_MAP_KEYS = keys("name items optional")
_PROJECTED_SECRET_KEYS = keys("name items optional")
_PROJECTED_DOWNWARD_KEYS = keys("items")
_KEY_TO_PATH_KEYS = keys("key path mode")
_DOWNWARD_FILE_KEYS = keys("path fieldRef resourceFieldRef mode")
_FIELD_REF_KEYS = keys("apiVersion fieldPath")
_RESOURCE_FIELD_REF_KEYS = keys("containerName resource divisor")
_MODE_MSG = "must be a number between 0 and 0777 (octal), both inclusive"

# validVolumeDownwardAPIFieldPathExpressions; labels and annotations whole,
# or one of them by its key (metadata.labels['app'])
VOLUME_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.labels",
                      "metadata.annotations", "metadata.uid")
_SUBSCRIPT_RE = re.compile(r"metadata\.(labels|annotations)\['([^']*)'\]")
RESOURCES = ("limits.cpu", "limits.memory", "limits.ephemeral-storage", "requests.cpu",
             "requests.memory", "requests.ephemeral-storage")
_CPU_DIVISORS = ("1m", "1")
_BYTE_DIVISORS = ("1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi",
                  "1Ei")
_EMPTY_DIR_KEYS = keys("medium sizeLimit")
_HOST_PATH_KEYS = keys("path type")

_EMPTY_DIR_MEDIA = ("", "Memory")
_HOST_PATH_TYPES = (
    "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
    "BlockDevice",
)  # fmt: skip


def parse_volumes(spec: Obj) -> tuple[Volume, ...]:
    volumes = []
    names: set[str] = set()
    for obj in spec.get_mappings("volumes", _VOLUME_KEYS):
        name = obj.get_str("name", required=True)
        if name is not None:
            check(obj, "name", name, dns_label_errors(name))
            check_unique(obj, "name", name, names)
        # "emptyDir:" with no value is a common spelling of "emptyDir: {}" (the
        # API server even defaults a volume with no source to emptyDir).
        source = one_of(
            obj, _VOLUME_SOURCES, "volume type", _VOLUME_KEYS.unsupported, ("emptyDir",)
        )
        if source == "emptyDir":
            volumes.append(_parse_empty_dir(obj, name or ""))
        elif source == "hostPath":
            volumes.append(_parse_host_path(obj, name or ""))
        elif source is not None:
            volumes.append(_parse_projected(obj, name or "", source))
        else:
            volumes.append(Volume(name or ""))
    return tuple(volumes)


# -- configMap, secret, downwardAPI, projected ---------------------------------------


def _parse_projected(volume: Obj, name: str, source: str) -> Volume:
    keys_of = {"configMap": _CONFIG_MAP_KEYS, "secret": _SECRET_KEYS,
               "downwardAPI": _DOWNWARD_KEYS, "projected": _PROJECTED_KEYS}
    obj = volume.get_mapping(source, keys_of[source])
    if obj is None:
        if source == "projected" or source in volume.data:
            obj = Obj({}, volume.at(source), volume.errors)
        else:
            return Volume(name, source=source, projections=())
    mode = _get_mode(obj, "defaultMode")
    projections: list[Projection] = []
    if source == "configMap":
        projections.append(_key_source(obj, "ConfigMap", "name"))
    elif source == "secret":
        projections.append(_key_source(obj, "Secret", "secretName"))
    elif source == "downwardAPI":
        projections.append(_downward_source(obj))
    else:
        projections = _projected_sources(obj)
    return Volume(name, source=source, projections=tuple(projections),
                  default_mode=0o644 if mode is None else mode)


def _get_mode(obj: Obj, key: str) -> int | None:
    mode = obj.get_int(key)
    if mode is not None and not 0 <= mode <= 0o777:
        obj.fail(key, f"Invalid value: {mode}: {_MODE_MSG}")
        return None
    return mode


def _key_source(obj: Obj, kind: str, name_key: str) -> Projection:
    """The keys of a ConfigMap or Secret: every one, or ``items``."""
    name = obj.get_str(name_key, required=True)
    if name:
        check(obj, name_key, name, dns_subdomain_errors(name))
    items = []
    paths: set[str] = set()
    for item in obj.get_mappings("items", _KEY_TO_PATH_KEYS):
        key = item.get_str("key", required=True)
        path = _get_file_path(item, paths)
        items.append(KeyToPath(key or "", path, _get_mode(item, "mode")))
    return Projection(kind, name or "", tuple(items),  # type: ignore[arg-type]
                      obj.get_bool("optional") or False)


def _get_file_path(obj: Obj, seen: set[str]) -> str:
    path = obj.get_str("path", required=True)
    if path:
        check(obj, "path", path, relative_path_errors(path, reserved=True))
        check_unique(obj, "path", path, seen)
    return path or ""


def _downward_source(obj: Obj) -> Projection:
    files = []
    paths: set[str] = set()
    for item in obj.get_mappings("items", _DOWNWARD_FILE_KEYS):
        path = _get_file_path(item, paths)
        which = one_of(item, ("fieldRef", "resourceFieldRef"), "source", ())
        field_ref = parse_field_ref(item, "fieldRef", VOLUME_FIELD_PATHS) \
            if which == "fieldRef" else None
        resource_ref = parse_resource_field_ref(item, "resourceFieldRef", in_env=False) \
            if which == "resourceFieldRef" else None
        files.append(DownwardAPIFile(path, field_ref, resource_ref, _get_mode(item, "mode")))
    return Projection("DownwardAPI", files=tuple(files))


def _projected_sources(obj: Obj) -> list[Projection]:
    found: list[Projection] = []
    paths: set[str] = set()
    for source in obj.get_mappings("sources", _PROJECTION_KEYS):
        which = one_of(source, ("configMap", "secret", "downwardAPI"), "source type",
                       _PROJECTION_KEYS.unsupported)
        if which is None:
            continue
        keys_of = {"configMap": _PROJECTED_CONFIG_MAP_KEYS, "secret": _PROJECTED_SECRET_KEYS,
                   "downwardAPI": _PROJECTED_DOWNWARD_KEYS}
        inner = source.get_mapping(which, keys_of[which]) or Obj({}, source.at(which),
                                                                 source.errors)
        if which == "downwardAPI":
            projection = _downward_source(inner)
            shown = [f.path for f in projection.files]
        else:
            projection = _key_source(inner, "ConfigMap" if which == "configMap" else "Secret",
                                     "name")
            shown = [i.path for i in projection.items]
        for path in shown:  # validateProjectionSources: one file per path
            if path in paths:
                inner.fail("items", f'Invalid value: "{path}": conflicting duplicate paths')
            paths.add(path)
        found.append(projection)
    return found


def parse_field_ref(parent: Obj, key: str, paths: tuple[str, ...]) -> ObjectFieldSelector | None:
    """A fieldRef: one of ``paths``, or a label or annotation by its key."""
    obj = parent.get_mapping(key, _FIELD_REF_KEYS)
    if obj is None:
        return None
    api_version = obj.get_str("apiVersion") or "v1"
    if api_version != "v1":
        obj.fail("apiVersion", unsupported_value(api_version, ("v1",)))
    path = obj.get_str("fieldPath", required=True)
    if path is None:
        return None
    subscript = _SUBSCRIPT_RE.fullmatch(path)
    if subscript is not None:
        errors = qualified_name_errors(subscript.group(2))
        for message in errors:
            obj.fail("fieldPath", f'Invalid value: "{subscript.group(2)}": {message}')
        return ObjectFieldSelector(path, api_version) if not errors else None
    if path not in paths:
        obj.fail("fieldPath", unsupported_value(path, paths))
        return None
    return ObjectFieldSelector(path, api_version)


def parse_resource_field_ref(parent: Obj, key: str, *, in_env: bool
                             ) -> ResourceFieldSelector | None:
    """A resourceFieldRef: in a volume it names its container; in env it may
    not (validateContainerResourceFieldSelector)."""
    obj = parent.get_mapping(key, _RESOURCE_FIELD_REF_KEYS)
    if obj is None:
        return None
    container = obj.get_str("containerName") or ""
    if not in_env and not container:
        obj.fail("containerName", "Required value")
    resource = obj.get_str("resource", required=True)
    if resource is not None and resource not in RESOURCES:
        obj.fail("resource", unsupported_value(resource, RESOURCES))
        return None
    divisor = obj.data.get("divisor", "1")
    if is_quantity_text(divisor):
        divisor = str(divisor)
        allowed = _CPU_DIVISORS if resource and resource.endswith("cpu") else _BYTE_DIVISORS
        if divisor not in allowed:
            obj.fail("divisor", unsupported_value(divisor, allowed))
            return None
    else:
        obj.fail("divisor", wrong_type("must be a quantity such as 1Mi", divisor))
        return None
    return ResourceFieldSelector(resource or "", container, divisor)


def is_quantity_text(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _parse_empty_dir(volume: Obj, name: str) -> Volume:
    obj = volume.get_mapping("emptyDir", _EMPTY_DIR_KEYS)
    if obj is None:
        return Volume(name, empty_dir=True)
    return Volume(
        name,
        empty_dir=True,
        empty_dir_medium=get_enum(obj, "medium", _EMPTY_DIR_MEDIA, ""),
        empty_dir_size_limit=_get_size_limit(obj),
    )


def _get_size_limit(obj: Obj) -> int | None:
    value = obj.data.get("sizeLimit")
    if value is None:
        return None
    # A quantity is a string in the API, but plain numbers decode to one too.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        obj.fail("sizeLimit", wrong_type("must be a quantity such as 64Mi", value))
        return None
    try:
        size = quantity_bytes(str(value))
    except ValueError as exc:
        obj.fail("sizeLimit", f'Invalid value: "{value}": {exc}')
        return None
    if size <= 0:
        obj.fail("sizeLimit", f'Invalid value: "{value}": must be greater than 0')
        return None
    return size


def _parse_host_path(volume: Obj, name: str) -> Volume:
    obj = volume.get_mapping("hostPath", _HOST_PATH_KEYS)
    if obj is None:
        return Volume(name, host_path="")
    path = obj.get_str("path", required=True)
    if path is not None:
        check_absolute(obj, "path", path)
        if ".." in path.split("/"):  # validatePathNoBacksteps
            obj.fail("path", f"Invalid value: \"{path}\": must not contain '..'")
    return Volume(
        name, host_path=path or "", host_path_type=get_enum(obj, "type", _HOST_PATH_TYPES, "")
    )
