"""`make bench`: minipod's figures beside the kernel's limits and podman's,
written to BENCHMARKS.md and BENCHMARKS.json.

    sudo python -P benchmarks/run.py [--smoke] [--peers | --baseline PYTHON]
                                     [--output BENCHMARKS.md]

Run as root. Everything runs in a private MINIPOD_ROOT and MINIPOD_IMAGES
(and, for podman, private storage and configuration) under a temporary
directory, and everything started is stopped and removed at the end.
--smoke runs every figure with tiny N and a few runs (well under a minute),
so CI keeps the suite from rotting; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import resource
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__ in (None, ""):  # run as a file: make the package importable. Appended,
    # so that `minipod` stays the installed package, never the source tree beside it.
    sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks import figures as fg
from benchmarks.baseline import Baseline
from benchmarks.config import Config, config_for
from benchmarks.execwatch import ExecWatcher
from benchmarks.harness import BenchError, Minipod, Process
from benchmarks.limits import LIMITS
from benchmarks.report import from_json, machine, write_report
from benchmarks.results import Comparison, Figure

if TYPE_CHECKING:
    from benchmarks.peers import Podman

GROUPS = ("cold", "scale", "start", "restart", "capacity", "inprocess", "cli", "kernel",
          "network", "images", "testing")
LOCK = Path(tempfile.gettempdir()) / "minipod-bench.lock"  # one suite at a time
# what a pod costs at most, to decide whether N pods fit (measured: well below)
POD_MEMORY_KB = 4096


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny N, few runs (CI)")
    parser.add_argument("--peers", action="store_true", help="also measure podman kube play")
    parser.add_argument("--baseline", metavar="PYTHON", default=None,
                        help="measure start, stop and restart beside the minipod installed "
                             "for this interpreter (a venv of an earlier commit), run for run "
                             "(benchmarks/baseline.py); its figures take the peer columns")
    parser.add_argument("--output", default="BENCHMARKS.md", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a field of the configuration (benchmarks/config.py), "
                             "e.g. probe_pods=100,500 or runs=30")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="measure nothing: write the report again from a BENCHMARKS.json")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help=f"comma-separated figure groups: {','.join(GROUPS)}")
    args = parser.parse_args(argv)
    args.groups = [g for g in args.only.split(",") if g]
    unknown = set(args.groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown groups: {', '.join(sorted(unknown))}")
    return args


def parse_overrides(items: list[str]) -> dict[str, object]:
    fields = {f.name: f.type for f in dataclasses.fields(Config)}
    found: dict[str, object] = {}
    for item in items:
        name, _, text = item.partition("=")
        kind = str(fields.get(name, ""))
        if not kind or name == "name":
            raise SystemExit(f"--set: no field {name!r} (one of {', '.join(fields)})")
        if kind.startswith("tuple"):
            found[name] = tuple(int(v) for v in text.split(",") if v)
        else:
            found[name] = float(text) if kind == "float" else int(text)
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        figures, meta = from_json(json.loads(args.render.read_text()))
        write_report(args.output, figures, meta, LIMITS)
        return 0
    if os.geteuid() != 0:
        print("the benchmarks need root (namespaces, mounts)", file=sys.stderr)
        return 1
    cfg = config_for(args.smoke, **parse_overrides(args.set))
    with exclusive_run():
        return measure(args, cfg, argv)


@contextlib.contextmanager
def exclusive_run(timeout: float = 900) -> Iterator[None]:
    """One suite at a time on a host: two would skew each other's figures (and
    podman's cgroups would outlive the run that made them). Wait for the other."""
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"another benchmark run still holds {LOCK}") from None
                if not told:
                    print(f"waiting for another benchmark run ({LOCK})", file=sys.stderr)
                    told = True
                time.sleep(1)
        yield
    finally:
        os.close(fd)


def measure(args: argparse.Namespace, cfg: Config, argv: list[str] | None) -> int:
    started, load_start, busy_start = time.monotonic(), os.getloadavg(), cpu_busy()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="minipod-bench-") as tmp:
        mp = Minipod(Path(tmp))
        mp.build_image()
        peer: Any = start_peer(mp, notes) if args.peers else None
        if args.baseline:
            if peer is not None:
                raise SystemExit("--baseline and --peers both take the peer columns: one only")
            peer = Baseline(Path(tmp) / "baseline", args.baseline)
        try:
            with ExecWatcher() as watcher:
                figures = run_suite(mp, watcher, cfg, args.groups, peer)
                if watcher.overruns:
                    notes.append(f"The exec event socket overran {watcher.overruns} times.")
        finally:
            with contextlib.suppress(BenchError):
                mp.stop_daemon()
            if peer is not None:
                notes += [f"{peer.label} clean-up: {p}" for p in peer.close()]
    meta = {
        "machine": machine(), "mode": cfg.name, "peers": args.peers,
        "command": "python -P benchmarks/run.py " + shlex.join(argv or sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"), "seconds": time.monotonic() - started,
        "load_start": list(load_start), "load_end": list(os.getloadavg()),
        "config": cfg.__dict__, "notes": notes + run_notes(cfg),
    }
    busy_end = cpu_busy()
    busy = 100 * (busy_end[0] - busy_start[0]) / max(1, busy_end[1] - busy_start[1])
    meta["cpu_busy_percent"] = busy
    meta["notes"].insert(0, f"The machine's CPUs were {busy:.0f}% busy over the run (this "
                            "suite included; other people's tests share this machine).")
    write_report(args.output, figures, meta, LIMITS)
    print(args.output.read_text())
    return 0


def start_peer(mp: Minipod, notes: list[str]) -> Podman | None:
    from benchmarks.peers import Podman, podman_missing

    missing = podman_missing()
    if missing:
        notes.append(f"No peer figures: {missing}.")
        return None
    peer = Podman(mp.work / "podman")
    try:
        peer.import_image(mp.image_rootfs())
    except BaseException:
        peer.close()
        raise
    return peer


def run_suite(mp: Minipod, watcher: ExecWatcher, cfg: Config, groups: list[str],
              peer: Podman | Baseline | None) -> list[Figure]:
    out: list[Figure] = []
    if "cold" in groups:
        out += fg.guard("start.cold", "Pod start, cold", "ms",
                        lambda: [fg.cold_start(mp, watcher, cfg)])
    if any(g in groups for g in ("scale", "start", "restart", "capacity")):
        out += pod_groups(mp, watcher, cfg, groups, peer, out)
    if "inprocess" in groups:
        out += fg.guard("inprocess", "In-process supervisor", "ms",
                        lambda: fg.in_process(mp, cfg))
    if "images" in groups:
        from benchmarks.images import image_figures

        out += fg.guard("image.pull", "Image pull", "ms",
                        lambda: image_figures(mp, watcher, cfg, cfg.name == "smoke"))
    if "cli" in groups:
        out += fg.cli_startup(mp, cfg)
    if "kernel" in groups:
        out += fg.baseline_figures(cfg)
    podman = peer if not isinstance(peer, Baseline) else None
    if "network" in groups:
        from benchmarks.network import network_figures  # imports minipod: only when asked

        watcher.forget()
        out += fg.guard("network", "The pod network", "ms",
                        lambda: network_figures(mp, watcher, cfg, podman))
    if "testing" in groups:
        from benchmarks.testing_api import testing_figures  # imports minipod: only when asked

        out += fg.guard("testing.e2e", "A test of one pod through minipod.testing", "ms",
                        lambda: testing_figures(mp, cfg))
    if podman is not None:  # podman's own figures
        attach_peer_only(out, podman, watcher, cfg)
    return out


def pod_groups(mp: Minipod, watcher: ExecWatcher, cfg: Config, groups: list[str],  # noqa: PLR0917
               peer: Podman | Baseline | None, done: list[Figure]) -> list[Figure]:
    """The groups that share one keeper pod (a daemon kept alive between them)."""
    out: list[Figure] = []
    keeper = fg.start_keeper(mp, watcher)
    if "scale" in groups:
        watcher.forget()  # what a group collected is not needed by the next
        out += fg.guard("scale", "Scale, idle and memory", "ms",
                        lambda: fg.scale_idle_memory(mp, watcher, cfg, keeper))
    if "start" in groups:
        watcher.forget()
        out += fg.guard("start", "Pod start and stop", "ms",
                        lambda: fg.start_stop(mp, watcher, cfg, peer))
    if "restart" in groups:
        out += fg.guard("restart.e2e", "Restart after kill -9", "ms",
                        lambda: fg.restart_e2e(mp, watcher, cfg, peer))
    if "capacity" in groups:
        for n in cfg.probe_pods:
            watcher.forget()
            out += capacity(mp, watcher, cfg, n, keeper=keeper, done=[*done, *out])
    mp.stop_daemon()
    return out


def capacity(mp: Minipod, watcher: ExecWatcher, cfg: Config, n: int, *, keeper: Process,
             done: list[Figure]) -> list[Figure]:
    titles = [(f"capacity.{n}.cpu", f"{n} pods, 1 s httpGet liveness: supervisor CPU",
               "% of a core"),
              (f"capacity.{n}.late", f"{n} pods, 1 s httpGet liveness: probe lateness", "ms")]
    reason = does_not_fit(n, keeper, done)
    if reason is None:
        found = fg.guard(titles[0][0], titles[0][1], titles[0][2],
                         lambda: fg.probe_capacity(mp, watcher, cfg, n, keeper))
        if len(found) > 1:
            return found
        reason = found[0].error
    return [Figure(key, title, unit, error=reason) for key, title, unit in titles]


def does_not_fit(n: int, keeper: Process, done: list[Figure]) -> str | None:
    """Why n more pods would not fit (memory, or the supervisor's open files)."""
    available = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                     .splitlines() if line.startswith("MemAvailable:"))
    if n * POD_MEMORY_KB * 3 // 2 > available:
        return (f"skipped: {n} pods need about {n * POD_MEMORY_KB // 1024} MB, "
                f"{available // 1024} MB available")
    fds_per_pod = next((f.extra.get("fds_per_pod") for f in done
                        if f.key == "scale.start" and f.extra.get("fds_per_pod")), None)
    if fds_per_pod:
        soft = _soft_nofile(keeper.pid)
        in_use = len(os.listdir(f"/proc/{keeper.pid}/fd"))
        if soft and in_use + n * fds_per_pod > soft:
            return (f"skipped: {n} pods need about {int(n * fds_per_pod)} open files in the "
                    f"supervisor ({fds_per_pod:.1f} per pod), its limit is {soft}")
    return None


def _soft_nofile(pid: int) -> int | None:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            value = line.split()[3]
            return None if value == "unlimited" else int(value)
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def attach_peer_only(out: list[Figure], peer: Podman, watcher: ExecWatcher, cfg: Config
                     ) -> None:
    """The peer's figures that are not paired run by run with minipod's."""
    by_key = {f.key: f for f in out}

    def attach(key: str, comparison: Comparison) -> None:
        if key in by_key and by_key[key].peer is None:
            by_key[key].peer = comparison

    try:
        wall, cpu = peer.healthchecks(cfg.peer_runs)
        attach("probe.exec.wall", Comparison(f"{peer.label}: podman healthcheck run", wall))
        attach("probe.exec.cpu", Comparison(f"{peer.label}: podman healthcheck run", cpu))
    except Exception as e:
        for key in ("probe.exec.wall", "probe.exec.cpu"):
            attach(key, Comparison(peer.label, error=str(e)))
    try:
        error = peer.probe_error()
    except Exception as e:
        error = str(e)
    for key in by_key:
        if key.startswith("capacity."):
            attach(key, Comparison(peer.label, error=error))
    try:
        for key, comparison in peer.scale(cfg.peer_pods, watcher, cfg.peer_window).items():
            attach(key, comparison)
    except Exception as e:
        for key in ("scale.start", "scale.stop", "memory.marginal", "idle.cpu",
                    "idle.wakeups"):
            attach(key, Comparison(peer.label, error=str(e)))


def cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


METHOD_NOTES = [
    "Exec times come from the kernel's process events connector (netlink, "
    "PROC_EVENT_EXEC and _FORK, CLOCK_MONOTONIC ns): nothing runs inside the containers "
    "and nothing polls (benchmarks/execwatch.py).",
    "Each figure's pods run in a private MINIPOD_ROOT and MINIPOD_IMAGES under a temporary "
    "directory (on this machine the same ext4 file system as /run, so the pod directories' "
    "mkdirs, FIFOs and pod.json writes cost what they would in /run/minipod; where /run is "
    "a tmpfs they cost less).",
    "A \"keeper\" pod keeps the background supervisor running between figures; start.cold "
    "is the only figure that includes starting it.",
    "The probe-capacity pods only sleep: the suite listens in each pod's network namespace "
    "on the probe's port (benchmarks/probeserver.py) and answers 200, all through the pods' "
    "start and deletion, and the kernel stamps each request's arrival (SO_TIMESTAMPNS).",
    "The init-container variant says restartPolicy OnFailure: with Always, podman 4.3 "
    "restarts each init container every time it exits 0, and `kube play` then takes 20 to "
    "40 s; for Kubernetes the two mean the same here.",
    "podman runs with private --root, --runroot, --tmpdir, containers.conf (runtime runc, "
    "ulimits nofile=20000:20000, nproc=32768:32768, cgroupfs, no events), storage.conf and "
    "registries.conf; the fixed paths it writes anyway (/var/lib/containers, "
    "/var/cache/containers, /run/containers, /run/runc, /var/tmp) are tmpfs mounts in a "
    "private mount namespace all its commands run in; the libpod_parent cgroups it makes are "
    "removed at the end (benchmarks/peers.py). Its scale, idle and memory figures are for "
    "fewer pods (see the configuration): the ratios there compare unlike N.",
]


def run_notes(cfg: Config) -> list[str]:
    return [*METHOD_NOTES,
        f"Configuration ({cfg.name}): {cfg.runs} runs per start/stop variant, "
        f"{cfg.kills} kills, {cfg.exec_probes} exec probes, probe capacity with "
        f"{', '.join(map(str, cfg.probe_pods))} pods over {cfg.probe_window:g} s, idle "
        f"{cfg.scale_pods} pods over {cfg.idle_window:g} s, scale {cfg.scale_pods} pods x "
        f"{cfg.scale_runs}; the peer {cfg.peer_runs} runs, {cfg.peer_kills} kills, "
        f"{cfg.peer_pods} pods.",
    ]


if __name__ == "__main__":
    sys.exit(main())
