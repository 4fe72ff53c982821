"""minipod.api.backoff: the --backoff policy and the kubelet's CrashLoopBackOff entry.

Times are plain monotonic seconds; nothing here sleeps. The kubelet rules are in
K8S-SEMANTICS.md section 2.2 (kubelet.go newCrashLoopBackOff and HasExpiredFunc,
kuberuntime_manager.go doBackOff, client-go flowcontrol.Backoff).
"""

from __future__ import annotations

import pytest

from minipod.api.backoff import Backoff, BackoffPolicy
from minipod.api.errors import SpecError

# ---------------------------------------------------------------------------
# BackoffPolicy
# ---------------------------------------------------------------------------


def test_default_policy_is_the_kubelets() -> None:
    policy = BackoffPolicy()
    assert (policy.initial, policy.maximum, policy.reset_after) == (10.0, 300.0, 600.0)
    assert not policy.off


@pytest.mark.parametrize(("text", "initial", "maximum"), [
    ("1s:60s", 1.0, 60.0),
    ("10s:5m", 10.0, 300.0),
    ("500ms:2m", 0.5, 120.0),
    ("1.5s:1h", 1.5, 3600.0),
    (" 2s : 30s ", 2.0, 30.0),  # blanks around either part are allowed
])
def test_parse_reads_durations_with_units(text: str, initial: float, maximum: float) -> None:
    policy = BackoffPolicy.parse(text)
    assert (policy.initial, policy.maximum) == (initial, maximum)
    assert policy.reset_after == 600.0  # the reset rule is not configurable
    assert not policy.off


def test_parse_0_0_turns_back_off_off() -> None:
    policy = BackoffPolicy.parse("0:0")
    assert policy.off
    assert (policy.initial, policy.maximum) == (0.0, 0.0)


def test_parse_a_maximum_below_the_initial_lowers_the_initial() -> None:
    # KubeletCrashLoopBackOffMax: "if boMax < boInitial { boInitial = boMax }"
    policy = BackoffPolicy.parse("10s:4s")
    assert (policy.initial, policy.maximum) == (4.0, 4.0)


@pytest.mark.parametrize(("text", "why"), [
    ("10s", "expected INITIAL:MAX"),
    ("1s:2s:3s", "expected INITIAL:MAX"),
    ("", "expected INITIAL:MAX"),
    ("ten:60s", "is not a duration"),
    ("-1s:60s", "is not a duration"),
    ("1s:60x", "is not a duration"),
    ("10:60s", "needs a unit"),
    ("1s:60", "needs a unit"),
    ("0:10s", "must be > 0"),
])
def test_parse_rejects_bad_values(text: str, why: str) -> None:
    with pytest.raises(SpecError, match=why) as caught:
        BackoffPolicy.parse(text)
    assert isinstance(caught.value, ValueError)  # argparse-friendly
    [error] = caught.value.errors
    assert error.path == "--backoff"
    assert repr(text) in error.message


# ---------------------------------------------------------------------------
# Backoff: one container's entry
# ---------------------------------------------------------------------------


def _crash_loop(backoff: Backoff, exits: int, run_for: float = 1.0) -> list[float]:
    """Let a container that runs ``run_for`` seconds crash ``exits`` times,
    restarting it as soon as it may; return each wait."""
    now = 1000.0
    waits = []
    for _ in range(exits):
        finished = now + run_for
        now = finished
        wait = backoff.wait(finished, now)
        waits.append(wait)
        now += wait
        assert backoff.wait(finished, now) == 0.0  # the wait is over exactly then
        backoff.restarted(finished, now)
    return waits


def test_delays_double_from_zero_to_the_five_minute_cap() -> None:
    waits = _crash_loop(Backoff(BackoffPolicy()), exits=9)
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_no_entry_means_restart_at_once() -> None:
    backoff = Backoff(BackoffPolicy())
    assert backoff.delay is None
    assert backoff.wait(finished_at=50.0, now=50.0) == 0.0
    backoff.restarted(finished_at=50.0, now=50.0)
    assert backoff.delay == 10.0


def test_wait_counts_from_the_exit_not_from_now() -> None:
    backoff = Backoff(BackoffPolicy())
    backoff.restarted(finished_at=100.0, now=100.0)  # entry: 10 s
    # the next exit at 130; the kubelet notices it 4 s later
    assert backoff.wait(finished_at=130.0, now=134.0) == 6.0
    assert backoff.wait(finished_at=130.0, now=139.5) == 0.5
    assert backoff.wait(finished_at=130.0, now=140.0) == 0.0
    assert backoff.wait(finished_at=130.0, now=500.0) == 0.0  # never negative


def test_wait_does_not_advance_the_entry() -> None:
    backoff = Backoff(BackoffPolicy())
    backoff.restarted(100.0, 100.0)
    for _ in range(3):
        assert backoff.wait(105.0, 105.0) == 10.0
    assert backoff.delay == 10.0


def test_a_run_of_more_than_ten_minutes_resets_the_back_off() -> None:
    backoff = Backoff(BackoffPolicy())
    assert _crash_loop(backoff, exits=4) == [0, 10, 20, 40]
    restarted_at = 1000.0 + 4 * 1.0 + 10 + 20 + 40
    # ran 600.5 s since the last restart: expired, restart at once...
    finished = restarted_at + 600.5
    assert backoff.wait(finished, finished) == 0.0
    backoff.restarted(finished, finished)
    # ...and the entry starts over at the initial delay
    assert backoff.delay == 10.0
    assert backoff.wait(finished + 1, finished + 1) == 10.0


def test_a_run_of_exactly_ten_minutes_does_not_reset() -> None:
    backoff = Backoff(BackoffPolicy())
    backoff.restarted(0.0, 0.0)
    backoff.restarted(5.0, 15.0)  # 20 s now, last update at 15
    finished = 15.0 + 600.0  # "> 600 s" expires; 600 s exactly does not
    assert backoff.wait(finished, finished) == 20.0
    backoff.restarted(finished, finished + 20.0)
    assert backoff.delay == 40.0


def test_reset_is_measured_from_the_last_restart_not_the_first_exit() -> None:
    backoff = Backoff(BackoffPolicy())
    backoff.restarted(0.0, 0.0)  # 10 s
    backoff.restarted(1.0, 500.0)  # 20 s; restarted at 500
    # 1000 s after the first exit but only 550 s after the last restart
    assert backoff.wait(1050.0, 1050.0) == 20.0


def test_custom_initial_and_maximum() -> None:
    waits = _crash_loop(Backoff(BackoffPolicy.parse("1s:60s")), exits=10)
    assert waits == [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_maximum_below_initial_holds_every_delay_at_the_maximum() -> None:
    waits = _crash_loop(Backoff(BackoffPolicy.parse("10s:4s")), exits=4)
    assert waits == [0, 4, 4, 4]


def test_policy_off_never_waits_and_keeps_no_entry() -> None:
    backoff = Backoff(BackoffPolicy.parse("0:0"))
    assert _crash_loop(backoff, exits=5, run_for=0.0) == [0, 0, 0, 0, 0]
    assert backoff.delay is None


def test_entries_are_per_container() -> None:
    policy = BackoffPolicy()
    a, b = Backoff(policy), Backoff(policy)
    _crash_loop(a, exits=3)
    assert a.delay == 40.0
    assert b.delay is None
    assert b.wait(2000.0, 2000.0) == 0.0
