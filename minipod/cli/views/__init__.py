"""The read-only kubectl and crictl verbs: get, describe, logs, ps, inspect, top.

They read the state directory only (pods/<ns>_<name>/pod.json, events.jsonl,
logs/), so they work from any terminal while `minipod up` runs elsewhere, and
never talk to a supervisor. The text is kubectl's own: tables go through an
emulation of Go's text/tabwriter with kubectl's settings, so columns line up
exactly as kubectl lines them up.

One module per verb (get.py, describe.py, logs.py, ps.py, inspect.py,
top.py), and
what they share: records.py reads the pod records (every verb's view of
pod.json starts there), tabwriter.py, output.py (stdout, ViewError),
host.py (the clock, the node name: the tests' seams) and watch.py (what
`get -w` and `logs -f` wait on: inotify, minipod/kernel/inotify.py, or a
1 s poll where it is missing). The CRI log format `logs` reads is
minipod/kernel/logs.py's, next to its writer.

This module only registers the verbs with the parser; each verb's module
loads when that verb runs, and nothing heavy is imported at the top of any
(yaml, ctypes and psutil load on use).
"""

from __future__ import annotations

import argparse
from typing import Any

from minipod.cli.views.output import handled


def cmd_get(args: argparse.Namespace) -> int:
    # start-up: each verb's module loads when that verb runs
    from minipod.cli.views import get

    return get.cmd_get(args)


def cmd_top(args: argparse.Namespace) -> int:
    # start-up: each verb's module loads when that verb runs
    from minipod.cli.views import top

    return top.cmd_top(args)


def cmd_describe(args: argparse.Namespace) -> int:
    # start-up: each verb's module loads when that verb runs
    from minipod.cli.views import describe

    return describe.cmd_describe(args)


def cmd_events(args: argparse.Namespace) -> int:
    # start-up: each verb's module loads when that verb runs
    from minipod.cli.views import events

    return events.cmd_events(args)


def cmd_logs(args: argparse.Namespace) -> int:
    # start-up: each verb's module loads when that verb runs
    from minipod.cli.views import logs

    return logs.cmd_logs(args)


def cmd_ps(args: argparse.Namespace) -> int:
    # start-up: each verb's module loads when that verb runs
    from minipod.cli.views import ps

    return ps.cmd_ps(args)


def cmd_inspect(args: argparse.Namespace) -> int:
    # start-up: each verb's module loads when that verb runs
    from minipod.cli.views import inspect

    return inspect.cmd_inspect(args)


def _duration(text: str) -> float:
    # start-up: each verb's module loads when that verb runs
    from minipod.cli.views.logs import parse_duration

    return parse_duration(text)


def _tail(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None


def register(sub: Any) -> None:
    get = sub.add_parser("get", help="list objects (kubectl get pods, deploy, rs, cm, secrets,"
                         " events)")
    get.add_argument("resource", metavar="RESOURCE",
                     help="pods (pod, po), deployments (deploy), replicasets (rs), configmaps "
                     "(cm), secrets, events (ev); or TYPE/NAME")
    get.add_argument("names", nargs="*", metavar="NAME")
    get.add_argument("-n", "--namespace", default="default")
    get.add_argument("-A", "--all-namespaces", action="store_true")
    get.add_argument("-o", "--output", default=None, metavar="FORMAT",
                     help="wide, json, yaml, name, jsonpath=TEMPLATE, custom-columns=SPEC")
    get.add_argument("-w", "--watch", action="store_true",
                     help="after the list, print a row whenever a pod changes")
    get.add_argument("--show-labels", action="store_true")
    get.add_argument("-l", "--selector", default=None, metavar="SELECTOR",
                     help="label selector: key=value,key!=value,key,!key,key in (a,b)")
    get.add_argument("--field-selector", default=None, metavar="SELECTOR",
                     help="field selector: status.phase=Running,metadata.name!=x")
    get.add_argument("--sort-by", default=None, metavar="JSONPATH",
                     help="sort by a field: .metadata.name, {.status.startTime}")
    get.add_argument("--no-headers", action="store_true", help="no header line")
    get.set_defaults(handler=handled(cmd_get), intermixed=True)

    events = sub.add_parser("events", help="list events, oldest first (kubectl events)")
    events.add_argument("-n", "--namespace", default="default")
    events.add_argument("-A", "--all-namespaces", action="store_true")
    events.add_argument("--for", dest="for_object", default=None, metavar="KIND/NAME",
                        help="only the events of this object (pod/NAME)")
    events.add_argument("--types", default=None, metavar="TYPES",
                        help="only these types: Normal,Warning")
    events.add_argument("-o", "--output", default=None, metavar="FORMAT",
                        help="json, yaml, name, jsonpath=..., custom-columns=...")
    events.add_argument("--no-headers", action="store_true")
    events.set_defaults(handler=handled(cmd_events))

    describe = sub.add_parser("describe", help="describe an object (kubectl describe pod NAME,"
                              " configmap NAME, secret NAME)")
    describe.add_argument("resource", metavar="RESOURCE", help="pod, configmap, secret "
                          "(or TYPE/NAME)")
    describe.add_argument("names", nargs="*", metavar="NAME")
    describe.add_argument("-n", "--namespace", default="default")
    describe.set_defaults(handler=handled(cmd_describe), intermixed=True)

    logs = sub.add_parser("logs", help="a container's output (kubectl logs)")
    logs.add_argument("pod", metavar="POD", nargs="?",
                      help="POD, pod/POD, deploy/NAME or rs/NAME (one of its pods)")
    logs.add_argument("-c", "--container", default=None)
    logs.add_argument("-f", "--follow", action="store_true",
                      help="keep printing until the container's run ends")
    logs.add_argument("-p", "--previous", action="store_true",
                      help="the previous run of the container")
    logs.add_argument("--tail", type=_tail, default=None, metavar="N",
                      help="only the last N lines (-1: all)")
    logs.add_argument("--timestamps", action="store_true")
    logs.add_argument("--since", type=_duration, default=None, metavar="DURATION",
                      help="only lines newer than this (5s, 2m, 3h)")
    logs.add_argument("--since-time", default=None, metavar="RFC3339",
                      help="only lines from this time on (2024-05-01T10:00:00Z)")
    logs.add_argument("--all-containers", action="store_true",
                      help="every container of the pod, init containers first")
    logs.add_argument("-l", "--selector", default=None, metavar="SELECTOR",
                      help="the pods whose labels match (--tail 10 unless given)")
    logs.add_argument("--prefix", action="store_true",
                      help="start each line with [pod/NAME/CONTAINER]")
    logs.add_argument("--max-log-requests", type=int, default=5, metavar="N",
                      help="with -f and -l: how many logs may be followed at once")
    logs.add_argument("-n", "--namespace", default="default")
    logs.set_defaults(handler=handled(cmd_logs))

    ps = sub.add_parser("ps", help="list containers (crictl ps)")
    ps.add_argument("-a", "--all", action="store_true", help="exited containers too")
    ps.add_argument("--pod", default=None, metavar="NAME")
    ps.add_argument("-n", "--namespace", default=None)
    ps.set_defaults(handler=handled(cmd_ps))

    _register_inspect_and_top(sub)


def _register_inspect_and_top(sub: Any) -> None:
    inspect = sub.add_parser("inspect", help="a pod's processes, namespaces and paths (JSON)")
    inspect.add_argument("pod", metavar="POD")
    inspect.add_argument("-n", "--namespace", default="default")
    inspect.set_defaults(handler=handled(cmd_inspect))

    top = sub.add_parser("top", help="CPU and memory of pods (kubectl top pod), "
                                     "from their cgroups")
    top.add_argument("resource", metavar="RESOURCE", help="pod (pods, po)")
    top.add_argument("names", nargs="*", metavar="NAME")
    top.add_argument("-n", "--namespace", default="default")
    top.add_argument("-A", "--all-namespaces", action="store_true")
    top.add_argument("--containers", action="store_true",
                     help="a line per container instead of per pod")
    top.set_defaults(handler=handled(cmd_top))
