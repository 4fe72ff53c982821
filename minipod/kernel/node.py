"""What the node tells the downward API: its name, its addresses, and its
allocatable cpu, memory and ephemeral storage (what a container limit that
is not set stands for, as the kubelet's MergeContainerResourceLimits has it).

Allocatable as the kubelet computes it with its defaults: capacity, less no
kube or system reservation, less the default hard eviction thresholds
(memory.available<100Mi, nodefs.available<10%).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct

from minipod.kernel.paths import images_root

_SIOCGIFADDR = 0x8915
EVICTION_MEMORY = 100 * 1024 * 1024  # memory.available<100Mi
EVICTION_NODEFS = 0.10  # nodefs.available<10%


def node_name() -> str:
    """The kubelet's node name: the host name, lower-cased."""
    return os.uname().nodename.lower()


def host_ips() -> tuple[str, ...]:
    """The node's IPv4 addresses, loopback left out, in interface order."""
    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        for _index, name in socket.if_nameindex():
            if name == "lo":
                continue
            with contextlib.suppress(OSError):  # no IPv4 address on it
                answer = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR,
                                     struct.pack("256s", name.encode()[:15]))
                address = socket.inet_ntoa(answer[20:24])
                if address not in found:
                    found.append(address)
    return tuple(found)


def allocatable() -> dict[str, int]:
    """cpu in millicores, memory and ephemeral-storage in bytes."""
    cpus = os.cpu_count() or 1
    memory = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
                break
    storage = 0
    with contextlib.suppress(OSError):
        stat = os.statvfs(_existing(images_root()))
        capacity = stat.f_blocks * stat.f_frsize
        storage = capacity - int(capacity * EVICTION_NODEFS)
    return {"cpu": cpus * 1000, "memory": max(0, memory - EVICTION_MEMORY),
            "ephemeral-storage": storage}


def _existing(path: str) -> str:
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    return path or "/"
