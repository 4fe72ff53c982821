"""A test hook: the supervisor SIGKILLs itself at a named step.

The reliability suite (tests/reliability, RELIABILITY.md) kills the
supervisor at every step of `up -d` and `delete` and checks that `recover`
adopts or removes each pod and that nothing is left. To make each kill land
at one exact point, the code calls crash_point("step") between the steps;
with

    MINIPOD_TEST_CRASH_AT=create:pause-spawned      (or STEP@N: its N-th time)

in the supervisor's environment, that call sends SIGKILL to its own process.

It can never fire by accident in production: it is armed only when
MINIPOD_TEST_CRASH_AT names a step listed below AND MINIPOD_ROOT is set to a
state directory other than the default /run/minipod (every test uses its
own). Otherwise crash_point() is one comparison. An armed supervisor says so
on stderr (daemon.log) when it starts (armed()).
"""

from __future__ import annotations

import os
import signal

DEFAULT_ROOT = "/run/minipod"  # kernel/state.py's; never armed there

# The steps, in the order `up -d` and `delete` pass them.
UP_STEPS = (
    "apply:received",  # the request read, nothing done
    "create:staged",  # the pod's directory and its record made in staging/
    "create:claimed",  # renamed into pods/: the name is taken
    "create:attached",  # its address (and hostPorts) claimed, their rules in place
    "create:cgroups",  # its cgroups made, nothing in them
    "create:pause-spawned",  # pause runs, its pid not yet in the record
    "create:pause-recorded",  # the record names the pause
    "container:spawned",  # a container exec'd, its pid not yet in the record
    "create:done",  # the record complete, the answer not yet sent
)
DELETE_STEPS = (
    "delete:received",  # the request read, nothing done
    "delete:marked",  # the record says Terminating, nothing signalled
    "delete:signalled",  # SIGTERM sent to the containers
    "delete:containers-gone",  # every container exited, pause still up
    "delete:pause-stopped",  # pause stopped, the directory still there
    "delete:retired",  # the directory moved to trash/, the answer not yet sent
)
STEPS = UP_STEPS + DELETE_STEPS


def _armed() -> tuple[str, int] | None:
    wanted = os.environ.get("MINIPOD_TEST_CRASH_AT", "")
    root = os.environ.get("MINIPOD_ROOT", "")
    if not wanted or not root or os.path.normpath(root) == DEFAULT_ROOT:
        return None
    step, _, nth = wanted.partition("@")
    if step not in STEPS:
        return None
    return step, int(nth) if nth.isdigit() and int(nth) > 0 else 1


_ARMED = _armed()
_seen: dict[str, int] = {}


def armed() -> str | None:
    """The step this process will die at, if the hook is armed (for its log)."""
    return None if _ARMED is None else f"{_ARMED[0]}@{_ARMED[1]}"


def crash_point(step: str) -> None:
    """SIGKILL this process here if the hook is armed for ``step`` (and this
    is its N-th time here); nothing otherwise."""
    if _ARMED is None or _ARMED[0] != step:
        return
    _seen[step] = _seen.get(step, 0) + 1
    if _seen[step] == _ARMED[1]:
        os.kill(os.getpid(), signal.SIGKILL)
