"""The reliability suite's helpers: manifests, the supervisor's process, and
accounting of what a run leaves on the host (processes, mounts, network
namespaces, the supervisor's fds and RSS, state files), read from /proc and
the state directory, never from minipod's own answers."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from podtest import Minipod, host_mounts_under, pauses_under, wait_for

LONG = os.environ.get("MINIPOD_RELIABILITY") == "long"
REPORT = os.environ.get("MINIPOD_RELIABILITY_REPORT")


def report(section: str, figures: dict[str, Any]) -> None:
    """Add ``figures`` under ``section`` to the run's report, if one is asked for."""
    if not REPORT:
        return
    path = Path(REPORT)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault(section, {}).update(figures)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def pod(name: str, body: str) -> str:
    return f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{body}"


SLEEPER = """
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sleep, "3600"]
"""


def pods_file(names: list[str], body: str = SLEEPER) -> str:
    return "---\n".join(pod(name, body) for name in names)


def kill9(pid: int) -> None:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    finally:
        os.close(pidfd)


def daemon_pid(mp: Minipod) -> int | None:
    """The background supervisor of this state directory, if one runs."""
    lock = mp.root / "supervisors" / "daemon.lock"
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(f.path == str(lock) for f in proc.open_files()) \
                    and proc.status() != psutil.STATUS_ZOMBIE:
                return proc.pid
        except psutil.Error:
            continue
    return None


def wait_daemon_gone(pid: int, timeout: float = 20) -> None:
    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(gone, timeout, f"supervisor {pid} to be gone")


def pod_names(mp: Minipod) -> list[str]:
    pods = mp.root / "pods"
    return sorted(p.name.split("_", 1)[1] for p in pods.iterdir()) if pods.exists() else []


def processes_in_netns_of(pids: list[int]) -> list[int]:
    """Every process in the network namespaces of ``pids`` (pauses)."""
    inodes = set()
    for pid in pids:
        try:
            inodes.add(os.stat(f"/proc/{pid}/ns/net").st_ino)
        except OSError:
            continue
    found = []
    for proc in psutil.process_iter():
        try:
            if os.stat(f"/proc/{proc.pid}/ns/net").st_ino in inodes:
                found.append(proc.pid)
        except OSError:
            continue
    return found


@dataclass
class HostCount:
    """What the host has of one state directory's pods."""

    pauses: int
    pod_processes: int  # everything in the pods' network namespaces
    mounts: int
    pod_dirs: int
    staging: int
    trash: int

    @classmethod
    def of(cls, mp: Minipod) -> HostCount:
        pauses = pauses_under(mp.root)

        def entries(name: str) -> int:
            path = mp.root / name
            return len(list(path.iterdir())) if path.exists() else 0

        return cls(len(pauses), len(processes_in_netns_of(pauses)),
                   len(host_mounts_under(mp.workdir)), entries("pods"), entries("staging"),
                   entries("trash"))

    def total(self) -> int:
        return (self.pauses + self.pod_processes + self.mounts + self.pod_dirs + self.staging
                + self.trash)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss // 1024)


def slope(values: list[float]) -> float:
    """Least-squares slope of ``values`` against their index."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    den = sum((x - mean_x) ** 2 for x in range(n))
    return num / den


def record_of(mp: Minipod, name: str) -> dict[str, Any] | None:
    return mp.pod_record(name)


def wait_running(mp: Minipod, name: str, timeout: float = 20) -> dict[str, Any]:
    def running() -> dict[str, Any] | None:
        record = mp.pod_record(name)
        if record and not record.get("creating") and all(
                c.get("state") == "running" and c.get("pid")
                for c in record["containers"].values()):
            mp.remember(record)
            return record
        return None

    found: dict[str, Any] = wait_for(running, timeout, f"pod {name} running")
    return found


def settle(seconds: float) -> None:
    time.sleep(seconds)
