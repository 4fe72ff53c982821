"""`minipod apply -f`, `delete` and `down`: the verbs of kubectl's object
life, registered here with nothing heavy imported (minipod/cli/delete.py
does the deleting, the background supervisor the applying).

apply -f FILE|DIR|- (-R): every file read and checked first (bad input is
exit 2 with nothing done), images resolved, then the whole set goes to the
background supervisor in one request (the control op "apply"), which
writes the ConfigMaps and Secrets, makes the Services, starts the pods and
controls the workloads, and answers with kubectl's lines (created, configured,
unchanged).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

EXIT_USAGE = 2


def register(sub: Any) -> None:  # argparse's _SubParsersAction is private
    apply = sub.add_parser("apply", help="create or update the objects of manifests "
                           "(kubectl apply -f FILE|DIR|-)")
    apply.add_argument("-f", "--filename", action="append", required=True, metavar="FILE",
                       help="a manifest file, a directory of them, or - (stdin); repeatable")
    apply.add_argument("-R", "--recursive", action="store_true",
                       help="with -f DIR: its subdirectories too")
    apply.set_defaults(handler=cmd_apply)

    delete = sub.add_parser(
        "delete", help="delete objects: TYPE NAME..., TYPE/NAME..., -f FILE|DIR|-, "
        "TYPE --all, TYPE -l SELECTOR (kubectl delete)")
    # one list of words (TYPE NAME... or TYPE/NAME...): argparse would not let
    # options come between two positionals (`delete pod --now a`)
    delete.add_argument("names", nargs="*", metavar="TYPE [NAME...]",
                        help="pod, deployment, replicaset, service, configmap, secret and "
                        "names (or TYPE/NAME...)")
    delete.add_argument("-f", "--filename", action="append", default=[], metavar="FILE",
                        help="the objects of a manifest file, a directory of them, or - (stdin)")
    _delete_options(delete)
    delete.add_argument("-A", "--all-namespaces", action="store_true")
    delete.add_argument("--all", action="store_true", help="every object of TYPE")
    delete.add_argument("-l", "--selector", default=None, metavar="SELECTOR",
                        help="the objects of TYPE whose labels match (set-based too)")
    delete.add_argument("--ignore-not-found", action="store_true")
    delete.set_defaults(handler=cmd_delete, intermixed=True)

    down = sub.add_parser("down", help="delete every object of a manifest (delete -f FILE)")
    down.add_argument("file")
    _delete_options(down)
    down.set_defaults(handler=cmd_down)


def _delete_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-R", "--recursive", action="store_true",
                        help="with -f DIR: its subdirectories too")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("--grace-period", type=int, default=-1, metavar="SECONDS",
                        help="seconds before SIGKILL (-1: the pod's own; 0 needs --force, "
                        "else it means 1)")
    parser.add_argument("--now", action="store_true", help="same as --grace-period=1")
    parser.add_argument("--force", action="store_true",
                        help="with --grace-period=0: kill at once")
    parser.add_argument("--wait", type=_flag, nargs="?", const=True, default=True,
                        metavar="BOOL", help="return once the objects are gone (default true)")


def _flag(text: str) -> bool:
    if text.lower() in ("true", "1", "t"):
        return True
    if text.lower() in ("false", "0", "f"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def cmd_delete(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.cli import delete

    return delete.cmd_delete(args)


def cmd_down(args: argparse.Namespace) -> int:
    args.filename, args.names = [args.file], []
    args.all, args.selector, args.all_namespaces = False, None, False
    args.ignore_not_found = False
    return cmd_delete(args)


def cmd_apply(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.api.errors import MinipodError, SpecError
    from minipod.api.manifest import load_paths, read_paths
    from minipod.cli.up import ANSWER_MARGIN, APPLY_TIMEOUT, warn_images
    from minipod.runtime.images import resolve_images, template_pod
    from minipod.server.client import NoAnswer, request
    from minipod.server.daemon import ensure_daemon, socket_path

    stdin = sys.stdin.read() if "-" in args.filename else None
    manifest = load_paths(args.filename, args.recursive, stdin)  # exit 2, nothing done
    # a bad reference is bad input (exit 2); one not stored is a warning,
    # and the supervisor's pods pull it
    pods = [*manifest.pods, *map(template_pod, manifest.workloads)]
    warn_images(pods, resolve_images(pods, ", ".join(args.filename)))
    texts, _errors = read_paths(args.filename, args.recursive, stdin)
    ensure_daemon()
    # the deadline goes with the request, as `up -d`'s: past it the
    # supervisor does nothing, so a client that gives up says so truly
    deadline = time.monotonic() + APPLY_TIMEOUT
    try:
        answer = request(socket_path(), {"op": "apply", "files": [list(t) for t in texts],
                                         "source": ", ".join(args.filename), "backoff": None,
                                         "deadline": deadline},
                         timeout=APPLY_TIMEOUT + ANSWER_MARGIN)
    except NoAnswer as e:
        raise MinipodError(f"{e}: the request is cancelled, no pod of it was created "
                           "(`minipod get pods` shows what runs)") from None
    if not answer.get("ok"):
        error = answer.get("error", "the supervisor refused")
        if answer.get("code") == EXIT_USAGE:
            raise SpecError(error)
        raise MinipodError(error)
    for line in answer.get("said", []):
        print(line)
    return 0
