"""`minipod events` (kubectl events): every event of the namespace's pods,
aggregated, oldest last-seen first, with --for and --types."""

from __future__ import annotations

import argparse
import functools
import sys

from minipod.cli.views.objects import (
    Item,
    aggregated_events,
    check_output,
    event_api,
    event_cells,
    render,
)
from minipod.cli.views.output import ViewError, write
from minipod.cli.views.resources import RESOURCES_BY_KIND


def cmd_events(args: argparse.Namespace) -> int:
    output = args.output or ""
    check_output(output)
    namespace = None if args.all_namespaces else args.namespace
    found = aggregated_events(namespace)
    if args.for_object:
        kind, sep, name = args.for_object.partition("/")
        if not sep or kind.lower() not in ("pod", "pods", "po"):
            raise ViewError(f"error: minipod events --for takes pod/NAME, not {args.for_object}")
        found = [a for a in found if a.event.obj.split("/")[1:2] == [name]]
    if args.types:
        wanted = {t.strip().lower() for t in args.types.split(",") if t.strip()}
        for kind in wanted - {"normal", "warning"}:
            raise ViewError(f'error: valid --types are Normal or Warning, not "{kind}"')
        found = [a for a in found if a.event.type.lower() in wanted]
    found.sort(key=lambda a: a.last)
    if not found:
        where = "" if args.all_namespaces else f" in {args.namespace} namespace"
        print(f"No events found{where}.", file=sys.stderr)
        return 0
    items = [Item(a.namespace, event_api(a)["metadata"]["name"], event_api(a),
                  functools.partial(event_cells, a)) for a in found]
    write(render(items, RESOURCES_BY_KIND["Event"], output, single=False,
                 all_namespaces=args.all_namespaces, no_headers=args.no_headers))
    return 0
