"""What a pod's cgroups say it uses, for `minipod top` and `describe`:
kernel/cgroups.py's Usage of each container's cgroup, found by the path
pod.json records. The cgroup code loads on use (start-up)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from minipod.api.record import PodRecord
from minipod.cli.views.output import ViewError

if TYPE_CHECKING:
    from minipod.kernel.cgroups import CgroupHost, Usage

MIB = 1024 * 1024


def cpu_text(nanocores: float) -> str:
    """kubectl top's CPU(cores): millicores, rounded up as MilliValue does."""
    milli = -(-int(nanocores) // 1_000_000) if nanocores > 0 else 0
    return f"{milli}m"


def memory_text(working_set: int) -> str:
    """kubectl top's MEMORY(bytes): whole MiB."""
    return f"{working_set // MIB}Mi"


def hierarchies() -> CgroupHost:
    # start-up: the cgroup code loads only for the verbs that read cgroups
    from minipod.kernel import cgroups

    try:
        return cgroups.reader()
    except cgroups.CgroupError as e:
        raise ViewError(f"error: no cgroups to read: {e}") from e


def container_usage(host: CgroupHost, record: PodRecord) -> dict[str, Usage]:
    """Each running container's usage now, by name (none for a pod without
    cgroups, or whose cgroups are gone meanwhile)."""
    # start-up: the cgroup code loads only for the verbs that read cgroups
    from minipod.kernel.cgroups import Cgroup

    if not record.cgroup:
        return {}
    found = {}
    for name, container in record.containers.items():
        if not container.running:
            continue
        try:
            found[name] = Cgroup(host, f"{record.cgroup}/{name}").usage()
        except (OSError, ValueError):
            continue  # it went away meanwhile
    return found


def describe_lines(record: PodRecord, name: str, indent: str) -> list[str]:
    """`describe`'s Usage of one container: its CPU time so far, its memory
    working set and how often the OOM killer struck in its cgroup."""
    if not record.cgroup:
        return []
    host = hierarchies()
    # start-up: the cgroup code loads only for the verbs that read cgroups
    from minipod.kernel.cgroups import Cgroup

    try:
        usage = Cgroup(host, f"{record.cgroup}/{name}").usage()
    except (OSError, ValueError):
        return []
    return [f"{indent}Usage:",
            f"{indent}  cpu:\t{usage.cpu_ns / 1e9:.3f}s",
            f"{indent}  memory:\t{memory_text(usage.memory)} (working set)",
            f"{indent}  oom kills:\t{usage.oom_kills}"]
