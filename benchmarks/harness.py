"""minipod as the figures drive it: the CLI in a private MINIPOD_ROOT and
MINIPOD_IMAGES, pod records, the background supervisor, and what /proc says
about a process."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil

from benchmarks import stats

T = TypeVar("T")


class BenchError(RuntimeError):
    """A figure could not be measured (it is reported with this text)."""


def wait_until(predicate: Callable[[], T | None], timeout: float, what: str,
               interval: float = 0.002) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def read_stat(pid: int) -> dict[str, int]:
    return stats.proc_stat_fields(Path(f"/proc/{pid}/stat").read_text())


def read_status(pid: int) -> dict[str, int]:
    return stats.proc_status_fields(Path(f"/proc/{pid}/status").read_text())


def cpu_ns(pid: int) -> int:
    """CPU time of the whole process, all its threads (the exited ones too),
    in ns: its CPU-time clock (what clock_getcpuclockid(3) returns, the
    kernel's MAKE_PROCESS_CPUCLOCK: (~pid << 3) | CPUCLOCK_SCHED), which
    reads the scheduler's runtime brought up to date. /proc/PID/stat rounds
    it to 10 ms ticks, 1 % of a core in a 1 s slice."""
    return time.clock_gettime_ns(((~pid) << 3) | 2)


def wakeups(pid: int) -> int:
    """Context switches: each voluntary one is the process going to sleep,
    so they count its wake-ups."""
    fields = read_status(pid)
    return fields["voluntary_ctxt_switches"] + fields["nonvoluntary_ctxt_switches"]


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


class Process:
    """A process we did not fork, named by pid and start time, held by a pidfd
    (so a reused pid is never signalled)."""

    def __init__(self, pid: int, start_time: float | None = None) -> None:
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        if start_time is not None and abs(psutil.Process(pid).create_time() - start_time) > 0.05:
            os.close(self.pidfd)
            raise BenchError(f"pid {pid} is no longer the process recorded")

    def signal(self, signo: int) -> None:
        signal.pidfd_send_signal(self.pidfd, signo)

    def wait_exit(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.pidfd], [], [], timeout)
        return bool(ready)

    def close(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


class Minipod:
    def __init__(self, work: Path, python: str = sys.executable) -> None:
        self.work = work
        self.root = work / "state"
        self.images = work / "images"
        self.python = python
        self.daemon: Process | None = None

    @property
    def env(self) -> dict[str, str]:
        # The pod network stays off here: these figures are of pods on
        # loopback, and the suite never touches the machine's own network.
        # benchmarks/network.py measures it in a namespace of its own.
        return dict(os.environ, MINIPOD_ROOT=str(self.root), MINIPOD_IMAGES=str(self.images),
                    MINIPOD_POD_NETWORK="none", MINIPOD_CGROUP_ROOT=self.cgroup_root)

    @property
    def in_process_env(self) -> dict[str, str]:
        """What a Supervisor in the suite's own process takes from os.environ:
        as env, the pod network off (its default would put a bridge, routes
        and nftables rules on the host), its own state directory."""
        return {"MINIPOD_ROOT": str(self.work / "state-inproc"),
                "MINIPOD_IMAGES": str(self.images), "MINIPOD_CGROUP_ROOT": self.cgroup_root,
                "MINIPOD_POD_NETWORK": "none"}

    @property
    def cgroup_root(self) -> str:
        """The pods' cgroups go below a root of this run's, not the host's
        /minipod, which a user's own pods may share."""
        return f"minipod-bench-{os.getpid()}"

    def command(self, *args: str) -> list[str]:
        """The `minipod` script installed beside the interpreter, as a user runs
        it (run through that interpreter: a copied venv's shebang points
        elsewhere); `-m minipod` where there is none (-P: never the source
        tree, which has no built extension)."""
        script = Path(self.python).parent / "minipod"
        if script.is_file():
            return [self.python, str(script), *args]
        return [self.python, "-P", "-m", "minipod", *args]

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(self.command(*args), cwd=self.work, env=self.env,
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise BenchError(f"minipod {' '.join(args)}: exit {out.returncode}: "
                             f"{(out.stderr or out.stdout).strip()[-500:]}")
        return out

    def timed_cli(self, *args: str, timeout: float = 300) -> tuple[float, float]:
        """Run the command; (monotonic start, monotonic end)."""
        cmd, env = self.command(*args), self.env
        begin = time.monotonic()
        out = subprocess.run(cmd, cwd=self.work, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, timeout=timeout)
        end = time.monotonic()
        if out.returncode != 0:
            raise BenchError(f"minipod {' '.join(args)}: exit {out.returncode}: "
                             f"{out.stderr.strip()[-500:]}")
        return begin, end

    def write(self, name: str, text: str) -> Path:
        path = self.work / name
        path.write_text(text)
        return path

    def build_image(self) -> None:
        self.cli("image", "build-busybox")
        # the manifests' name (manifests.IMAGE), the one podman needs; a
        # minipod from before `image tag` (issue 13's A/B against 7e0d174)
        # drops 'localhost/' when it resolves a name
        try:
            self.cli("image", "tag", "busybox:latest", "localhost/busybox:latest")
        except BenchError as e:
            if "invalid choice: 'tag'" not in str(e):
                raise

    def image_rootfs(self, name: str = "busybox:latest") -> Path:
        """The directory of a one-layer image's only layer."""
        info = json.loads(self.cli("image", "inspect", name).stdout)[0]
        return Path(info["layerDirs"][0])

    # -- pod records ---------------------------------------------------------
    def pod_dir(self, name: str, namespace: str = "default") -> Path:
        return self.root / "pods" / f"{namespace}_{name}"

    def record(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads((self.pod_dir(name, namespace)
                                               / "pod.json").read_text())
        except (OSError, ValueError):
            return None
        return data

    def running_pids(self, name: str, containers: list[str]) -> dict[str, int] | None:
        """Pids of the named containers once every one is running, else None."""
        record = self.record(name)
        if record is None:
            return None
        pids = {}
        for container in containers:
            entry = record["containers"].get(container, {})
            if entry.get("state") != "running" or not entry.get("pid"):
                return None
            pids[container] = int(entry["pid"])
        return pids

    def wait_running(self, name: str, containers: list[str], timeout: float = 30
                     ) -> dict[str, int]:
        return wait_until(lambda: self.running_pids(name, containers), timeout,
                          f"pod {name} running", interval=0.001)

    def pods(self) -> list[tuple[str, str]]:
        pods = self.root / "pods"
        found = []
        for directory in sorted(pods.iterdir()) if pods.exists() else []:
            namespace, _, name = directory.name.partition("_")
            found.append((namespace, name))
        return found

    # -- the background supervisor -------------------------------------------------
    def supervisor(self, name: str) -> Process:
        """The daemon serving pod ``name`` (checked by its start time)."""
        record = self.record(name)
        if record is None:
            raise BenchError(f"no record of pod {name}")
        identity = record["supervisor"]
        if self.daemon is None or self.daemon.pid != identity["pid"]:
            if self.daemon is not None:
                self.daemon.close()
            self.daemon = Process(identity["pid"], identity.get("startTime"))
        return self.daemon

    def stop_daemon(self, timeout: float = 30) -> None:
        """Delete what is left and end the daemon we started (SIGTERM by pidfd;
        with no pod left it just exits, as it would 5 s later)."""
        for namespace, name in self.pods():
            with contextlib.suppress(BenchError, subprocess.TimeoutExpired):
                self.cli("delete", "pod", name, "-n", namespace, "--grace-period", "0")
        if self.daemon is None:
            return
        if not self.daemon.wait_exit(0):
            with contextlib.suppress(ProcessLookupError):
                self.daemon.signal(signal.SIGTERM)
            if not self.daemon.wait_exit(timeout):
                raise BenchError(f"the supervisor {self.daemon.pid} did not exit")
        self.daemon.close()
        self.daemon = None


def rss_kb(pid: int) -> int:
    return read_status(pid)["VmRSS"]
