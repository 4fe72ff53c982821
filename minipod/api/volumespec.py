"""spec.volumes: the volume sources minipod mounts (emptyDir, hostPath) with
their options, and the names that volumeMounts refer to; every other source
Kubernetes has is named and refused.
"""

from __future__ import annotations

from minipod.api.fields import (
    Obj,
    check,
    check_absolute,
    check_unique,
    dns_label_errors,
    get_enum,
    keys,
    one_of,
    wrong_type,
)
from minipod.api.model import Volume
from minipod.api.quantity import quantity_bytes

_VOLUME_SOURCES = ("emptyDir", "hostPath")
_VOLUME_KEYS = keys(
    "name " + " ".join(_VOLUME_SOURCES),
    "gcePersistentDisk awsElasticBlockStore gitRepo secret nfs iscsi glusterfs"
    " persistentVolumeClaim rbd flexVolume cinder cephfs flocker downwardAPI fc azureFile"
    " configMap vsphereVolume quobyte azureDisk photonPersistentDisk projected portworxVolume"
    " scaleIO storageos csi ephemeral image",
    hint="supported: emptyDir, hostPath",
)
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
        else:
            volumes.append(Volume(name or ""))
    return tuple(volumes)


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
