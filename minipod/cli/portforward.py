"""`minipod port-forward`: its arguments (kubectl's). The forwarding itself is
in minipod/cli/forwarding.py, loaded only when the verb runs, so that
`minipod` starts fast."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    pf = sub.add_parser("port-forward",
                        help="forward local ports to a pod: minipod port-forward pod/NAME "
                        "[LOCAL:]REMOTE (kubectl port-forward)")
    pf.add_argument("target", metavar="TYPE/NAME", help="pod/NAME (or NAME), deploy/NAME, "
                    "rs/NAME or svc/NAME")
    pf.add_argument("ports", nargs="+", metavar="[LOCAL:]REMOTE")
    pf.add_argument("--address", default="localhost",
                    help="addresses to listen on, comma-separated (default localhost: "
                    "127.0.0.1 and ::1)")
    pf.add_argument("-n", "--namespace", default="default")
    pf.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.cli.forwarding import cmd_port_forward

    return cmd_port_forward(args)
