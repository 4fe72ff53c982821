"""The benchmark suite's own arithmetic and report (benchmarks/): every figure
is computed from the samples it was given, and the report says what they say.
No timing is asserted here."""

from __future__ import annotations

import json
import math
import os
import socket
import statistics
import struct
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.append(str(ROOT))  # appended: `minipod` stays the installed package

from benchmarks import harness, report, stats  # noqa: E402
from benchmarks import manifests as mf  # noqa: E402
from benchmarks.config import FULL, SMOKE, config_for  # noqa: E402
from benchmarks.execwatch import (  # noqa: E402
    PROC_EVENT_EXEC,
    PROC_EVENT_FORK,
    exec_filter,
    parse_event,
)
from benchmarks.results import Comparison, Figure  # noqa: E402
from benchmarks.run import parse_args, parse_overrides  # noqa: E402


# -- stats -----------------------------------------------------------------------------
def test_percentile_interpolates_between_ranks() -> None:
    samples = [float(x) for x in range(1, 101)]  # 1..100
    assert stats.percentile(samples, 50) == pytest.approx(50.5)
    assert stats.percentile(samples, 99) == pytest.approx(99.01)
    assert stats.percentile(samples, 100) == 100
    assert stats.percentile([7.0], 99) == 7.0
    assert stats.percentile([3.0, 1.0, 2.0], 0) == 1.0  # order of the input does not matter


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


def test_summary_is_the_samples_own() -> None:
    samples = [5.0, 1.0, 3.0, 2.0, 4.0, 100.0]
    s = stats.summarize(samples)
    assert (s.n, s.min, s.max) == (6, 1.0, 100.0)
    assert s.median == statistics.median(samples) == 3.5
    assert s.p99 == pytest.approx(stats.percentile(samples, 99))
    assert s.as_dict()["median"] == 3.5


def test_a_figure_needs_real_samples() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        stats.summarize([])
    with pytest.raises(ValueError, match="NaN"):
        stats.summarize([1.0, math.nan])


def test_paired_ratio_is_the_median_of_pair_ratios() -> None:
    ours, theirs = [2.0, 3.0, 40.0], [1.0, 1.0, 10.0]  # pair ratios 2, 3, 4
    assert stats.ratio(ours, theirs, paired=True) == 3.0
    assert stats.ratio(ours, theirs, paired=False) == pytest.approx(3.0 / 1.0)
    assert stats.ratio([], theirs, paired=False) is None
    with pytest.raises(ValueError):
        stats.ratio([1.0], [1.0, 2.0], paired=True)


def test_rates() -> None:
    assert stats.per_second(10, 40, 3.0) == 10
    assert stats.cpu_percent_ns(10**9, 1.5 * 10**9, 2.0) == 25  # 0.5 s CPU over 2 s
    with pytest.raises(ValueError):
        stats.per_second(0, 1, 0)


def test_probe_lateness_against_the_anchored_schedule() -> None:
    first = 100.0  # container start; probes due at 100, 101, 102, ...
    arrivals = [100.0012, 101.0005, 101.9995, 103.25, 105.0101]  # 102 a hair early; 104 missing
    result = stats.probe_lateness(arrivals, first, 1.0, start=100.5, end=105.5)
    # ticks due in [100.5, 105.5): 101, 102, 103, 104, 105
    assert result.due == 5
    assert result.answered == 4
    assert result.missing == 1
    assert result.late_ms == pytest.approx([0.5, 0.0, 250.0, 10.1])


def test_due_count() -> None:
    assert stats.due_count(0.0, 1.0, 0.0, 10.0) == 10
    assert stats.due_count(0.5, 1.0, 0.0, 10.0) == 10  # 0.5 .. 9.5
    assert stats.due_count(20.0, 1.0, 0.0, 10.0) == 0  # schedule not started
    assert stats.due_count(0.0, 1.0, 5.0, 5.0) == 0


def test_proc_parsers() -> None:
    # a command name with spaces and a parenthesis, as /proc allows
    line = ("4242 (py thon) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
            "17 5 3 2 20 0 1 0 777 1000 50 " + " ".join(["0"] * 30))
    fields = stats.proc_stat_fields(line)
    assert fields == {"utime": 17, "stime": 5, "cutime": 3, "cstime": 2, "num_threads": 1,
                      "starttime": 777}
    status = "Name:\tpause\nVmRSS:\t     32 kB\nvoluntary_ctxt_switches:\t3\n" \
             "nonvoluntary_ctxt_switches:\t1\n"
    assert stats.proc_status_fields(status) == {"VmRSS": 32, "voluntary_ctxt_switches": 3,
                                               "nonvoluntary_ctxt_switches": 1}


def test_cpu_ns_counts_this_process() -> None:
    before = harness.cpu_ns(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:  # burn 50 ms of CPU
        pass
    assert harness.cpu_ns(os.getpid()) - before >= 40_000_000


def test_proc_parsers_read_this_process() -> None:
    fields = stats.proc_stat_fields(Path("/proc/self/stat").read_text())
    assert fields["num_threads"] >= 1
    assert stats.proc_status_fields(Path("/proc/self/status").read_text())["VmRSS"] > 0


# -- the exec event socket -------------------------------------------------------------
def proc_message(what: int, stamp_ns: int, *pids: int) -> bytes:
    event = struct.pack("=IIQ", what, 0, stamp_ns) + struct.pack(f"={len(pids)}i", *pids)
    cn = struct.pack("=IIIIHH", 1, 1, 0, 0, len(event), 0)
    return struct.pack("=IHHII", 16 + len(cn) + len(event), 3, 0, 0, 0) + cn + event


def test_exec_and_fork_events_are_parsed() -> None:
    assert parse_event(proc_message(PROC_EVENT_EXEC, 5_500_000_000, 1234, 1234)) == (
        "exec", 1234, 5.5, 0)
    fork = proc_message(PROC_EVENT_FORK, 2_000_000_000, 10, 10, 11, 11)
    assert parse_event(fork) == ("fork", 11, 2.0, 10)
    thread = proc_message(PROC_EVENT_FORK, 2_000_000_000, 10, 10, 12, 10)
    assert parse_event(thread) is None  # a new thread of pid 10, not a process
    assert parse_event(proc_message(0x80000000, 1, 5, 5, 0, 0)) is None  # an exit
    assert parse_event(b"short") is None


def test_the_socket_filter_keeps_exec_and_fork() -> None:
    program = exec_filter()
    assert len(program) == 5 * 8  # struct sock_filter is 8 bytes
    compared = [struct.unpack_from("=HBBI", program, 8 * i)[3] for i in (1, 2)]
    assert compared == [socket.htonl(PROC_EVENT_EXEC), socket.htonl(PROC_EVENT_FORK)]


# -- manifests ---------------------------------------------------------------------------
def test_manifests_are_valid_for_minipod() -> None:
    from minipod.api.manifest import parse_pods

    docs = [mf.pod(f"v-{key}", apps=apps, inits=inits, restart=restart)
            for key, _title, apps, inits, restart in mf.START_VARIANTS]
    docs += [mf.pod("probe", probe=mf.http_probe()), mf.pod("tcp", probe=mf.tcp_probe()),
             mf.pod("exec", command=mf.SLEEPS, probe=mf.exec_probe())]
    text = mf.documents(*docs)
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(text)] == \
        [d["metadata"]["name"] for d in docs]
    pods = parse_pods(text, "bench")
    assert [len(p.spec.init_containers) for p in pods[:3]] == [0, 2, 0]
    assert [len(p.spec.containers) for p in pods[:3]] == [1, 1, 2]
    assert mf.app_names(docs[2]) == ["app0", "app1"]


# -- configuration -------------------------------------------------------------------------
def test_smoke_is_tiny_and_full_is_the_issue() -> None:
    assert config_for(smoke=True) is SMOKE
    assert max(SMOKE.probe_pods) <= 10 and SMOKE.scale_pods <= 10
    assert SMOKE.runs <= 3 and SMOKE.kills <= 10 and SMOKE.cold_runs <= 1
    assert SMOKE.probe_window + SMOKE.idle_window <= 5
    assert FULL.probe_pods == (100, 500, 1000)
    assert FULL.kills >= 100 and FULL.inproc_kills >= 100
    assert FULL.scale_pods == 100 and FULL.idle_window == 30


def test_overrides() -> None:
    assert parse_overrides(["probe_pods=100,500", "runs=3", "idle_window=2.5"]) == {
        "probe_pods": (100, 500), "runs": 3, "idle_window": 2.5}
    assert config_for(smoke=True, runs=9).runs == 9
    with pytest.raises(SystemExit):
        parse_overrides(["nonsense=1"])
    assert parse_args(["--smoke", "--only", "start,kernel"]).groups == ["start", "kernel"]
    with pytest.raises(SystemExit):
        parse_args(["--only", "start,bogus"])


# -- the report ----------------------------------------------------------------------------
def meta() -> dict[str, object]:
    return {"machine": {"host": "h", "cpu": "CPU", "cores": 2, "memory_gib": 24.0,
                        "kernel": "6.18", "python": "3.11.7", "load_average": [0, 0, 0]},
            "mode": "smoke", "peers": True, "command": "python -P benchmarks/run.py --smoke",
            "date": "today", "seconds": 12.0, "load_start": [0.1, 0.2, 0.3],
            "load_end": [0.4, 0.5, 0.6], "notes": ["a note"]}


def sample_figures() -> list[Figure]:
    return [
        Figure("start.one", "Pod start, 1 container", "ms", [10.0, 20.0, 30.0],
               how="up -d to exec",
               peer=Comparison("podman kube play", [300.0, 200.0, 250.0], paired=True),
               baseline=Comparison("unshare", [2.0, 2.0, 2.0], paired=True)),
        Figure("stop.one", "Pod stop, 1 container", "ms", [15.0]),
        Figure("restart.e2e", "Restart", "ms", error="BenchError: it broke"),
        Figure("capacity.3.cpu", "3 pods: CPU", "% of a core", [1.0, 2.0],
               peer=Comparison("podman", error="probes do not run")),
        Figure("capacity.3.late", "3 pods: lateness", "ms", [0.5, 7.0],
               peer=Comparison("podman", error="probes do not run")),
    ]


def test_report_table_and_json(tmp_path: Path) -> None:
    md = tmp_path / "BENCH.md"
    report.write_report(md, sample_figures(), meta(), {"start.one": "the CLI's imports"})
    text = md.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| Pod start, 1 container"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # figure, unit, median, p99, min, max, n, peer, ratio, kernel, ratio
    assert cells[:7] == ["Pod start, 1 container", "ms", "20.0", "29.8", "10.0", "30.0", "3"]
    assert cells[7] == "250 (a, n 3)"  # (a): what the peer ran, listed under the table
    assert "- (a) podman kube play" in text and "- (b) unshare" in text
    times = report.fmt_ratio(1.0)[-1]  # the multiplication sign
    assert cells[8] == f"0.1{times} paired"  # pairs 10/300, 20/200, 30/250: median 0.1
    assert cells[10] == f"10{times} paired"
    assert "no figure [1]" in text and "- [1] Restart: BenchError: it broke" in text
    results = text.split("## Targets")[0]
    assert results.count("probes do not run") == 1  # one footnote for both rows
    assert "**start.one**: the CLI's imports" in text
    assert "CPU, 2 cores, 24.0 GiB, Linux 6.18, Python 3.11.7" in text
    data = json.loads(md.with_suffix(".json").read_text())
    assert data["machine"]["cores"] == 2
    figure = data["figures"]["start.one"]
    assert figure["samples"] == [10.0, 20.0, 30.0]  # the raw samples, as measured
    assert figure["summary"] == stats.summarize(figure["samples"]).as_dict()
    assert figure["peer"]["samples"] == [300.0, 200.0, 250.0]
    assert data["figures"]["restart.e2e"]["summary"] is None


def test_unlike_n_gives_no_ratio_and_the_table_follows_the_issue() -> None:
    ours = Figure("scale.start", "Start 100 pods", "ms", [3000.0])
    ours.peer = Comparison("podman, 20 pods", [3200.0], comparable=False)
    assert ours.ratio(ours.peer) is None
    assert ours.ratio(Comparison("podman", [1500.0])) == 2.0
    paired = Figure("start.one", "start", "ms", [10.0, 20.0, 30.0])
    # fewer peer samples, taken beside the first ones: those pair
    assert paired.ratio(Comparison("podman", [100.0, 100.0], paired=True)) == pytest.approx(0.15)
    keys = [f.key for f in report.in_order([
        Figure("kernel.unshare", "k", "ms"), Figure("scale.stop", "s", "ms"),
        Figure("stop.one", "s", "ms"), Figure("start.one.cli", "c", "ms"),
        Figure("start.one", "s", "ms")])]
    assert keys == ["start.one.cli", "start.one", "stop.one", "scale.stop", "kernel.unshare"]


def test_the_report_renders_again_from_its_json(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "BENCH.md", tmp_path / "b" / "BENCH.md"
    first.parent.mkdir()
    second.parent.mkdir()
    report.write_report(first, sample_figures(), meta(), {})
    figures, run = report.from_json(json.loads(first.with_suffix(".json").read_text()))
    report.write_report(second, figures, run, {})
    assert second.read_text() == first.read_text()
    assert second.with_suffix(".json").read_text() == first.with_suffix(".json").read_text()


def test_targets_are_checked_on_what_was_measured() -> None:
    figures = {f.key: f for f in sample_figures()}
    by_row = {t.row: t for t in report.TARGETS}
    assert report.check_target(by_row["start, 1 container"], figures) == (
        "start.one", "median 20.0 ms", "met")
    assert report.check_target(by_row["stop, 1 pod"], figures)[2] == "met"
    assert report.check_target(by_row["restart after kill -9, p50"], figures)[1:] == (
        "not measured", "not measured")
    key, shown, verdict = report.check_target(
        by_row["1000 pods, 1 s httpGet probes: lateness"], figures)
    assert key == "capacity.3.late"  # the largest N this run measured
    assert shown == "p99 6.93 ms"
    assert verdict.startswith("**not met**") and "on 3 pods, not 1000" in verdict


def test_every_target_names_a_figure_the_suite_makes() -> None:
    made = {"start.one", "start.inits", "stop.one", "restart.e2e", "restart.inproc",
            "probe.exec.wall", "probe.exec.cpu", "capacity.1000.cpu", "capacity.1000.late",
            "idle.wakeups", "memory.marginal", "memory.pause", "scale.start", "scale.stop"}
    assert {t.key for t in report.TARGETS} == made


def test_the_suites_minipods_never_make_a_pod_network_on_the_host(tmp_path: Path) -> None:
    """Safety: the default pod network is a bridge with routes and nftables
    rules in the network namespace minipod runs in, the host's here. Both
    ways the suite runs minipod (its CLI, a Supervisor in its own process)
    turn it off; the in-process one once did not."""
    mp = harness.Minipod(tmp_path)
    assert mp.env["MINIPOD_POD_NETWORK"] == "none"
    assert mp.in_process_env["MINIPOD_POD_NETWORK"] == "none"
    assert mp.in_process_env["MINIPOD_ROOT"] != mp.env["MINIPOD_ROOT"]
