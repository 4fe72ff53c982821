"""`minipod exec [-i] [-t] POD [-c CONTAINER] [-n NAMESPACE] -- COMMAND [ARG...]`.

kubectl exec without an API server: the client itself (root, no supervisor
involved) reads the pod's record, checks that the recorded pids still name
the processes minipod started (their start times), and starts the command
with the launcher of exec probes (csrc/mp_exec.c, execprobe.start_attached)
in the pod's uts/ipc/net namespaces (the pause process's), the container's
mount namespace and root, and the container's own pid namespace, as a plain
member of it (runc exec's way: the container's `ps` shows it). It runs in
the container's working directory, with its environment, uid, gid,
supplementary groups, capability bounding set, no_new_privs and seccomp
filter, in a session of its own and a new session keyring.
The command is the client's child: the client waits for it and exits with
its exit code (128 + the signal when it was killed).

Environment and working directory are recomputed from the pod's manifest and
image (container.launch_plan, what the pod runner gave the container), as
runc exec takes them from the container's config, rather than read from
/proc/<pid>/environ: a PID 1 may rewrite that memory (nginx and postgres put
their process titles there) or have exec'd with another environment. Only
when that fails (the image was removed since), or when the container's env
has valueFrom or envFrom (resolved by the supervisor at the run's start from
ConfigMaps, Secrets and the downward API), is PID 1's environ used.
Identity, capabilities and no_new_privs come from the kernel
(/proc/<pid>/status), which nothing in the container can rewrite; so does
whether a seccomp filter is on. The filter is compiled again from the
manifest (kernel/seccomp.py keeps it on disk): if it cannot be, the command
is refused rather than run unconfined.

stdio: the client's own fds are handed to the command, no copying (stdin is
/dev/null without -i). With -t the command gets a new pty as stdin, stdout,
stderr and controlling terminal; the client copies bytes between its stdio
and the pty master, with its own terminal in raw mode while -i reads it, and
passes window size changes on.

Signals: SIGINT, SIGQUIT, SIGTERM and SIGHUP sent to the client (a Ctrl-C on
its terminal) are passed on to the command's process group; the client keeps
waiting and reports the command's exit. If the client itself is killed, the
command gets SIGKILL (PR_SET_PDEATHSIG).

Differences from kubectl: -t always gives the command a pty (kubectl gives
none without -i, or when its stdin is no terminal); with -t and a piped
stdin, the end of that input is sent as the pty's EOF character. A command
that cannot be exec'd exits 127 (not found) or 126, with runc's message.
Orphans of the command land on the container's PID 1, as under kubectl (an
exec probe, PID 1 of a nested namespace, takes its tree with it instead).

Nothing heavy is imported at the top: `minipod --help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import os
import select
import signal
import struct
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minipod.api.record import PodRecord, ProcessRef
    from minipod.kernel.spawn import Child
    from minipod.probes.execprobe import ExecTarget

USAGE = ("minipod exec [-h] [-i] [-t] POD [-c CONTAINER] [-n NAMESPACE] "
         "-- COMMAND [ARG...]")
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
_FORWARDED = ("SIGINT", "SIGQUIT", "SIGTERM", "SIGHUP")
_CHUNK = 65536


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "exec", help="run a command in a container of a running pod (kubectl exec)",
        usage=USAGE, description="Run a command in a running container, as kubectl exec.")
    _add_options(parser)
    parser.add_argument("pod", metavar="POD")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]",
                        help="the command and its arguments, after --")
    parser.set_defaults(handler=cmd_exec)


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--stdin", action="store_true",
                        help="pass stdin to the command (else it reads /dev/null)")
    parser.add_argument("-t", "--tty", action="store_true",
                        help="give the command a terminal (a new pty)")
    parser.add_argument("-c", "--container", default=None,
                        help="container name (default: the pod's first container)")
    parser.add_argument("-n", "--namespace", default="default")


def _split_command(args: argparse.Namespace) -> list[str]:
    """The command after `--`, with the options given between POD and `--`.

    argparse (3.11) cannot tell options after POD from the command, so the
    rest after POD arrives whole: `web -c app -- ls -l` gives
    ["-c", "app", "--", "ls", "-l"]. A command never starts with "-", so a
    rest that does holds options up to its first `--`.
    """
    # start-up: imported with the verb that needs it
    from minipod.api.errors import SpecError

    rest: list[str] = list(args.command)
    if rest and rest[0].startswith("-") and rest[0] != "--":
        split = rest.index("--") if "--" in rest else len(rest)
        options = argparse.ArgumentParser(prog="minipod exec", add_help=False, usage=USAGE,
                                          exit_on_error=False)
        _add_options(options)
        try:
            options.parse_args(rest[:split], namespace=args)
        except argparse.ArgumentError as e:
            raise SpecError(f"exec: {e}") from None
        rest = rest[split + 1:]
    elif rest[:1] == ["--"]:
        rest = rest[1:]
    if not rest or not rest[0]:
        raise SpecError("exec: you must specify at least one command for the container")
    return rest


def cmd_exec(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.probes.execprobe import ExecFailed

    argv = tuple(_split_command(args))
    record = _read_record(args.namespace, args.pod)
    container = _pick_container(record, args.pod, args.container)
    target = _open_target(record, args.namespace, args.pod, container)
    sys.stdout.flush()
    sys.stderr.flush()
    # an inherited SIG_IGN would have the kernel reap the command itself, and
    # its exit status would be lost (waitid: ECHILD)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        if args.tty:
            code = _run_with_pty(target, argv, interactive=args.stdin)
        else:
            code = _run(target, argv, interactive=args.stdin)
    except ExecFailed as e:
        # runc's wording, which kubectl shows; the code a shell would give
        detail = str(e.strerror)
        print(f'error: exec failed: unable to start container process: exec: "{e.argv0}": '
              f"{detail[:1].lower()}{detail[1:]}", file=sys.stderr)
        return e.exit_code
    finally:
        target.close()
        target.pod_ns.close()
    if code != 0:
        print(f"command terminated with exit code {code}", file=sys.stderr)  # kubectl's
    return code


# -- the pod and the container ------------------------------------------------

def _read_record(namespace: str, name: str) -> PodRecord:
    # start-up: imported with the verb that needs it
    from minipod.api.errors import StateError
    from minipod.api.record import PodRecord
    from minipod.kernel.state import pod_key, read_json, root_dir

    path = root_dir() / "pods" / pod_key(namespace, name) / "pod.json"  # creates nothing
    try:
        record = PodRecord.from_json(read_json(path), str(path))
    except FileNotFoundError:
        raise StateError(f'pods "{name}" not found' + (
            f' in namespace "{namespace}"' if namespace != "default" else "")) from None
    except ValueError as e:  # not JSON, or a RecordError (a ValueError too)
        raise StateError(f"pod {namespace}/{name}: unreadable record {path}: {e}") from None
    phase = record.phase
    if phase in ("Succeeded", "Failed"):
        raise StateError("cannot exec into a container in a completed pod; "
                         f"current phase is {phase}")
    return record


def _container_names(record: PodRecord) -> tuple[list[str], list[str]]:
    """(app containers, init containers), in manifest order."""
    spec = record.api_object.get("spec", {})
    apps = [c["name"] for c in spec.get("containers", [])]
    inits = [c["name"] for c in spec.get("initContainers", [])]
    if not apps:  # a record without the API object: its own container table
        apps = [n for n, c in record.containers.items() if not c.init]
        inits = [n for n, c in record.containers.items() if c.init]
    return apps, inits


def _pick_container(record: PodRecord, pod: str, wanted: str | None) -> str:
    """kubectl's podcmd.FindOrDefaultContainerByName: -c, else the
    default-container annotation, else the first app container (saying so
    when there was a choice)."""
    # start-up: imported with the verb that needs it
    from minipod.api.errors import StateError

    apps, inits = _container_names(record)
    everything = ", ".join(apps + [f"{n} (init)" for n in inits])
    if wanted is None:
        annotations = record.api_object.get("metadata", {}).get("annotations", {})
        default = annotations.get(DEFAULT_CONTAINER_ANNOTATION)
        if default in apps or default in inits:
            wanted = default
        elif apps:
            wanted = apps[0]
            if len(apps) > 1 or inits:
                print(f'Defaulted container "{wanted}" out of: {everything}', file=sys.stderr)
        else:
            raise StateError(f"pod {pod} does not have any containers")
    elif wanted not in apps and wanted not in inits:
        raise StateError(f"container {wanted} is not valid for pod {pod} out of: {everything}")
    entry = record.container(wanted)
    if entry is None or not entry.running or entry.process is None:
        state = entry.state if entry is not None else "not started"
        reason = f", {entry.reason}" if entry is not None and entry.reason else ""
        raise StateError(f"container {wanted} is not running in pod {pod} ({state}{reason})")
    return wanted


# -- the target: namespaces, environment, identity ----------------------------

def _open_target(record: PodRecord, namespace: str, name: str,
                 container: str) -> ExecTarget:
    """Open everything the launcher needs while both processes are known to be
    the recorded ones: a pidfd is opened and *then* the start time compared
    (a reused pid fails the comparison), /proc is read, and last the pidfds
    are checked to be alive still, so what /proc/<pid> showed was theirs."""
    # start-up: imported with the verb that needs it
    from minipod.api.errors import StateError
    from minipod.kernel import cgroups
    from minipod.kernel.ns import POD_NAMESPACES, NsFds
    from minipod.probes.execprobe import ExecTarget, exec_cgroup

    entry = record.containers[container]
    what = f"container {container} is not running in pod {name}"
    with contextlib.ExitStack() as stack:
        pause_fd = _open_same_process(record.pause, f"pod {name} has no sandbox")
        stack.callback(os.close, pause_fd)
        pid_fd = _open_same_process(entry.process, what)
        stack.callback(os.close, pid_fd)
        assert entry.process is not None and entry.process.pid is not None
        assert record.pause.pid is not None
        pid = entry.process.pid
        pod_ns = NsFds.open(record.pause.pid, tuple(n for n, _ in POD_NAMESPACES))
        stack.callback(pod_ns.close)
        mnt = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        stack.callback(os.close, mnt)
        pidns = os.open(f"/proc/{pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        stack.callback(os.close, pidns)
        status = _status(pid)
        environ = _environ(pid)
        if _has_exited(pid_fd) or _has_exited(pause_fd):
            raise StateError(what)
        env, working_dir, seccomp = _env_and_working_dir(record, namespace, name, container,
                                                         environ)
        # The kernel says whether the container has a filter; the filter
        # itself is made again from the manifest, as runc exec takes it from
        # the container's config. Without it the command does not run.
        if status.get("Seccomp", "0") == "0":
            seccomp = None
        elif not isinstance(seccomp, bytes):
            raise StateError(f"container {container} of pod {name} runs under a seccomp "
                             f"filter that cannot be made again ({seccomp}); not running "
                             "the command without it")
        placement = None
        if record.cgroup:  # the command is the container's, in its cgroup
            cgroup = cgroups.Cgroup(cgroups.reader(), f"{record.cgroup}/{container}")
            cgroup.open()
            stack.callback(cgroup.close)
            placement = exec_cgroup(cgroup.placement())
        target = ExecTarget(pod_ns, mnt, pidns, env, working_dir,
                            run_as_user=int(status["Uid"].split()[0]),
                            run_as_group=int(status["Gid"].split()[0]),
                            keep_caps=int(status["CapBnd"], 16),
                            groups=tuple(int(g) for g in status.get("Groups", "").split()),
                            no_new_privs=status.get("NoNewPrivs", "0") == "1",
                            seccomp=seccomp, cgroup=placement)
        stack.pop_all()
        os.close(pause_fd)
        os.close(pid_fd)
        if placement is not None:
            cgroup.close()  # the target has its own copy
        return target
    raise AssertionError("unreachable")  # pragma: no cover - `with` re-raises


def open_exec_target(record: PodRecord, namespace: str, name: str,
                     container: str) -> ExecTarget:
    """What `exec` runs a command in: ``container`` of the pod ``record``
    describes, checked to be the recorded processes (StateError if it is not
    running). For minipod.testing's exec, which captures the output; the
    caller closes the target and its ``pod_ns``."""
    return _open_target(record, namespace, name, container)


def _open_same_process(identity: ProcessRef | None, what: str) -> int:
    # start-up: imported with the verb that needs it
    from minipod.api.errors import StateError
    from minipod.kernel.proc import same_process

    pid, start = (identity.pid, identity.start_time) if identity else (None, None)
    if not pid or start is None:
        raise StateError(what)
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise StateError(what) from None
    if identity is None or not same_process(identity):
        os.close(pidfd)
        raise StateError(f"{what} (pid {pid} is another process now)")
    return pidfd


def _has_exited(pidfd: int) -> bool:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return {key: value.strip() for key, _, value in (line.partition(":") for line in f)}


def _environ(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:
        return {}  # only a fallback (see the top)
    env = {}
    for item in data.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key:
            env[key.decode(errors="surrogateescape")] = value.decode(errors="surrogateescape")
    return env


def _env_and_working_dir(record: PodRecord, namespace: str, name: str, container: str,
                         environ: dict[str, str]
                         ) -> tuple[dict[str, str], str, bytes | Exception | None]:
    """What launch_plan gave the container (see the top): its environment,
    working directory and seccomp filter (None: none); PID 1's environ, the
    manifest's workingDir (or /) and the error if the plan cannot be made
    again."""
    # start-up: imported with the verb that needs it
    import json
    import logging

    # start-up: imported with the verb that needs it
    from minipod.api.errors import MinipodError
    from minipod.api.manifest import parse_pods
    from minipod.kernel.image import resolve
    from minipod.kernel.launch import launch_plan
    from minipod.kernel.state import pod_key, root_dir

    spec = record.api_object.get("spec", {})
    try:
        # nodeName is the supervisor's (podview), not the manifest's: as adopt does
        manifest = {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {k: v for k, v in spec.items() if k != "nodeName"}}
        pod = parse_pods(json.dumps(manifest), f"pod {namespace}/{name}")[0]
        found = [c for c in (*pod.spec.containers, *pod.spec.init_containers)
                 if c.name == container]
        hostname_file = root_dir() / "pods" / pod_key(namespace, name) / "etc" / "hostname"
        try:
            hostname = hostname_file.read_text().strip()
        except OSError:
            hostname = pod.spec.hostname or name[:63].rstrip("-.")
        plan = launch_plan(found[0], resolve(found[0].image), hostname,
                           pod.spec.security_context)
        # valueFrom and envFrom were resolved by the supervisor when the run
        # started (ConfigMaps, Secrets, the downward API): PID 1's environ
        # has them, the manifest alone does not
        resolved = found[0].env_from or any(e.value_from is not None for e in found[0].env)
        return (environ if resolved and environ else dict(plan.env)), plan.working_dir, \
            plan.seccomp
    except (MinipodError, IndexError) as e:
        logging.getLogger(__name__).debug("using PID 1's environment: %s", e)
        error: Exception = e
    spec_container: dict[str, Any] = next((c for c in (*spec.get("containers", []),
                                                       *spec.get("initContainers", []))
                                           if c.get("name") == container), {})
    return environ, spec_container.get("workingDir") or "/", error


# -- running it ------------------------------------------------------------------

def _exit_code(child: Child) -> int:
    result = os.waitid(os.P_PIDFD, child.pidfd, os.WEXITED)
    assert result is not None
    if result.si_code == os.CLD_EXITED:
        return result.si_status
    return 128 + result.si_status  # killed (or dumped core)


def _run(target: ExecTarget, argv: tuple[str, ...], *, interactive: bool) -> int:
    """The command on the client's own stdio; wait for it."""
    # start-up: imported with the verb that needs it
    from minipod.probes.execprobe import start_attached

    with _SignalForwarder() as forwarder:
        child = start_attached(target, argv, stdin=0 if interactive else -1, stdout=1,
                               stderr=2)
        try:
            forwarder.started(child)
            return _exit_code(child)
        finally:
            os.close(child.pidfd)


class _SignalForwarder:
    """Pass SIGINT, SIGQUIT, SIGTERM and SIGHUP on to the command's process
    group (setsid made the command its leader; its pid, and so the group id,
    cannot be reused before we reap it). Enter it before starting the
    command: until ``started`` these signals stay blocked, so one that comes
    in between is passed on, not lost (the command itself starts with an
    empty mask). ``extra`` handlers are installed the same way."""

    def __init__(self, extra: dict[int, Callable[[int, object], None]] | None = None) -> None:
        self._pgid = 0
        self._handlers: dict[int, Callable[[int, object], None]] = {
            getattr(signal, name): self._forward for name in _FORWARDED}
        self._handlers.update(extra or {})
        self._saved: dict[int, Any] = {}
        self._mask: set[int | signal.Signals] = set()

    def __enter__(self) -> _SignalForwarder:
        self._mask = signal.pthread_sigmask(signal.SIG_BLOCK, self._handlers)
        self._saved = {signo: signal.signal(signo, handler)
                       for signo, handler in self._handlers.items()}
        return self

    def started(self, child: Child) -> None:
        self._pgid = child.pid
        signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)  # pending ones run now

    def __exit__(self, *_exc: object) -> None:
        self._pgid = 0
        for signo, old in self._saved.items():
            signal.signal(signo, old)
        signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)

    def _forward(self, signo: int, _frame: object) -> None:
        if self._pgid:
            try:
                os.killpg(self._pgid, signo)
            except ProcessLookupError:
                pass  # every member has exited; the wait reports it


# -- -t: a pty -----------------------------------------------------------------

def _run_with_pty(target: ExecTarget, argv: tuple[str, ...], *, interactive: bool) -> int:
    # start-up: imported with the verb that needs it
    import termios

    # start-up: imported with the verb that needs it
    from minipod.probes.execprobe import start_with_pty

    terminal = next((fd for fd in (0, 1, 2) if os.isatty(fd)), None)
    master = -1

    def resize(_signo: int, _frame: object) -> None:
        rows, cols = _window_size(terminal)
        if master >= 0 and (rows or cols):
            with contextlib.suppress(OSError):  # the command has gone
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    raw = interactive and os.isatty(0)
    with _SignalForwarder({signal.SIGWINCH: resize}) as forwarder:
        child, master = start_with_pty(target, argv, size=_window_size(terminal))
        try:
            saved = termios.tcgetattr(0) if raw else None
            try:
                forwarder.started(child)
                if raw:
                    # start-up: imported with the verb that needs it
                    import tty

                    tty.setraw(0, termios.TCSANOW)
                _copy_until_exit(master, child, interactive=interactive, raw=raw)
            except BaseException:
                with contextlib.suppress(ProcessLookupError):  # nobody serves its pty now
                    signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
                raise
            finally:
                if saved is not None:
                    termios.tcsetattr(0, termios.TCSADRAIN, saved)
                code = _exit_code(child)
                os.close(child.pidfd)
        finally:
            os.close(master)
    return code


def _window_size(terminal: int | None) -> tuple[int, int]:
    """(rows, columns) of our terminal; (0, 0) when there is none."""
    # start-up: imported with the verb that needs it
    import termios

    if terminal is None:
        return 0, 0
    try:
        rows, cols, _, _ = struct.unpack(
            "HHHH", fcntl.ioctl(terminal, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return 0, 0
    return rows, cols


def _copy_until_exit(master: int, child: Child, *, interactive: bool, raw: bool) -> None:
    """Copy stdin to the pty and the pty to stdout until the command has
    exited and its output is drained (a non-blocking read of the master
    flushes the pty's pending buffer first, so nothing written before the
    exit is lost; a background process that keeps the pty open does not
    keep us here)."""
    # start-up: imported with the verb that needs it
    import termios

    os.set_blocking(master, False)
    pending = bytearray()  # stdin bytes the pty has not taken yet
    reading_stdin = interactive
    last_byte = b"\n"
    while True:
        poller = select.poll()
        poller.register(master, select.POLLIN | (select.POLLOUT if pending else 0))
        if reading_stdin and not pending:
            poller.register(0, select.POLLIN)
        poller.register(child.pidfd, select.POLLIN)
        ready = dict(poller.poll())
        exited = child.pidfd in ready
        if exited or ready.get(master, 0) & ~select.POLLOUT:
            open_ = _drain(master)
            if exited:
                return
            if not open_:
                break
        if pending and ready.get(master, 0) & select.POLLOUT:
            with contextlib.suppress(BlockingIOError):
                del pending[:os.write(master, pending)]
        if ready.get(0):
            try:
                data = os.read(0, _CHUNK)
            except OSError:  # EIO: our terminal is gone
                data = b""
            if data:
                pending += data
                last_byte = data[-1:]
            else:
                reading_stdin = False
                if not raw:  # the end of a piped stdin: the pty's end-of-file character,
                    # once more after a partial line (the first only ends that line)
                    eof = termios.tcgetattr(master)[6][termios.VEOF]
                    pending += eof if last_byte == b"\n" else eof * 2
    # every slave fd is closed, but the command still runs: wait for its exit
    select.select([child.pidfd], [], [])


def _drain(master: int) -> bool:
    """Copy what the pty has to stdout; False once it reports EIO (closed)."""
    while True:
        try:
            data = os.read(master, _CHUNK)
        except BlockingIOError:
            return True
        except OSError as e:
            if e.errno == errno.EIO:
                return False
            raise
        if not data:
            return False
        _write_all(1, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [])
        except BrokenPipeError:
            return  # nobody reads our output any more: drop it, keep serving the command


__all__ = ["cmd_exec", "open_exec_target", "register"]
