"""`minipod rollout status|history|undo|restart|pause|resume deployment/NAME`
(kubectl rollout), for Deployments.

status and history read the workload's record (what `get deploy` reads);
the others ask its supervisor (control op "rollout"), which keeps the
revisions: each template the Deployment had, the newest last, as the
ReplicaSets a cluster keeps (revisionHistoryLimit of them).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from minipod.api.errors import SpecError

POLL = 0.1  # seconds between two looks of `rollout status`


def register(sub: Any) -> None:  # argparse's _SubParsersAction is private
    rollout = sub.add_parser("rollout", help="manage a Deployment's rollout: status, history, "
                             "undo, restart, pause, resume (kubectl rollout)")
    actions = rollout.add_subparsers(required=True, metavar="ACTION", dest="action")
    for action, text in (("status", "wait until the rollout is done"),
                         ("history", "the revisions"),
                         ("undo", "back to the previous revision (or --to-revision)"),
                         ("restart", "new pods for every replica, one by one"),
                         ("pause", "hold template changes"),
                         ("resume", "roll out what was held")):
        parser = actions.add_parser(action, help=text)
        parser.add_argument("names", nargs="+", metavar="deployment/NAME")
        parser.add_argument("-n", "--namespace", default="default")
        if action == "status":
            parser.add_argument("-w", "--watch", type=_flag, nargs="?", const=True,
                                default=True, metavar="BOOL",
                                help="keep looking until it is done (default true)")
            parser.add_argument("--timeout", type=_seconds, default=0.0, metavar="DURATION",
                                help="give up after this long (0: never)")
        if action == "undo":
            parser.add_argument("--to-revision", type=int, default=0, metavar="N")
        if action == "history":
            parser.add_argument("--revision", type=int, default=0, metavar="N",
                                help="show that revision's pod template")
        parser.set_defaults(handler=cmd_rollout)


def _flag(text: str) -> bool:
    if text.lower() in ("true", "1", "t"):
        return True
    if text.lower() in ("false", "0", "f"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def _seconds(text: str) -> float:
    # start-up: imported with the verb that needs it
    from minipod.cli.views.logs import parse_duration

    return float(text) if text.isdigit() else parse_duration(text)


def _target(names: list[str]) -> str:
    words = names[0].partition("/")
    kind, name = (words[0], words[2]) if words[1] else (names[0], names[1] if len(names) > 1
                                                        else "")
    if kind.lower().removesuffix(".apps") not in ("deployment", "deployments", "deploy"):
        raise SpecError(f"no {kind} rollouts here: minipod rolls out deployments")
    if not name:
        raise SpecError("required resource not specified")
    return name


def cmd_rollout(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.api.errors import StateError
    from minipod.api.record import WorkloadRecord
    from minipod.kernel.records import read_workload_record
    from minipod.kernel.state import workload_record_path

    name = _target(args.names)

    def record() -> WorkloadRecord:
        found = read_workload_record(workload_record_path(args.namespace, "Deployment", name))
        if found is None:
            raise StateError(f'deployments.apps "{name}" not found')
        return found

    if args.action == "status":
        return _status(args, name, record)
    if args.action == "history":
        return _history(args, name, record())
    return _ask(args, name, record())


def _status(args: argparse.Namespace, name: str, record: Any) -> int:
    """kubectl's DeploymentStatusViewer messages, one per change, until done."""
    deadline = time.monotonic() + args.timeout if args.timeout else None
    last = ""
    while True:
        r = record()
        s, replicas = r.status, r.replicas
        updated, total = s.get("updatedReplicas", 0), s.get("replicas", 0)
        available = s.get("availableReplicas", 0)
        if r.paused:
            message = f'deployment "{name}" rollout paused'  # nothing will move
            print(message)
            return 0
        if updated < replicas:
            message = (f'Waiting for deployment "{name}" rollout to finish: {updated} out of '
                       f"{replicas} new replicas have been updated...")
        elif total > updated:
            message = (f'Waiting for deployment "{name}" rollout to finish: {total - updated} '
                       "old replicas are pending termination...")
        elif available < updated:
            message = (f'Waiting for deployment "{name}" rollout to finish: {available} of '
                       f"{updated} updated replicas are available...")
        else:
            print(f'deployment "{name}" successfully rolled out')
            return 0
        if message != last:
            print(message, flush=True)
            last = message
        if not args.watch:
            return 0
        if deadline is not None and time.monotonic() > deadline:
            print("error: timed out waiting for the condition", file=sys.stderr)
            return 1
        time.sleep(POLL)


def _history(args: argparse.Namespace, name: str, record: Any) -> int:
    # start-up: imported with the verb that needs it
    from minipod.cli.views.podtable import to_yaml
    from minipod.cli.views.tabwriter import TabWriter, tab_line

    revisions = record.revisions or [{"revision": 1, "changeCause": ""}]
    if args.revision:
        found = [r for r in revisions if r["revision"] == args.revision]
        if not found:
            raise SpecError(f"unable to find the specified revision {args.revision}")
        print(f"deployment.apps/{name} with revision #{args.revision}")
        print("Pod Template:")
        print("".join(f"  {line}\n" for line in to_yaml(found[0].get("template") or {})
                      .splitlines()), end="")
        return 0
    text = tab_line(["REVISION", "CHANGE-CAUSE"]) + "".join(
        tab_line([str(r["revision"]), r.get("changeCause") or "<none>"]) for r in revisions)
    print(f"deployment.apps/{name} ")
    print(TabWriter(0, 2).format(text))
    return 0


def _ask(args: argparse.Namespace, name: str, record: Any) -> int:
    # start-up: imported with the verb that needs it
    from pathlib import Path

    # start-up: imported with the verb that needs it
    from minipod.api.errors import MinipodError
    from minipod.server.client import request

    answer = request(Path(record.supervisor.socket),
                     {"op": "rollout", "kind": "Deployment", "namespace": args.namespace,
                      "name": name, "action": args.action,
                      "to_revision": getattr(args, "to_revision", 0)}, timeout=10)
    if not answer.get("ok"):
        raise MinipodError(str(answer.get("error") or "the supervisor refused"))
    print(f"deployment.apps/{name} {answer.get('said')}")
    return 0
