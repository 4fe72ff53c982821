"""ObjectMeta, the metadata every kind has: name, namespace, labels and
annotations under the API server's rules (ValidateObjectMeta), and the
server-set fields a `kubectl get -o yaml` output carries, accepted and dropped.
"""

from __future__ import annotations

from minipod.api.fields import (
    Obj,
    check,
    dns_label_errors,
    dns_subdomain_errors,
    keys,
    label_value_errors,
    qualified_name_errors,
    wrong_type,
)

METADATA_KEYS = keys(
    "name namespace labels annotations",
    "generateName",
    hint="set metadata.name",
    ignored="uid resourceVersion creationTimestamp generation managedFields ownerReferences"
    " finalizers deletionTimestamp deletionGracePeriodSeconds selfLink clusterName",
)

_ANNOTATIONS_MAX_BYTES = 256 * 1024


def parse_metadata(top: Obj) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """(name, namespace, labels, annotations)."""
    meta = top.get_mapping("metadata", METADATA_KEYS, required=True)
    if meta is None:
        return "", "default", {}, {}
    # Pod names are DNS subdomains; the hostname derived from a long one is
    # truncated to a label when the pod starts, not refused here.
    name = meta.get_str("name", required=True)
    if name is not None:
        check(meta, "name", name, dns_subdomain_errors(name))
    namespace = meta.get_str("namespace") or "default"  # "" means default too
    check(meta, "namespace", namespace, dns_label_errors(namespace))
    return name or "", namespace, parse_labels(meta), parse_annotations(meta)


def _get_string_map(meta: Obj, key: str) -> dict[str, str]:
    raw = meta.get_dict(key) or {}
    result = {}
    for k, v in raw.items():
        if not isinstance(k, str):
            meta.fail(key, wrong_type("keys must be strings", k))
        elif not isinstance(v, str):
            meta.fail(key, wrong_type(f'value of "{k}" must be a string', v))
        else:
            result[k] = v
    return result


def parse_labels(meta: Obj, key: str = "labels") -> dict[str, str]:
    labels = _get_string_map(meta, key)
    for name, value in labels.items():
        check(meta, key, name, qualified_name_errors(name))
        check(meta, key, value, label_value_errors(value))
    return labels


def parse_annotations(meta: Obj) -> dict[str, str]:
    annotations = _get_string_map(meta, "annotations")
    for key in annotations:
        # ValidateAnnotations lowercases the key before checking it.
        check(meta, "annotations", key, qualified_name_errors(key.lower()))
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > _ANNOTATIONS_MAX_BYTES:
        meta.fail("annotations", f"Too long: must have at most {_ANNOTATIONS_MAX_BYTES} bytes")
    return annotations
