"""What the views read of the host they run on: the wall clock, the node's
name, this process's namespaces. Each is a seam the tests replace; verbs
call them through the module (host.now()) so that one replacement holds."""

from __future__ import annotations

import contextlib
import os
import time

NAMESPACE_KINDS = ("net", "ipc", "uts", "pid", "mnt", "cgroup", "user")


def now() -> float:
    """The wall clock (a seam for the tests)."""
    return time.time()


def node_name() -> str:
    """The kubelet's node name: the host name, lower-cased."""
    return os.uname().nodename.lower()


def host_namespaces() -> dict[str, int]:
    found = {}
    for kind in NAMESPACE_KINDS:
        with contextlib.suppress(OSError):
            found[kind] = os.stat(f"/proc/self/ns/{kind}").st_ino
    return found

