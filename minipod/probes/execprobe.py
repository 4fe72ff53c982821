"""Run a command inside a running container: exec probes and exec lifecycle hooks.

The kubelet goes through CRI ExecSync; minipod does it itself, without a shell
and without a runtime process that stays around (csrc/mp_exec.c):

    supervisor --clone, pid_for_children = the container's pid ns--> I
      I  joins the pod's uts/ipc/net namespaces and the container's mount
         namespace (setns sets root and cwd to the container's root), chdirs
         to the working directory (resolved inside that root),
         unshare(CLONE_NEWPID), joins a new session keyring, drops
         capabilities and sets gid/uid (and no_new_privs, as the container
         has them), then clone(CLONE_PARENT | CLONE_PIDFD) -> P
      P  is a child of the *supervisor* (CLONE_PARENT) and PID 1 of a fresh
         pid namespace nested in the container's; it resets signals, points
         stdin at /dev/null and stdout+stderr at one pipe, marks every other
         fd close-on-exec, and execs argv under the container's seccomp
         filter (loaded by P right before exec with no_new_privs, else by
         I before it drops CAP_SYS_ADMIN, as runc does)
      I  exits once P has exec'd; the supervisor reaps it before exec_in
         returns. P's pidfd is the supervisor's already (I shares its fd
         table), and from then on P is watched like any child.

Why a nested pid namespace: when its PID 1 dies, the kernel kills and reaps
every process in it (zap_pid_ns_processes) before P itself can be reaped. So
one SIGKILL through P's pidfd at the deadline ends the whole tree, a
background child of the command never outlives it, and an orphan never lands
on the container's own PID 1 (which may not reap). Inside, the command sees
itself as pid 1 (so a signal it sends itself without a handler is dropped);
/proc is still the container's.

Why two processes: unshare(CLONE_NEWPID) only places *children*, and the
kernel refuses it (copy_pid_ns: EINVAL) while pid_for_children differs from
the active pid namespace. The supervisor can put a child into the container's
pid namespace, but not into a new namespace below it in the same step; I, a
member of the container's namespace, can. CLONE_PARENT (allowed because I is
no namespace init) makes P the supervisor's child, so nobody in between waits.

Why C: I and P share the supervisor's memory until they exec or exit (as
posix_spawn's child does). A fork of the interpreter copies its page tables,
which costs milliseconds for a supervisor of a few tens of MB; this does not.

``minipod exec`` (start_attached, start_with_pty) uses the same launcher
with three differences: the command is a plain member of the container's pid
namespace (as under runc exec: the container's ``ps`` shows it; no nested
namespace, so no unshare in I), it runs on fds the caller hands over instead
of /dev/null and one pipe, or on a new pty that I opens in the container's
own devpts, and it gets a session of its own (the pty as its controlling
terminal). The caller is the CLI client, whose child it is; nobody else
watches it.

Errors: anything that fails before the command runs (a setup step, the fork,
the exec itself) is reported through ``done`` with ``error`` set and
``exit_code`` None, like any result: exec_in itself never raises for them,
so a prober has one path. ``done`` always comes from the loop, never from
inside exec_in.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from minipod.api.errors import StartError
from minipod.api.frozen import frozen
from minipod.kernel import sys as msys
from minipod.kernel.image import DEFAULT_PATH
from minipod.kernel.launch import KEEP_CAPS
from minipod.kernel.ns import POD_NAMESPACES, NsFds, pid_namespace_for_children
from minipod.kernel.spawn import Child, ExitStatus
from minipod.loop.eventloop import Deadline, Loop

MAX_OUTPUT = 10 * 1024  # the kubelet's maxReadLength for exec probe output
_READ_CHUNK = 65536
_WHAT = "exec in container"

Watch = Callable[[Child, Callable[[ExitStatus], None]], None]  # Supervisor.watch


@dataclass
class ExecTarget:
    """Where the commands of one container run. Open it while the container's
    PID 1 is alive and not yet reaped; the fds hold the namespaces after that
    process exits, but a pid namespace without its init refuses new members,
    so exec_in then reports an error."""

    pod_ns: NsFds  # uts/ipc/net (and pid when shared) of the pause process: not owned
    mnt_fd: int  # the container's mount namespace (owned)
    pid_fd: int  # the container's pid namespace (owned)
    env: dict[str, str]
    working_dir: str
    run_as_user: int | None
    run_as_group: int | None
    # None: the container default set (launch.KEEP_CAPS), as a bit mask
    keep_caps: int | None = None
    # None: just the group, when run_as_user or run_as_group is set
    groups: tuple[int, ...] | None = None
    # the container's confinement (LaunchPlan's): its processes' own
    no_new_privs: bool = False
    seccomp: bytes | None = field(default=None, repr=False)
    # the container's cgroup, where every command is born (Cgroup.placement():
    # a v2 directory fd, owned, or the files to enter it by); None: none
    cgroup: tuple[int, msys.CPaths] | None = None
    # argv -> its C form (msys.ExecCommand); the rest of it is this target's
    _commands: dict[tuple[str, ...], msys.ExecCommand] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def command(self, argv: tuple[str, ...]) -> msys.ExecCommand:
        """``argv`` with this target's environment, PATH, working directory
        and groups, made once: an exec probe runs the same command every
        period. (The fields are not changed once the target is open.)"""
        command = self._commands.get(argv)
        if command is None:
            command = self._commands[argv] = msys.ExecCommand(
                argv, self.env, self.env.get("PATH", DEFAULT_PATH), self.working_dir,
                self.groups)
        return command

    def close(self) -> None:
        for fd in (self.mnt_fd, self.pid_fd, self.cgroup[0] if self.cgroup else -1):
            if fd >= 0:
                os.close(fd)
        self.mnt_fd = self.pid_fd = -1
        self.cgroup = None
        self._commands.clear()


def exec_cgroup(placement: tuple[int, tuple[str, ...]] | None
                ) -> tuple[int, msys.CPaths] | None:
    """A target's own copy of a cgroup's placement (the fd is duplicated)."""
    if placement is None:
        return None
    fd, files = placement
    return (os.dup(fd) if fd >= 0 else -1), msys.CPaths(files)


def open_exec_target(  # noqa: PLR0917 - the signature agreed with pod.py
        container_pid: int, pod_ns: NsFds, env: dict[str, str], working_dir: str,
        run_as_user: int | None, run_as_group: int | None, *,
        groups: tuple[int, ...] | None = None, keep_caps: int | None = None,
        no_new_privs: bool = False, seccomp: bytes | None = None,
        cgroup: tuple[int, tuple[str, ...]] | None = None) -> ExecTarget:
    mnt_fd = os.open(f"/proc/{container_pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid_fd = os.open(f"/proc/{container_pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    except BaseException:
        os.close(mnt_fd)
        raise
    return ExecTarget(pod_ns, mnt_fd, pid_fd, dict(env), working_dir, run_as_user,
                      run_as_group, keep_caps, groups, no_new_privs, seccomp,
                      cgroup=exec_cgroup(cgroup))


@frozen
class ExecResult:
    exit_code: int | None  # None when timed out or it could not start
    output: str  # combined stdout+stderr, the first MAX_OUTPUT bytes
    timed_out: bool
    error: str | None  # why it could not start: the step and the errno


class ExecRun:
    """One command in flight. ``pid`` is P's pid in the supervisor's pid
    namespace (0 when it never started)."""

    def __init__(self, loop: Loop, done: Callable[[ExecResult], None]) -> None:
        self.pid = 0
        self._loop = loop
        self._done: Callable[[ExecResult], None] | None = done
        self._pidfd = -1
        self._out = -1
        self._output = bytearray()
        self._timed_out = False
        self._deadline: Deadline | None = None

    @property
    def running(self) -> bool:
        """Neither finished nor cancelled."""
        return self._done is not None

    def cancel(self) -> None:
        """SIGKILL the whole tree; ``done`` is not called. P is still reaped
        through the watch, which also closes its pidfd."""
        if self._done is None:
            return
        self._done = None
        if self._deadline is not None:
            self._deadline.cancel()
        if self._pidfd >= 0:
            _kill(self._pidfd)
        self._close_output()

    # -- start -------------------------------------------------------------
    def _fail_soon(self, error: str) -> None:
        result = ExecResult(None, "", False, error)
        self._deadline = self._loop.call_later(0, lambda: self._finish(result))

    def _started(self, child: Child, out_r: int, watch: Watch, timeout: float | None) -> None:
        self.pid, self._pidfd, self._out = child.pid, child.pidfd, out_r
        os.set_blocking(out_r, False)
        self._loop.register(out_r, self._on_output)
        watch(child, self._on_exit)
        if timeout is not None:
            self._deadline = self._loop.call_later(timeout, self._on_deadline)

    # -- running -------------------------------------------------------------
    def _on_output(self, _events: int) -> None:
        self._drain()

    def _drain(self) -> None:
        """Read what is there; keep the first MAX_OUTPUT bytes and discard the
        rest (reading on, so a chatty command never blocks on a full pipe)."""
        while self._out >= 0:
            try:
                data = os.read(self._out, _READ_CHUNK)
            except BlockingIOError:
                return
            if not data:  # every writer is gone
                self._close_output()
                return
            room = MAX_OUTPUT - len(self._output)
            if room > 0:
                self._output += data[:room]

    def _on_deadline(self) -> None:
        self._deadline = None
        if _has_exited(self._pidfd):
            return  # it beat the deadline; the watch reports it with its exit code
        self._timed_out = True
        _kill(self._pidfd)

    def _on_exit(self, status: ExitStatus) -> None:
        # The whole nested pid namespace is gone by now: the kernel empties it
        # before its PID 1 becomes reapable. So is every writer of the pipe.
        os.close(self._pidfd)
        self._pidfd = -1
        if self._done is None:  # cancelled
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._drain()
        self._close_output()
        output = self._output.decode(errors="replace")
        if self._timed_out:
            self._finish(ExecResult(None, output, True, None))
        else:
            self._finish(ExecResult(status.exit_code, output, False, None))

    def _finish(self, result: ExecResult) -> None:
        done, self._done = self._done, None
        if done is not None:
            done(result)

    def _close_output(self) -> None:
        if self._out >= 0:
            self._loop.unregister(self._out)
            os.close(self._out)
            self._out = -1


def exec_in(  # noqa: PLR0917 - the signature agreed with pod.py
        loop: Loop, watch: Watch, target: ExecTarget, argv: tuple[str, ...],
        timeout: float | None, done: Callable[[ExecResult], None]) -> ExecRun:
    """Start ``argv`` inside the container. ``done`` gets the result later,
    from the loop, exactly once (unless cancelled); ``timeout`` (seconds) is a
    hard deadline for the whole process tree."""
    run = ExecRun(loop, done)
    if not argv or not argv[0]:
        run._fail_soon(f"{_WHAT}: no command given")
        return run
    if any("\0" in a for a in argv) or any("\0" in k + v for k, v in target.env.items()):
        run._fail_soon(f"{_WHAT}: a NUL byte in the command or the environment")
        return run
    try:
        child, out_r = _start(target, argv)
    except StartError as e:
        run._fail_soon(str(e))
        return run
    run._started(child, out_r, watch, timeout)
    return run


def _start(target: ExecTarget, argv: tuple[str, ...]) -> tuple[Child, int]:
    """Start P (see the top); return it with the read end of its output pipe."""
    try:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
    except OSError as e:  # EMFILE, ENFILE
        raise StartError(f"{_WHAT}: make the output pipe", e.errno or 0) from None
    try:
        child, _ = _launch(target, argv, _Stdio(-1, out_w, -1), nested_pid_ns=True)
    except BaseException:
        os.close(out_r)
        raise
    finally:
        os.close(out_w)
    return child, out_r


@frozen
class _Stdio:
    stdin: int  # -1: /dev/null
    stdout: int
    stderr: int  # -1: stdout
    new_session: bool = False
    pty: bool = False  # a new pty instead of the three fds
    pty_size: tuple[int, int] = (0, 0)


def _launch(target: ExecTarget, argv: tuple[str, ...], stdio: _Stdio, *,
            nested_pid_ns: bool) -> tuple[Child, int]:
    """Start the command; raise StartError (P reaped) if it did not get to
    run. Returns it with the pty master (-1 without ``stdio.pty``)."""
    pod_ns = [(target.pod_ns.fds[name], flag) for name, flag in POD_NAMESPACES
              if name in target.pod_ns.fds]
    command = target.command(argv)
    try:
        with pid_namespace_for_children(target.pid_fd):
            try:
                started = msys.exec_start(
                    command, pod_ns=pod_ns, mnt_fd=target.mnt_fd, out_fd=stdio.stdout,
                    keep_caps=KEEP_CAPS if target.keep_caps is None else target.keep_caps,
                    no_new_privs=target.no_new_privs, seccomp=target.seccomp,
                    uid=target.run_as_user, gid=target.run_as_group, in_fd=stdio.stdin,
                    err_fd=stdio.stderr, nested_pid_ns=nested_pid_ns,
                    new_session=stdio.new_session, pty=stdio.pty, pty_size=stdio.pty_size,
                    cgroup_fd=target.cgroup[0] if target.cgroup else -1,
                    cgroup_files=target.cgroup[1] if target.cgroup else None)
            except OSError as e:
                raise _clone_error(e) from None
    except StartError:
        raise
    except OSError as e:  # setns into (or back out of) the container's pid namespace
        raise StartError(f"{_WHAT}: join the container's pid namespace", e.errno or 0) from None
    if started.step != msys.EXEC_OK:  # (mp_exec_start closed the pty already)
        if started.pidfd >= 0:  # P exists but could not exec: reap it here
            _kill(started.pidfd)
            os.waitid(os.P_PIDFD, started.pidfd, os.WEXITED)
            os.close(started.pidfd)
        raise _step_error(started, target, argv[0])
    try:
        return Child(_pidfd_pid(started.pidfd), started.pidfd), started.pty_master
    except BaseException:
        _kill(started.pidfd)
        os.waitid(os.P_PIDFD, started.pidfd, os.WEXITED)
        os.close(started.pidfd)
        if started.pty_master >= 0:
            os.close(started.pty_master)
        raise


def _check_attached(target: ExecTarget, argv: tuple[str, ...]) -> None:
    if not argv or not argv[0]:
        raise StartError(_WHAT, 0, "no command given")
    if any("\0" in a for a in argv) or any("\0" in k + v for k, v in target.env.items()):
        raise StartError(_WHAT, 0, "a NUL byte in the command or the environment")


def start_attached(target: ExecTarget, argv: tuple[str, ...], *, stdin: int, stdout: int,
                   stderr: int) -> Child:
    """Start ``argv`` in the container as ``minipod exec`` does (runc exec's
    way): a plain member of the container's pid namespace (no nested one), a
    child of the caller, on the caller's own fds (``stdin`` -1: /dev/null).

    It gets a session of its own, so it never shares the caller's
    controlling terminal: a terminal it is handed cannot be used to push
    input into the caller's shell (TIOCSTI needs the terminal to be the
    caller's controlling one, or CAP_SYS_ADMIN).

    The caller reaps it (waitid on ``Child.pidfd``) and closes the pidfd.
    Raises StartError when it did not get to run (nothing is left to reap
    then); ExecFailed when the exec itself failed.
    """
    _check_attached(target, argv)
    stdio = _Stdio(stdin, stdout, stderr, new_session=True)
    return _launch(target, argv, stdio, nested_pid_ns=False)[0]


def start_with_pty(target: ExecTarget, argv: tuple[str, ...], *,
                   size: tuple[int, int] = (0, 0)) -> tuple[Child, int]:
    """As start_attached, but on a new pty of the container's own devpts
    (rows, columns: ``size``), its controlling terminal and stdio; returns the
    command and the pty's master (CLOEXEC, the caller's to close)."""
    _check_attached(target, argv)
    stdio = _Stdio(-1, -1, -1, new_session=True, pty=True, pty_size=size)
    return _launch(target, argv, stdio, nested_pid_ns=False)


class ExecFailed(StartError):
    """The command's process was made but could not exec ``argv0``. A shell's
    answer would be ``exit_code``: 127 when it was not found, else 126."""

    def __init__(self, step: str, errno_: int, detail: str, argv0: str) -> None:
        super().__init__(step, errno_, detail)
        self.argv0 = argv0
        self.exit_code = 127 if errno_ == errno.ENOENT else 126


def _clone_error(e: OSError) -> StartError:
    if e.errno == errno.ENOMEM:  # the kernel's answer once a pid ns lost its init
        return StartError(f"{_WHAT}: join the container's pid namespace", e.errno,
                          "it has no init any more (the container exited)")
    return StartError(f"{_WHAT}: start the setup process", e.errno or 0)


_STEPS = {
    msys.EXEC_STEP_MNT_NS: "join the container's mount namespace",
    msys.EXEC_STEP_UNSHARE_PID: "unshare pid namespace",
    msys.EXEC_STEP_CAPS: "drop capabilities",
    msys.EXEC_STEP_SETGROUPS: "set supplementary groups",
    msys.EXEC_STEP_SETGID: "set group",
    msys.EXEC_STEP_SETUID: "set user",
    msys.EXEC_STEP_CLONE: "start the command",
    msys.EXEC_STEP_DEVNULL: "open /dev/null",
    msys.EXEC_STEP_STDIO: "set up stdio",
    msys.EXEC_STEP_CLOSE_RANGE: "mark inherited fds close-on-exec",
    msys.EXEC_STEP_SETSID: "start a new session",
    msys.EXEC_STEP_CTTY: "set the controlling terminal",
    msys.EXEC_STEP_KEYRING: "join a new session keyring",
    msys.EXEC_STEP_NO_NEW_PRIVS: "set no_new_privs",
    msys.EXEC_STEP_SECCOMP: "load the seccomp filter",
}
_PTY_STEPS = ("open /dev/pts/ptmx", "unlock the pty", "open the pty slave",
              "set the pty window size", "give the pty to the user")


def _step_error(started: msys.ExecStart, target: ExecTarget, argv0: str) -> StartError:
    step, arg, err = started.step, started.step_arg, started.errno
    if step == msys.EXEC_STEP_EXEC:
        detail = ("executable file not found in $PATH"
                  if err == errno.ENOENT and "/" not in argv0 else os.strerror(err))
        return ExecFailed(f'{_WHAT}: exec "{argv0}"', err, detail, argv0)
    if step == msys.EXEC_STEP_KILLED:
        return StartError(_WHAT, 0, f"the setup process was killed by signal {arg}")
    if step == msys.EXEC_STEP_POD_NS:
        names = [name for name, _ in POD_NAMESPACES if name in target.pod_ns.fds]
        what = f"join pod {names[arg] if arg < len(names) else arg} namespace"
    elif step == msys.EXEC_STEP_CHDIR:
        what = f"working directory {target.working_dir}"
    elif step == msys.EXEC_STEP_CAPBSET:
        what = f"drop capability {arg} from the bounding set"
    elif step == msys.EXEC_STEP_PTY:
        what = _PTY_STEPS[arg] if 0 <= arg < len(_PTY_STEPS) else "make the pty"
    elif step == msys.EXEC_STEP_CGROUP and target.cgroup is not None:
        what = f"enter cgroup {target.cgroup[1].paths[arg]}"
    else:
        what = _STEPS.get(step, f"step {step}")
    return StartError(f"{_WHAT}: {what}", err)


def _pidfd_pid(pidfd: int) -> int:
    """The pid behind a pidfd, in our pid namespace (the fdinfo "Pid:" line)."""
    fd = os.open(f"/proc/self/fdinfo/{pidfd}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    for line in data.splitlines():
        if line.startswith(b"Pid:"):
            pid = int(line.split()[1])
            if pid > 0:
                return pid
            break
    raise StartError(_WHAT, errno.ESRCH, "the command's process is gone already")


def _has_exited(pidfd: int) -> bool:
    """True once P is a zombie (its pidfd polls readable); it is not reaped."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def _kill(pidfd: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)


__all__ = ["MAX_OUTPUT", "ExecFailed", "ExecResult", "ExecRun", "ExecTarget", "Watch",
           "exec_in", "open_exec_target", "start_attached", "start_with_pty"]
