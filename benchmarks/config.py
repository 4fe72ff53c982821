"""How much each figure measures: the full run (`make bench`) and the smoke run
(`--smoke`, CI and tests/kernel/test_bench_smoke.py: tiny N, a few runs, well
under a minute)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Config:
    name: str
    runs: int  # pod start and stop, per variant (and the kernel baselines paired with them)
    cold_runs: int  # pod start with no supervisor running (each waits for it to exit)
    kills: int  # restart after kill -9, through the background supervisor
    inproc_kills: int  # the same, with a Supervisor in this process
    exec_probes: int  # exec probes timed one by one, in process
    probe_pods: tuple[int, ...]  # probe capacity: pods with a 1 s httpGet liveness probe
    probe_window: float  # seconds over which probes and supervisor CPU are counted
    idle_window: float
    scale_pods: int  # also the idle and memory figures' pods
    scale_runs: int
    # peers (`make bench`): podman is slow, so fewer runs and pods
    peer_runs: int = 7
    peer_kills: int = 20
    peer_pods: int = 20
    peer_window: float = 10.0


FULL = Config(name="full", runs=15, cold_runs=5, kills=100, inproc_kills=100, exec_probes=200,
              probe_pods=(100, 500, 1000), probe_window=20.0, idle_window=30.0,
              scale_pods=100, scale_runs=3)

SMOKE = Config(name="smoke", runs=2, cold_runs=1, kills=5, inproc_kills=5, exec_probes=10,
               probe_pods=(3,), probe_window=2.5, idle_window=1.0, scale_pods=4,
               scale_runs=1, peer_runs=1, peer_kills=2, peer_pods=2, peer_window=2.0)


def config_for(smoke: bool, **overrides: object) -> Config:
    base = SMOKE if smoke else FULL
    return replace(base, **overrides) if overrides else base  # type: ignore[arg-type]
