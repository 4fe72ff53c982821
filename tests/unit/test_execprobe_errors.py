"""minipod.probes.execprobe and sys.exec_start: the failure paths, which need no root
(the kernel answers EBADF before it checks any privilege)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

import psutil
import pytest

from minipod.kernel import sys as msys
from minipod.kernel.ns import NsFds
from minipod.kernel.spawn import Child
from minipod.loop.eventloop import Loop
from minipod.probes.execprobe import ExecResult, ExecTarget, exec_in


def _no_watch(_child: Child, _on_exit: Callable[..., None]) -> None:
    raise AssertionError("nothing may be watched when nothing started")


def _target(pid_fd: int = -1, env: dict[str, str] | None = None) -> ExecTarget:
    return ExecTarget(NsFds(0, {}), -1, pid_fd, env or {}, "/", None, None)


def _result(argv: tuple[str, ...], target: ExecTarget | None = None) -> ExecResult:
    loop = Loop()
    try:
        results: list[ExecResult] = []
        run = exec_in(loop, _no_watch, target or _target(), argv, 1.0, results.append)
        assert results == [], "done must never be called synchronously"
        assert run.pid == 0 and run.running
        loop.run_once(max_wait=1)
        assert len(results) == 1 and not run.running
        return results[0]
    finally:
        loop.close()


def test_exec_start_reports_the_failed_step_and_reaps_the_intermediate() -> None:
    before = {p.pid for p in psutil.Process().children()}
    started = msys.exec_start(msys.ExecCommand(("true",), {}, "/bin", "/"),
                              pod_ns=[(-1, msys.CLONE_NEWUTS)], mnt_fd=-1, out_fd=1,
                              keep_caps=0, uid=None, gid=None)
    assert started == msys.ExecStart(-1, msys.EXEC_STEP_POD_NS, 0, errno.EBADF)
    assert {p.pid for p in psutil.Process().children()} == before  # reaped, no zombie


def test_a_target_makes_each_command_once() -> None:
    target = _target(env={"PATH": "/sbin", "A": "1"})
    probe = target.command(("true", "x"))
    assert target.command(("true", "x")) is probe, "the next probe reuses it"
    other = target.command(("false",))
    assert other is not probe
    assert msys._ffi.string(probe.argv[1]) == b"x" and probe.argv[2] == msys._ffi.NULL
    assert [msys._ffi.string(probe.envp[i]) for i in range(2)] == [b"PATH=/sbin", b"A=1"]
    assert msys._ffi.string(probe.path) == b"/sbin" and probe.n_groups == -1
    target.close()
    assert target.command(("true", "x")) is not probe, "a closed target keeps none"


def test_exec_start_refuses_more_namespaces_than_it_has_room_for() -> None:
    with pytest.raises(ValueError, match="at most"):
        msys.exec_start(msys.ExecCommand(("true",), {}, "/bin", "/"),
                        pod_ns=[(-1, 0)] * (msys.EXEC_MAX_NS + 1), mnt_fd=-1, out_fd=1,
                        keep_caps=0, uid=None, gid=None)


def test_a_setup_failure_comes_through_done_from_the_loop() -> None:
    result = _result(("true",))
    assert result.exit_code is None and not result.timed_out and result.output == ""
    # EBADF; without CAP_SYS_ADMIN, EPERM from setting our own namespace back
    assert result.error in (
        "exec in container: join the container's pid namespace: Bad file descriptor (EBADF)",
        "exec in container: join the container's pid namespace: Operation not permitted (EPERM)")


@pytest.mark.parametrize(("argv", "env", "error"), [
    ((), {}, "exec in container: no command given"),
    (("",), {}, "exec in container: no command given"),
    (("echo", "a\0b"), {}, "exec in container: a NUL byte in the command or the environment"),
    (("true",), {"A": "x\0"}, "exec in container: a NUL byte in the command or the environment"),
])
def test_bad_commands_are_refused_before_anything_starts(
        argv: tuple[str, ...], env: dict[str, str], error: str) -> None:
    assert _result(argv, _target(env=env)) == ExecResult(None, "", False, error)


def test_cancel_before_the_failure_is_delivered_silences_it() -> None:
    loop = Loop()
    try:
        results: list[ExecResult] = []
        run = exec_in(loop, _no_watch, _target(), ("true",), None, results.append)
        run.cancel()
        loop.run_once(max_wait=0)
        assert results == [] and not run.running
    finally:
        loop.close()


def test_no_fd_is_left_open_by_a_failed_start() -> None:
    before = sorted(os.listdir("/proc/self/fd"))
    _result(("true",))
    assert sorted(os.listdir("/proc/self/fd")) == before
