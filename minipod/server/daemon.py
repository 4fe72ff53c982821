"""The detached supervisor: `minipod up -d` and `minipod recover`.

One supervisor in the background serves every detached pod of the host (one
epoll loop for all of them). `up -d` validates the manifest and resolves its
images in the foreground (bad input is exit 2 with nothing started), makes
sure the daemon runs, and hands it the manifest over the control socket; the
daemon starts the pods and answers once they are created. A daemon that
starts adopts every pod whose supervisor died. It exits once it has no pods.

Only one daemon runs: it holds an flock on supervisors/daemon.lock for its
whole life, and the socket path is fixed (supervisors/daemon.sock).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from minipod.api.errors import MinipodError
from minipod.api.events import Event, Sink, print_sink
from minipod.kernel import faults
from minipod.kernel.state import root_dir, supervisors_dir
from minipod.loop.eventloop import Loop
from minipod.runtime.adopt import orphaned_services, orphaned_workloads, recover
from minipod.runtime.controller import controller_from_record
from minipod.runtime.supervisor import Supervisor
from minipod.server import systemd
from minipod.server.client import request
from minipod.server.control import ControlServer
from minipod.server.protocol import daemon_socket_path

log = logging.getLogger(__name__)

IDLE_EXIT = 5.0  # seconds a daemon with no pod waits for one before it exits
LOG_MAX = 1 << 20  # bytes of daemon.log before it is rotated to daemon.log.1
LOG_CHECK = 60.0  # seconds between size checks when nothing is printed


def socket_path() -> Path:
    """protocol.daemon_socket_path(), its directory made if missing."""
    supervisors_dir()
    return Path(daemon_socket_path())


def ensure_daemon(timeout: float = 20.0) -> None:
    if _answers():
        return
    if os.geteuid() != 0:
        raise MinipodError("minipod up needs root (namespaces, mounts): run it with sudo")
    if systemd.running():  # a unit systemd delegates cgroups to (server/systemd.py)
        systemd.start_daemon(root_dir(), supervisors_dir(), os.environ)
        _await_answer(timeout)
        return
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the daemon
        os.close(ready_r)
        _become_daemon(ready_w)
    os.close(ready_w)
    with os.fdopen(ready_r, "rb") as ready:
        said = ready.read().decode(errors="replace")
    os.waitpid(pid, 0)  # the first child exits once the daemon is on its way
    if said and said != "ready":
        raise MinipodError(f"the supervisor could not start: {said.strip()}")
    _await_answer(timeout)


def _await_answer(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _answers():  # another daemon won the lock: wait for its socket
        if time.monotonic() > deadline:
            raise MinipodError(f"no supervisor answers on {socket_path()}")
        time.sleep(0.02)


def run_as_unit() -> int:
    """`minipod daemon`: the background supervisor as systemd started it
    (minipod@.service, or its transient twin): in the foreground, its output
    already going to daemon.log, ready told by sd_notify."""
    return serve(-1)


def _ready(ready_w: int) -> None:
    """Tell whoever started us that the socket answers: the pipe of
    ensure_daemon's fork, or systemd."""
    if ready_w < 0:
        systemd.notify_ready()
        return
    os.write(ready_w, b"ready")
    os.close(ready_w)


def _pids_limit() -> int:
    """$MINIPOD_POD_PIDS_LIMIT as it was when this daemon started (-1 if
    unset or unusable: a daemon does not die of a bad setting)."""
    try:
        limit = int(os.environ.get("MINIPOD_POD_PIDS_LIMIT", "-1") or -1)
    except ValueError:
        return -1
    return limit if limit == -1 or limit > 0 else -1


def _answers() -> bool:
    try:
        return bool(request(socket_path(), {"op": "ping"}, timeout=5).get("ok"))
    except (OSError, ValueError, MinipodError):
        return False


def _become_daemon(ready_w: int) -> None:  # pragma: no cover - runs in the child
    """Double fork: the daemon is nobody's child in the shell, in a session of
    its own, with its output in supervisors/daemon.log."""
    code = 1
    try:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        devnull = os.open("/dev/null", os.O_RDWR)
        os.dup2(devnull, 0)
        open_log()
        os.chdir("/")
        code = serve(ready_w)
    except BaseException:
        with contextlib.suppress(OSError):
            os.write(ready_w, traceback.format_exc().encode())
        traceback.print_exc()
    finally:
        os._exit(code)


def log_path() -> Path:
    return supervisors_dir() / "daemon.log"


def open_log() -> None:
    """daemon.log as our stdout and stderr (appended to)."""
    out = os.open(log_path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    for target in (1, 2):
        os.dup2(out, target)
    os.close(out)


def rotate_log(limit: int = LOG_MAX) -> bool:
    """daemon.log past ``limit`` bytes becomes daemon.log.1 (the one before
    goes) and a new one is opened: a supervisor that runs for months keeps
    at most twice ``limit`` of log. True if it rotated."""
    try:
        if os.fstat(1).st_size <= limit:
            return False
        sys.stdout.flush()
        sys.stderr.flush()
        path = log_path()
        os.replace(path, path.with_name(path.name + ".1"))
        open_log()
    except OSError:  # a full disk: the old file is written on, and looked at again
        return False
    return True


def _rotating(sink: Callable[[Event], None]) -> Callable[[Event], None]:
    def write(event: Event) -> None:
        sink(event)
        rotate_log()

    return write


def _every(loop: Loop, seconds: float, action: Callable[[], object]) -> None:
    def tick() -> None:
        action()
        loop.call_later(seconds, tick)

    loop.call_later(seconds, tick)


def _survive(error: BaseException) -> None:
    """A loop callback failed: said in the log; the other pods are served on."""
    log.error("a callback failed; serving on", exc_info=error)


def serve(ready_w: int, idle: float | None = IDLE_EXIT, sink: Sink | None = None) -> int:
    """Be the background supervisor of $MINIPOD_ROOT: adopt what supervisors
    that died left, write "ready" to ``ready_w`` and serve until idle for
    ``idle`` seconds (None: until SIGTERM), its events to ``sink`` (default:
    printed to stdout, the daemon's log). Returns the exit code."""
    lock = os.open(supervisors_dir() / "daemon.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                   0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _ready(ready_w)  # one is running (or starting): use it
        return 0
    if faults.armed():
        print(f"minipod: TEST HOOK ARMED: this supervisor SIGKILLs itself at "
              f"{faults.armed()} (MINIPOD_TEST_CRASH_AT)", file=sys.stderr, flush=True)
    # the daemon's own log is its stdout, rotated; a sink given (minipod.testing's
    # daemon) is the caller's to keep
    sup = Supervisor(Loop(on_error=_survive),
                     sink or _rotating(print_sink(sys.stdout)),
                     echo_logs=False, socket_path=socket_path(), pod_pids_limit=_pids_limit())
    sup.open()
    if sink is None:
        _every(sup.loop, LOG_CHECK, rotate_log)
    control = ControlServer(sup, sup.socket_path)
    control.open()
    try:
        for line in recover(sup):
            print(f"minipod: {line}", file=sys.stderr, flush=True)
            sup.recovered.append(line)
        for service in orphaned_services():  # after the pods: their endpoints
            try:
                sup.services.adopt(service)
            except Exception:
                log.exception("could not adopt service %s", service.key)
        for workload in orphaned_workloads():
            try:
                sup.adopt_controller(controller_from_record(sup, workload))
            except Exception:
                log.exception("could not adopt workload %s/%s", workload.namespace, workload.name)
        _ready(ready_w)
        sup.run_daemon(idle)
    finally:
        control.close()
        sup.close()  # pods stay: a crash leaves them to the next daemon to adopt
    return 0


__all__ = ["ensure_daemon", "run_as_unit", "serve", "socket_path"]
