"""The baseline peer: minipod as it was before a change, installed in another
interpreter (a venv of that commit), measured beside this one, run for run.

`make bench BASELINE=/path/to/venv/bin/python` (run.py --baseline): pod
start and stop, and the restart after kill -9, of the same manifests, each
run of this minipod followed by one of the baseline's, so that both see the
same machine at the same moment (other people's tests share it). The
baseline has its own state directory, daemon and image store, its busybox
built by its own `image build-busybox` (stores change layout between
versions: 7e0d174's kept a directory per tag). Its figures land in the
peer columns, with the ratio.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks import figures as fg
from benchmarks import manifests as mf
from benchmarks.execwatch import ExecWatcher
from benchmarks.harness import BenchError, Minipod, Process, wait_until


class Baseline:
    all_runs = True  # one of its runs after each of ours (podman, slow, does fewer)
    stop_label = " / delete pod"

    def __init__(self, work: Path, python: str) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.mp = Minipod(work, python)
        self.mp.cli("image", "build-busybox")
        # the manifests' localhost/busybox:latest: a tag where the baseline has
        # `image tag`; older ones drop 'localhost/' when they resolve a name
        try:
            self.mp.cli("image", "tag", "busybox:latest", "localhost/busybox:latest")
        except BenchError:
            pass
        self.label = f"minipod before ({_describe(python)})"
        self._restart: tuple[str, int, int] | None = None  # pod, netns, app pid
        # each restart split at the new process's fork, as restart.e2e is
        self.to_fork: list[float] = []
        self.fork_to_exec: list[float] = []

    def start_stop(self, manifest: dict[str, Any], watcher: ExecWatcher) -> tuple[float, float]:
        """`up -d` to the exec of every app, then `delete pod` (ms, ms), as
        figures.start_stop measures this minipod."""
        name = manifest["metadata"]["name"]
        path = self.mp.write(f"{name}.yaml", mf.documents(manifest))
        begin, _end, last, pids = fg.start_pods(self.mp, watcher, path, [manifest])
        wait_until(lambda: fg.trap_ready(pids[name]), 10, "the trap")
        return fg.ms(last - begin), fg.delete_pod(self.mp, name)

    # -- restarts, one at a time, between this minipod's ------------------------------
    def restart_begin(self, watcher: ExecWatcher) -> None:
        name = "restart"
        manifest = mf.pod(name, command=mf.SLEEPS, grace=0)
        path = self.mp.write("restart.yaml", mf.documents(manifest))
        _b, _e, _l, pids = fg.start_pods(self.mp, watcher, path, [manifest], "--backoff", "0:0")
        record = self.mp.record(name)
        if record is None:
            raise BenchError("the baseline recorded no restart pod")
        self._restart = (name, int(record["pause"]["namespaces"]["net"]), pids[name]["app"])

    def restart(self, watcher: ExecWatcher) -> float:
        """One kill -9 of the app to the exec of its new run (ms)."""
        assert self._restart is not None
        name, netns, pid = self._restart
        victim = Process(pid)
        try:
            watcher.forget()
            begin = time.monotonic()
            victim.signal(signal.SIGKILL)
            new_pid, exec_time = watcher.wait_for(
                lambda: fg.exec_in_netns(watcher, netns, pid, begin), timeout=30)
        finally:
            victim.close()
        fork = watcher.fork_time(new_pid)
        if fork is not None:
            self.to_fork.append(fg.ms(fork - begin))
            self.fork_to_exec.append(fg.ms(exec_time - fork))
        wait_until(lambda: fg.shows_pid(self.mp, name, new_pid), 10, "the record of the restart")
        self._restart = (name, netns, new_pid)
        return fg.ms(exec_time - begin)

    def restart_end(self) -> None:
        if self._restart is not None:
            fg.delete_pod(self.mp, self._restart[0])
            self._restart = None

    def close(self) -> list[str]:
        self.mp.stop_daemon()
        return []


def _describe(python: str) -> str:
    """The interpreter, and where its minipod is installed (-P, from /: never
    a source tree that happens to be the working directory)."""
    out = subprocess.run([python, "-P", "-c", "import minipod, os; print(os.path.dirname("
                                              "minipod.__file__))"],
                         capture_output=True, text=True, check=False, cwd="/")
    where = out.stdout.strip() or "?"
    return f"{python}, {where}"
