"""Namespaces: which ones a pod shares, the one order they are joined in, and
how a new pid namespace is given to exactly one child.

The join order lives here and nowhere else (youki's ORDERED_NAMESPACES).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from minipod.kernel import sys as msys
from minipod.kernel.rootfs import SetNs

# The namespaces held by the pause process, in join order: user would come
# first if we had one; mount is never shared (every container has its own).
POD_NAMESPACES: tuple[tuple[str, int], ...] = (
    ("uts", msys.CLONE_NEWUTS),
    ("ipc", msys.CLONE_NEWIPC),
    ("net", msys.CLONE_NEWNET),
)


@dataclass
class NsFds:
    """Open fds of one process's namespaces, opened in one pass before any
    setns, because after joining a mount namespace /proc/<pid> may no longer
    resolve (crun opens them all first for the same reason)."""

    pid: int
    fds: dict[str, int]

    @classmethod
    def open(cls, pid: int, names: tuple[str, ...]) -> NsFds:
        fds: dict[str, int] = {}
        try:
            for name in names:
                fds[name] = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            for fd in fds.values():
                os.close(fd)
            raise
        return cls(pid, fds)

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    def join_ops(self) -> list[SetNs]:
        """The setns ops into uts, ipc and net, in POD_NAMESPACES order (a
        container's first ops: launch.setup_ops)."""
        return [SetNs(self.fds[name], flag) for name, flag in POD_NAMESPACES if name in self.fds]


def ns_inode(pid: int | str, name: str) -> int:
    """The inode that identifies a namespace: equal inodes mean a shared namespace."""
    return os.stat(f"/proc/{pid}/ns/{name}").st_ino


@contextmanager
def pid_namespace_for_children(join_fd: int | None) -> Iterator[None]:
    """Make the next fork() land in a new pid namespace (join_fd None), or in
    the pid namespace behind ``join_fd``, and restore ours afterwards.

    unshare/setns(CLONE_NEWPID) change only where *children* go, so this is the
    way to put one child in a pid namespace without an intermediate process.
    The caller must fork exactly once inside the block: a new namespace whose
    PID 1 has died refuses further forks.
    """
    own = _home_pidns_fd()
    try:
        if join_fd is None:
            msys.unshare(msys.CLONE_NEWPID)
        else:
            msys.setns(join_fd, msys.CLONE_NEWPID, "pause pid namespace")
        yield
    finally:
        msys.setns(own, msys.CLONE_NEWPID, "/proc/self/ns/pid_for_children")


_home_pidns: int | None = None


def _home_pidns_fd() -> int:
    """Where this process's children go (its own pid namespace), opened once
    and kept, as home_netns_fd is: every container start comes back to it,
    and the open (three /proc lookups) was on a restart's path."""
    global _home_pidns
    if _home_pidns is None:
        _home_pidns = os.open("/proc/self/ns/pid_for_children", os.O_RDONLY | os.O_CLOEXEC)
    return _home_pidns


_home_netns: int | None = None


def home_netns_fd() -> int:
    """An fd of the network namespace this process started in, kept open for
    its whole life: opened once, and always before the first setns, since
    once the thread has left /proc/self/ns/net names another namespace."""
    global _home_netns
    if _home_netns is None:
        _home_netns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    return _home_netns
