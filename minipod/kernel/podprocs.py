"""A pod's processes as the host has them, whatever its record says.

A supervisor that was killed half-way through making a pod, restarting a
container or deleting one leaves processes its pod.json does not name: a
pause spawned before the record got its pid, a container exec'd before its
pid was written down. `recover` and `delete` find them here, from the kernel
alone:

- a pause by its command line: it is started as ``minipod-pause [--report FD]
  --sandbox HOSTNAME -- FIFO...`` with every FIFO under the pod's directory
  (kernel/sandbox.py), so its argv names the pod;
- everything else of the pod by its network namespace: every container (and
  every exec probe and hook) is setns'd into the one the pause holds, and
  nothing else on the host is in it.

pod_processes() is every process of a pod (to remove it); unrecorded() the
ones its record does not account for (to adopt the rest). kill_all() stops
a set through pidfds and waits until each is gone.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from pathlib import Path

from minipod.api.frozen import frozen
from minipod.api.record import ProcessRef
from minipod.kernel.proc import same_process, start_time


@frozen
class HostProcess:
    pid: int
    ppid: int
    netns: int  # inode of its network namespace
    pidns: int  # inode of its pid namespace


def _read_process(pid: int) -> HostProcess | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        netns = os.stat(f"/proc/{pid}/ns/net").st_ino
        pidns = os.stat(f"/proc/{pid}/ns/pid").st_ino
    except (OSError, ValueError, IndexError):
        return None  # gone, a zombie (no namespaces left), or a kernel thread's oddity
    return HostProcess(pid, ppid, netns, pidns)


def host_processes() -> dict[int, HostProcess]:
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            process = _read_process(int(entry.name))
            if process is not None:
                found[process.pid] = process
    return found


def identity(pid: int) -> ProcessRef:
    """``pid`` with its start time, as records name processes."""
    return ProcessRef(pid, start_time(pid))


def find_pauses(pod_dir: Path) -> list[ProcessRef]:
    """The pause processes started for the pod in ``pod_dir`` (normally one;
    two only if a supervisor died while replacing it), by their argv."""
    marker = f"{pod_dir}/fifo/".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if _is_pause_of(argv, marker):
            ref = identity(int(entry.name))
            if ref.start_time is not None:
                found.append(ref)
    return found


def _is_pause_of(argv: list[bytes], marker: bytes) -> bool:
    """``minipod-pause [--report FD] --sandbox HOST -- FIFO...`` with a FIFO under ``marker``."""
    if b"--sandbox" not in argv[1:4] or b"--" not in argv:
        return False
    return any(a.startswith(marker) for a in argv[argv.index(b"--") + 1:])


def _netns_of(refs: list[ProcessRef]) -> set[int]:
    inodes = set()
    for ref in refs:
        if ref.pid and same_process(ref):
            with contextlib.suppress(OSError):
                inodes.add(os.stat(f"/proc/{ref.pid}/ns/net").st_ino)
    return inodes


def pod_processes(pod_dir: Path, recorded: list[ProcessRef]) -> list[ProcessRef]:
    """Every live process of the pod: its pauses (recorded or found by argv)
    and everything in their network namespaces and in those of the
    ``recorded`` processes (the pause, the containers)."""
    pauses = find_pauses(pod_dir)
    inodes = _netns_of([*recorded, *pauses])
    host_netns = _netns_of([ProcessRef(os.getpid(), identity(os.getpid()).start_time)])
    inodes -= host_netns  # never the host's: a record pointing there is not to be trusted
    pids = {p.pid for p in pauses if p.pid}
    pids |= {p.pid for p in host_processes().values() if p.netns in inodes}
    pids.discard(os.getpid())
    return [ref for pid in sorted(pids) if (ref := identity(pid)).start_time is not None]


def unrecorded(pod_dir: Path, pause: ProcessRef | None,
               containers: list[ProcessRef]) -> list[ProcessRef]:
    """The processes of the pod that its record does not account for: a
    pause other than the recorded one (with everything in its namespace),
    and in the recorded pause's namespace whatever is neither the pause, nor
    a recorded container, nor a descendant of either, nor in a recorded
    container's own pid namespace (a container's children, whose parent
    may have exited). That is a container exec'd before its pid was written
    down, or an exec probe or hook of the supervisor that died."""
    live = [ref for ref in containers if same_process(ref)]
    keep_pause = pause if pause is not None and same_process(pause) else None
    processes = host_processes()
    anchors = ([keep_pause] if keep_pause else []) + live
    inodes = _netns_of(anchors)
    others = [p for p in find_pauses(pod_dir)
              if keep_pause is None or p.pid != keep_pause.pid]
    strays = {p.pid for p in others if p.pid}
    stray_netns = _netns_of(others) - inodes
    keep = {ref.pid for ref in anchors if ref.pid}
    pause_pidns = processes[keep_pause.pid].pidns if keep_pause and keep_pause.pid in \
        processes else None
    kept_pidns = {processes[r.pid].pidns for r in live if r.pid in processes} - {pause_pidns}
    members = {pid: p for pid, p in processes.items() if p.netns in inodes}
    for pid, process in members.items():
        if process.pidns in kept_pidns or _descends(pid, keep, processes):
            keep.add(pid)
    strays |= {pid for pid in members if pid not in keep}
    strays |= {pid for pid, p in processes.items() if p.netns in stray_netns}
    strays.discard(os.getpid())
    return [ref for pid in sorted(strays) if (ref := identity(pid)).start_time is not None]


def _descends(pid: int, ancestors: set[int], processes: dict[int, HostProcess]) -> bool:
    seen = 0
    while pid in processes and seen < 4096:  # a parent chain has no loop; bound it anyway
        if pid in ancestors:
            return True
        pid = processes[pid].ppid
        seen += 1
    return pid in ancestors


def kill_all(refs: list[ProcessRef], grace: float = 0.0, timeout: float = 10.0
             ) -> list[ProcessRef]:
    """Stop every process of ``refs`` still alive (SIGTERM, SIGKILL after
    ``grace`` seconds; at once with 0) through pidfds, and wait until each
    has exited; the ones that had not after ``timeout`` more seconds (a
    process stuck in the kernel). Whose they are is checked by start time
    before anything is sent, so a reused pid is never hit."""
    pidfds: dict[int, ProcessRef] = {}
    for ref in refs:
        fd = _open_if_same(ref)
        if fd is not None:
            pidfds[fd] = ref
    try:
        first = signal.SIGTERM if grace > 0 else signal.SIGKILL
        for fd in pidfds:
            _send(fd, first)
        alive = _wait(set(pidfds), grace) if grace > 0 else set(pidfds)
        for fd in alive:
            _send(fd, signal.SIGKILL)
        alive = _wait(alive, timeout)
        return [pidfds[fd] for fd in sorted(alive)]
    finally:
        for fd in pidfds:
            os.close(fd)


def _open_if_same(ref: ProcessRef) -> int | None:
    if not ref.pid or not same_process(ref):
        return None
    try:
        fd = os.pidfd_open(ref.pid)
    except OSError:
        return None
    if not same_process(ref):  # raced with an exit and a reuse
        os.close(fd)
        return None
    return fd


def _send(pidfd: int, signo: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        signal.pidfd_send_signal(pidfd, signo)


def _wait(pidfds: set[int], timeout: float) -> set[int]:
    """The pidfds whose process is still alive after ``timeout`` seconds.
    A pidfd turns readable once its process has exited (zombie or reaped)."""
    alive = set(pidfds)
    poller = select.poll()
    for fd in alive:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    while alive and (left := deadline - time.monotonic()) > 0:
        for fd, _ in poller.poll(left * 1000):
            alive.discard(fd)
            poller.unregister(fd)
    return alive
