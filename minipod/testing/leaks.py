"""The leak check: what a node's pods may leave on the host, looked for on
the host itself, not in minipod's own records.

A LeakTracker notes every process and pod network namespace a test saw
(each time a handle reads a pod's record); ``problems`` then lists what is
still there: a mount under the node's directories, a process we saw (same
pid *and* start time, not a zombie), a process still in a pod's network
namespace, a pod directory, a container log, a Service, endpoints or
workload record, a ConfigMap or Secret, a network claim, a cgroup below the
node's cgroup root (MINIPOD_CGROUP_ROOT, in every hierarchy), and, for a
node in a network namespace of its own, a link, address, route or nftables
table in it (network.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from minipod.api.record import PodRecord, ProcessRef
from minipod.kernel import cgroups
from minipod.kernel.proc import same_process

CGROUP_FS = Path("/sys/fs/cgroup")


def create_time_now() -> float:
    """Now, on the scale of psutil's create_time(): boot time (whole seconds
    in /proc/stat) plus the time since boot. time.time() can be up to a
    second later on that scale, and a process started just after would look
    older than it is."""
    return psutil.boot_time() + time.clock_gettime(time.CLOCK_BOOTTIME)


@dataclass
class LeakTracker:
    """Processes (pid -> start time) and network namespaces (inode -> when
    last seen in use) of the pods a test looked at: pids and nsfs inodes are
    reused quickly, so identity needs the time too."""

    pids: dict[int, float] = field(default_factory=dict)
    netns: dict[int, float] = field(default_factory=dict)

    cgroups: set[str] = field(default_factory=set)  # pods' cgroup paths, as recorded

    def note(self, record: PodRecord) -> None:
        if record.cgroup:
            self.cgroups.add(record.cgroup)
        refs = [record.pause, *(c.process for c in record.containers.values())]
        for ref in refs:
            if ref is not None and ref.pid and ref.start_time is not None:
                self.pids[ref.pid] = ref.start_time
        if record.pause.pid:
            try:
                inode = os.stat(f"/proc/{record.pause.pid}/ns/net").st_ino
            except OSError:
                return
            self.netns[inode] = create_time_now()

    def live_pids(self) -> list[int]:
        """Our processes that still exist and are not zombies."""
        return [pid for pid, started in self.pids.items()
                if same_process(ProcessRef(pid, started))]

    def processes_in_netns(self) -> list[int]:
        """Processes in one of our pods' network namespaces. One that started
        after we last saw the namespace in use may be in a new namespace that
        got the freed inode, so only older ones count."""
        found = []
        for proc in psutil.process_iter():
            try:
                seen_at = self.netns.get(os.stat(f"/proc/{proc.pid}/ns/net").st_ino)
                if seen_at is not None and proc.create_time() <= seen_at:
                    found.append(proc.pid)
            except (OSError, psutil.Error):
                continue
        return found


def mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def cgroups_below(name: str, *, include_root: bool = False,
                  keep: Collection[str] = (), bases: Collection[str] | None = None) -> list[str]:
    """Directories below every directory called ``name`` (and those
    directories themselves with ``include_root``), but for the children of
    ``name`` listed in ``keep`` (themselves: what is below them counts).
    Looked for at ``<hierarchy>/<base>/<name>`` for each base in ``bases``
    (cgroup paths, as in /proc/PID/cgroup) in every hierarchy minipod uses;
    ``bases`` None: anywhere under /sys/fs/cgroup, a walk of every cgroup of
    the host (tens of thousands on a busy one)."""
    mounts = hierarchy_mounts() if bases is not None else []
    if bases is None or not mounts:  # unknown: everywhere
        roots = []
        for directory, subdirs, _ in os.walk(CGROUP_FS):
            if os.path.basename(directory) == name:
                roots.append(directory)
                subdirs.clear()
    else:
        roots = [path for mount in mounts for base in sorted(bases)
                 for path in (f"{mount}{base.rstrip('/')}/{name}",) if os.path.isdir(path)]
    found = []
    for directory in roots:
        if include_root:
            found.append(directory)
        found += [path for d, ss, _ in os.walk(directory) for s in ss
                  if not (d == directory and s in keep)
                  for path in (os.path.join(d, s),)]
    return found


def hierarchy_mounts() -> list[str]:
    """The mount points of the cgroup hierarchies minipod puts pods in."""
    try:
        return [h.mount for h in cgroups.reader().hierarchies]
    except cgroups.CgroupError:
        return []


def cgroup_bases(name: str, recorded: Iterable[str], proc_cgroup: str = "") -> set[str]:
    """Where the cgroup root ``name`` of a node can be: "/" (no systemd),
    the cgroup above ``name`` in each pod's recorded path, and the
    supervisor's own cgroup and its parent (``proc_cgroup``: its
    /proc/PID/cgroup; under systemd the root is in its delegated cgroup,
    which a v2 supervisor leaves for a "supervisor" leaf below)."""
    bases = {"/"}
    for path in recorded:
        head, sep, _ = path.partition(f"/{name}/")
        if sep:
            bases.add(head or "/")
    for line in proc_cgroup.splitlines():
        own = line.split(":", 2)[-1]
        if own.startswith("/"):
            bases |= {own, os.path.dirname(own)}
    return bases


def entries(directory: Path) -> list[str]:
    try:
        return sorted(p.name for p in directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def state_left(root: Path, logs: Path) -> list[str]:
    """What a node's state directory and logs hold of pods and objects."""
    problems = []
    for kind in ("pods", "services", "endpoints", "workloads", "configmaps", "secrets"):
        left = entries(root / kind)
        if left:
            problems.append(f"{kind} left in the state directory: {left}")
    for kind in ("pod-ips", "service-ips", "node-ports", "host-ports"):
        left = entries(root / "network" / kind)
        if left:
            problems.append(f"network claims left in {kind}: {left}")
    left = entries(logs)
    if left:
        problems.append(f"container logs left: {left}")
    return problems


__all__ = ["CGROUP_FS", "LeakTracker", "cgroup_bases", "cgroups_below", "create_time_now",
           "entries", "hierarchy_mounts", "mounts_under", "state_left"]
