"""Running under systemd: supervisors in cgroups systemd delegated to them.

On a host whose PID 1 is systemd, every cgroup belongs to a unit, and only
a unit with Delegate=yes may have cgroups made below it by its own
processes (systemd's "cgroup delegation": it then never touches what is
below, and minipod never writes a cgroup systemd did not hand over). So:

- the background supervisor runs as the shipped template unit
  minipod@.service (systemd/minipod@.service; the instance is the state
  directory, escaped as `systemd-escape --path` does), with Delegate=yes and
  KillMode=process: a supervisor that dies leaves its pods running for the
  next one to adopt. Where that unit is not installed, or cannot start (a
  systemd older than 254 cannot put a new main process in a delegated
  cgroup that still holds the pods of the last one), the same settings make
  a transient unit instead (systemd-run);
- a foreground `up` runs in a transient scope with Delegate=yes: it runs
  itself again under `systemd-run --scope`, which keeps its pid, terminal and
  signals, as the kubelet's and podman's systemd drivers ask systemd for a
  delegated scope.

Nothing here talks D-Bus itself: systemctl and systemd-run do.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from minipod.api.errors import MinipodError
from minipod.kernel.delegation import in_delegated_cgroup

UNIT_TEMPLATE = "minipod@.service"
SCOPED = "MINIPOD_SCOPED"  # set in a foreground `up` that systemd-run started again
# what the daemon takes from the environment of the command that starts it:
# every MINIPOD_* setting (the store, the cgroup root, the seccomp profiles,
# the pod network...) but the marker of a foreground scope, and PATH
PASSED_ON_PREFIX = "MINIPOD_"
NOT_PASSED_ON = frozenset({SCOPED})


def passed_on(environ: Mapping[str, str]) -> list[str]:
    """The names of ``environ`` the daemon started under systemd receives."""
    return sorted(key for key in environ
                  if (key.startswith(PASSED_ON_PREFIX) and key not in NOT_PASSED_ON)
                  or key == "PATH")


def running() -> bool:
    """Whether systemd is PID 1 (sd_booted(3))."""
    return os.path.isdir("/run/systemd/system")


def escape_path(path: str) -> str:
    """`systemd-escape --path`: a path as a unit instance name."""
    trimmed = path.strip("/") or "/"
    if trimmed == "/":
        return "-"
    out = []
    for i, char in enumerate(trimmed):
        if char == "/":
            out.append("-")
        elif char.isascii() and (char.isalnum() or char in ":_" or (char == "." and i > 0)):
            out.append(char)
        else:
            out.extend(f"\\x{byte:02x}" for byte in char.encode())
    return "".join(out)


def scope_command(argv: Sequence[str], pid: int) -> list[str]:
    """``argv`` run again in a transient scope systemd delegates to it."""
    return ["systemd-run", "--scope", "--quiet", "--collect", f"--unit=minipod-up-{pid}",
            "--description=minipod up (foreground supervisor)", "-p", "Delegate=yes",
            "--", *argv]


def ensure_scope() -> None:
    """A foreground `up` under systemd, in no delegated cgroup: run again in a
    scope systemd delegates (before anything heavy is loaded: it costs one
    more interpreter start)."""
    if running() and os.environ.get(SCOPED) != "1" and not in_delegated_cgroup():
        rerun_in_scope()


def rerun_in_scope() -> None:
    """exec this very command again under `systemd-run --scope` (same pid);
    MinipodError if that was done already, or cannot be."""
    if os.environ.get(SCOPED) == "1":
        raise MinipodError("systemd did not delegate the scope's cgroup to minipod")
    argv = [sys.executable, *sys.orig_argv[1:]]
    try:
        os.execvpe("systemd-run", scope_command(argv, os.getpid()), {**os.environ, SCOPED: "1"})
    except OSError as e:
        raise MinipodError(f"cannot run under systemd-run: {e.strerror}") from e


def instance_unit(root: Path) -> str:
    return f"minipod@{escape_path(str(root))}.service"


def environment_file(path: Path, environ: Mapping[str, str]) -> None:
    """The daemon's environment (EnvironmentFile=), from the starting command's."""
    lines = [f'{key}="{_quoted(environ[key])}"' for key in passed_on(environ)]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def transient_command(root: Path, log: Path, environ: Mapping[str, str]) -> list[str]:
    """systemd-run of the daemon with the shipped unit's settings."""
    unit = f"minipod-supervisor-{escape_path(str(root))}-{int(time.time() * 1000)}"
    setenv = [f"--setenv={key}={environ[key]}" for key in passed_on(environ)
              if key != "MINIPOD_ROOT"]  # the root we resolved, below
    return ["systemd-run", "--quiet", "--collect", f"--unit={unit}",
            "--description=minipod background supervisor", *setenv,
            f"--setenv=MINIPOD_ROOT={root}",
            "-p", "Type=notify", "-p", "NotifyAccess=main", "-p", "Delegate=yes",
            "-p", "KillMode=process", "-p", f"StandardOutput=append:{log}",
            "-p", "StandardError=inherit",
            "--", sys.executable, "-m", "minipod", "daemon"]


def start_daemon(root: Path, supervisors: Path, environ: Mapping[str, str]) -> None:
    """Start the background supervisor as a delegated unit; return once it
    told systemd it is ready (Type=notify: it answers on its socket then)."""
    env_file = supervisors / "daemon.env"
    environment_file(env_file, environ)
    started = subprocess.run(["systemctl", "start", instance_unit(root)],
                             capture_output=True, text=True)
    if started.returncode == 0:
        return
    transient = subprocess.run(
        transient_command(root, supervisors / "daemon.log", environ),
        capture_output=True, text=True)
    if transient.returncode != 0:
        why = (transient.stderr or started.stderr).strip().splitlines()
        raise MinipodError("the supervisor could not start under systemd"
                           + (f": {why[-1]}" if why else ""))


def notify_ready() -> None:
    """sd_notify(READY=1) when systemd started us as Type=notify."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.sendto(b"READY=1", address)
