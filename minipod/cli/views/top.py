"""`minipod top pod [NAME...]` (kubectl top pod): CPU(cores) and
MEMORY(bytes) of each pod, or of each container with --containers, from the
containers' cgroups.

kubectl top shows what metrics-server keeps: each container's CPU as a rate
and its memory working set, and a pod's figure is its containers' sum
(pause is not counted). Here both come from the cgroups (views/usage.py),
read twice WINDOW seconds apart for the rate.
"""

from __future__ import annotations

import argparse
import time

from minipod.cli.views.output import ViewError, write
from minipod.cli.views.records import POD_KINDS, PodEntry, list_pods, require_pod
from minipod.cli.views.tabwriter import TabWriter
from minipod.cli.views.usage import container_usage, cpu_text, hierarchies, memory_text

WINDOW = 0.5  # seconds between the two readings a CPU rate is made of

Rates = dict[tuple[str, str], dict[str, tuple[float, int]]]


def _rates(entries: list[PodEntry]) -> Rates:
    """(namespace, pod) -> container -> (nanocores, working set bytes)."""
    host = hierarchies()
    first = {(e.namespace, e.name): container_usage(host, e.record) for e in entries}
    began = time.monotonic()
    time.sleep(WINDOW)
    second = {(e.namespace, e.name): container_usage(host, e.record) for e in entries}
    elapsed = time.monotonic() - began
    rates: Rates = {}
    for key, now in second.items():
        before = first.get(key, {})
        rates[key] = {name: (max(0, usage.cpu_ns - before[name].cpu_ns) / elapsed,
                             usage.memory)
                      for name, usage in now.items() if name in before}
    return rates


def cmd_top(args: argparse.Namespace) -> int:
    kind = args.resource.partition("/")[0]
    if kind not in POD_KINDS:
        raise ViewError(f'error: unknown resource "{args.resource}" for "minipod top" '
                        "(only pod is supported)")
    namespace = None if args.all_namespaces else args.namespace
    if args.names:
        entries = [require_pod(args.namespace, name) for name in args.names]
    else:
        entries = list_pods(namespace)
    entries = [e for e in entries if e.record.phase not in ("Succeeded", "Failed")]
    if not entries:
        where = "any namespace" if namespace is None else f"{namespace} namespace"
        raise ViewError(f"No resources found in {where}.")
    rates = _rates(entries)
    head = ["NAMESPACE"] if args.all_namespaces else []
    head += ["POD", "NAME"] if args.containers else ["NAME"]
    rows = ["\t".join([*head, "CPU(cores)", "MEMORY(bytes)"])]
    for entry in entries:
        containers = rates.get((entry.namespace, entry.name), {})
        if not containers:
            continue  # no figures for it (yet): kubectl leaves such a pod out too
        lead = [entry.namespace] if args.all_namespaces else []
        if args.containers:
            for name, (cpu, memory) in containers.items():
                rows.append("\t".join([*lead, entry.name, name, cpu_text(cpu),
                                       memory_text(memory)]))
        else:
            cpu = sum(c for c, _ in containers.values())
            memory = sum(m for _, m in containers.values())
            rows.append("\t".join([*lead, entry.name, cpu_text(cpu), memory_text(memory)]))
    write(TabWriter(0, 3).format("\n".join(rows) + "\n"))
    return 0
