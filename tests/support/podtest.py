"""Helpers for kernel tests: a private state and image directory per test,
a `minipod` runner, and a leak check that looks at the host itself."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from minipod.testing.objects import environment

SESSION_IMAGES: Path | None = None


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Minipod:
    root: Path
    images: Path
    workdir: Path
    ups: list[subprocess.Popen[str]] = field(default_factory=list)
    # minipod's root cgroup of this test alone (MINIPOD_CGROUP_ROOT), so the
    # leak check can look for it in every hierarchy
    cgroup_root: str = field(default_factory=lambda: unique_name("minipod-test"))
    # pid -> start time, netns inode -> when we saw it in use: pids and nsfs
    # inodes are reused quickly, so identity needs the time too.
    seen_pids: dict[int, float] = field(default_factory=dict)
    seen_netns: dict[int, float] = field(default_factory=dict)
    # A network namespace of the test's own (tests/support/nettest.py): when
    # set, every `minipod` runs in it with the pod network on, so the bridge,
    # the pods' veths and the nftables rules are made there, never here.
    netns: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        """The containers' logs ($MINIPOD_LOGS), beside the state."""
        return self.root.parent / "logs"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(MINIPOD_ROOT=str(self.root), MINIPOD_IMAGES=str(self.images),
                   MINIPOD_LOGS=str(self.logs), MINIPOD_CGROUP_ROOT=self.cgroup_root)
        if self.netns is not None:
            env["MINIPOD_POD_NETWORK"] = "bridge"
        env.update(self.extra_env)
        return env

    def prefix(self) -> list[str]:
        """How a command enters the test's network namespace (if it has one)."""
        return ["nsenter", f"--net=/run/netns/{self.netns}"] if self.netns else []

    def cgroups(self) -> list[str]:
        """Every cgroup of this test's pods still on the host, in any hierarchy."""
        return cgroups_named(self.cgroup_root)

    def pod_cgroup(self, name: str, namespace: str = "default") -> str:
        """The pod's cgroup path (below each hierarchy's root), from its record."""
        record = self.pod_record(name, namespace)
        assert record is not None and record.get("cgroup"), f"pod {name}: no cgroup recorded"
        return str(record["cgroup"])

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        # cwd is the test's directory, so `-m minipod` finds the installed
        # package, never the source tree (which has no built extension).
        return subprocess.run([*self.prefix(), sys.executable, "-m", "minipod", *args],
                              cwd=self.workdir, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def manifest(self, text: str, name: str = "pod.yaml") -> Path:
        path = self.workdir / name
        path.write_text(text)
        return path

    def up(self, manifest: Path, *options: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([*self.prefix(), sys.executable, "-m", "minipod", "up",
                                 *options, str(manifest)],
                                cwd=self.workdir, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        self.ups.append(proc)
        return proc

    def pod_record(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        path = self.root / "pods" / f"{namespace}_{name}" / "pod.json"
        try:
            return json.loads(path.read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def wait_running(self, name: str, containers: list[str], timeout: float = 60) -> dict[str, Any]:
        # (a bound, not a wait: in make test-vm's guest, emulated by qemu TCG
        # about 12x slower, a foreground `up` that runs itself again in a
        # systemd scope takes 10 to 16 s to start its first pod)
        def ready() -> dict[str, Any] | None:
            record = self.pod_record(name)
            if record and all(record["containers"].get(c, {}).get("state") == "running"
                              for c in containers):
                return record
            return None

        try:
            record: dict[str, Any] = wait_for(ready, timeout, f"pod {name} running")
        except AssertionError as e:
            raise AssertionError(f"{e}{self._ended_ups()}") from None
        self.remember(record)
        return record

    def _ended_ups(self) -> str:
        """What the `minipod up` processes that have ended printed (a pod that
        never ran usually says why there)."""
        said = []
        for proc in self.ups:
            if proc.poll() is not None and proc.stdout is not None:
                said.append(f"\n`up` exited {proc.returncode}:\n{proc.stdout.read()}")
        return "".join(said)

    def remember(self, record: dict[str, Any]) -> None:
        """Note the pod's processes and netns, so the leak check can look for them."""
        pause = record["pause"]
        for proc in [pause, *record["containers"].values()]:
            if proc.get("pid") and proc.get("startTime") is not None:
                self.seen_pids[proc["pid"]] = proc["startTime"]
        try:
            self.seen_netns[os.stat(f"/proc/{pause['pid']}/ns/net").st_ino] = create_time_now()
        except OSError:
            pass

    def delete_leftover_pods(self) -> None:
        services = self.root / "services"
        for path in sorted(services.glob("*.json")) if services.exists() else []:
            namespace, name = path.stem.split("_", 1)
            self.run("delete", "service", name, "-n", namespace)
        pods = self.root / "pods"
        for directory in sorted(pods.iterdir()) if pods.exists() else []:
            namespace, name = directory.name.split("_", 1)
            self.run("delete", "pod", name, "-n", namespace, "--grace-period", "0")

    def exec_in(self, pid: int, *argv: str) -> str:
        """Run a command inside a container's namespaces (nsenter, util-linux)."""
        out = subprocess.run(["nsenter", "-t", str(pid), "-a", *argv], capture_output=True,
                             text=True, timeout=20)
        assert out.returncode == 0, out.stderr
        return out.stdout


def busybox_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    global SESSION_IMAGES
    if SESSION_IMAGES is None:
        images = tmp_path_factory.mktemp("images")
        out = subprocess.run([sys.executable, "-m", "minipod", "image", "build-busybox"],
                             env=dict(os.environ, MINIPOD_IMAGES=str(images)), cwd=images,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        SESSION_IMAGES = images
    return SESSION_IMAGES



@contextlib.contextmanager
def in_process_minipod(root: Path, images: Path) -> Iterator[None]:
    """MINIPOD_ROOT and MINIPOD_IMAGES for a sandbox made in this process (the
    kernel layer reads them from os.environ), as they were afterwards."""
    with environment({"MINIPOD_ROOT": str(root), "MINIPOD_IMAGES": str(images)}):
        yield


def host_mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def live_pids(pids: dict[int, float]) -> list[int]:
    """Our processes (same pid *and* start time) that still exist and are not zombies."""
    alive = []
    for pid, started in pids.items():
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - started) < 0.05 and proc.status() != "zombie":
                alive.append(pid)
        except psutil.Error:
            continue
    return alive


def create_time_now() -> float:
    """Now, on the scale of psutil's create_time(): the boot time (whole
    seconds in /proc/stat) plus the time since boot, as a process's start is.
    time.time() is up to a second later on that scale, and a process started
    just after would look older than it is (other people's tests on this
    machine get the freed netns inode numbers quickly)."""
    return psutil.boot_time() + time.clock_gettime(time.CLOCK_BOOTTIME)


def processes_in_netns(inodes: dict[int, float]) -> list[int]:
    """Processes in one of our pods' network namespaces. A process that started
    after we last saw the namespace in use may be in a new namespace that got
    the freed inode number, so only older ones count."""
    found = []
    for proc in psutil.process_iter():
        try:
            seen_at = inodes.get(os.stat(f"/proc/{proc.pid}/ns/net").st_ino)
            if seen_at is not None and proc.create_time() <= seen_at:
                found.append(proc.pid)
        except (OSError, psutil.Error):
            continue
    return found


CGROUP_FS = Path("/sys/fs/cgroup")


def cgroups_named(name: str) -> list[str]:
    """Directories called ``name`` anywhere under /sys/fs/cgroup, and what is
    below them (a supervisor under systemd keeps its root in its unit's cgroup)."""
    found = []
    for directory, subdirs, _ in os.walk(CGROUP_FS):
        if os.path.basename(directory) == name:
            found += [directory, *(os.path.join(d, s) for d, ss, _ in os.walk(directory)
                                   for s in ss)]
            subdirs.clear()
    return found


def pauses_under(root: Path) -> list[int]:
    """Pause processes started for pods under ``root`` (their argv names the
    pod's FIFOs), whether or not any record knows them."""
    marker = f"{root}/".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if b"--sandbox" in argv[1:4] and b"--" in argv and any(
                    a.startswith(marker) for a in argv[argv.index(b"--") + 1:]) \
                    and psutil.Process(int(entry.name)).status() != psutil.STATUS_ZOMBIE:
                found.append(int(entry.name))
        except (OSError, psutil.Error):
            continue
    return found


def assert_nothing_left(mp: Minipod) -> None:
    """Look at the host, not at our own records."""
    assert host_mounts_under(mp.workdir) == [], "mounts left behind"
    assert live_pids(mp.seen_pids) == [], "processes left behind"
    assert processes_in_netns(mp.seen_netns) == [], "a pod network namespace is still held"
    assert pauses_under(mp.root) == [], "a pause process is left (no record named it)"
    pods = mp.root / "pods"
    left = sorted(p.name for p in pods.iterdir()) if pods.exists() else []
    assert left == [], f"pod state left behind: {left}"
    logs = sorted(p.name for p in mp.logs.iterdir()) if mp.logs.exists() else []
    assert logs == [], f"pod logs left behind: {logs}"
    staging = mp.root / "staging"
    left = sorted(p.name for p in staging.iterdir()) if staging.exists() else []
    assert left == [], f"a half-made pod directory is left in staging/: {left}"
    # a supervisor deletes retired pod directories right after it answered
    trash = mp.root / "trash"
    wait_for(lambda: not trash.exists() or not any(trash.iterdir()), 10, "trash/ to be emptied")
    for kind in ("services", "endpoints"):
        records = mp.root / kind
        left = sorted(p.name for p in records.iterdir()) if records.exists() else []
        assert left == [], f"{kind} records left behind: {left}"
    network = mp.root / "network"
    for kind in ("pod-ips", "service-ips", "node-ports", "host-ports"):
        claims = network / kind
        left = sorted(p.name for p in claims.iterdir()) if claims.exists() else []
        assert left == [], f"network claims left behind in {kind}: {left}"
    # pods' cgroups go with them; the root and QoS cgroups a moment after the last
    try:
        wait_for(lambda: not mp.cgroups(), 10, "cgroups to go")
    except AssertionError:
        raise AssertionError(f"cgroups left behind: {mp.cgroups()}") from None
