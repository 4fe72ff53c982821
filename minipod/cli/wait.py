"""`minipod wait` (kubectl wait): until objects meet a condition, or time out.

--for=condition=NAME[=VALUE] (a status condition: a pod's Ready,
Initialized, ContainersReady; a Deployment's Available, Progressing),
--for=delete (the object is gone), --for=jsonpath='{PATH}'=VALUE (or
without =VALUE: the path exists), over TYPE/NAME..., TYPE NAME..., or
TYPE --all / -l SELECTOR. kubectl's lines: "pod/web condition met", and on
timeout "error: timed out waiting for the condition on pods/web" (exit 1).

It looks at the state directory every POLL seconds: the records it reads
are what `get` reads.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from minipod.api.errors import SpecError
from minipod.api.frozen import frozen

if TYPE_CHECKING:
    from minipod.cli.views.resources import Resource
    from minipod.cli.views.watch import DirectoryWatch

POLL = 0.1  # seconds between two looks, only where a directory is not there to watch


def register(sub: Any) -> None:  # argparse's _SubParsersAction is private
    wait = sub.add_parser("wait", help="wait for a condition: --for=condition=Ready pod/NAME, "
                          "--for=delete, --for=jsonpath='{.status.phase}'=Running")
    wait.add_argument("names", nargs="*", metavar="TYPE/NAME",
                      help="TYPE/NAME..., or TYPE NAME..., or TYPE with --all or -l")
    wait.add_argument("--for", dest="condition", required=True, metavar="CONDITION",
                      help="condition=NAME[=VALUE], delete, or jsonpath='{PATH}'[=VALUE]")
    wait.add_argument("--timeout", type=_seconds, default=30.0, metavar="DURATION",
                      help="how long to wait (default 30s; 0: look once)")
    wait.add_argument("-n", "--namespace", default="default")
    wait.add_argument("--all", action="store_true", help="every object of TYPE")
    wait.add_argument("-l", "--selector", default=None, metavar="SELECTOR")
    wait.set_defaults(handler=cmd_wait, intermixed=True)


def _seconds(text: str) -> float:
    # start-up: imported with the verb that needs it
    from minipod.cli.views.logs import parse_duration

    if text.lstrip("-").isdigit():
        return float(text)  # kubectl takes a bare number as seconds too
    return parse_duration(text)


@frozen
class Condition:
    kind: str  # "condition", "delete", "jsonpath"
    name: str = ""  # the condition's type, or the jsonpath
    value: str | None = None  # None: "True" for a condition; any value for a jsonpath

    @classmethod
    def parse(cls, text: str) -> Condition:
        if text == "delete":
            return cls("delete")
        kind, sep, rest = text.partition("=")
        if kind == "condition" and sep and rest:
            name, sep, value = rest.partition("=")
            return cls("condition", name, value if sep else "True")
        if kind == "jsonpath" and sep and rest:
            # {PATH}=VALUE, the value after the closing brace
            end = rest.rfind("}")
            path, value = (rest[:end + 1], rest[end + 1:]) if end >= 0 else (rest, "")
            if value and not value.startswith("="):
                raise SpecError(f"jsonpath wait format must be --for=jsonpath='{{.status.x}}'"
                                f"=VALUE: {text}")
            return cls("jsonpath", path, value[1:] if value else None)
        raise SpecError(f"unrecognized condition: {text!r} (condition=NAME, delete, "
                        "jsonpath={PATH}=VALUE)")

    def met(self, obj: dict[str, Any] | None) -> bool:
        if self.kind == "delete":
            return obj is None
        if obj is None:
            return False
        if self.kind == "condition":
            for condition in (obj.get("status") or {}).get("conditions") or []:
                if str(condition.get("type", "")).lower() == self.name.lower():
                    return str(condition.get("status", "")).lower() == str(self.value).lower()
            return False
        # start-up: imported with the verb that needs it
        from minipod.cli.views.jsonpath import go_value, relaxed_values

        values = relaxed_values(self.name, obj)
        if self.value is None:
            return bool(values)
        return bool(values) and go_value(values[0]) == self.value


def cmd_wait(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.cli.views.objects import load_items, select
    from minipod.cli.views.output import ViewError
    from minipod.cli.views.resources import split_targets

    condition = Condition.parse(args.condition)
    try:
        pairs = split_targets(args.names[0] if args.names else None, args.names[1:])
    except ViewError as e:
        raise SpecError(str(e).removeprefix("error: ")) from None
    targets = [(res, name) for res, name in pairs if name]
    if not targets:
        if not (args.all or args.selector):
            raise SpecError("resource name may not be empty (give TYPE/NAME, --all or -l)")
        res = pairs[0][0]
        targets = [(res, i.name) for i in select(load_items(res.kind, args.namespace), res,
                                                 args.selector, None)]
        if not targets:
            raise SpecError("no matching resources found")
    deadline = time.monotonic() + args.timeout
    status = 0
    with _watch({res.kind for res, _name in targets}) as watch:
        for res, name in targets:
            status |= _wait_for(res, str(name), condition, args.namespace, deadline, watch)
    return status


def _watch(kinds: set[str]) -> DirectoryWatch:
    """Where the objects of ``kinds`` change: pods/ for every kind (a
    Deployment's status is its pods'), and each kind's own records."""
    # start-up: imported with the verb that needs it
    from minipod.cli.views.watch import DirectoryWatch
    from minipod.kernel import configstore, state

    records = {"Deployment": state.workload_records_dir(),
               "ReplicaSet": state.workload_records_dir(),
               "Service": state.services_dir(), "Endpoints": state.endpoints_dir(),
               **{kind: configstore.store_dir(kind) for kind in configstore.DIRECTORIES}}
    flat = {records[kind] for kind in kinds if kind in records}
    return DirectoryWatch(state.pods_dir(), tuple(sorted(flat)))


def _wait_for(res: Resource, name: str, condition: Condition, namespace: str,  # noqa: PLR0917
              deadline: float, watch: DirectoryWatch) -> int:
    """0 once ``condition`` holds for the object, 1 (said) at the deadline.
    It looks again whenever the state directory changes, not on a clock (but
    for a directory not made yet)."""
    # start-up: imported with the verb that needs it
    from minipod.cli.views.objects import load_items

    while True:
        found = {i.name: i.api for i in load_items(res.kind, namespace)}
        obj = found.get(name)
        left = deadline - time.monotonic()
        if obj is None and condition.kind != "delete" and left <= 0:
            print(f'Error from server (NotFound): {res.plural} "{name}" not found',
                  file=sys.stderr)
            return 1
        if condition.met(obj):
            print(f"{res.qualified}/{name} condition met")
            return 0
        if left <= 0:
            print(f"error: timed out waiting for the condition on {res.plural}/{name}",
                  file=sys.stderr)
            return 1
        watch.wait(left if watch.complete else min(left, POLL))
