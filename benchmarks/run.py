"""`make bench`: a first set of figures, written to BENCHMARKS.md with the machine.

Issue 5 grows this into the full side-by-side suite; these figures are the
ones issues 2 and 3 ask to watch (pause RSS, restart after kill -9, exec
probes) plus a whole pod's lifetime and the kernel's own baselines, measured
in the same run. The supervisor figures run a Supervisor inside this process,
so they time the supervisor's own work, not the start of a Python interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import minipod.sandbox

RUNS = 15


def timed(fn: Callable[[], object], runs: int = RUNS) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def pause_rss() -> list[float]:
    samples = []
    for _ in range(5):
        proc = subprocess.Popen([str(minipod.sandbox.PAUSE_BINARY)])
        time.sleep(0.1)  # let it reach its signalfd loop
        samples.append(float(rss_kb(proc.pid)))
        proc.terminate()
        proc.wait()
    return samples


def minipod_env(work: Path) -> dict[str, str]:
    return dict(os.environ, MINIPOD_ROOT=str(work / "state"), MINIPOD_IMAGES=str(work / "images"))


def pod_lifetime(work: Path) -> list[float]:
    """`minipod up` of a one-container pod running `true`: process start to exit,
    through sandbox, container, exit and teardown."""
    manifest = work / "true.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: bench}\nspec:\n"
                        "  restartPolicy: Never\n  containers:\n"
                        "  - {name: app, image: busybox, command: ['true']}\n")
    cmd = [sys.executable, "-m", "minipod", "up", "--no-logs", str(manifest)]
    env = minipod_env(work)

    def once() -> None:
        subprocess.run(cmd, env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)

    return timed(once)


def supervisor_rss(work: Path) -> list[float]:
    manifest = work / "sleep.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: rss}\nspec:\n"
                        "  terminationGracePeriodSeconds: 1\n  containers:\n"
                        "  - {name: app, image: busybox, command: [sleep, '60']}\n")
    proc = subprocess.Popen([sys.executable, "-m", "minipod", "up", "--no-logs", str(manifest)],
                            env=minipod_env(work), cwd=work, stdout=subprocess.DEVNULL)
    record = work / "state/pods/default_rss/pod.json"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if record.exists() and json.loads(record.read_text())["containers"]["app"].get("pid"):
            break
        time.sleep(0.05)
    value = float(rss_kb(proc.pid))
    proc.terminate()
    proc.wait(timeout=30)
    return [value]


SUPERVISED = """apiVersion: v1
kind: Pod
metadata: {name: supervised}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: victim, image: busybox, command: [sleep, "3600"]}
  - {name: target, image: busybox, command: [sleep, "3600"]}
"""


def supervisor_figures(work: Path, kills: int = 100, probes: int = 200
                       ) -> dict[str, list[float]]:
    """Restart after kill -9 (kill to the new process's exec), and exec probes
    (wall and CPU of the supervisor plus its children), in one supervisor."""
    os.environ.update(minipod_env(work))
    from minipod.backoff import BackoffPolicy
    from minipod.loop import Loop
    from minipod.spec import parse_pods
    from minipod.supervisor import Supervisor
    from minipod.up import resolve_images

    started: list[float] = []

    def sink(event: object) -> None:
        if getattr(event, "reason", "") == "Started":
            started.append(time.perf_counter())

    sup = Supervisor(Loop(), sink, echo_logs=False, backoff=BackoffPolicy.parse("0:0"))
    sup.open()
    try:
        pods = parse_pods(SUPERVISED, "bench")
        sup.start_pods(pods, resolve_images(pods, "bench"))
        runner = sup.pods["default/supervised"]
        figures = {"restart after kill -9, to exec (ms)": _restarts(sup, runner, started, kills)}
        figures.update(_exec_probes(sup, runner, probes))
        sup.stop_all("benchmark done", grace=0)
        sup.run()
    finally:
        sup.rollback()
        sup.close()
    return figures


def _restarts(sup: Any, runner: Any, started: list[float], kills: int) -> list[float]:
    samples = []
    for _ in range(kills):
        victim = runner.apps[0]
        seen = len(started)
        begin = time.perf_counter()
        signal.pidfd_send_signal(victim.child.pidfd, signal.SIGKILL)
        while len(started) == seen:
            sup.loop.run_once()
        samples.append((started[-1] - begin) * 1000)
    return samples


def _exec_probes(sup: Any, runner: Any, probes: int) -> dict[str, list[float]]:
    from minipod.execprobe import exec_in, open_exec_target

    target_run = runner.apps[1]
    plan = target_run.plan
    target = open_exec_target(target_run.child.pid, runner.sandbox.ns, plan.env,
                              plan.working_dir, plan.run_as_user, plan.run_as_group)
    wall, cpu = [], []
    try:
        for _ in range(probes):
            results: list[object] = []
            before, begin = _cpu_seconds(), time.perf_counter()
            exec_in(sup.loop, sup.watch, target, ("true",), 1.0, results.append)
            while not results:
                sup.loop.run_once()
            wall.append((time.perf_counter() - begin) * 1000)
            cpu.append((_cpu_seconds() - before) * 1000)
    finally:
        target.close()
    return {"exec probe of `true`, wall (ms)": wall,
            "exec probe of `true`, CPU of supervisor + children (ms)": cpu}


def _cpu_seconds() -> float:
    """User + system CPU of this process and its reaped children (getrusage
    reads the scheduler's exact runtimes; os.times() has 10 ms ticks)."""
    own, children = (resource.getrusage(who) for who in
                     (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def kernel_baselines() -> dict[str, list[float]]:
    busybox = shutil.which("busybox") or "/bin/busybox"
    return {
        "fork+exec of busybox true (ms)": timed(
            lambda: subprocess.run([busybox, "true"], check=True)),
        "unshare --net --ipc --uts --pid --mount --fork busybox true (ms)": timed(
            lambda: subprocess.run(["unshare", "--net", "--ipc", "--uts", "--pid", "--mount",
                                    "--fork", busybox, "true"], check=True)),
    }


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p99": p99, "min": ordered[0],
            "max": ordered[-1], "n": len(ordered)}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return (f"{platform.node()}: Linux {platform.release()}, {os.cpu_count()} cpus ({cpu}), "
            f"{int(mem) // 1024 // 1024} GiB, Python {platform.python_version()}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", default="BENCHMARKS.md")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("make bench needs root", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="minipod-bench-") as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, "-m", "minipod", "image", "build-busybox"],
                       env=minipod_env(work), cwd=work, check=True, stdout=subprocess.DEVNULL)
        figures = {
            "pause RSS (kB)": pause_rss(),
            "supervisor RSS, 1 pod (kB)": supervisor_rss(work),
            "`minipod up` whole lifetime of a 1-container pod (ms)": pod_lifetime(work),
            **supervisor_figures(work),
            **kernel_baselines(),
        }
    results = {name: summary(samples) for name, samples in figures.items()}
    write_report(Path(args.output), results, figures)
    print(Path(args.output).read_text())
    return 0


def write_report(path: Path, results: dict[str, dict[str, float]],
                 raw: dict[str, list[float]]) -> None:
    lines = ["# minipod benchmarks", "", f"Machine: {machine()}", "",
             f"Run: {time.strftime('%Y-%m-%d %H:%M')}; written by `make bench` "
             "(benchmarks/run.py). Raw samples in BENCHMARKS.json.", "",
             "| figure | median | p99 | min | max | n |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['median']:.1f} | {r['p99']:.1f} | {r['min']:.1f} | "
                     f"{r['max']:.1f} | {r['n']:.0f} |")
    lines += ["", "What limits these figures: the `up` lifetime includes starting the Python",
              "interpreter and importing pyroute2 (~0.2 s, needed to bring up the pod's",
              "loopback); the pod work itself is a few milliseconds. Issue 5 measures the",
              "start-to-exec time separately and against podman.",
              "",
              "A restart is: the pidfd wakes the loop, waitid, the record written, then a",
              "fork of the (Python) supervisor that joins the pod's namespaces, mounts an",
              "overlay, pivots and execs; the fork of a ~40 MB process and the mounts are",
              "most of it. An exec probe is a vfork-style clone from C (no fork of the",
              "Python process), the namespace joins, and the exec of the command.", ""]
    path.write_text("\n".join(lines))
    path.with_suffix(".json").write_text(json.dumps({"machine": machine(), "samples": raw},
                                                    indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
