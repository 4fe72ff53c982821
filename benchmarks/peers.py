"""The peer: podman's `kube play` of the same manifests (`make bench`).

Podman must leave the host's own podman alone. So:
- storage, run root and tmp dir are private (--root, --runroot, --tmpdir, and
  CONTAINERS_STORAGE_CONF), containers.conf and registries.conf are private
  files (CONTAINERS_CONF, CONTAINERS_REGISTRIES_CONF);
- what podman 4.3 writes to fixed host paths whatever it is told
  (/var/lib/containers/cache, /var/cache/containers, /run/containers,
  /run/runc, /var/tmp) lands in tmpfs mounts of a mount namespace of our own:
  every podman command runs through `nsenter -m` into a holder process
  (`unshare --mount`) that mounted them, so the host never sees those files;
- cgroups: podman with runc needs them (runc refuses --cgroups=disabled and
  crun refuses this host's hybrid hierarchy), and it makes
  /sys/fs/cgroup/*/libpod_parent; the ones that were not there before are
  removed afterwards, with everything else of ours.
containers.conf sets runtime runc and the ulimits podman may set here
(nofile 20000, the hard limit, and nproc 32768; see ../shared/MACHINE.md).
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

from benchmarks import manifests as mf
from benchmarks import stats
from benchmarks.execwatch import ExecWatcher
from benchmarks.harness import (
    BenchError,
    children_of,
    cpu_ns,
    rss_kb,
    wait_until,
    wakeups,
)
from benchmarks.results import Comparison

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CGROUP_ROOT = Path("/sys/fs/cgroup")
HIDDEN = ("/run", "/var/lib", "/var/cache", "/var/tmp")

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
image_copy_tmp_dir = "{tmp}"

[network]
network_config_dir = "{net}"
"""

STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{root}"
runroot = "{run}"
"""

REGISTRIES_CONF = 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n'


def podman_missing() -> str | None:
    for tool in ("podman", "runc", "conmon", "nsenter", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install -y podman runc)"
    return None


def libpod_cgroups() -> set[Path]:
    return {p for p in CGROUP_ROOT.glob("*/libpod_parent") if p.is_dir()}


class Podman:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.dirs = {name: work / name for name in ("root", "run", "tmp", "net", "yaml")}
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        conf = work / "containers.conf"
        conf.write_text(CONTAINERS_CONF.format(tmp=self.dirs["tmp"], net=self.dirs["net"]))
        storage = work / "storage.conf"
        storage.write_text(STORAGE_CONF.format(root=self.dirs["root"], run=self.dirs["run"]))
        registries = work / "registries.conf"
        registries.write_text(REGISTRIES_CONF)
        self.env = dict(os.environ, CONTAINERS_CONF=str(conf),
                        CONTAINERS_STORAGE_CONF=str(storage),
                        CONTAINERS_REGISTRIES_CONF=str(registries))
        self.cgroups_before = libpod_cgroups()
        script = ("for d in " + " ".join(HIDDEN) + "; do "
                  "mount -t tmpfs -o mode=755 bench-podman $d || exit 1; done; "
                  "echo ready; exec sleep infinity")
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private",
                                        "sh", "-c", script], stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout is not None
        if self.holder.stdout.readline().strip() != "ready":
            self.holder.wait()
            raise BenchError("could not make the private mount namespace for podman")
        version = self.run("--version").stdout.split()[-1]
        self.label = f"podman {version} kube play"

    # -- running podman ------------------------------------------------------------
    def argv(self, *args: str) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-m", "podman",
                "--root", str(self.dirs["root"]), "--runroot", str(self.dirs["run"]),
                "--tmpdir", str(self.dirs["tmp"]), *args]

    def run(self, *args: str, stdin: bytes | None = None, check: bool = True,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(self.argv(*args), env=self.env, capture_output=True,
                             input=stdin.decode("latin-1") if stdin is not None else None,
                             text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise BenchError(f"podman {' '.join(args[:2])}: exit {out.returncode}: "
                             f"{_last_error(out.stderr or out.stdout)}")
        return out

    def timed(self, *args: str) -> tuple[float, float, subprocess.CompletedProcess[str]]:
        argv, env = self.argv(*args), self.env
        begin = time.monotonic()
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        end = time.monotonic()
        if out.returncode != 0:
            raise BenchError(f"podman {' '.join(args[:2])}: exit {out.returncode}: "
                             f"{_last_error(out.stderr or out.stdout)}")
        return begin, end, out

    def import_image(self, rootfs: Path) -> None:
        """The very rootfs minipod runs, as localhost/busybox:latest."""
        tar = self.work / "busybox.tar"
        with tarfile.open(tar, "w") as archive:
            archive.add(rootfs, arcname=".")
        self.run("import", "--change", f"ENV=PATH={PATH}", str(tar), mf.IMAGE)
        tar.unlink()

    def write(self, *manifests: dict[str, Any]) -> Path:
        path = self.dirs["yaml"] / f"{manifests[0]['metadata']['name']}.yaml"
        path.write_text(mf.documents(*manifests))
        return path

    def pids(self, manifest: dict[str, Any]) -> dict[str, int]:
        pod = manifest["metadata"]["name"]
        names = [f"{pod}-{c}" for c in mf.app_names(manifest)]
        out = self.run("inspect", "--format", "{{.State.Pid}}", *names)
        pids = [int(line) for line in out.stdout.split()]
        if len(pids) != len(names) or 0 in pids:
            raise BenchError(f"podman did not start every container of {pod}: {out.stdout!r}")
        return dict(zip(names, pids, strict=True))

    # -- figures ---------------------------------------------------------------------
    def start_stop(self, manifest: dict[str, Any], watcher: ExecWatcher) -> tuple[float, float]:
        """`kube play` to the exec of every app; then `kube down` (ms, ms)."""
        path = self.write(manifest)
        begin, _end, _out = self.timed("kube", "play", "--network", "none", str(path))
        try:
            pids = self.pids(manifest)
            last = max(watcher.wait_exec(pid, begin) for pid in pids.values())
            wait_until(lambda: all(children_of(p) for p in pids.values()), 10, "the trap")
        finally:
            down_begin, down_end, _ = self.timed("kube", "down", str(path))
        self.settle()
        return (last - begin) * 1000, (down_end - down_begin) * 1000

    def settle(self, timeout: float = 20) -> None:
        """Wait until no podman process of ours runs: conmon runs `podman
        container cleanup` after `kube down` has returned, and those would
        share the CPUs with the next minipod run it is paired with."""
        wait_until(lambda: not self.processes(), timeout, "podman's cleanup processes",
                   interval=0.01)

    def processes(self) -> list[int]:
        """podman, conmon and cleanup processes: their command lines name our --root."""
        root = str(self.dirs["root"]).encode()
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    if root in f.read():
                        found.append(int(entry.name))
            except OSError:
                continue
        return found

    def restarts(self, kills: int, watcher: ExecWatcher) -> list[float]:
        import signal

        manifest = mf.pod("peer-restart", command=mf.SLEEPS, grace=0)
        path = self.write(manifest)
        self.run("kube", "play", "--network", "none", str(path))
        samples = []
        try:
            for _ in range(kills):
                (name, pid), = self.pids(manifest).items()
                pidfd = os.pidfd_open(pid)
                try:
                    watcher.forget()
                    begin = time.monotonic()
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                finally:
                    os.close(pidfd)
                new_pid = wait_until(functools.partial(self._new_pid, name, pid), 30,
                                     "podman to restart the container", interval=0.005)
                samples.append((watcher.wait_exec(new_pid, begin) - begin) * 1000)
        finally:
            self.run("kube", "down", str(path), check=False)
        return samples

    def _new_pid(self, name: str, old: int) -> int | None:
        out = self.run("inspect", "--format", "{{.State.Pid}}", name, check=False)
        with contextlib.suppress(ValueError):
            pid = int(out.stdout.strip() or 0)
            return pid if pid not in (0, old) else None
        return None

    def healthchecks(self, runs: int) -> tuple[list[float], list[float]]:
        """`podman healthcheck run` of an exec liveness probe of `true`:
        wall, and CPU of podman and the children it reaped (ms each)."""
        probe = mf.exec_probe()
        manifest = mf.pod("peer-exec", command=mf.SLEEPS, grace=0, probe=probe)
        path = self.write(manifest)
        self.run("kube", "play", "--network", "none", str(path))
        wall, cpu = [], []
        try:
            for _ in range(runs):
                before = _children_cpu()
                begin, end, _ = self.timed("healthcheck", "run", "peer-exec-app")
                wall.append((end - begin) * 1000)
                cpu.append((_children_cpu() - before) * 1000)
        finally:
            self.run("kube", "down", str(path), check=False)
        return wall, cpu

    def probe_error(self) -> str:
        """Why podman gives no probe-capacity figure, in its own words."""
        manifest = mf.pod("peer-http", command=mf.SLEEPS, grace=0, probe=mf.http_probe())
        path = self.write(manifest)
        out = self.run("kube", "play", "--network", "none", str(path), check=False)
        try:
            check = self.run("healthcheck", "run", "peer-http-app", check=False)
            config = self.run("inspect", "--format", "{{json .Config.Healthcheck.Test}}",
                              "peer-http-app", check=False).stdout.strip()
        finally:
            self.run("kube", "down", str(path), check=False)
        return (f"probes do not run: `kube play` says \"{_last_error(out.stderr)}\" "
                "(podman schedules healthchecks with systemd timers); run by hand, the "
                f"httpGet probe is {config} and gives \"{check.stdout.strip()}\" "
                f"(exit {check.returncode}): busybox has no curl")

    def scale(self, n: int, watcher: ExecWatcher, window: float) -> dict[str, Comparison]:
        pods = [mf.pod(f"peer-scale-{i}") for i in range(n)]
        path = self.write(*pods)
        begin, _end, _out = self.timed("kube", "play", "--network", "none", str(path))
        found: dict[str, Comparison] = {}
        try:
            pids: dict[str, int] = {}
            for manifest in pods:
                pids.update(self.pids(manifest))
            last = max(watcher.wait_exec(pid, begin) for pid in pids.values())
            found["scale.start"] = Comparison(f"{self.label}, {n} pods",
                                              [(last - begin) * 1000], comparable=False)
            wait_until(lambda: all(children_of(p) for p in pids.values()), 30, "the traps")
            helpers = self._helpers()
            per_pod = sum(rss_kb(p) for p in helpers) / n
            found["memory.marginal"] = Comparison(
                f"{self.label}: conmon + infra (catatonit) RSS per pod", [per_pod])
            cpu, wake = [], []
            end = time.monotonic() + window
            while time.monotonic() < end - 1e-3:
                t0 = time.monotonic()
                ns0, wake0 = sum(map(cpu_ns, helpers)), sum(map(wakeups, helpers))
                time.sleep(1.0)
                seconds = time.monotonic() - t0
                cpu.append(stats.cpu_percent_ns(ns0, sum(map(cpu_ns, helpers)), seconds))
                wake.append(stats.per_second(wake0, sum(map(wakeups, helpers)), seconds))
            found["idle.cpu"] = Comparison(
                f"{self.label}: every conmon + catatonit, {n} pods", cpu, comparable=False)
            found["idle.wakeups"] = Comparison(
                f"{self.label}: every conmon + catatonit, {n} pods", wake, comparable=False)
        finally:
            down_begin, down_end, _ = self.timed("kube", "down", str(path))
        found["scale.stop"] = Comparison(f"{self.label}, {n} pods (`kube down`)",
                                         [(down_end - down_begin) * 1000], comparable=False)
        return found

    def _helpers(self) -> list[int]:
        """The pids of every conmon, and of every infra container's catatonit."""
        ids = self.run("ps", "-a", "-q").stdout.split()
        out = self.run("inspect", "--format",
                       "{{.State.ConmonPid}} {{.State.Pid}} {{.IsInfra}}", *ids)
        pids = []
        for line in out.stdout.splitlines():
            conmon, pid, infra = line.split()
            pids.append(int(conmon))
            if infra == "true":
                pids.append(int(pid))
        return [p for p in pids if p > 0]

    # -- cleaning up -----------------------------------------------------------------
    def close(self) -> list[str]:
        """Remove every pod, container and image, end the holder, remove the
        cgroups podman made and the private directories. What failed is returned."""
        problems = []
        for args in (("pod", "rm", "-a", "-f", "-t", "0"), ("rm", "-a", "-f", "-t", "0"),
                     ("system", "reset", "-f")):
            out = self.run(*args, check=False)
            if out.returncode != 0:
                problems.append(f"podman {' '.join(args)}: {_last_error(out.stderr)}")
        holder_ns = _mount_ns(self.holder.pid)
        self.holder.terminate()
        self.holder.wait(timeout=10)
        left = [pid for pid in _pids() if holder_ns is not None and _mount_ns(pid) == holder_ns]
        if left:
            problems.append(f"processes left in podman's mount namespace: {left}")
        if self.holder.stdout is not None:
            self.holder.stdout.close()
        for created in libpod_cgroups() - self.cgroups_before:
            for directory in sorted((p for p in created.rglob("*") if p.is_dir()),
                                    key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            try:
                created.rmdir()
            except OSError as e:
                problems.append(f"cgroup {created} left: {e}")
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text()
                  .splitlines() if line.split()[4].startswith(str(self.work))]
        if mounts:
            problems.append(f"mounts left under {self.work}: {mounts[:3]}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)
        return problems


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if "level=error" in line or line.startswith("Error"):
            return _clean(line)
    return _clean(lines[-1]) if lines else "(no output)"


def _clean(line: str) -> str:
    if 'msg="' in line:
        return line.split('msg="', 1)[1].rstrip('"')
    return line


def _mount_ns(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/mnt").st_ino
    except OSError:
        return None


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]
