"""One container run: what to exec, with which environment, in which rootfs.

launch_plan() is pure (image + spec -> LaunchPlan). container_main() is the
child side: join the pod's namespaces, build the rootfs, drop to the
container's identity and capabilities, exec.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

import prctl

from minipod.api.errors import StartError
from minipod.api.expand import build_env, container_env, expand
from minipod.api.model import Container, SecurityContext
from minipod.kernel.image import DEFAULT_PATH, Image
from minipod.kernel.ns import NsFds
from minipod.kernel.rootfs import RootfsPlan, build_rootfs
from minipod.kernel.spawn import Steps, close_fds_except, reset_signals

# The capability set container runtimes give a container by default
# (containerd's and moby's defaults; Kubernetes adds and drops from it).
DEFAULT_CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
)


@dataclass(frozen=True)
class LaunchPlan:
    argv: tuple[str, ...]
    env: dict[str, str]
    working_dir: str
    run_as_user: int | None
    run_as_group: int | None


def launch_plan(container: Container, image: Image, hostname: str,
                pod_security: SecurityContext | None) -> LaunchPlan:
    defaults = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname}
    own_env = container_env(tuple((e.name, e.value) for e in container.env))
    env = build_env(image.env, own_env, defaults)
    argv = resolve_argv(container, image, own_env)
    user, group = _identity(container.security_context, pod_security)
    return LaunchPlan(argv, env, container.working_dir or image.working_dir, user, group)


def resolve_argv(container: Container, image: Image, env: dict[str, str]) -> tuple[str, ...]:
    """Kubernetes' rules: command replaces ENTRYPOINT and drops CMD; args replace CMD.

    Only the manifest's command and args are $(VAR)-expanded (the kubelet's
    ExpandContainerCommandAndArgs); the image's are used as they are. An empty
    list counts as unset, as containerd checks the length, not nil.
    """
    command = tuple(expand(a, env) for a in container.command or ())
    args = tuple(expand(a, env) for a in container.args or ())
    argv = command + args if command else (*image.entrypoint, *(args or image.cmd))
    if not argv:
        raise StartError(f"container {container.name}", 0,
                         "no command specified (the image has no ENTRYPOINT or CMD)")
    return argv


def _identity(container: SecurityContext | None, pod: SecurityContext | None
              ) -> tuple[int | None, int | None]:
    def pick(attr: str) -> int | None:
        for ctx in (container, pod):
            value = getattr(ctx, attr, None) if ctx is not None else None
            if value is not None:
                return int(value)
        return None

    return pick("run_as_user"), pick("run_as_group")


def container_main(plan: LaunchPlan, rootfs: RootfsPlan, pod_ns: NsFds,
                   stdout_fd: int, stderr_fd: int
                   ) -> Callable[[Steps, int], NoReturn]:
    def main(steps: Steps, errfd: int) -> NoReturn:
        steps("join pod namespaces")
        pod_ns.join_pod_namespaces()
        build_rootfs(rootfs, steps)
        steps(f"working directory {plan.working_dir}")
        os.makedirs(plan.working_dir, exist_ok=True)  # k8s creates a missing workingDir
        os.chdir(plan.working_dir)
        steps("set up stdio")
        # A session of its own: a Ctrl-C on the terminal of `minipod up` goes to
        # the supervisor's process group, never straight into a container.
        os.setsid()
        _set_stdio(stdout_fd, stderr_fd)
        close_fds_except((errfd,))
        steps("drop capabilities")
        drop_capabilities()
        steps("set user and group")
        _set_identity(plan.run_as_user, plan.run_as_group)
        reset_signals()
        steps(f"exec {plan.argv[0]}")
        os.execvpe(plan.argv[0], list(plan.argv), plan.env)

    return main


def _set_stdio(stdout_fd: int, stderr_fd: int) -> None:
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(stdout_fd, 1)
    os.dup2(stderr_fd, 2)
    os.close(devnull)


def drop_capabilities() -> None:
    keep = [getattr(prctl, f"CAP_{name}") for name in DEFAULT_CAPABILITIES]
    prctl.capbset.limit(*keep)  # gone for good, also across exec
    prctl.cap_inheritable.limit()
    # effective before permitted: capset(2) refuses effective bits outside permitted
    prctl.cap_effective.limit(*keep)
    prctl.cap_permitted.limit(*keep)


def _set_identity(uid: int | None, gid: int | None) -> None:
    if uid is None and gid is None:
        return
    if gid is None:
        gid = _primary_group(uid or 0)
    os.setgroups([gid])
    os.setgid(gid)
    if uid is not None:
        os.setuid(uid)  # for a non-zero uid the kernel clears the capabilities


def _primary_group(uid: int) -> int:
    """The user's group from the container's /etc/passwd, else 0 (containerd's rule)."""
    try:
        with open("/etc/passwd") as f:
            for line in f:
                fields = line.split(":")
                if len(fields) > 3 and fields[2] == str(uid):
                    return int(fields[3])
    except (OSError, ValueError):
        pass
    return 0
