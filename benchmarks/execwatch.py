"""When did a process exec? The kernel's process events connector says, to the ns.

Every exec and fork on the host becomes a message on a netlink socket
(NETLINK_CONNECTOR, CN_IDX_PROC; CAP_NET_ADMIN, so root) carrying the pid and
the kernel's CLOCK_MONOTONIC time of the event in ns (ktime_get_ns), the same
clock as time.monotonic_ns(). A socket filter drops the other events (exit,
uid changes, ...) in the kernel, so a busy host costs us little. Forks tell
where a start's time goes: before the supervisor forks, or in the child
between its fork and its exec.

This is how the suite times "until the container's process has exec'd"
without touching the container: no timestamp written from inside it (which
would add a fork of `date` after the exec), no polling of pod.json (which is
written after the exec, whenever the supervisor gets to it), no
/proc/PID/stat start time (10 ms ticks, and it is the fork's time, not the
exec's).
"""

from __future__ import annotations

import ctypes
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2
PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
NLMSG_DONE = 3
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33

# nlmsghdr (16 bytes) + cn_msg (20 bytes), then struct proc_event:
# what u32, cpu u32, timestamp_ns u64, then for exec {process_pid, process_tgid}.
_EVENT = 16 + 20
_EVENT_FORMAT = "=IIQii"
_EVENT_SIZE = struct.calcsize(_EVENT_FORMAT)

# fork: {parent_pid, parent_tgid, child_pid, child_tgid}
_FORK_FORMAT = "=IIQiiii"

# classic BPF: accept the message if the u32 at _EVENT is PROC_EVENT_EXEC or
# PROC_EVENT_FORK. BPF_ABS loads are big-endian: compare with swapped bytes.
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_RET_K = 0x20, 0x15, 0x06


def exec_filter() -> bytes:
    """The socket filter program: 5 instructions, struct sock_filter each."""
    insns = [(_BPF_LD_W_ABS, 0, 0, _EVENT),
             (_BPF_JEQ_K, 1, 0, socket.htonl(PROC_EVENT_EXEC)),
             (_BPF_JEQ_K, 0, 1, socket.htonl(PROC_EVENT_FORK)),
             (_BPF_RET_K, 0, 0, 0xFFFFFFFF), (_BPF_RET_K, 0, 0, 0)]
    return b"".join(struct.pack("=HBBI", *insn) for insn in insns)


def parse_event(data: bytes) -> tuple[str, int, float, int] | None:
    """("exec", pid, time, 0) or ("fork", child pid, time, parent pid) of one
    message (time in monotonic seconds), else None."""
    if len(data) < _EVENT + _EVENT_SIZE:
        return None
    what, _cpu, stamp, pid, _tgid = struct.unpack_from(_EVENT_FORMAT, data, _EVENT)
    if what == PROC_EVENT_EXEC:
        return "exec", pid, stamp / 1e9, 0
    if what == PROC_EVENT_FORK and len(data) >= _EVENT + struct.calcsize(_FORK_FORMAT):
        _w, _c, _s, parent, _ptgid, child, child_tgid = struct.unpack_from(
            _FORK_FORMAT, data, _EVENT)
        if child == child_tgid:  # a process, not a thread
            return "fork", child, stamp / 1e9, parent
    return None


class ExecWatcher:
    """Collects exec times by pid; ``wait_for`` blocks (no polling) until one shows."""

    def __init__(self) -> None:
        self.execs: dict[int, list[float]] = {}
        self.forks: dict[int, tuple[float, int]] = {}  # child pid -> (time, parent pid)
        self.overruns = 0  # ENOBUFS: the kernel dropped events; samples then are retried
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
            program = exec_filter()
            buffer = ctypes.create_string_buffer(program)
            fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(buffer))
            self._sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            self._sock.bind((0, CN_IDX_PROC))
            self._control(PROC_CN_MCAST_LISTEN)
            self._sock.setblocking(False)
        except BaseException:
            self._sock.close()
            raise

    def _control(self, op: int) -> None:
        payload = struct.pack("=I", op)
        cn = struct.pack("=IIIIHH", CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
        self._sock.send(struct.pack("=IHHII", 16 + len(cn), NLMSG_DONE, 0, 0, 0) + cn)

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            try:
                self._sock.setblocking(True)
                self._control(PROC_CN_MCAST_IGNORE)
            except OSError:
                pass  # closing drops the subscription anyway
            self._sock.close()

    def __enter__(self) -> ExecWatcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def drain(self) -> int:
        """Read every pending event; return how many execs were new."""
        count = 0
        while True:
            try:
                data = self._sock.recv(256)
            except BlockingIOError:
                return count
            except OSError as e:
                if e.errno == 105:  # ENOBUFS: events were lost
                    self.overruns += 1
                    continue
                raise
            event = parse_event(data)
            if event is None:
                continue
            kind, pid, stamp, parent = event
            if kind == "exec":
                self.execs.setdefault(pid, []).append(stamp)
                count += 1
            else:
                self.forks[pid] = (stamp, parent)

    def last_exec(self, pid: int, after: float = 0.0) -> float | None:
        self.drain()
        times = [t for t in self.execs.get(pid, ()) if t >= after]
        return times[-1] if times else None

    def fork_time(self, pid: int) -> float | None:
        """When ``pid`` was forked, if we saw it."""
        self.drain()
        fork = self.forks.get(pid)
        return fork[0] if fork else None

    def wait_for(self, found: Callable[[], T | None], timeout: float) -> T:
        """Block on the socket until ``found()`` returns a time (it may drain)."""
        deadline = time.monotonic() + timeout
        while True:
            self.drain()
            value = found()
            if value is not None:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no exec event came")
            select.select([self._sock], [], [], min(left, 0.05))

    def wait_exec(self, pid: int, after: float = 0.0, timeout: float = 10.0) -> float:
        return self.wait_for(lambda: self.last_exec(pid, after), timeout)

    def forget(self) -> None:
        """Drop what was collected (a long run would keep every exec of the host)."""
        self.drain()
        self.execs.clear()
        self.forks.clear()

    def fileno(self) -> int:
        return self._sock.fileno()


def netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None
