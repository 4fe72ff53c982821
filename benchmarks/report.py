"""BENCHMARKS.md and BENCHMARKS.json: the results table, the issue's targets
beside what was measured, how each figure is measured and what limits it."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.results import Comparison, Figure


# -- the machine ----------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo
                  if line.startswith("model name")), platform.processor() or "unknown")
    meminfo = {line.split(":")[0]: int(line.split()[1])
               for line in Path("/proc/meminfo").read_text().splitlines()}
    return {
        "host": platform.node(), "cpu": model, "cores": os.cpu_count(),
        "memory_gib": round(meminfo["MemTotal"] / 1024 / 1024, 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
    }


def machine_line(m: dict[str, Any]) -> str:
    return (f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, "
            f"Python {m['python']}")


# -- the targets --------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    row: str  # the row
    key: str  # the figure it is checked against
    stat: str  # "median" or "p99"
    limit: float
    text: str  # the target, as written
    podman: str  # the podman column
    kernel: str  # the kernel column


TARGETS = (
    Target("start, 1 container", "start.one", "median", 25, "≤ 25 ms", "254 ms",
           "2.2 ms (unshare + exec)"),
    Target("start, 2 init + 1 app", "start.inits", "median", 35, "≤ 35 ms", "955 ms", ""),
    Target("stop, 1 pod", "stop.one", "median", 20, "≤ 20 ms", "300 to 3400 ms", ""),
    Target("restart after kill -9, p50", "restart.e2e", "median", 3, "p50 ≤ 3 ms", "108 ms",
           "~2 ms"),
    Target("restart after kill -9, p99", "restart.e2e", "p99", 10, "p99 ≤ 10 ms", "", ""),
    Target("restart after kill -9 (in-process), p50", "restart.inproc", "median", 3,
           "p50 ≤ 3 ms", "", ""),
    Target("restart after kill -9 (in-process), p99", "restart.inproc", "p99", 10,
           "p99 ≤ 10 ms", "", ""),
    Target("exec probe, wall", "probe.exec.wall", "median", 2, "≤ 2 ms wall", "130 ms wall",
           "0.5 ms (fork+exec)"),
    Target("exec probe, CPU", "probe.exec.cpu", "median", 1, "≤ 1 ms CPU", "55 ms CPU", ""),
    Target("1000 pods, 1 s httpGet probes: CPU", "capacity.1000.cpu", "median", 10,
           "≤ 10% of one core", "probes do not run", ""),
    Target("1000 pods, 1 s httpGet probes: lateness", "capacity.1000.late", "p99", 5,
           "p99 lateness ≤ 5 ms", "", ""),
    Target("idle, 100 pods", "idle.wakeups", "median", 0, "0 wake-ups/s", "0 CPU (no probes)",
           ""),
    Target("memory per pod", "memory.marginal", "median", 1024, "≤ 1 MB marginal",
           "~5.6 MB (conmon + catatonit)", ""),
    Target("pause RSS", "memory.pause", "median", 300, "pause ≤ 300 KB RSS", "", ""),
    Target("start 100 pods", "scale.start", "median", 2000, "100 in ≤ 2 s",
           "20 pods in 5.2 s", ""),
    Target("stop 100 pods", "scale.stop", "median", 2000, "100 in ≤ 2 s", "20 pods in 45 s",
           ""),
)


def resolve_key(key: str, figures: dict[str, Figure]) -> str | None:
    """capacity.1000.* falls back to the largest N measured (a smoke run has tiny N)."""
    if key in figures:
        return key
    if key.startswith("capacity."):
        suffix = key.rsplit(".", 1)[1]
        sizes = sorted(int(k.split(".")[1]) for k in figures
                       if k.startswith("capacity.") and k.endswith("." + suffix))
        if sizes:
            return f"capacity.{sizes[-1]}.{suffix}"
    return None


def check_target(target: Target, figures: dict[str, Figure]) -> tuple[str, str, str]:
    """(figure it was checked on, value measured, verdict)."""
    key = resolve_key(target.key, figures)
    figure = figures.get(key) if key else None
    summary = figure.summary() if figure else None
    if key is None or figure is None or summary is None:
        return key or target.key, "not measured", "not measured"
    value = getattr(summary, target.stat)
    shown = f"{target.stat} {fmt(value)} {figure.unit}"
    verdict = "met" if value <= target.limit else "**not met**"
    if key != target.key:
        verdict += f" (on {key.split('.')[1]} pods, not {target.key.split('.')[1]})"
    return key, shown, verdict


# -- formatting -------------------------------------------------------------------------
def fmt(value: float | None) -> str:
    if value is None:
        return ""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _other(figure: Figure, other: Comparison | None, notes: list[str], labels: list[str],
           missing: str) -> tuple[str, str]:
    """(median cell, ratio cell) for a peer or a baseline; what ran is a
    lettered label under the table, an error a numbered note."""
    if other is None:
        return missing, ""
    summary = other.summary()
    if summary is None:
        note = _note(notes, f"{other.label}: {other.error or 'no samples'}")
        return f"no figure [{note}]", ""
    if other.label not in labels:
        labels.append(other.label)
    cell = f"{fmt(summary.median)} ({_letter(labels.index(other.label))}"
    cell += f", n {len(other.samples)})" if len(other.samples) > 1 else ")"
    ratio = figure.ratio(other)
    return cell, (fmt_ratio(ratio) + (" paired" if other.paired else "")) if ratio else ""


def _letter(index: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[index] if index < 26 else f"z{index}"


# the order of figures; the table follows it
ORDER = ("start.one", "start.inits", "start.two", "start.cold", "stop.", "restart.",
         "probe.exec", "capacity.", "idle.", "memory.", "scale.", "cli.", "kernel.")


def in_order(figures: list[Figure]) -> list[Figure]:
    def rank(figure: Figure) -> int:
        return next((i for i, prefix in enumerate(ORDER) if figure.key.startswith(prefix)),
                    len(ORDER))

    return sorted(figures, key=rank)  # stable: a group keeps the order it was measured in


def _note(notes: list[str], text: str) -> int:
    """The footnote's number; the same text is one footnote."""
    if text not in notes:
        notes.append(text)
    return notes.index(text) + 1


def fmt_ratio(value: float) -> str:
    return f"{value:.3g}×"  # noqa: RUF001 - the multiplication sign is meant


def results_table(figures: list[Figure], peers_asked: bool) -> list[str]:
    lines = ["| figure | unit | median | p99 | min | max | n | peer median | minipod ÷ peer "
             "| kernel baseline median | minipod ÷ kernel |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    notes: list[str] = []
    labels: list[str] = []
    for figure in in_order(figures):
        summary = figure.summary()
        peer_missing = "" if peers_asked else "(bench-peers)"
        peer_cell, peer_ratio = _other(figure, figure.peer, notes, labels, peer_missing)
        base_cell, base_ratio = _other(figure, figure.baseline, notes, labels, "")
        if summary is None:
            note = _note(notes, f"{figure.title}: {figure.error or 'no samples'}")
            lines.append(f"| {figure.title} | {figure.unit} | no figure [{note}] "
                         f"| | | | | {peer_cell} | | {base_cell} | |")
            continue
        lines.append(
            f"| {figure.title} | {figure.unit} | {fmt(summary.median)} | {fmt(summary.p99)} "
            f"| {fmt(summary.min)} | {fmt(summary.max)} | {summary.n} | {peer_cell} "
            f"| {peer_ratio} | {base_cell} | {base_ratio} |")
    if labels:
        lines += ["", "What the peer and baseline columns ran:", ""]
        lines += [f"- ({_letter(i)}) {label}" for i, label in enumerate(labels)]
    if notes:
        lines += ["", "Figures that could not be measured:", ""]
        lines += [f"- [{i}] {note}" for i, note in enumerate(notes, 1)]
    return lines


def targets_table(figures: dict[str, Figure]) -> list[str]:
    lines = ["| figure | podman kube play (issue) | kernel limit (issue) | minipod target "
             "| measured here | target |", "|---|---|---|---|---|---|"]
    for target in TARGETS:
        _key, shown, verdict = check_target(target, figures)
        lines.append(f"| {target.row} | {target.podman} | {target.kernel} | {target.text} "
                     f"| {shown} | {verdict} |")
    return lines


def write_report(md: Path, figures: list[Figure], meta: dict[str, Any],
                 limits: dict[str, str]) -> None:
    by_key = {f.key: f for f in figures}
    m = meta["machine"]
    lines = [
        "# minipod benchmarks", "",
        f"Written by `{meta['command']}` (benchmarks/run.py) on {meta['date']}, "
        f"{meta['mode']} run, {meta['seconds']:.0f} s. Raw samples: "
        f"{md.with_suffix('.json').name}.", "",
        f"Machine: {machine_line(m)}. Load average at the start "
        f"{' / '.join(f'{x:.2f}' for x in meta['load_start'])}, at the end "
        f"{' / '.join(f'{x:.2f}' for x in meta['load_end'])} (other work shares this "
        "machine; see \"The run\").", "",
        "## Results", "",
        "Times in ms unless the unit says otherwise. The peer is podman `kube play` of the "
        "same manifests (`make bench`); the kernel baseline is the limit a runtime "
        "cannot beat. A ratio is minipod's figure over the other's: \"paired\" means the "
        "two were measured alternately, run by run, and the ratio is the median of the "
        "per-pair ratios; otherwise it is the ratio of the medians.", "",
        *results_table(figures, meta["peers"]), "",
        "## Targets (issue 5)", "",
        "The issue's peer and kernel columns are the figures measured on this kind of "
        "machine when the issue was written; the results table above has this run's.", "",
        *targets_table(by_key), "",
        "## What limits each figure", "",
    ]
    for key, text in limits.items():
        if key in by_key or any(k.startswith(key) for k in by_key):
            lines.append(f"- **{key}**: {text}")
    lines += ["", "## How each figure is measured", ""]
    for figure in in_order(figures):
        if figure.how:
            lines.append(f"- **{figure.key}** ({figure.title}): {figure.how}.")
    lines += ["", "## The run", "", *[f"- {note}" for note in meta.get("notes", [])], ""]
    md.write_text("\n".join(lines))
    md.with_suffix(".json").write_text(json.dumps(to_json(figures, meta), indent=1) + "\n")


def to_json(figures: list[Figure], meta: dict[str, Any]) -> dict[str, Any]:
    def side(c: Comparison | None) -> dict[str, Any] | None:
        if c is None:
            return None
        summary = c.summary()
        return {"label": c.label, "samples": c.samples, "error": c.error, "paired": c.paired,
                "comparable": c.comparable, "summary": summary.as_dict() if summary else None}

    out = {}
    for f in figures:
        summary = f.summary()
        out[f.key] = {"title": f.title, "unit": f.unit, "samples": f.samples, "how": f.how,
                      "summary": summary.as_dict() if summary else None, "error": f.error,
                      "peer": side(f.peer), "baseline": side(f.baseline), "extra": f.extra}
    return {"machine": meta["machine"], "run": {k: v for k, v in meta.items()
                                                if k != "machine"}, "figures": out}


def from_json(data: dict[str, Any]) -> tuple[list[Figure], dict[str, Any]]:
    """The figures and the run back from BENCHMARKS.json (to render the report again)."""
    def side(c: dict[str, Any] | None) -> Comparison | None:
        if c is None:
            return None
        return Comparison(c["label"], list(c["samples"]), c.get("error"), bool(c["paired"]),
                          bool(c.get("comparable", True)))

    figures = [Figure(key, f["title"], f["unit"], list(f["samples"]), f.get("how", ""),
                      side(f.get("peer")), side(f.get("baseline")), f.get("error"),
                      dict(f.get("extra") or {}))
               for key, f in data["figures"].items()]
    return figures, {**data["run"], "machine": data["machine"]}
