"""Cgroups: a cgroup per pod, a child per container and one for pause,
shaped as the kubelet's cgroupfs driver shapes them:

    <base>/<root>/                          minipod's root ($MINIPOD_CGROUP_ROOT, "minipod")
    <base>/<root>/pod<uid>/                 a Guaranteed pod
    <base>/<root>/burstable/pod<uid>/       a Burstable pod
    <base>/<root>/besteffort/pod<uid>/      a BestEffort pod
    .../pod<uid>/<container name>           a container, kept across its restarts
    .../pod<uid>/sandbox.pause              the pause process (no container
                                            name has a dot, so none collides)

The same path exists in every hierarchy minipod uses: on cgroup v1, in each
of the cpu, cpuacct, memory, pids, freezer and devices controllers' mounts
(this machine); on cgroup v2, once in the unified hierarchy. <base> is "/"
on a host without systemd, where minipod manages its own subtree. Under
systemd it is the cgroup systemd delegated to the supervisor's unit (the
shipped minipod@.service for the background supervisor, a transient scope
for a foreground `up`, both Delegate=yes): minipod never writes a cgroup
systemd did not hand over. On v2 the supervisor first moves itself into
<base>/supervisor, as a cgroup with children may hold no process.

Every process is in its cgroup before it runs a single instruction of its
own: on v2 it is born there (clone3 CLONE_INTO_CGROUP, csrc/mp_cgroup.c),
elsewhere the launcher's child writes "0" into each v1 hierarchy's "tasks"
file as its very first step. Both avoid the migration of a running process,
which write-locks every hierarchy (~10 ms when nothing migrated for a while).

Limits follow the kubelet (kernel/cgroups.py's CgroupLimits from
api/resources.py): cpu shares (v2 weight) from requests, a CFS quota from
limits, memory limits with swap off, the pod's totals on pod<uid>, its pids
limit there too; the devices cgroup (v1) or a BPF device program on the pod
(v2) allow only kernel/devices.py's list (on pause and each container but a
privileged one instead, in a pod that has one). OomWatch hears the OOM killer in
the supervisor's loop. kill() kills a cgroup at once (v2 cgroup.kill; v1:
freeze, SIGKILL every member, thaw), so a process that left its process
group or session dies with its container.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from minipod.api.errors import MinipodError
from minipod.api.frozen import frozen
from minipod.api.resources import PodTotals, QoSClass, Resources
from minipod.kernel import sys as msys
from minipod.kernel.delegation import delegated
from minipod.kernel.devices import DEFAULT_DEVICES, bpf_program, v1_rules
from minipod.kernel.inotify import IN_MODIFY, Inotify
from minipod.loop.eventloop import Loop

MOUNTS = "/proc/self/mountinfo"
DEFAULT_ROOT = "minipod"
PAUSE = "sandbox.pause"
SUPERVISOR = "supervisor"  # the supervisor's own leaf in a delegated v2 cgroup
QOS_DIRS: dict[str, str] = {"Guaranteed": "", "Burstable": "burstable",
                            "BestEffort": "besteffort"}
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "freezer", "devices")
V1_REQUIRED = ("cpu", "memory", "pids", "freezer", "devices")
V2_CONTROLLERS = ("cpu", "memory", "pids")

# the kubelet's constants (pkg/kubelet/cm: MinShares, MaxShares, SharesPerCPU,
# QuotaPeriod, MinQuotaPeriod)
MIN_SHARES, MAX_SHARES, SHARES_PER_CPU = 2, 262144, 1024
QUOTA_PERIOD, MIN_QUOTA = 100_000, 1000
UNLIMITED_PIDS = -1  # the kubelet's default podPidsLimit


class CgroupError(MinipodError, OSError):
    """Cgroups cannot be used here (none mounted, a controller missing, no
    delegation under systemd)."""


class NotDelegated(CgroupError):
    """Under systemd, but not in a cgroup systemd delegated to us."""


# -- the kubelet's mapping (pure) -------------------------------------------------


def milli_cpu_to_shares(milli: int) -> int:
    """MilliCPUToShares."""
    if milli == 0:
        return MIN_SHARES
    return max(MIN_SHARES, min(MAX_SHARES, milli * SHARES_PER_CPU // 1000))


def milli_cpu_to_quota(milli: int, period: int = QUOTA_PERIOD) -> int:
    """MilliCPUToQuota: 0 (no quota) for no limit, at least 1 ms otherwise."""
    if milli == 0:
        return 0
    return max(MIN_QUOTA, milli * period // 1000)


def shares_to_weight(shares: int) -> int:
    """cgroup v2's cpu.weight for v1 cpu.shares (KEP-2254, as the kubelet and runc)."""
    return 1 + ((shares - 2) * 9999) // 262142


@frozen
class CgroupLimits:
    """What one cgroup is limited to; None: the kernel's default (no limit)."""

    cpu_shares: int | None = None
    cpu_quota: int | None = None  # microseconds per QUOTA_PERIOD
    memory: int | None = None  # bytes
    swap_off: bool = False  # no swap beyond ``memory``
    pids: int | None = None

    def writes(self, version: int) -> list[tuple[str, str, str]]:
        """(controller, file, value) in the order the kernel accepts them."""
        out: list[tuple[str, str, str]] = []
        if version == 1:
            if self.cpu_shares is not None:
                out.append(("cpu", "cpu.shares", str(self.cpu_shares)))
            if self.cpu_quota:
                out += [("cpu", "cpu.cfs_period_us", str(QUOTA_PERIOD)),
                        ("cpu", "cpu.cfs_quota_us", str(self.cpu_quota))]
            if self.memory:
                out.append(("memory", "memory.limit_in_bytes", str(self.memory)))
                if self.swap_off:  # memsw >= memory: after it
                    out.append(("memory", "memory.memsw.limit_in_bytes", str(self.memory)))
            if self.pids is not None:
                out.append(("pids", "pids.max", str(self.pids)))
            return out
        if self.cpu_shares is not None:
            out.append(("cpu", "cpu.weight", str(shares_to_weight(self.cpu_shares))))
        if self.cpu_quota:
            out.append(("cpu", "cpu.max", f"{self.cpu_quota} {QUOTA_PERIOD}"))
        if self.memory:
            out.append(("memory", "memory.max", str(self.memory)))
            if self.swap_off:
                out.append(("memory", "memory.swap.max", "0"))
        if self.pids is not None:
            out.append(("pids", "pids.max", str(self.pids)))
        return out


def container_limits(res: Resources) -> CgroupLimits:
    """calculateLinuxResources: shares from the cpu request (the limit when no
    request), the quota from the cpu limit, the memory limit with swap off."""
    request, limit = res.request_milli_cpu(), res.limit_milli_cpu()
    shares = milli_cpu_to_shares(limit if request == 0 and limit else request)
    memory = res.memory_limit() or None
    return CgroupLimits(shares, milli_cpu_to_quota(limit) or None, memory,
                        swap_off=memory is not None)


def pod_limits(qos: QoSClass, totals: PodTotals, pids_limit: int) -> CgroupLimits:
    """ResourceConfigForPod (and the pod's pids limit, -1: none)."""
    pids = pids_limit if pids_limit > 0 else None
    if qos == "BestEffort":
        return CgroupLimits(MIN_SHARES, pids=pids)
    shares = milli_cpu_to_shares(totals.milli_cpu_request)
    quota = milli_cpu_to_quota(totals.milli_cpu_limit) or None
    memory = totals.memory_limit or None
    if qos == "Guaranteed":
        return CgroupLimits(shares, quota, memory, pids=pids)
    return CgroupLimits(shares, quota if totals.cpu_limits_declared else None,
                        memory if totals.memory_limits_declared else None, pids=pids)


# -- the host's hierarchies --------------------------------------------------------


@frozen
class Hierarchy:
    mount: str  # "/sys/fs/cgroup/memory"; on v2 "/sys/fs/cgroup"
    controllers: tuple[str, ...]  # of ours, that this hierarchy has


@dataclass
class CgroupHost:
    """The hierarchies minipod uses on this host and where its subtree is."""

    version: int  # 1 or 2
    hierarchies: tuple[Hierarchy, ...]
    base: str  # "/" or the delegated cgroup, the same in every hierarchy
    root_name: str = DEFAULT_ROOT
    systemd: bool = False
    _prepared: bool = field(default=False, repr=False)

    @property
    def root(self) -> str:
        return _join(self.base, self.root_name)

    def mount_of(self, controller: str) -> str | None:
        for h in self.hierarchies:
            if controller in h.controllers:
                return h.mount
        return None

    def dirs(self, rel: str) -> list[str]:
        """``rel`` (a path below the hierarchy's root) in every hierarchy."""
        return [h.mount + rel for h in self.hierarchies]

    def file(self, controller: str, rel: str, name: str) -> str | None:
        mount = self.mount_of(controller) if self.version == 1 else self.hierarchies[0].mount
        return None if mount is None else f"{mount}{rel}/{name}"

    def qos_dir(self, qos: QoSClass) -> str:
        return _join(self.root, QOS_DIRS[qos])

    # -- minipod's root and QoS cgroups --------------------------------------------
    def prepare(self) -> None:
        """The root and the QoS cgroups, once per process (again after tidy())."""
        if self._prepared:
            return
        if self.version == 2 and self.base != "/":
            self._leave_delegated_root()
        if self.version == 2:
            self._enable_controllers(self.base)
        for rel in (self.root, self.qos_dir("Burstable"), self.qos_dir("BestEffort")):
            for path in self.dirs(rel):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(path, 0o755)
            if self.version == 2:  # for the cgroups below
                self._enable_controllers(rel)
        # BestEffort pods share the least cpu, as under the kubelet
        self.apply(self.qos_dir("BestEffort"), CgroupLimits(MIN_SHARES))
        self._prepared = True

    def tidy(self) -> None:
        """Remove the QoS cgroups and the root if no pod is left in them (the
        next pod makes them again)."""
        self._prepared = False
        for rel in (self.qos_dir("Burstable"), self.qos_dir("BestEffort"), self.root):
            for path in self.dirs(rel):
                with contextlib.suppress(FileNotFoundError, OSError):
                    os.rmdir(path)

    def _leave_delegated_root(self) -> None:
        """A v2 cgroup with children holds no process: the supervisor moves
        into <base>/supervisor (once; systemd ≥ 254's DelegateSubgroup does it
        before we start)."""
        mount = self.hierarchies[0].mount
        own = own_cgroup(2)
        if own != self.base:
            return
        leaf = mount + _join(self.base, SUPERVISOR)
        with contextlib.suppress(FileExistsError):
            os.mkdir(leaf, 0o755)
        _write(f"{leaf}/cgroup.procs", str(os.getpid()))

    def enable_controllers(self, rel: str) -> None:
        """cgroup v2: give ``rel``'s children the controllers we use."""
        if self.version == 2:
            self._enable_controllers(rel)

    def _enable_controllers(self, rel: str) -> None:
        mount = self.hierarchies[0].mount
        have = set(_read(f"{mount}{rel}/cgroup.subtree_control").split())
        missing = [c for c in V2_CONTROLLERS if c not in have]
        if missing:
            _write(f"{mount}{rel}/cgroup.subtree_control", " ".join(f"+{c}" for c in missing))

    def apply(self, rel: str, limits: CgroupLimits) -> None:
        for controller, name, value in limits.writes(self.version):
            path = self.file(controller, rel, name)
            if path is None:
                continue
            try:
                _write(path, value)
            except FileNotFoundError:
                if name in ("memory.memsw.limit_in_bytes", "memory.swap.max"):
                    continue  # no swap accounting on this kernel: no swap to turn off
                raise


def _join(base: str, name: str) -> str:
    if not name:
        return base
    return f"{base.rstrip('/')}/{name}"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        raise _gone(e, path) from e


def _write(path: str, value: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise _gone(e, path) from e


def _gone(error: OSError, path: str) -> OSError:
    """ENODEV, from a cgroup file whose cgroup was removed while we were at it
    (kernfs deactivates its files: systemd trims a unit's whole tree once it
    holds no process, as when our kill just emptied it), is FileNotFoundError:
    gone, as if it had been gone before."""
    if error.errno == errno.ENODEV:
        return FileNotFoundError(errno.ENOENT, "the cgroup was removed meanwhile", path)
    return error


def _mountinfo(text: str) -> list[tuple[str, str, set[str]]]:
    """(mount point, fstype, super options) of every cgroup mount."""
    found = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        found.append((fields[4].replace("\\040", " "), tail[0], set(tail[2].split(","))))
    return found


def own_cgroup(version: int, proc_cgroup: str | None = None) -> str:
    """This process's cgroup: v2's "0::" line, or v1's memory line."""
    text = proc_cgroup if proc_cgroup is not None else _read("/proc/self/cgroup")
    for line in text.splitlines():
        number, controllers, path = line.split(":", 2)
        if version == 2 and number == "0" and not controllers:
            return path
        if version == 1 and "memory" in controllers.split(","):
            return path
    raise CgroupError(f"no {'unified' if version == 2 else 'memory'} cgroup "
                      "in /proc/self/cgroup")


def detect(mountinfo: str | None = None, proc_cgroup: str | None = None,
           systemd: bool | None = None, environ: Mapping[str, str] = os.environ,
           *, reading: bool = False) -> CgroupHost:
    """The hierarchies of this host and minipod's place in them.

    cgroup v1 wherever the memory controller is mounted as v1 (legacy and
    hybrid hosts), else the unified v2 hierarchy. Under systemd (PID 1 is
    systemd: /run/systemd/system) the base is our delegated cgroup;
    NotDelegated if we are in none. ``reading``: only to read or remove
    cgroups whose paths were recorded (the commands), wherever we are."""
    mounts = _mountinfo(mountinfo if mountinfo is not None else _read(MOUNTS))
    systemd = os.path.isdir("/run/systemd/system") if systemd is None else systemd
    if reading:
        systemd = False
    root_name = environ.get("MINIPOD_CGROUP_ROOT") or DEFAULT_ROOT
    if "/" in root_name or root_name in (".", ".."):
        raise CgroupError(f"MINIPOD_CGROUP_ROOT={root_name!r}: must be a single name")
    v1 = _v1_hierarchies(mounts)
    if any("memory" in c for c in v1.values()):
        found = {c for cs in v1.values() for c in cs}
        missing = [c for c in V1_REQUIRED if c not in found]
        if missing:
            raise CgroupError(f"cgroup v1 controllers not mounted: {', '.join(missing)}")
        hierarchies = tuple(Hierarchy(p, cs) for p, cs in v1.items())
        base = own_cgroup(1, proc_cgroup) if systemd else "/"
        return CgroupHost(1, hierarchies, base, root_name, systemd)
    unified = [p for p, fstype, _ in mounts if fstype == "cgroup2"]
    if not unified:
        raise CgroupError("no cgroup hierarchy is mounted (neither v2 nor v1 with memory)")
    mount = "/sys/fs/cgroup" if "/sys/fs/cgroup" in unified else unified[0]
    base = "/"
    if systemd:
        base = own_cgroup(2, proc_cgroup)
        if not delegated(mount + base):
            parent = base.rsplit("/", 1)[0] or "/"
            if base.rsplit("/", 1)[-1] == SUPERVISOR and delegated(mount + parent):
                base = parent
            else:
                raise NotDelegated(f"cgroup {base} is not delegated to minipod by systemd")
    available = set(_read(f"{mount}{base}/cgroup.controllers").split())
    missing = [c for c in V2_CONTROLLERS if c not in available]
    if missing:
        raise CgroupError(f"cgroup v2 controllers not available in {base}: {', '.join(missing)}")
    return CgroupHost(2, (Hierarchy(mount, V2_CONTROLLERS),), base, root_name, systemd)


def _v1_hierarchies(mounts: list[tuple[str, str, set[str]]]) -> dict[str, tuple[str, ...]]:
    """mount point -> our controllers in it, of each v1 hierarchy with one."""
    found: dict[str, tuple[str, ...]] = {}
    for point, fstype, options in mounts:
        if fstype == "cgroup":
            ours = tuple(c for c in V1_CONTROLLERS if c in options)
            if ours and point not in found:
                found[point] = ours
    return found


_HOST: CgroupHost | None = None


def host() -> CgroupHost:
    """This process's CgroupHost, detected once."""
    global _HOST
    if _HOST is None:
        _HOST = detect()
    return _HOST


def reader() -> CgroupHost:
    """The hierarchies, to read or remove cgroups by their recorded paths."""
    return detect(reading=True)


# -- one cgroup --------------------------------------------------------------------


@frozen
class Usage:
    cpu_ns: int  # CPU time used, cumulative
    memory: int  # working set: usage less inactive file pages (cadvisor's, kubectl top's)
    oom_kills: int


@dataclass
class Cgroup:
    """One cgroup, at ``rel`` in every hierarchy of ``host``."""

    host: CgroupHost
    rel: str
    dir_fd: int = -1  # v2: where clone3 makes the processes (kept open)
    oom_kills_seen: int = 0
    counter_fd: int = -1  # a container's OOM counter file, kept: read at every exit

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]

    def create(self, limits: CgroupLimits | None = None) -> None:
        """mkdir in every hierarchy, then the limits; on a failure, none of
        the directories made is left."""
        made: list[str] = []
        try:
            for path in self.host.dirs(self.rel):
                os.mkdir(path, 0o755)
                made.append(path)
            if limits is not None:
                self.host.apply(self.rel, limits)
            self.open()
        except BaseException:
            self.close()
            for path in reversed(made):
                with contextlib.suppress(OSError):
                    os.rmdir(path)
            raise

    def open(self) -> None:
        """The fd clone3 needs (v2); an existing cgroup (adoption) too."""
        if self.host.version == 2 and self.dir_fd < 0:
            self.dir_fd = os.open(self.host.hierarchies[0].mount + self.rel,
                                  os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def keep_oom_counter(self) -> None:
        """Keep the file oom_kills() reads open: a container's is read at each
        of its exits, on a restart's path, and a pread of a kept fd is 0.6 µs
        where an open, read and close of it was about 20 µs just after an
        exit (the open is most of it)."""
        path = self._oom_counter()
        if path is not None and self.counter_fd < 0:
            self.counter_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def close(self) -> None:
        for fd in (self.dir_fd, self.counter_fd):
            if fd >= 0:
                os.close(fd)
        self.dir_fd = self.counter_fd = -1

    def placement(self) -> tuple[int, tuple[str, ...]]:
        """What a launcher needs to start a process in here: the v2 directory
        fd for clone3, and the files the child writes "0" to where clone3
        cannot (v1: every hierarchy's "tasks", which moves the writing thread
        alone and takes no global lock; v2 without clone3: cgroup.procs)."""
        if self.host.version == 2:
            return self.dir_fd, (f"{self.host.hierarchies[0].mount}{self.rel}/cgroup.procs",)
        return -1, tuple(f"{d}/tasks" for d in self.host.dirs(self.rel))

    def exists(self) -> bool:
        return os.path.isdir(self.host.dirs(self.rel)[0])

    def procs(self) -> list[int]:
        """Every process in this cgroup (in any hierarchy: on v1 a process
        could have been moved in one alone)."""
        found: set[int] = set()
        for path in self.host.dirs(self.rel):
            with contextlib.suppress(FileNotFoundError):
                found.update(int(line) for line in _read(f"{path}/cgroup.procs").split())
        return sorted(found)

    # -- what the kernel counts ----------------------------------------------------
    def oom_kills(self) -> int:
        """How many processes the OOM killer took from this cgroup so far
        (v2 memory.events, v1 memory.oom_control: oom_kill)."""
        path = self._oom_counter()
        if path is None:
            return 0
        try:
            if self.counter_fd >= 0:
                try:
                    text = os.pread(self.counter_fd, 4096, 0).decode()
                except OSError as e:
                    raise _gone(e, path) from e
            else:
                text = _read(path)
        except FileNotFoundError:
            return self.oom_kills_seen
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def _oom_counter(self) -> str | None:
        name = "memory.events" if self.host.version == 2 else "memory.oom_control"
        return self.host.file("memory", self.rel, name)

    def new_oom_kills(self) -> int:
        """OOM kills since the last call (0: none): a container's cgroup
        outlives its runs, so its counter is read against what we saw."""
        count = self.oom_kills()
        new, self.oom_kills_seen = max(0, count - self.oom_kills_seen), count
        return new

    def usage(self) -> Usage:
        return Usage(self._cpu_ns(), self._working_set(), self.oom_kills())

    def _cpu_ns(self) -> int:
        if self.host.version == 2:
            path = self.host.file("cpu", self.rel, "cpu.stat")
            for line in _read(path or "").splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) * 1000
            return 0
        path = self.host.file("cpuacct", self.rel, "cpuacct.usage")
        return int(_read(path)) if path is not None else 0

    def _working_set(self) -> int:
        current = "memory.current" if self.host.version == 2 else "memory.usage_in_bytes"
        inactive = "inactive_file" if self.host.version == 2 else "total_inactive_file"
        usage = int(_read(self.host.file("memory", self.rel, current) or ""))
        for line in _read(self.host.file("memory", self.rel, "memory.stat") or "").splitlines():
            key, _, value = line.partition(" ")
            if key == inactive:
                return max(0, usage - int(value))
        return usage

    def limits(self) -> dict[str, str]:
        """The limit files as the kernel has them (for tests and describe)."""
        names = (["cpu.weight", "cpu.max", "memory.max", "memory.swap.max", "pids.max"]
                 if self.host.version == 2 else
                 ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "memory.limit_in_bytes",
                  "memory.memsw.limit_in_bytes", "pids.max"])
        found = {}
        for name in names:
            controller = name.split(".")[0]
            path = self.host.file(controller, self.rel, name)
            if path is not None:
                with contextlib.suppress(OSError):
                    found[name] = _read(path).strip()
        return found

    # -- killing ---------------------------------------------------------------------
    def members(self, children: Sequence[str]) -> list[int]:
        """The processes in this cgroup and in the children named: read in one
        hierarchy (freezer's on v1), as ours are in the same place in each."""
        mount = self.host.mount_of("freezer") if self.host.version == 1 \
            else self.host.hierarchies[0].mount
        found: list[int] = []
        for directory in (self.rel, *(_join(self.rel, c) for c in children)):
            with contextlib.suppress(FileNotFoundError):
                found += [int(p) for p in _read(f"{mount}{directory}/cgroup.procs").split()]
        return found

    def kill(self, children: Sequence[str] | None = None) -> list[int]:
        """SIGKILL to every process in this cgroup and below, at once: none can
        fork away meanwhile. The pids it had (to wait for). ``children``:
        the only cgroups below it (a pod's), else every one is looked for."""
        def listed() -> list[int]:
            return self.tree_procs() if children is None else self.members(children)

        members = listed()
        if not members:
            return []
        if self.host.version == 2:
            path = f"{self.host.hierarchies[0].mount}{self.rel}/cgroup.kill"
            try:
                _write(path, "1")
                return members
            except FileNotFoundError:  # before Linux 5.14: freeze, kill, thaw
                if not os.path.isdir(f"{self.host.hierarchies[0].mount}{self.rel}"):
                    return members  # removed meanwhile: nothing is left in it
        with self._frozen():
            members = listed()
            for pid in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # frozen: this pid cannot be reused
        return members

    def tree_procs(self) -> list[int]:
        found: set[int] = set()
        for path in self.host.dirs(self.rel):
            for directory, _, files in os.walk(path):
                if "cgroup.procs" in files:
                    with contextlib.suppress(FileNotFoundError):
                        found.update(int(p) for p in _read(f"{directory}/cgroup.procs").split())
        return sorted(found)

    @contextlib.contextmanager
    def _frozen(self, timeout: float = 1.0) -> Iterator[None]:
        if self.host.version == 2:
            state, freeze, thaw = "cgroup.freeze", "1", "0"
            path = f"{self.host.hierarchies[0].mount}{self.rel}"
        else:
            state, freeze, thaw = "freezer.state", "FROZEN", "THAWED"
            path = f"{self.host.mount_of('freezer')}{self.rel}"
        try:
            _write(f"{path}/{state}", freeze)
        except FileNotFoundError:  # removed meanwhile: nothing is left to freeze
            yield
            return
        try:
            # Freezing is quick for processes that sleep; one stuck in the
            # kernel may take a moment: wait a little, never long.
            deadline = time.monotonic() + timeout
            while not self._is_frozen(path) and time.monotonic() < deadline:
                time.sleep(0.0005)
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                _write(f"{path}/{state}", thaw)

    def _is_frozen(self, path: str) -> bool:
        try:
            if self.host.version == 2:
                return "frozen 1" in _read(f"{path}/cgroup.events")
            return _read(f"{path}/freezer.state").strip() == "FROZEN"
        except FileNotFoundError:  # removed meanwhile: nothing in it to wait for
            return True

    def remove(self, children: Sequence[str] | None = None) -> None:
        """rmdir in every hierarchy (children first), once it is empty;
        ``children`` as for kill()."""
        self.close()
        for mount_path in self.host.dirs(self.rel):
            if children is not None:
                for child in children:
                    with contextlib.suppress(FileNotFoundError):
                        os.rmdir(f"{mount_path}/{child}")
                try:
                    os.rmdir(mount_path)
                    continue
                except FileNotFoundError:
                    continue
                except OSError as e:  # a cgroup below that we did not make
                    if e.errno != errno.EBUSY:
                        raise
            for directory, _, _ in os.walk(mount_path, topdown=False):  # children first
                with contextlib.suppress(FileNotFoundError):
                    os.rmdir(directory)


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until every pid has exited (through pidfds); those still alive."""
    fds: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            fds[os.pidfd_open(pid)] = pid
    try:
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        alive = set(fds)
        deadline = time.monotonic() + timeout
        while alive and (left := deadline - time.monotonic()) > 0:
            for fd, _ in poller.poll(left * 1000):
                alive.discard(fd)
                poller.unregister(fd)
        return sorted(fds[fd] for fd in alive)
    finally:
        for fd in fds:
            os.close(fd)


def kill_and_remove(cgroup: Cgroup, timeout: float = 5.0,
                    children: Sequence[str] | None = None) -> None:
    """Kill whatever is left in ``cgroup`` (and below; ``children`` as for
    Cgroup.kill), wait for it to die, remove the cgroups. CgroupError if a
    process would not die in time."""
    deadline = time.monotonic() + timeout
    while True:
        left = wait_gone(cgroup.kill(children), max(0.0, deadline - time.monotonic()))
        try:
            cgroup.remove(children)
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() >= deadline:
                raise CgroupError(e.errno or 0, f"remove cgroup {cgroup.rel}: "
                                  f"{os.strerror(e.errno or 0)}"
                                  + (f" (pids {left} would not die)" if left else "")) from e


def remove_recorded(host: CgroupHost, path: str) -> None:
    """A pod's cgroups by the path its record gives (its supervisor is gone):
    kill what is left, remove them, and the QoS and root cgroups above them
    if they hold nothing else."""
    kill_and_remove(Cgroup(host, path))
    parent = path.rsplit("/", 1)[0]
    root = parent.rsplit("/", 1)[0] if parent.rsplit("/", 1)[-1] in QOS_DIRS.values() \
        else parent
    for rel in (_join(root, QOS_DIRS["Burstable"]), _join(root, QOS_DIRS["BestEffort"]), root):
        for directory in host.dirs(rel):
            with contextlib.suppress(OSError):  # busy: another pod is in it
                os.rmdir(directory)


# -- a pod's cgroups -----------------------------------------------------------------


@dataclass
class PodCgroups:
    """pod<uid> with one cgroup per container and one for pause."""

    pod: Cgroup
    containers: dict[str, Cgroup]
    pause: Cgroup
    qos: QoSClass

    @property
    def host(self) -> CgroupHost:
        return self.pod.host

    @property
    def path(self) -> str:
        return self.pod.rel

    def container(self, name: str) -> Cgroup:
        return self.containers[name]

    def close(self) -> None:
        for cg in (self.pod, self.pause, *self.containers.values()):
            cg.close()

    def remove(self) -> None:
        self.close()
        if self.path.startswith(self.host.root + "/"):
            # the cgroups below are known: no walk of every hierarchy
            kill_and_remove(self.pod, children=[PAUSE, *self.containers])
        else:  # adopted from a supervisor whose root was elsewhere: that root goes too
            remove_recorded(self.host, self.path)


def pod_path(host: CgroupHost, qos: QoSClass, uid: str) -> str:
    return _join(host.qos_dir(qos), f"pod{uid}")


def create_pod(host: CgroupHost, uid: str, qos: QoSClass, pod: CgroupLimits,  # noqa: PLR0917
               containers: Mapping[str, CgroupLimits],
               every_device: Collection[str] = ()) -> PodCgroups:
    """Make pod<uid> and its children, with their limits and the device rules;
    on a failure nothing is left. The rules go on the pod's cgroup, unless a
    container is in ``every_device`` (privileged: runc gives it "a *:* rwm"):
    then on pause's and each other container's own, as runc puts them, since
    a rule on the pod would bind every child (v1 copies it, v2 runs it)."""
    try:
        host.prepare()
        made = Cgroup(host, pod_path(host, qos, uid))
        try:
            made.create(pod)
        except FileNotFoundError:  # our root was tidied away meanwhile: again
            host._prepared = False
            host.prepare()
            made.create(pod)
    except OSError as e:
        raise CgroupError(e.errno or 0, f"create pod cgroup: {os.strerror(e.errno or 0)}",
                          e.filename) from e
    cgroups = PodCgroups(made, {}, Cgroup(host, _join(made.rel, PAUSE)), qos)
    try:
        host.enable_controllers(made.rel)
        if not every_device:
            _limit_devices(made)  # before any child: v1 children copy the rules
        cgroups.pause.create()
        if every_device:
            _limit_devices(cgroups.pause)
        for name, limits in containers.items():
            cg = Cgroup(host, _join(made.rel, name))
            cgroups.containers[name] = cg
            cg.create(limits)
            cg.keep_oom_counter()
            if every_device and name not in every_device:
                _limit_devices(cg)  # made just now: no child yet
    except BaseException as e:
        with contextlib.suppress(OSError):
            cgroups.remove()
        if isinstance(e, OSError):
            raise CgroupError(e.errno or 0, f"create pod cgroups: {os.strerror(e.errno or 0)}",
                              e.filename) from e
        raise
    return cgroups


def adopt_pod(host: CgroupHost, path: str, qos: QoSClass, names: Iterable[str]) -> PodCgroups:
    """A pod's cgroups as a supervisor that died left them (recorded path)."""
    pod = Cgroup(host, path)
    cgroups = PodCgroups(pod, {n: Cgroup(host, _join(path, n)) for n in names},
                         Cgroup(host, _join(path, PAUSE)), qos)
    for cg in cgroups.containers.values():
        with contextlib.suppress(OSError):
            cg.open()
            cg.keep_oom_counter()
            cg.oom_kills_seen = cg.oom_kills()
    return cgroups


def _limit_devices(pod: Cgroup) -> None:
    host = pod.host
    if host.version == 1:
        for name, rule in v1_rules(DEFAULT_DEVICES):
            _write(f"{host.mount_of('devices')}{pod.rel}/{name}", rule)
        return
    program = msys.bpf_device_program(bpf_program(DEFAULT_DEVICES))
    try:
        path = host.hierarchies[0].mount + pod.rel
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            msys.bpf_attach_device(program, fd, path)  # held by the cgroup from now on
        finally:
            os.close(fd)
    finally:
        os.close(program)


# -- the OOM killer, heard in the loop ---------------------------------------------


class OomWatch:
    """The kernel's word that the OOM killer struck in a container's cgroup,
    delivered in the supervisor's epoll loop: on v2 an inotify watch of the
    cgroup's memory.events (the kernel notifies every change of it), on v1 an
    eventfd registered through cgroup.event_control for memory.oom_control.
    Nothing is polled. The callback reads the counter (Cgroup.new_oom_kills)
    to learn what happened."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self._inotify: Inotify | None = None
        self._callbacks: dict[int, Callable[[], None]] = {}  # wd (v2) or eventfd (v1)
        self._handles: dict[str, int] = {}  # cgroup path -> wd or eventfd

    def add(self, cgroup: Cgroup, callback: Callable[[], None]) -> None:
        if cgroup.rel in self._handles:
            return
        handle = self._watch_v2(cgroup) if cgroup.host.version == 2 else self._watch_v1(cgroup)
        self._callbacks[handle] = callback
        self._handles[cgroup.rel] = handle

    def remove(self, cgroup: Cgroup) -> None:
        """Before the cgroup goes (v1 signals the eventfd at rmdir; a v2 watch
        ends by itself with the directory, IN_IGNORED)."""
        handle = self._handles.pop(cgroup.rel, None)
        if handle is None:
            return
        self._callbacks.pop(handle, None)
        if cgroup.host.version == 1:
            self.loop.unregister(handle)
            os.close(handle)

    def close(self) -> None:
        if self._inotify is not None:
            self.loop.unregister(self._inotify.fd)
            self._inotify.close()
            self._inotify = None
        else:
            for handle in self._handles.values():
                self.loop.unregister(handle)
                os.close(handle)
        self._handles.clear()
        self._callbacks.clear()

    def _watch_v1(self, cgroup: Cgroup) -> int:
        efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            memory = cgroup.host.mount_of("memory")
            control = os.open(f"{memory}{cgroup.rel}/memory.oom_control",
                              os.O_RDONLY | os.O_CLOEXEC)
            try:
                _write(f"{memory}{cgroup.rel}/cgroup.event_control", f"{efd} {control}")
            finally:
                os.close(control)
        except BaseException:
            os.close(efd)
            raise
        self.loop.register(efd, lambda _events: self._fired_v1(efd))
        return efd

    def _fired_v1(self, efd: int) -> None:
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(efd)
        callback = self._callbacks.get(efd)
        if callback is not None:
            callback()

    def _watch_v2(self, cgroup: Cgroup) -> int:
        if self._inotify is None:
            self._inotify = Inotify()
            self.loop.register(self._inotify.fd, self._fired_v2)
        path = Path(f"{cgroup.host.hierarchies[0].mount}{cgroup.rel}/memory.events")
        wd = self._inotify.add(path, IN_MODIFY)
        if wd is None:
            raise FileNotFoundError(errno.ENOENT, "no memory.events", str(path))
        return wd

    def _fired_v2(self, _events: int) -> None:
        assert self._inotify is not None
        for wd, _mask, _name in self._inotify.read(0):
            callback = self._callbacks.get(wd)
            if callback is not None:
                callback()
