"""The supervisor of a Node: `python -m minipod.testing.daemon`.

It is server/daemon.py's background supervisor (one epoll loop for every
pod of the node, on the control socket every `minipod` command finds) with
three differences that suit a test:

- it is the test process's child, started fresh (a new interpreter, no fd
  but those it is given) rather than forked from it, and it gets SIGTERM
  when that process dies (PR_SET_PDEATHSIG): its pods are stopped even if
  the test process is killed outright;
- it does not exit when idle: the Node ends it (SIGTERM stops its pods,
  Services and workloads, then it exits);
- with --netns it serves from that network namespace (one the test made),
  so the pod network's bridge, veths and rules are made there;
- its events also go to supervisors/events.jsonl (one JSON object a line),
  which outlives the pods: a pod that finished is removed at once (minipod
  keeps no finished pod), and its PodCompleted event says how it ended.

Arguments: --ready-fd FD (it writes "ready" there, or what went wrong),
--parent PID (the process whose death ends it), [--netns PATH].
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import traceback

from minipod.api.events import Event, Sink, say
from minipod.kernel import sys as msys
from minipod.kernel.state import supervisors_dir
from minipod.server.daemon import serve

EVENTS = "events.jsonl"  # in $MINIPOD_ROOT/supervisors


def event_sink() -> Sink:
    """Each event printed (the daemon's log) and appended to events.jsonl."""
    path = supervisors_dir() / EVENTS

    def sink(event: Event) -> None:
        say(event.line())
        line = json.dumps(dataclasses.asdict(event)) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    return sink


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minipod.testing.daemon")
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--netns", default=None)
    args = parser.parse_args(argv)
    try:
        msys.set_pdeathsig(signal.SIGTERM)
        if os.getppid() != args.parent:  # it died before the line above took effect
            return 0
        if args.netns:
            fd = os.open(args.netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                msys.setns(fd, msys.CLONE_NEWNET, args.netns)
            finally:
                os.close(fd)
    except BaseException:
        os.write(args.ready_fd, traceback.format_exc().encode())
        raise
    return serve(args.ready_fd, idle=None, sink=event_sink())


if __name__ == "__main__":
    sys.exit(main())
