"""One container run: what to exec, with which environment, in which rootfs,
and its start.

launch_plan() is pure (image + spec -> LaunchPlan), and so is setup_ops():
the whole start of a container as a list of ops (rootfs.py), from joining
the pod's namespaces to the exec. start_container() hands that list to
csrc/mp_start.c, which runs it in a child that shares our memory until it
execs (CLONE_VM | CLONE_VFORK, posix_spawn's way): the interpreter is never
forked, and no Python runs between clone and exec. A failure comes back as
the op that failed and its errno, raised as StartError(f"{what}: {op.step}",
errno, message).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from dataclasses import field
from typing import Any, assert_never

from minipod.api import security
from minipod.api.errors import ContainerConfigError, StartError
from minipod.api.expand import build_env, container_env, expand
from minipod.api.frozen import frozen
from minipod.api.model import Container, SecurityContext

# cffi module; like minipod.kernel.sys, a direct user of the C half (csrc/README)
from minipod.kernel import _native  # type: ignore[attr-defined]  # isort: skip
from minipod.kernel.identity import host_devices, resolve_identity
from minipod.kernel.image import DEFAULT_PATH, Image
from minipod.kernel.ns import NsFds, pid_namespace_for_children
from minipod.kernel.rootfs import (
    Chdir,
    CloneTree,
    CloseSources,
    DropCaps,
    EnterCgroup,
    Exec,
    HostDevice,
    MakeDevice,
    MaskPath,
    Mount,
    MountFs,
    MoveTree,
    NoNewPrivs,
    Op,
    OpenPath,
    Overlay,
    PivotRoot,
    ReadonlyPath,
    ReadonlyRoot,
    RootfsPlan,
    Seccomp,
    SessionKeyring,
    SetIdentity,
    SetNs,
    Stdio,
    Symlink,
    Unshare,
    rootfs_ops,
    run_dir_ops,
)
from minipod.kernel.seccomp import ProfileError, localhost, runtime_default
from minipod.kernel.spawn import Child

_lib = _native.lib
_ffi = _native.ffi

# The capability set a container gets by default: containerd 2's (see
# api/security.py), as the kernel's bit mask.
DEFAULT_CAPABILITIES = security.DEFAULT_CAPABILITIES
KEEP_CAPS = security.capability_mask(security.capability_set(None))
SETID_CAPS = security.capability_mask(frozenset({"CAP_SETUID", "CAP_SETGID"}))


@frozen
class LaunchPlan:
    """How one container runs: its command, environment and working
    directory, and everything its securityContext decides (api/security.py).
    The defaults are a container without a securityContext."""

    argv: tuple[str, ...]
    env: dict[str, str]
    working_dir: str
    run_as_user: int | None  # None: keep the supervisor's (tests only)
    run_as_group: int | None
    own_env: Mapping[str, str] = field(default_factory=dict)  # the manifest's, resolved
    # setgroups' list (None: just the group): the group, those of the image's
    # /etc/group that list the user, fsGroup and supplementalGroups, sorted
    # (containerd's WithAdditionalGIDs and mergeGids)
    groups: tuple[int, ...] | None = None
    keep_caps: int = KEEP_CAPS
    no_new_privs: bool = False
    seccomp: bytes | None = field(default=None, repr=False)  # the BPF program; None: none
    privileged: bool = False
    read_only_root: bool = False
    masked: tuple[str, ...] = security.MASKED_PATHS
    readonly: tuple[str, ...] = security.READONLY_PATHS
    host_devices: tuple[HostDevice, ...] = ()  # a privileged container's


def launch_plan(container: Container, image: Image, hostname: str,
                pod_security: SecurityContext | None,
                env: Mapping[str, str] | None = None, *, pod_ref: str = "") -> LaunchPlan:
    """The plan, or ContainerConfigError: runAsNonRoot and a container that
    would run as root, or a seccomp profile that cannot be had. ``env``: the
    container's own variables with valueFrom and envFrom resolved
    (api/downward.py); None takes the manifest's literal values. ``pod_ref``
    is the kubelet's name of the pod in the messages ("name_ns(uid)")."""
    defaults = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname}
    own_env = dict(env) if env is not None else container_env(
        tuple((e.name, e.value) for e in container.env if e.value_from is None))
    full_env = build_env(image.env, own_env, defaults)
    argv = resolve_argv(container, image, own_env)
    eff = security.effective(container, pod_security)
    # the kubelet's view of the image's User (the CRI's uid, or a username
    # when the user part is a name) for runAsNonRoot; no User is root
    user_part = image.user.partition(":")[0]
    image_uid = int(user_part) if user_part.isdigit() else None if user_part else 0
    refused = security.run_as_non_root_error(
        eff, image_uid if eff.run_as_user is None else eff.run_as_user,
        "" if user_part.isdigit() else user_part, pod_ref, container.name)
    if refused is not None:
        raise ContainerConfigError(refused)
    who = resolve_identity(container.name, eff, pod_security, image)
    return LaunchPlan(
        argv, full_env, container.working_dir or image.working_dir, who.uid, who.gid, own_env,
        who.groups,
        keep_caps=security.capability_mask(eff.capabilities),
        no_new_privs=eff.no_new_privs,
        seccomp=seccomp_program(eff),
        privileged=eff.privileged,
        read_only_root=eff.read_only_root,
        masked=eff.masked,
        readonly=eff.readonly,
        host_devices=host_devices() if eff.privileged else (),
    )


def seccomp_program(eff: security.Effective) -> bytes | None:
    """The container's seccomp filter (kernel/seccomp.py), or None."""
    try:
        if eff.seccomp == "RuntimeDefault":
            return runtime_default(eff.capabilities)
        if eff.seccomp == "Localhost" and eff.seccomp_localhost:
            return localhost(eff.seccomp_localhost, eff.capabilities)
    except ProfileError as e:
        # containerd's words when it cannot make the container's spec
        raise ContainerConfigError(f"failed to generate seccomp spec opts: {e}",
                                   "CreateContainerError") from None
    return None


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


Placement = tuple[int, tuple[str, ...]]  # kernel/cgroups.py's Cgroup.placement()


def setup_ops(plan: LaunchPlan, rootfs: RootfsPlan, pod_ns: NsFds,  # noqa: PLR0917
              stdout_fd: int, stderr_fd: int, cgroup_files: tuple[str, ...] = ()) -> list[Op]:
    """Everything the child does from clone to exec, in order: enter the
    container's cgroup (before anything else, so that nothing it does is
    unaccounted), join the pod's namespaces, build the rootfs (rootfs_ops:
    mounts, masks), enter the working directory, make the root read-only if
    asked, set up stdio, join a new session keyring, drop capabilities, take
    the container's identity, set no_new_privs, load the seccomp filter, exec.

    The filter goes where runc puts it: right before exec with
    no_new_privs; without, before the capabilities are dropped, because
    loading it then needs CAP_SYS_ADMIN (and the filter sees the last
    steps: capset, setgroups, setresuid, rt_sigaction, execve, which every
    profile worth the name allows)."""
    ops: list[Op] = [EnterCgroup(cgroup_files)] if cgroup_files else []
    ops += [*pod_ns.join_ops(), *rootfs_ops(rootfs), Chdir(plan.working_dir)]
    if plan.read_only_root:
        ops.append(ReadonlyRoot())
    ops += [Stdio(stdout_fd, stderr_fd), SessionKeyring()]
    if plan.seccomp is not None and not plan.no_new_privs:
        ops.append(Seccomp(plan.seccomp))
    if plan.run_as_user is not None or plan.run_as_group is not None:
        # runc's order: the bounding set, then the identity (with CAP_SETUID
        # and CAP_SETGID for it, even when the container keeps neither), then
        # the effective and permitted sets
        ops += [DropCaps(plan.keep_caps, SETID_CAPS & ~plan.keep_caps),
                SetIdentity(plan.run_as_user, plan.run_as_group, plan.groups, plan.keep_caps)]
    else:
        ops.append(DropCaps(plan.keep_caps))
    if plan.no_new_privs:
        ops.append(NoNewPrivs())
        if plan.seccomp is not None:
            ops.append(Seccomp(plan.seccomp))
    ops.append(Exec(plan.argv, tuple(f"{k}={v}" for k, v in plan.env.items()),
                    plan.env.get("PATH", os.defpath)))  # the PATH os.execvpe would search
    return ops


def start_container(  # noqa: PLR0917 - the signature agreed with pod.py
        plan: LaunchPlan, rootfs: RootfsPlan, pod_ns: NsFds, pidns_fd: int | None,
        stdout_fd: int, stderr_fd: int, what: str, cache: LaunchCache | None = None,
        cgroup: Placement | None = None) -> Child:
    """Start the container's command in the pod's namespaces (pidns_fd None:
    as PID 1 of a new pid namespace), in ``cgroup`` (born there by clone3 on
    cgroup v2, else entering it as its first op); return once it has
    exec'd. ``cache``, the container's own, keeps its ops in C from one
    start to the next."""
    cgroup_fd, cgroup_files = cgroup if cgroup is not None else (-1, ())
    table = (cache or LaunchCache()).table(plan, rootfs, pod_ns, stdout_fd, stderr_fd,
                                           cgroup_files)
    spec = table.spec
    spec.cgroup_fd = cgroup_fd
    with pid_namespace_for_children(pidns_fd):  # None: a new one
        ret = _lib.mp_start(spec)
    if ret < 0:
        raise StartError(f"{what}: clone", -ret, os.strerror(-ret))
    if spec.failed:
        op = table.ops[spec.op] if 0 <= spec.op < len(table.ops) else None
        path = op.path if op is not None else None
        message = os.strerror(spec.err) + (f": {path}" if path else "")
        if isinstance(op, MoveTree) and op.not_in_proc and spec.err == errno.EPERM:
            message = f"{path} is inside /proc: no volume is mounted there (as runc refuses)"
        raise StartError(f"{what}: {op.step if op is not None else 'start'}", spec.err, message)
    return Child(spec.pid, spec.pidfd)


class LaunchCache:
    """One container's setup ops as mp_start reads them, kept from one start
    to the next: a restart is on the supervisor's hot path, and laying out
    the table takes some seventy cffi allocations. It is laid out anew when
    what it was made from changes (the plan, the image, the binds, the pod's
    /dev/shm or namespaces); otherwise a start only puts its own run's ops
    into it: the overlay and pivot_root of its directories (run_dir_ops), and
    its stdio fds."""

    def __init__(self) -> None:
        self._inputs: tuple[object, ...] | None = None
        self._table: _Table | None = None

    def table(self, plan: LaunchPlan, rootfs: RootfsPlan, pod_ns: NsFds,  # noqa: PLR0917
              stdout_fd: int, stderr_fd: int, cgroup_files: tuple[str, ...] = ()) -> _Table:
        # by identity first (tuple ==): a restart passes the same plan and binds
        inputs = (plan, rootfs.lower, rootfs.shm_dir, rootfs.binds, tuple(pod_ns.fds.items()),
                  cgroup_files)
        table = self._table
        if table is None or inputs != self._inputs:
            table = self._table = _Table(setup_ops(plan, rootfs, pod_ns, stdout_fd, stderr_fd,
                                                   cgroup_files), rootfs)
            self._inputs = inputs
        else:
            table.put_run(rootfs, stdout_fd, stderr_fd)
        return table


class _Table:
    """A list of ops as a struct mp_start_op[] (csrc/mp_start.h), with the
    buffers it points into and the spec that hands it to mp_start."""

    def __init__(self, ops: list[Op], rootfs: RootfsPlan) -> None:
        if not ops or not isinstance(ops[-1], Exec):
            raise ValueError("a container's ops end in its exec")
        self.ops = ops
        self._c = _ffi.new("struct mp_start_op[]", len(ops))
        self._buffers = [_put(self._c[i], op) for i, op in enumerate(ops)]
        slots = 1 + max((op.slot for op in ops if isinstance(op, OpenPath | CloneTree)),
                        default=0)
        self._fds = _ffi.new("int[]", slots)  # the child's scratch
        self.spec = _ffi.new("struct mp_start_spec *")
        self.spec.ops, self.spec.n_ops = self._c, len(ops)
        self.spec.fds, self.spec.n_fds = self._fds, slots
        self.spec.cgroup_fd = -1  # (start_container sets it for each start)
        # where the ops a restart changes are: its directories' (the lower
        # ones are among the table's inputs: the same for every run it serves)
        self._run_at = [ops.index(op) for op in run_dir_ops(rootfs)]
        self._stdio_at = next(i for i, op in enumerate(ops) if isinstance(op, Stdio))

    def put(self, index: int, op: Op) -> None:
        if op != self.ops[index]:
            self.ops[index] = op
            self._buffers[index] = _put(self._c[index], op)

    def put_run(self, rootfs: RootfsPlan, stdout_fd: int, stderr_fd: int) -> None:
        run: tuple[Op, ...] = run_dir_ops(rootfs)
        for index, op in zip(self._run_at, run, strict=True):
            self.put(index, op)
        self.put(self._stdio_at, Stdio(stdout_fd, stderr_fd))


_MAKE = {"": _lib.MP_MAKE_NONE, "dirs": _lib.MP_MAKE_DIRS, "dir": _lib.MP_MAKE_DIR,
         "file": _lib.MP_MAKE_FILE}


def _put(c: Any, op: Op) -> list[object]:  # noqa: PLR0912, PLR0915 - a case per op kind
    """Write ``op`` into ``c``, a struct mp_start_op; return the buffers it
    now points into (theirs to keep alive)."""
    buffers: list[object] = []

    def cstr(value: str | None) -> Any:
        if value is None:
            return _ffi.NULL
        buffer = _ffi.new("char[]", os.fsencode(value))
        buffers.append(buffer)
        return buffer

    def carray(values: tuple[str, ...]) -> Any:
        array = _ffi.new("char *[]", [*(cstr(v) for v in values), _ffi.NULL])
        buffers.append(array)
        return array

    match op:
        case SetNs():
            c.kind = _lib.MP_OP_SETNS
            c.setns.fd, c.setns.nstype = op.fd, op.nstype
        case Unshare():
            c.kind = _lib.MP_OP_UNSHARE
            c.unshare.flags = op.flags
        case OpenPath():
            c.kind = _lib.MP_OP_OPEN
            c.open.path, c.open.slot = cstr(op.path), op.slot
        case CloneTree():
            c.kind = _lib.MP_OP_CLONE
            c.clone.path, c.clone.slot = cstr(op.source), op.slot
            c.clone.attrs, c.clone.recursive = op.attrs, op.recursive
        case Mount():
            c.kind = _lib.MP_OP_MOUNT
            m = c.mount
            m.source, m.target, m.fstype = cstr(op.source), cstr(op.target), cstr(op.fstype)
            m.flags, m.data = op.flags, cstr(op.data)
        case Overlay():
            c.kind = _lib.MP_OP_OVERLAY
            lower = _ffi.new("int[]", list(op.lower_slots))
            buffers.append(lower)
            o = c.overlay
            o.target, o.flags = cstr(op.target), op.flags
            o.lower_slots, o.n_lower = lower, len(op.lower_slots)
            o.upper_slot, o.work_slot = op.upper_slot, op.work_slot
        case PivotRoot():
            c.kind = _lib.MP_OP_PIVOT_ROOT
            c.pivot_root.new_root = cstr(op.new_root)
        case MountFs():
            c.kind = _lib.MP_OP_MOUNT_FS
            f = c.mount_fs
            f.fstype, f.source, f.options = cstr(op.fstype), cstr(op.source), cstr(op.options)
            f.attrs, f.target, f.make, f.mode = op.attrs, cstr(op.target), _MAKE[op.make], op.mode
        case MoveTree():
            c.kind = _lib.MP_OP_MOVE
            mv = c.move
            mv.slot, mv.target, mv.make, mv.mode = op.slot, cstr(op.target), _MAKE[op.make], op.mode
            mv.not_in_proc = op.not_in_proc
        case Symlink():
            c.kind = _lib.MP_OP_SYMLINK
            c.symlink.target, c.symlink.linkpath = cstr(op.target), cstr(op.link)
        case MakeDevice():
            c.kind = _lib.MP_OP_MKNOD
            d = op.device
            c.mknod.path, c.mknod.mode, c.mknod.rdev = cstr(d.path), d.mode, d.rdev
            c.mknod.uid, c.mknod.gid = d.uid, d.gid
        case CloseSources():
            c.kind = _lib.MP_OP_CLOSE_SOURCES
        case MaskPath():
            c.kind = _lib.MP_OP_MASK
            c.mask.path = cstr(op.target)
        case ReadonlyPath():
            c.kind = _lib.MP_OP_READONLY
            c.mask.path = cstr(op.target)
        case ReadonlyRoot():
            c.kind = _lib.MP_OP_READONLY_ROOT
        case Chdir():
            c.kind = _lib.MP_OP_CHDIR
            c.chdir.path, c.chdir.make, c.chdir.mode = cstr(op.path), _MAKE[op.make], op.mode
        case Stdio():
            c.kind = _lib.MP_OP_STDIO
            c.stdio.out_fd, c.stdio.err_fd = op.stdout_fd, op.stderr_fd
        case SessionKeyring():
            c.kind = _lib.MP_OP_KEYRING
        case DropCaps():
            c.kind = _lib.MP_OP_DROP_CAPS
            c.caps.keep, c.caps.transient = op.keep, op.transient
        case SetIdentity():
            c.kind = _lib.MP_OP_IDENTITY
            c.identity.uid = -1 if op.uid is None else op.uid
            c.identity.gid = -1 if op.gid is None else op.gid
            c.identity.n_groups = -1 if op.groups is None else len(op.groups)
            if op.groups is not None:
                groups = _ffi.new("uint32_t[]", list(op.groups) or [0])
                buffers.append(groups)
                c.identity.groups = groups
            c.identity.keep = op.keep & ((1 << 64) - 1)
        case NoNewPrivs():
            c.kind = _lib.MP_OP_NO_NEW_PRIVS
        case Seccomp():
            c.kind = _lib.MP_OP_SECCOMP
            program = _ffi.from_buffer(op.program)
            buffers.append(program)
            c.seccomp.program, c.seccomp.len = program, len(op.program)
        case Exec():
            c.kind = _lib.MP_OP_EXEC
            c.exec.argv, c.exec.envp = carray(op.argv), carray(op.envp)
            c.exec.path = cstr(op.search_path)
        case EnterCgroup():
            c.kind = _lib.MP_OP_CGROUP
            c.cgroup.files, c.cgroup.n_files = carray(op.files), len(op.files)
        case _:
            assert_never(op)
    return buffers
