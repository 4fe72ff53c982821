"""The benchmark suite in smoke mode (tiny N, a few runs), so it never rots:
every figure comes out with samples, and nothing is left behind. The numbers
themselves are not looked at (no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "run.py"

EXPECTED = [
    "start.cold", "start.one", "start.one.to_pause", "start.one.pause_to_exec",
    "start.one.fork_to_exec", "start.one.cli", "stop.one", "start.inits", "stop.inits",
    "start.two", "stop.two", "restart.e2e", "restart.e2e.to_fork", "restart.e2e.fork_to_exec",
    "restart.inproc", "probe.exec.wall", "probe.exec.cpu",
    "capacity.3.cpu", "capacity.3.cpu_per_probe", "capacity.3.late", "idle.cpu", "idle.wakeups", "idle.pause_wakeups",
    "memory.supervisor.1", "memory.marginal", "memory.pause", "scale.start", "scale.stop",
    "cli.python", "cli.help", "kernel.unshare", "kernel.fork_exec",
    "image.pull", "image.pull.present", "start.layers5",
    "testing.e2e", "testing.create", "testing.exec", "testing.delete", "testing.fixture",
    "testing.leak_check", "testing.node_start",
]


def bench_leftovers() -> list[str]:
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if "/minipod-bench-" in line.split()[4]]
    dirs = [str(p) for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("minipod-bench-*")]
    return mounts + dirs


def test_smoke_suite_measures_every_figure(tmp_path: Path) -> None:
    before = set(bench_leftovers())
    out = tmp_path / "BENCH.md"
    # -P and cwd outside the tree: the installed minipod, never the source tree. The
    # suite waits for any other run to end (benchmarks/run.py exclusive_run), so the
    # timeout covers a full `make bench` ahead of it.
    proc = subprocess.run([sys.executable, "-P", str(BENCH), "--smoke", "--output", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    data = json.loads(out.with_suffix(".json").read_text())
    figures = data["figures"]
    assert [k for k in EXPECTED if k not in figures] == []
    for key in EXPECTED:
        figure = figures[key]
        assert figure["error"] is None, f"{key}: {figure['error']}"
        assert figure["samples"], f"{key} has no samples"
        assert figure["summary"]["n"] == len(figure["samples"])
        assert figure["summary"]["min"] == min(figure["samples"])
        assert figure["summary"]["max"] == max(figure["samples"])
    assert figures["start.one"]["baseline"]["paired"] is True
    assert len(figures["restart.e2e"]["baseline"]["samples"]) == len(
        figures["restart.e2e"]["samples"])
    assert data["machine"]["cores"] == os.cpu_count()
    assert data["run"]["mode"] == "smoke"
    text = out.read_text()
    assert "## Targets (issue 5)" in text and "| start, 1 container |" in text
    assert set(bench_leftovers()) <= before, "the suite left mounts or directories behind"
