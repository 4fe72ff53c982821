"""`minipod label` and `minipod annotate` (kubectl's): set (k=v) or remove
(k-) labels and annotations of pods, Services, ConfigMaps and Secrets.

A pod's supervisor holds its labels (they decide its ReplicaSet, and its
downward API files show them), and a Service's supervisor its record, so
the change is asked of it over its control socket (op "metadata"); a
ConfigMap or Secret is rewritten in the store, and the supervisors watching
it hear of it.
"""

from __future__ import annotations

import argparse
from typing import Any

from minipod.api.errors import SpecError


def register(sub: Any) -> None:  # argparse's _SubParsersAction is private
    for verb, what in (("label", "labels"), ("annotate", "annotations")):
        parser = sub.add_parser(verb, help=f"set or remove {what}: minipod {verb} pod NAME "
                                "k=v k2- (kubectl " + verb + ")")
        parser.add_argument("names", nargs="+", metavar="TYPE NAME|TYPE/NAME KEY=VALUE|KEY-")
        parser.add_argument("-n", "--namespace", default="default")
        parser.add_argument("--overwrite", action="store_true",
                            help="allow changing a key that has a value")
        parser.add_argument("--all", action="store_true", help="every object of TYPE")
        parser.add_argument("-l", "--selector", default=None, metavar="SELECTOR")
        parser.set_defaults(handler=cmd_meta, field=what, verb=verb, intermixed=True)


def split_words(words: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """(TYPE and names, key=value pairs, keys to remove), kubectl's way: the
    first word with = or ending in - starts the changes."""
    targets: list[str] = []
    changes: dict[str, str] = {}
    removals: list[str] = []
    for word in words:
        if "=" in word:
            key, _, value = word.partition("=")
            changes[key] = value
        elif word.endswith("-") and (changes or removals or len(targets) >= 2
                                     or "/" in (targets[0] if targets else "")):
            removals.append(word[:-1])
        else:
            targets.append(word)
    return targets, changes, removals


def apply_changes(current: dict[str, str], changes: dict[str, str], removals: list[str],
                  overwrite: bool, field: str) -> dict[str, str]:
    """The new map; SpecError as kubectl refuses a change without --overwrite."""
    # start-up: imported with the verb that needs it
    from minipod.api.fields import label_value_errors, qualified_name_errors

    result = dict(current)
    for key, value in changes.items():
        errors = qualified_name_errors(key) + (
            label_value_errors(value) if field == "labels" else [])
        if errors:
            raise SpecError(f'invalid {field[:-1]} spec: "{key}={value}": {errors[0]}')
        if key in current and current[key] != value and not overwrite:
            raise SpecError(f"'{key}' already has a value ({current[key]}), and --overwrite "
                            "is false")
        result[key] = value
    for key in removals:
        result.pop(key, None)
    return result


def cmd_meta(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    import sys

    # start-up: imported with the verb that needs it
    from minipod.api.errors import MinipodError
    from minipod.cli.views.objects import load_items, select
    from minipod.cli.views.output import ViewError
    from minipod.cli.views.resources import split_targets

    targets, changes, removals = split_words(args.names)
    if not changes and not removals:
        raise SpecError(f"at least one {args.field[:-1]} update is required")
    try:
        pairs = split_targets(targets[0] if targets else None, targets[1:])
    except ViewError as e:
        raise SpecError(str(e).removeprefix("error: ")) from None
    named = [(res, name) for res, name in pairs if name]
    if not named:
        if not (args.all or args.selector):
            raise SpecError("one or more resources must be specified as <resource> <name> or "
                            "<resource>/<name>")
        res = pairs[0][0]
        named = [(res, item.name) for item in select(load_items(res.kind, args.namespace), res,
                                                    args.selector, None)]
    word = "labeled" if args.verb == "label" else "annotated"
    status = 0
    for res, name in named:
        if res.kind not in ("Pod", "ConfigMap", "Secret", "Service"):
            raise SpecError(f"minipod {args.verb} takes pods, services, configmaps and "
                            f"secrets, not {res.plural}")
        try:
            changed = _change(res.kind, args.namespace, str(name), changes=changes,
                              removals=removals, overwrite=args.overwrite, field=args.field)
        except SpecError:
            raise
        except (MinipodError, OSError) as e:  # one object's failure does not stop the others
            print(f"Error from server (NotFound): {res.plural} \"{name}\" not found"
                  if "not found" in str(e) else f"error: {e}", file=sys.stderr)
            status = 1
            continue
        print(f"{res.qualified}/{name} {word if changed else 'not ' + word}")
    return status


def _change(kind: str, namespace: str, name: str, *, changes: dict[str, str],
            removals: list[str], overwrite: bool, field: str) -> bool:
    """Change one object; False when nothing would change."""
    # start-up: imported with the verb that needs it
    from pathlib import Path

    # start-up: imported with the verb that needs it
    from minipod.api.errors import StateError
    from minipod.kernel import configstore
    from minipod.kernel.proc import same_process
    from minipod.kernel.records import read_pod_record, read_service_record
    from minipod.kernel.state import pod_dir, service_record_path
    from minipod.server.client import request

    if kind in ("ConfigMap", "Secret"):
        record = configstore.load(kind, namespace, name)
        if record is None:
            raise StateError(f"{kind} {name} not found")
        labels, annotations = dict(record.config.labels), dict(record.config.annotations)
        current = labels if field == "labels" else annotations
        new = apply_changes(current, changes, removals, overwrite, field)
        if new == current:
            return False
        configstore.replace_metadata(kind, namespace, name,
                                     new if field == "labels" else labels,
                                     new if field == "annotations" else annotations)
        return True
    if kind == "Service":
        service = read_service_record(service_record_path(namespace, name))
        if service is None:
            raise StateError(f"service {name} not found")
        if not same_process(service.supervisor):
            raise StateError(f"the supervisor of service {name} is gone (minipod recover "
                             "adopts it)")
        api, supervisor = service.api_object, service.supervisor
    else:
        pod = read_pod_record(pod_dir(namespace, name)) if pod_dir(namespace, name).exists() \
            else None
        if pod is None:
            raise StateError(f"pod {name} not found")
        api, supervisor = pod.api_object, pod.supervisor
    meta = api.get("metadata") or {}
    current = dict(meta.get(field) or {})
    new = apply_changes(current, changes, removals, overwrite, field)
    if new == current:
        return False
    answer = request(Path(supervisor.socket), {"op": "metadata", "kind": kind,
                                               "namespace": namespace, "name": name,
                                               field: new}, timeout=10)
    if not answer.get("ok"):
        raise StateError(str(answer.get("error") or "the supervisor refused"))
    return True
