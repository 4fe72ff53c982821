"""The figures of issue 5, each measured on the busybox image.

Clocks: every duration is CLOCK_MONOTONIC, and "the container's process has
exec'd" is the kernel's own time of the exec (execwatch.py), so a figure never
includes the time this harness takes to notice.

The background supervisor serves every figure but the in-process ones; a
"keeper" pod keeps it running between figures, so a start is not also a
supervisor start (the cold start is a figure of its own).
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shutil
import signal
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import manifests as mf
from benchmarks import stats
from benchmarks.config import Config
from benchmarks.execwatch import ExecWatcher, netns_inode
from benchmarks.harness import (
    BenchError,
    Minipod,
    Process,
    children_of,
    cpu_ns,
    rss_kb,
    wait_until,
    wakeups,
)
from benchmarks.results import Comparison, Figure

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
UNSHARE_ARGV = ["unshare", "--net", "--ipc", "--uts", "--pid", "--mount", "--fork",
                BUSYBOX, "true"]
UNSHARE_LABEL = "unshare --net --ipc --uts --pid --mount --fork busybox true"
FORK_EXEC_LABEL = "fork+exec of busybox true"
KEEPER = "bench-keeper"


# -- kernel baselines --------------------------------------------------------------
def run_ms(argv: list[str]) -> float:
    begin = time.monotonic()
    subprocess.run(argv, check=True)
    return (time.monotonic() - begin) * 1000


def unshare_ms() -> float:
    return run_ms(UNSHARE_ARGV)


def fork_exec_ms() -> float:
    return run_ms([BUSYBOX, "true"])


def baseline_figures(cfg: Config) -> list[Figure]:
    """The two kernel limits on their own (they are also paired, run by run,
    with the figures they bound)."""
    return [
        Figure("kernel.unshare", f"kernel: {UNSHARE_LABEL}", "ms",
               [unshare_ms() for _ in range(max(cfg.runs, 15))],
               how="wall time of the command, from Python's subprocess.run"),
        Figure("kernel.fork_exec", f"kernel: {FORK_EXEC_LABEL}", "ms",
               [fork_exec_ms() for _ in range(max(cfg.runs, 15))],
               how="wall time of the command, from Python's subprocess.run"),
    ]


# -- helpers -------------------------------------------------------------------------
def exec_times(watcher: ExecWatcher, pids: dict[str, int], after: float) -> float:
    """The kernel time by which every one of ``pids`` had exec'd."""
    return max(watcher.wait_exec(pid, after) for pid in pids.values())


def trap_ready(pids: dict[str, int]) -> bool:
    """mf.TERM_EXITS has set its trap once it has forked its sleep."""
    return all(children_of(pid) for pid in pids.values())


def all_traps_ready(pods: dict[str, dict[str, int]]) -> bool:
    return all(trap_ready(pids) for pids in pods.values())


def shows_pid(mp: Minipod, name: str, pid: int) -> bool:
    return mp.running_pids(name, ["app"]) == {"app": pid}


def start_pods(mp: Minipod, watcher: ExecWatcher, path: Path, pods: list[dict[str, Any]],
               *options: str) -> tuple[float, float, float, dict[str, dict[str, int]]]:
    """`up -d` then wait for every app to exec: (begin, cli end, last exec, pids)."""
    begin, end = mp.timed_cli("up", "-d", *options, str(path))
    pids = {}
    for manifest in pods:
        name = manifest["metadata"]["name"]
        pids[name] = watcher.wait_for(
            functools.partial(mp.running_pids, name, mf.app_names(manifest)), timeout=60)
    last = max(exec_times(watcher, p, begin) for p in pids.values())
    return begin, end, last, pids


def delete_pod(mp: Minipod, name: str) -> float:
    begin, end = mp.timed_cli("delete", "pod", name)
    if mp.pod_dir(name).exists():
        raise BenchError(f"pod {name} still has state after `delete pod` returned")
    return (end - begin) * 1000


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def ms(seconds: float) -> float:
    return seconds * 1000


# -- 1 and 2: pod start and stop ---------------------------------------------------------
def start_keeper(mp: Minipod, watcher: ExecWatcher) -> Process:
    manifest = mf.pod(KEEPER)
    path = mp.write("keeper.yaml", mf.documents(manifest))
    start_pods(mp, watcher, path, [manifest])
    return mp.supervisor(KEEPER)


def cold_start(mp: Minipod, watcher: ExecWatcher, cfg: Config) -> Figure:
    """`up -d` with no supervisor running: it forks one, which starts the pod."""
    samples = []
    for i in range(cfg.cold_runs):
        name = f"cold-{i}"
        manifest = mf.pod(name)
        path = mp.write(f"{name}.yaml", mf.documents(manifest))
        begin, _end, last, pids = start_pods(mp, watcher, path, [manifest])
        samples.append(ms(last - begin))
        mp.supervisor(name)
        wait_until(functools.partial(trap_ready, pids[name]), 10, "the trap")
        delete_pod(mp, name)
        mp.stop_daemon()
    return Figure("start.cold", "Pod start, 1 container, no supervisor running", "ms", samples,
                  how="from the start of `minipod up -d` (which then forks the background "
                      "supervisor) to the kernel's exec event of the app")


class _StartRuns:
    """The samples of start_stop: ours, split for the "one" variant, and the
    peer's, each of its runs paired with one of ours."""

    def __init__(self, mp: Minipod, watcher: ExecWatcher, cfg: Config, peer: Any | None
                 ) -> None:
        self.mp, self.watcher, self.peer = mp, watcher, peer
        self.peer_runs = cfg.runs if getattr(peer, "all_runs", False) else cfg.peer_runs
        keys = [v[0] for v in mf.START_VARIANTS]
        self.start: dict[str, list[float]] = {k: [] for k in keys}
        self.cli: dict[str, list[float]] = {k: [] for k in keys}
        self.stop: dict[str, list[float]] = {k: [] for k in keys}
        self.to_sandbox: list[float] = []  # the "one" variant, cut in two at the pause's exec
        self.to_exec: list[float] = []
        self.app_fork_to_exec: list[float] = []
        self.theirs: dict[str, dict[str, list[float]]] = {k: {"start": [], "stop": []}
                                                          for k in keys}
        self.errors: dict[str, str] = {}

    def ours(self, key: str, name: str, manifest: dict[str, Any]) -> None:
        mp, watcher = self.mp, self.watcher
        path = mp.write(f"{name}.yaml", mf.documents(manifest))
        begin, end, last, pids = start_pods(mp, watcher, path, [manifest])
        self.start[key].append(ms(last - begin))
        self.cli[key].append(ms(end - begin))
        if key == "one":
            pause = sandbox_exec(mp, watcher, name, begin)
            self.to_sandbox.append(ms(pause - begin))
            self.to_exec.append(ms(last - pause))
            fork = watcher.fork_time(pids[name]["app"])
            if fork is not None:
                self.app_fork_to_exec.append(ms(last - fork))
        wait_until(functools.partial(trap_ready, pids[name]), 10, "the trap")
        self.stop[key].append(delete_pod(mp, name))

    def theirs_run(self, i: int, key: str, manifest: dict[str, Any]) -> None:
        if self.peer is None or key in self.errors or i >= self.peer_runs:
            return
        try:
            started, stopped = self.peer.start_stop(manifest, self.watcher)
            self.theirs[key]["start"].append(started)
            self.theirs[key]["stop"].append(stopped)
        except Exception as e:  # reported as the peer's figure
            self.errors[key] = str(e)


def start_stop(mp: Minipod, watcher: ExecWatcher, cfg: Config, peer: Any | None
               ) -> list[Figure]:
    """Figures 1 and 2, the variants taking turns, each run next to its
    kernel baseline (and the peer's run, when asked)."""
    runs = _StartRuns(mp, watcher, cfg, peer)
    kernel: list[float] = []
    turn = 0
    for i in range(cfg.runs):
        for key, _title, apps, inits, restart in mf.START_VARIANTS:
            name = f"start-{key}-{i}"
            manifest = mf.pod(name, apps=apps, inits=inits, restart=restart)
            # Who goes first alternates, as in restart_e2e: a start right
            # after the other side's delete shares the machine with that
            # supervisor's teardown (the pod directory's removal, its
            # cgroups); an A/A run (the same minipod on both sides) read
            # 0.82x for starts when ours always went first.
            turn += 1
            if turn % 2 == 0:
                runs.theirs_run(i, key, manifest)
            runs.ours(key, name, manifest)
            if turn % 2 == 1:
                runs.theirs_run(i, key, manifest)
        kernel.append(unshare_ms())
    breakdown = [
        Figure("start.one.to_pause", "Pod start, 1 container: `up -d` to the pause's exec",
               "ms", runs.to_sandbox, how="from the start of `minipod up -d` to the kernel's exec "
               "event of the pod's pause process: the CLI, the request, the supervisor's "
               "validation, the pod directory and the pause's namespaces"),
        Figure("start.one.pause_to_exec", "Pod start, 1 container: pause's exec to the app's",
               "ms", runs.to_exec, how="between the two exec events: the pause's exec returning "
               "to the supervisor, the container's fork, rootfs and exec"),
        Figure("start.one.fork_to_exec", "Pod start, 1 container: the app's fork to its exec",
               "ms", runs.app_fork_to_exec, how="the container's child between the supervisor's "
               "fork and the exec (namespaces, overlay and mounts, pivot_root, exec)"),
    ]
    figures: list[Figure] = []
    for key, title, *_ in mf.START_VARIANTS:
        peer_start = peer_stop = None
        if peer is not None:
            peer_start = Comparison(peer.label, runs.theirs[key]["start"], runs.errors.get(key),
                                    paired=True)
            peer_stop = Comparison(peer.label + getattr(peer, "stop_label", " / kube down"),
                                   runs.theirs[key]["stop"],
                                   runs.errors.get(key), paired=True)
        figures.append(Figure(
            f"start.{key}", f"Pod start, {title}", "ms", runs.start[key], peer=peer_start,
            baseline=Comparison(UNSHARE_LABEL, kernel, paired=True) if key == "one" else None,
            how="from the start of `minipod up -d` to the kernel's exec event of the last "
                "app container (supervisor already running)"))
        figures.append(Figure(
            f"start.{key}.cli", f"`up -d` returns, {title}", "ms", runs.cli[key],
            how="wall time of `minipod up -d` (it returns once the pod is created)"))
        figures.append(Figure(
            f"stop.{key}", f"Pod stop, {title}", "ms", runs.stop[key], peer=peer_stop,
            how="wall time of `minipod delete pod`; the apps exit on SIGTERM"))
    figures[1:1] = breakdown  # right after start.one
    return figures


def sandbox_exec(mp: Minipod, watcher: ExecWatcher, name: str, after: float) -> float:
    record = mp.record(name)
    if record is None or not record["pause"].get("pid"):
        raise BenchError(f"no pause pid recorded for {name}")
    return watcher.wait_exec(int(record["pause"]["pid"]), after)


# -- 3: restart after kill -9 -----------------------------------------------------------
def exec_in_netns(watcher: ExecWatcher, netns: int, old_pid: int, after: float
                  ) -> tuple[int, float] | None:
    for pid, times in watcher.execs.items():
        if pid != old_pid and times[-1] >= after and netns_inode(pid) == netns:
            return pid, times[-1]
    return None


def restart_e2e(mp: Minipod, watcher: ExecWatcher, cfg: Config, peer: Any | None
                ) -> list[Figure]:
    name = "restart"
    manifest = mf.pod(name, command=mf.SLEEPS, grace=0)
    path = mp.write("restart.yaml", mf.documents(manifest))
    _b, _e, _l, pids = start_pods(mp, watcher, path, [manifest], "--backoff", "0:0")
    record = mp.record(name)
    assert record is not None
    netns = int(record["pause"]["namespaces"]["net"])
    pid = pids[name]["app"]
    samples, kernel, to_fork, fork_to_exec = [], [], [], []
    # a baseline (benchmarks/baseline.py) restarts between ours, kill for kill
    interleaved: list[float] | None = None
    if peer is not None and hasattr(peer, "restart_begin"):
        peer.restart_begin(watcher)
        interleaved = []
    def ours(pid: int) -> int:
        victim = Process(pid)
        try:
            watcher.forget()
            begin = time.monotonic()
            victim.signal(signal.SIGKILL)
            found = watcher.wait_for(
                functools.partial(exec_in_netns, watcher, netns, pid, begin),
                timeout=30)
        finally:
            victim.close()
        new_pid, exec_time = found
        samples.append(ms(exec_time - begin))
        fork = watcher.fork_time(new_pid)
        if fork is not None:
            to_fork.append(ms(fork - begin))
            fork_to_exec.append(ms(exec_time - fork))
        # let the supervisor finish with the restart (its record) before the next kill
        wait_until(functools.partial(shows_pid, mp, name, new_pid), 10,
                   "the record of the restart")
        return new_pid

    for kill in range(cfg.kills):
        # with a baseline, who goes first alternates: the one right after the
        # other's restart measured 15 % slower in an A/A run (the same minipod
        # on both sides) when ours always went first
        if interleaved is not None and kill % 2:
            interleaved.append(peer.restart(watcher))
        pid = ours(pid)
        if interleaved is not None and not kill % 2:
            interleaved.append(peer.restart(watcher))
        kernel.append(unshare_ms())
    delete_pod(mp, name)
    peer_figure = None
    split_peers: tuple[Comparison | None, Comparison | None] = (None, None)
    if interleaved is not None:
        peer.restart_end()
        peer_figure = Comparison(peer.label, interleaved, paired=True)
        # a baseline minipod is split at the fork as ours is: which half moved
        if len(peer.to_fork) == len(to_fork):
            split_peers = (Comparison(peer.label, peer.to_fork, paired=True),
                           Comparison(peer.label, peer.fork_to_exec, paired=True))
    elif peer is not None:
        try:
            peer_figure = Comparison(peer.label, peer.restarts(cfg.peer_kills, watcher))
        except Exception as e:
            peer_figure = Comparison(peer.label, error=str(e))
    return [
        Figure("restart.e2e", "Restart after kill -9, background supervisor", "ms", samples,
               baseline=Comparison(UNSHARE_LABEL, kernel, paired=True), peer=peer_figure,
               how="SIGKILL (pidfd) to the kernel's exec event of the new process; "
                   "`up -d --backoff 0:0`; the next kill waits for pod.json to show it",
               extra={"kills": cfg.kills}),
        Figure("restart.e2e.to_fork", "Restart after kill -9: kill to the supervisor's fork",
               "ms", to_fork, peer=split_peers[0],
               how="SIGKILL to the kernel's fork event of the new process: "
               "the supervisor's wake-up, reaping, event and record, and its decision"),
        Figure("restart.e2e.fork_to_exec", "Restart after kill -9: fork to exec", "ms",
               fork_to_exec, peer=split_peers[1], how="the child between fork and exec: "
               "joining the pod's namespaces, the overlay and mounts, pivot_root, "
               "capabilities, exec"),
    ]


# -- 5: probe capacity -------------------------------------------------------------------------
def probe_capacity(mp: Minipod, watcher: ExecWatcher, cfg: Config, n: int,
                   keeper: Process) -> list[Figure]:
    """N pods with a 1 s httpGet liveness probe each, answered by ProbeServer.

    The server answers all the time, also while pods are being started and
    deleted: a probe left unanswered fails, and every failure costs the
    supervisor an event and a pod.json write, which would slow it for all.
    """
    from benchmarks.probeserver import ProbeServer

    names = [f"probe-{n}-{i}" for i in range(n)]
    pods = [mf.pod(name, probe=mf.http_probe()) for name in names]
    paths = []
    server = ProbeServer()
    records: dict[str, dict[str, Any]] = {}
    batches: list[float] = []
    try:
        for first in range(0, n, BATCH):
            batch = names[first:first + BATCH]
            paths.append(mp.write(f"probe-{n}-{first}.yaml",
                                  mf.documents(*pods[first:first + BATCH])))
            begin, _ = run_serving(server, mp, "up", "-d", str(paths[-1]))
            for name in batch:
                serve_until_true(server, functools.partial(mp.running_pids, name, ["app"]), 120)
                record = mp.record(name)
                assert record is not None
                records[name] = record
                server.listen_in(name, int(record["pause"]["pid"]), mf.PROBE_PORT)
            batches.append(time.monotonic() - begin)
        server.serve_until(time.monotonic() + 2.0)  # the refused probes of the start end
        begin, end, slices, window = _serve_window(server, keeper.pid, cfg.probe_window)
        server.serve_until(end + 1.2)  # the probes due before `end` arrive
        late, due, answered, anchored = [], 0, 0, True
        for name in names:
            resume = records[name]["containers"]["app"].get("resume", {})
            first_due = resume.get("startedMono")
            arrivals = server.arrivals[name]
            if first_due is None:  # no anchor recorded: phase from the earliest arrival
                anchored = False
                first_due = min(arrivals) if arrivals else begin
            result = stats.probe_lateness(arrivals, float(first_due), 1.0, start=begin, end=end)
            late += result.late_ms
            due += result.due
            answered += result.answered
    finally:
        try:
            for path in paths:
                with contextlib.suppress(BenchError):
                    run_serving(server, mp, "down", str(path))
        finally:
            server.close()
    extra = {"pods": n, "window_s": end - begin, "due": due, "answered": answered,
             "missing": due - answered, **window,
             "anchored": anchored, "start_batches_s": [round(b, 3) for b in batches]}
    return [
        Figure(f"capacity.{n}.cpu", f"{n} pods, 1 s httpGet liveness: supervisor CPU",
               "% of a core", slices, extra=extra,
               how="the supervisor's CPU time per 1 s slice of the window (its "
                   "CPU-time clock, clock_gettime of (~pid << 3) | 2, to the ns)"),
        Figure(f"capacity.{n}.cpu_per_probe", f"{n} pods, 1 s httpGet liveness: "
               "supervisor CPU per probe", "ms", [pct * 10 / n for pct in slices], extra=extra,
               how="each 1 s slice's supervisor CPU divided by the probes due in a second (N)"),
        Figure(f"capacity.{n}.late", f"{n} pods, 1 s httpGet liveness: probe lateness", "ms",
               late, extra=extra,
               how="kernel receive time of each request (SO_TIMESTAMPNS, in the pod's netns) "
                   "minus its due time, container start + k s (pod.json startedMono)"),
    ]


BATCH = 100


def _serve_window(server: Any, pid: int, seconds: float
                  ) -> tuple[float, float, list[float], dict[str, float]]:
    """Serve probes for ``seconds``: (begin, end, the supervisor's CPU % per
    1 s slice, and its CPU % and wake-ups per second over the whole window)."""
    begin = time.monotonic()
    ns0, wakes0 = cpu_ns(pid), wakeups(pid)
    slices = []
    for k in range(1, int(seconds) + 1):
        before = cpu_ns(pid)
        slice_start = time.monotonic()
        server.serve_until(begin + k)
        slices.append(stats.cpu_percent_ns(before, cpu_ns(pid), time.monotonic() - slice_start))
    end = time.monotonic()
    window = {"cpu_percent_whole_window": stats.cpu_percent_ns(ns0, cpu_ns(pid), end - begin),
              "wakeups_per_s": round((wakeups(pid) - wakes0) / (end - begin))}
    return begin, end, slices, window


def run_serving(server: Any, mp: Minipod, *args: str) -> tuple[float, float]:
    """Run a minipod command while the probe server keeps answering."""
    begin = time.monotonic()
    proc = subprocess.Popen(mp.command(*args), cwd=mp.work, env=mp.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        server.serve_until(time.monotonic() + 0.02)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise BenchError(f"minipod {' '.join(args)}: exit {proc.returncode}: {err[-500:]}")
    return begin, time.monotonic()


def serve_until_true(server: Any, predicate: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g} s")
        server.serve_until(time.monotonic() + 0.01)


# -- 6, 7, 8: scale, idle, memory -------------------------------------------------------------
def scale_idle_memory(mp: Minipod, watcher: ExecWatcher, cfg: Config, keeper: Process
                      ) -> list[Figure]:
    n = cfg.scale_pods
    time.sleep(0.5)
    one_pod_rss = [float(rss_kb(keeper.pid))]  # the supervisor with the keeper only
    up_ms, up_cli_ms, down_ms, full_rss, marginal, pause_rss = [], [], [], [], [], []
    idle: list[Figure] = []
    extra: dict[str, Any] = {"pods": n}
    for run in range(cfg.scale_runs):
        pods = [mf.pod(f"scale-{run}-{i}") for i in range(n)]
        path = mp.write(f"scale-{run}.yaml", mf.documents(*pods))
        base_rss, base_fds = rss_kb(keeper.pid), open_fds(keeper.pid)
        begin, end, last, pids = start_pods(mp, watcher, path, pods)
        up_ms.append(ms(last - begin))
        up_cli_ms.append(ms(end - begin))
        wait_until(functools.partial(all_traps_ready, pids), 30, "traps")
        if run == 0:
            idle = idle_cost(mp, cfg, keeper, [p["metadata"]["name"] for p in pods])
        time.sleep(0.2)
        rss = rss_kb(keeper.pid)
        full_rss.append(float(rss))
        if run == 0:  # later runs reuse the heap the first one grew
            marginal.append((rss - base_rss) / n)
            extra["fds_per_pod"] = (open_fds(keeper.pid) - base_fds) / n
        else:
            extra.setdefault("marginal_kb_later_runs", []).append((rss - base_rss) / n)
        for manifest in pods:
            record = mp.record(manifest["metadata"]["name"])
            if record is not None:
                pause_rss.append(float(rss_kb(int(record["pause"]["pid"]))))
        begin, end = mp.timed_cli("down", str(path))
        down_ms.append(ms(end - begin))
    return [
        Figure("scale.start", f"Start {n} pods (one manifest)", "ms", up_ms, extra=extra,
               how="from the start of `up -d` to the kernel's exec event of the last app"),
        Figure("scale.start.cli", f"`up -d` of {n} pods returns", "ms", up_cli_ms,
               how="wall time of `minipod up -d`"),
        Figure("scale.stop", f"Stop {n} pods (`down`)", "ms", down_ms,
               how="wall time of `minipod down` of the manifest; apps exit on SIGTERM"),
        *idle,
        Figure("memory.supervisor.1", "Supervisor RSS, 1 pod", "kB", one_pod_rss,
               how="VmRSS of the background supervisor serving the keeper pod only"),
        Figure(f"memory.supervisor.{n + 1}", f"Supervisor RSS, {n + 1} pods", "kB", full_rss,
               how=f"VmRSS with the keeper and {n} more pods"),
        Figure("memory.marginal", "Supervisor RSS per extra pod", "kB", marginal,
               how=f"(RSS with {n} more pods - RSS before them) / {n}, first scale run"),
        Figure("memory.pause", "pause process RSS", "kB", pause_rss,
               how="VmRSS of each running pod's pause process"),
    ]


def idle_cost(mp: Minipod, cfg: Config, keeper: Process, names: list[str]) -> list[Figure]:
    time.sleep(1.0)  # the start's last writes and events settle
    pauses = []
    for name in names:
        record = mp.record(name)
        if record is not None:
            pauses.append(int(record["pause"]["pid"]))
    cpu, wake, pause_wake = [], [], []
    slice_s = min(1.0, cfg.idle_window)
    end = time.monotonic() + cfg.idle_window
    while time.monotonic() < end - 1e-3:
        t0, ns0, wake0 = time.monotonic(), cpu_ns(keeper.pid), wakeups(keeper.pid)
        pause0 = sum(wakeups(p) for p in pauses)
        time.sleep(slice_s)
        t1 = time.monotonic()
        cpu.append(stats.cpu_percent_ns(ns0, cpu_ns(keeper.pid), t1 - t0))
        wake.append(stats.per_second(wake0, wakeups(keeper.pid), t1 - t0))
        pause_wake.append(stats.per_second(pause0, sum(wakeups(p) for p in pauses), t1 - t0))
    n = len(names) + 1
    return [
        Figure("idle.cpu", f"Idle, {n} pods, no probes: supervisor CPU", "% of a core", cpu,
               how=f"CPU time (the process's CPU-time clock) per {slice_s:g} s slice "
                   f"over {cfg.idle_window:g} s"),
        Figure("idle.wakeups", f"Idle, {n} pods: supervisor wake-ups", "/s", wake,
               how="voluntary + involuntary context switches (/proc/PID/status) per second"),
        Figure("idle.pause_wakeups", f"Idle, {n} pods: wake-ups of all pause processes", "/s",
               pause_wake, how="the same, summed over every pause process"),
    ]


# -- 3 and 4, in process: a Supervisor in this process -------------------------------------
SUPERVISED = mf.documents({
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "supervised"},
    "spec": {"terminationGracePeriodSeconds": 1, "containers": [
        mf.container("victim", mf.SLEEPS), mf.container("target", mf.SLEEPS)]}})


def in_process(mp: Minipod, cfg: Config) -> list[Figure]:
    """Restart after kill -9 (kill to the Started event, which comes once the
    new process has exec'd) and exec probes, with a Supervisor in this process:
    the supervisor's own work, with no CLI and no socket in between."""
    from minipod.testing.objects import environment  # imports minipod: only when asked

    with environment(mp.in_process_env):
        from minipod.api.backoff import BackoffPolicy
        from minipod.api.manifest import parse_pods
        from minipod.cli.up import resolve_images
        from minipod.loop.eventloop import Loop
        from minipod.runtime.supervisor import Supervisor

        started: list[float] = []

        def sink(event: object) -> None:
            if getattr(event, "reason", "") == "Started":
                started.append(time.monotonic())

        sup = Supervisor(Loop(), sink, echo_logs=False, backoff=BackoffPolicy.parse("0:0"))
        sup.open()
        try:
            pods = parse_pods(SUPERVISED, "bench")
            sup.start_pods(pods, resolve_images(pods, "bench"))
            runner = sup.pods["default/supervised"]
            restarts = _restarts(sup, runner, started, cfg.inproc_kills)
            wall, cpu, kernel, split = _exec_probes(sup, runner, cfg.exec_probes)
            sup.stop_all("benchmark done", grace=0)
            sup.run()
        finally:
            sup.rollback()
            sup.close()
    return [
        Figure("restart.inproc", "Restart after kill -9, in-process supervisor", "ms", restarts,
               how="SIGKILL (pidfd) to the Started event (spawn returns after the exec)"),
        Figure("probe.exec.wall", "Exec probe of `true`, wall", "ms", wall,
               baseline=Comparison(FORK_EXEC_LABEL, kernel, paired=True),
               how="exec_in() to its result, on the supervisor's loop"),
        Figure("probe.exec.cpu", "Exec probe of `true`, CPU of supervisor + children", "ms",
               cpu, extra=split,
               how="getrusage(SELF) + getrusage(CHILDREN) around each probe (extra: the "
                   "medians of each part; the children are the exec'd command and the "
                   "intermediate process)"),
    ]


def _restarts(sup: Any, runner: Any, started: list[float], kills: int) -> list[float]:
    samples = []
    for _ in range(kills):
        victim = runner.apps[0]
        seen = len(started)
        begin = time.monotonic()
        signal.pidfd_send_signal(victim.child.pidfd, signal.SIGKILL)
        while len(started) == seen:
            sup.loop.run_once()
        samples.append(ms(started[-1] - begin))
    return samples


def _exec_probes(sup: Any, runner: Any, probes: int
                 ) -> tuple[list[float], list[float], list[float], dict[str, float]]:
    from minipod.probes.execprobe import exec_in

    target_run = runner.apps[1]
    # the runner's own way to it (its effects): a probe confined as the
    # container's probes are (seccomp, no_new_privs, groups, capabilities)
    # and born in the container's cgroup, as theirs are
    target = runner.fx.open_exec_target(target_run.child.pid, runner.sandbox, target_run.plan,
                                        target_run.name)
    wall, cpu, kernel = [], [], []
    parts: dict[str, list[float]] = {"self": [], "children": [], "children_user": []}
    try:
        for _ in range(probes):
            results: list[object] = []
            before, begin = _cpu_parts(), time.monotonic()
            exec_in(sup.loop, sup.watch, target, ("true",), 1.0, results.append)
            while not results:
                sup.loop.run_once()
            wall.append(ms(time.monotonic() - begin))
            after = _cpu_parts()
            for key, samples in parts.items():
                samples.append(ms(after[key] - before[key]))
            cpu.append(parts["self"][-1] + parts["children"][-1])
            kernel.append(fork_exec_ms())
    finally:
        target.close()
    split = {f"{key}_cpu_ms_median": round(statistics.median(values), 4)
             for key, values in parts.items()}
    return wall, cpu, kernel, split


def _cpu_parts() -> dict[str, float]:
    """User + system CPU of this process, and of its reaped children (getrusage
    reads the scheduler's exact runtimes; os.times() has 10 ms ticks)."""
    own, children = (resource.getrusage(who) for who in
                     (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {"self": own.ru_utime + own.ru_stime,
            "children": children.ru_utime + children.ru_stime,
            "children_user": children.ru_utime}


# -- what the CLI costs before it does anything -----------------------------------------
def cli_startup(mp: Minipod, cfg: Config) -> list[Figure]:
    python = [mp.python, "-P"]
    bare, help_ = [], []
    for _ in range(max(cfg.runs, 5)):
        bare.append(run_ms([*python, "-c", "pass"]))
        begin = time.monotonic()
        subprocess.run(mp.command("--help"), env=mp.env, stdout=subprocess.DEVNULL, check=True)
        help_.append(ms(time.monotonic() - begin))
    return [
        Figure("cli.python", "Python interpreter start (`python -P -c pass`)", "ms", bare,
               how="wall time"),
        Figure("cli.help", "`minipod --help` (interpreter + CLI imports)", "ms", help_,
               how="wall time"),
    ]


def guard(key: str, title: str, unit: str, fn: Callable[[], list[Figure]]) -> list[Figure]:
    """Run a figure; a failure becomes the figure's error, the suite goes on."""
    try:
        return fn()
    except Exception as e:
        return [Figure(key, title, unit, error=f"{type(e).__name__}: {e}")]
