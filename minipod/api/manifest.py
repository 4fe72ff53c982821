"""Reading manifests: the entry points (parse_pods, parse_objects, load_pods,
load_objects, and load_paths for kubectl's `-f FILE|DIR|-`), strict YAML
(JSON and flow style are YAML too; a duplicate key is refused), the documents
of a multi-document file (numbered in sources and in field paths), names
unique per kind and namespace, and the dispatch of each document by kind
and apiVersion to its kind's validator (KINDS).

A new kind is its model in model.py (and its list in Manifest), its validator
module, and one entry in KINDS.

Pure: no syscalls, no filesystem access beyond reading the manifest text.
Every problem becomes a FieldError naming the field path (the way the API
server does, e.g. ``spec.containers[0].livenessProbe.periodSeconds``); all of
them are collected and raised together as one SpecError.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from minipod.api.configspec import parse_config_map, parse_secret
from minipod.api.errors import FieldError, SpecError
from minipod.api.fields import Obj, wrong_type
from minipod.api.frozen import frozen
from minipod.api.model import ConfigData, Manifest, Pod, Service, Workload
from minipod.api.podspec import parse_pod
from minipod.api.servicespec import parse_service
from minipod.api.workloadspec import parse_workload

__all__ = ["KINDS", "MANIFEST_EXTENSIONS", "Kind", "load_objects", "load_paths", "load_pods",
           "parse_objects", "parse_pods", "parse_sources", "read_paths"]

_Object = Pod | Workload | ConfigData | Service  # what a kind's validator returns


@frozen
class Kind:
    """One kind minipod reads: its apiVersion and its validator, which gets the
    document's top level (kind and apiVersion already checked) and its source."""

    api_version: str
    parse: Callable[[Obj, str], _Object]


# In this order in "supported: ..." messages.
KINDS: dict[str, Kind] = {
    "Pod": Kind("v1", parse_pod),
    "Deployment": Kind("apps/v1", lambda top, source: parse_workload(top, "Deployment", source)),
    "ReplicaSet": Kind("apps/v1", lambda top, source: parse_workload(top, "ReplicaSet", source)),
    "ConfigMap": Kind("v1", parse_config_map),
    "Secret": Kind("v1", parse_secret),
    "Service": Kind("v1", parse_service),
}
_PODS = {"Pod": KINDS["Pod"]}


def parse_pods(text: str, source: str = "<manifest>") -> list[Pod]:
    """Parse every document in ``text`` (YAML, flow-style YAML or JSON).

    Every document must be a v1 Pod; empty documents are skipped, and a text
    with no document at all is an error. Raises SpecError (with ``source``)
    carrying every FieldError found, in document order.
    """
    objects = _parse_text(text, source, _PODS)
    return [obj for obj in objects if isinstance(obj, Pod)]


def parse_objects(text: str, source: str = "<manifest>") -> Manifest:
    """Like parse_pods, but each document may also be an apps/v1 Deployment or
    ReplicaSet, a v1 ConfigMap, Secret or Service. Names are unique per kind
    and namespace, as in the API server."""
    return _manifest(_parse_text(text, source, KINDS))


def _manifest(objects: list[_Object]) -> Manifest:
    return Manifest(
        pods=[obj for obj in objects if isinstance(obj, Pod)],
        workloads=[obj for obj in objects if isinstance(obj, Workload)],
        configs=[obj for obj in objects if isinstance(obj, ConfigData)],
        services=[obj for obj in objects if isinstance(obj, Service)],
    )


def load_pods(path: str) -> list[Pod]:
    """Read ``path`` and parse_pods() it; an unreadable file is a SpecError too."""
    return parse_pods(_read_manifest(path), source=path)


def load_objects(path: str) -> Manifest:
    """Read ``path`` and parse_objects() it; an unreadable file is a SpecError too."""
    return parse_objects(_read_manifest(path), source=path)


# kubectl's FilenameOptions: in a directory, the files with these endings
MANIFEST_EXTENSIONS = (".json", ".yaml", ".yml")


def load_paths(paths: list[str], recursive: bool = False, stdin: str | None = None) -> Manifest:
    """kubectl's ``-f``: each path a file, a directory (its .json, .yaml and .yml
    files in name order; its subdirectories too with ``recursive``), or "-"
    for ``stdin``'s text. Every file is read and checked before anything is
    returned: one SpecError carries every problem of every file, so a set of
    files is taken whole or not at all. A name is unique per kind and
    namespace across all of them."""
    texts, errors = read_paths(paths, recursive, stdin)
    manifest = parse_sources(texts, errors)
    if not (manifest.pods or manifest.workloads or manifest.configs or manifest.services):
        shown = ", ".join(paths)
        raise SpecError(f"no objects passed to apply (no manifest found in {shown})")
    return manifest


def read_paths(paths: list[str], recursive: bool = False, stdin: str | None = None
               ) -> tuple[list[tuple[str, str]], list[SpecError]]:
    """(source, text) of every file ``paths`` name (see load_paths), and the
    errors of those that cannot be read."""
    texts: list[tuple[str, str]] = []
    errors: list[SpecError] = []
    for path in paths:
        if path == "-":
            texts.append(("<stdin>", stdin or ""))
            continue
        try:
            files = _files_of(path, recursive)
        except SpecError as e:
            errors.append(e)
            continue
        for file in files:
            try:
                texts.append((file, _read_manifest(file)))
            except SpecError as e:
                errors.append(e)
    return texts, errors


def parse_sources(texts: list[tuple[str, str]], errors: list[SpecError] | None = None
                  ) -> Manifest:
    """The objects of several (source, text) pairs, as one manifest: every
    problem of every text in one SpecError, names unique across them all."""
    errors = list(errors or [])
    objects: list[_Object] = []
    seen: set[tuple[str, str, str]] = set()
    for source, text in texts:
        try:
            found = _parse_text(text, source, KINDS, allow_empty=True)
        except SpecError as e:
            errors.append(e)
            continue
        duplicates: list[FieldError] = []
        for obj in found:
            _check_unique_name(_kind_of(obj), obj, seen, duplicates)
        if duplicates:
            errors.append(SpecError(duplicates, source=source))
        objects += found
    if errors:
        # one FieldError per line, each prefixed with its source: a FieldError
        # keeps its text on one line (api/errors.py), so a SpecError's lines
        # are not joined into one
        raise SpecError([FieldError("", f"{e.source}: {fe}" if e.source else str(fe))
                         for e in errors for fe in e.errors])
    return _manifest(objects)


def _kind_of(obj: _Object) -> str:
    return obj.kind if isinstance(obj, Workload | ConfigData | Service) else "Pod"


def _files_of(path: str, recursive: bool) -> list[str]:
    if not os.path.isdir(path):
        if not os.path.exists(path):
            raise SpecError(f'the path "{path}" does not exist')
        return [path]
    found: list[str] = []
    for root, dirs, names in os.walk(path):
        dirs.sort()
        if not recursive:
            dirs.clear()
        found += [os.path.join(root, n) for n in sorted(names)
                  if n.endswith(MANIFEST_EXTENSIONS)]
    return found


def _read_manifest(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    except OSError as exc:
        raise SpecError(f"cannot read manifest: {exc.strerror or exc}", source=path) from exc
    except UnicodeDecodeError as exc:
        message = f"cannot read manifest: not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise SpecError(message, source=path) from exc


def _parse_text(text: str, source: str, kinds: Mapping[str, Kind],
                allow_empty: bool = False) -> list[_Object]:
    documents, syntax_error = _load_documents(text)
    # Documents are numbered from 0, counting only non-empty ones (a trailing
    # "---" is not a document). Only a file with several of them gets numbers:
    # each object's source becomes "<source>#N" and each error path gets a
    # "doc[N]." prefix, so FieldError.path stays a plain field path for
    # single-object files.
    numbered = len(documents) > 1 or (syntax_error is not None and bool(documents))
    errors: list[FieldError] = []
    objects: list[_Object] = []
    seen: set[tuple[str, str, str]] = set()
    for index, document in enumerate(documents):
        found: list[FieldError] = []
        parsed = _parse_document(document, f"{source}#{index}" if numbered else source,
                                 found, kinds)
        if parsed is not None:
            kind, obj = parsed
            _check_unique_name(kind, obj, seen, found)
            objects.append(obj)
        errors.extend(_numbered(found, index) if numbered else found)
    if syntax_error is not None:
        errors.append(syntax_error)
    if not documents and not errors and not allow_empty:
        *others, last = kinds
        what = f"{', '.join(others)} or {last}" if others else last
        errors.append(FieldError("", f"no {what} found: the manifest has no documents"))
    if errors:
        raise SpecError(errors, source=source)
    return objects


def _numbered(errors: list[FieldError], index: int) -> list[FieldError]:
    prefix = f"doc[{index}]"
    return [FieldError(f"{prefix}.{e.path}" if e.path else prefix, e.message) for e in errors]


def _check_unique_name(kind: str, obj: _Object, seen: set[tuple[str, str, str]],
                       errors: list[FieldError]) -> None:
    # Names are unique per kind and namespace, as in the API server (AlreadyExists).
    if not obj.name:
        return
    key = (kind, obj.namespace, obj.name)
    if key in seen:
        errors.append(FieldError("metadata.name", f'Duplicate value: "{obj.name}"'))
    seen.add(key)


def _parse_document(document: object, source: str, errors: list[FieldError],
                    kinds: Mapping[str, Kind]) -> tuple[str, _Object] | None:
    """The kind and the object of one document, or None when it is not one of
    ``kinds`` at all.

    The object comes back even when ``errors`` grew, so the caller can still
    check names across documents; it is only used when there were no errors.
    """
    what = f"a {next(iter(kinds))} object" if len(kinds) == 1 else "a Kubernetes object"
    top = _top(document, errors, what)
    kind = _check_kind(top, kinds) if top is not None else None
    if top is None or kind is None:
        return None
    return kind, kinds[kind].parse(top, source)


def _top(document: object, errors: list[FieldError], what: str) -> Obj | None:
    if not isinstance(document, dict):
        errors.append(FieldError("", wrong_type(f"must be a mapping ({what})", document)))
        return None
    return Obj(document, "", errors)


def _check_kind(top: Obj, kinds: Mapping[str, Kind]) -> str | None:
    """Check kind and apiVersion against ``kinds``.

    Returns the kind when its body is worth reading: a Deployment's replicas
    or template are not "unknown Pod fields", so a kind that is not supported
    is reported once, by name, and nothing else is checked.
    """
    kind = top.get_str("kind", required=True)
    api_version = top.get_str("apiVersion", required=True)
    if kind is not None and kind not in kinds:
        # the document is named, so that a file of many says which it was
        meta = top.data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        what = f'{api_version or "?"} {kind} "{name}"' if isinstance(name, str) else kind
        top.fail("kind", f'"{kind}" is not supported by minipod ({what}; supported: '
                 f'{", ".join(kinds)})')
        return None
    known = kinds.get(kind or "")
    expected = known.api_version if known is not None else None
    allowed = [expected] if expected else sorted({k.api_version for k in kinds.values()}, key=len)
    if api_version is not None and api_version not in allowed:
        listed = ", ".join(allowed)
        top.fail("apiVersion", f'"{api_version}" is not supported (supported: {listed})')
    return kind if expected else None


# libyaml's parser when PyYAML has it (Debian's and PyPI's wheels do): a
# manifest parses ten times faster, which is a fifth of a pod's start.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[misc]
    """SafeLoader that refuses duplicate keys in a mapping.

    PyYAML silently keeps the last one; the API server's strict decoding
    reports it, and a silently dropped field is exactly what strictness is for.
    Keys brought in by a merge key ("<<") may still be overridden.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _YAML_MERGE_TAG:
                continue
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f'found duplicate key "{key_node.value}"',
                    key_node.start_mark,
                )
            seen.add(key_node.value)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)
        return mapping


_YAML_MERGE_TAG = "tag:yaml.org,2002:merge"


def _load_documents(text: str) -> tuple[list[Any], FieldError | None]:
    """The non-empty documents of ``text``, and the syntax error that ended it early."""
    documents: list[Any] = []
    try:
        for document in yaml.load_all(text, Loader=_StrictLoader):
            if document is not None:
                documents.append(document)
    except yaml.YAMLError as exc:
        return documents, FieldError("", _yaml_message(exc))
    except RecursionError:
        return documents, FieldError("", "invalid YAML: nested too deeply")
    return documents, None


def _yaml_message(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = f" ({exc.context})" if exc.context else ""
        return (
            f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: "
            f"{exc.problem or 'syntax error'}{context}"
        )
    return f"invalid YAML: {exc}"
