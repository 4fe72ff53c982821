"""The read-only kubectl and crictl verbs: get, describe, logs, ps, inspect.

They read the state directory only (pods/<ns>_<name>/pod.json, events.jsonl,
logs/), so they work from any terminal while `minipod up` runs elsewhere, and
never talk to a supervisor. The text is kubectl's own: tables go through an
emulation of Go's text/tabwriter with kubectl's settings, so columns line up
exactly as kubectl lines them up.

One module per verb (get.py, describe.py, logs.py, ps.py, inspect.py), and
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


def cmd_describe(args: argparse.Namespace) -> int:
    # start-up: each verb's module loads when that verb runs
    from minipod.cli.views import describe

    return describe.cmd_describe(args)


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


def _tail(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None


def register(sub: Any) -> None:
    get = sub.add_parser("get", help="list pods (kubectl get pods), deployments, replicasets")
    get.add_argument("resource", metavar="RESOURCE",
                     help="pods (pod, po), deployments (deploy), replicasets (rs)")
    get.add_argument("names", nargs="*", metavar="NAME")
    get.add_argument("-n", "--namespace", default="default")
    get.add_argument("-A", "--all-namespaces", action="store_true")
    get.add_argument("-o", "--output", default=None, metavar="FORMAT",
                     help="wide, json, yaml or name")
    get.add_argument("-w", "--watch", action="store_true",
                     help="after the list, print a row whenever a pod changes")
    get.add_argument("--show-labels", action="store_true")
    get.add_argument("-l", "--selector", default=None, metavar="SELECTOR",
                     help="label selector: key=value,key!=value,key,!key")
    get.set_defaults(handler=handled(cmd_get))

    describe = sub.add_parser("describe", help="describe a pod (kubectl describe pod NAME)")
    describe.add_argument("resource", metavar="RESOURCE", help="pod (or pod/NAME)")
    describe.add_argument("names", nargs="*", metavar="NAME")
    describe.add_argument("-n", "--namespace", default="default")
    describe.set_defaults(handler=handled(cmd_describe))

    logs = sub.add_parser("logs", help="a container's output (kubectl logs)")
    logs.add_argument("pod", metavar="POD")
    logs.add_argument("-c", "--container", default=None)
    logs.add_argument("-f", "--follow", action="store_true",
                      help="keep printing until the container's run ends")
    logs.add_argument("-p", "--previous", action="store_true",
                      help="the previous run of the container")
    logs.add_argument("--tail", type=_tail, default=None, metavar="N",
                      help="only the last N lines (-1: all)")
    logs.add_argument("--timestamps", action="store_true")
    logs.add_argument("-n", "--namespace", default="default")
    logs.set_defaults(handler=handled(cmd_logs))

    ps = sub.add_parser("ps", help="list containers (crictl ps)")
    ps.add_argument("-a", "--all", action="store_true", help="exited containers too")
    ps.add_argument("--pod", default=None, metavar="NAME")
    ps.add_argument("-n", "--namespace", default=None)
    ps.set_defaults(handler=handled(cmd_ps))

    inspect = sub.add_parser("inspect", help="a pod's processes, namespaces and paths (JSON)")
    inspect.add_argument("pod", metavar="POD")
    inspect.add_argument("-n", "--namespace", default="default")
    inspect.set_defaults(handler=handled(cmd_inspect))

