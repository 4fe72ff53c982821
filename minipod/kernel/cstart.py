"""Starting a container from C: csrc/mp_start.c runs container_main's recipe
(container.py, with rootfs.py's build_rootfs) in a child that shares our
memory until it execs (CLONE_VM | CLONE_VFORK, posix_spawn's way), so the
interpreter is never forked and no Python runs between clone and exec.

Same semantics as ``spawn(container_main(...))`` under
``pid_namespace_for_children``: the same steps in the same order, the same
mount flags, and a failure raised as StartError(f"{what}: {step}", errno,
message) with the step names of the Python recipe. The Python path stays
the fallback and the reference (tests/kernel/test_cstart.py compares both).
"""

from __future__ import annotations

import os
from typing import Any

import prctl

from minipod.api.errors import StartError

# cffi module; like minipod.kernel.sys, a direct user of the C half (csrc/README)
from minipod.kernel import _native  # type: ignore[attr-defined]
from minipod.kernel.launch import DEFAULT_CAPABILITIES, LaunchPlan
from minipod.kernel.ns import POD_NAMESPACES, NsFds, pid_namespace_for_children
from minipod.kernel.rootfs import DEVICES, OLD_ROOT, RootfsPlan
from minipod.kernel.spawn import Child

_lib = _native.lib
_ffi = _native.ffi

KEEP_CAPS = sum(1 << getattr(prctl, f"CAP_{name}") for name in DEFAULT_CAPABILITIES)

# mp_start.h's steps without an argument, named as container.py/rootfs.py name them
_STEPS: dict[int, str] = {
    _lib.MP_START_STEP_START: "start",
    _lib.MP_START_STEP_JOIN_NS: "join pod namespaces",
    _lib.MP_START_STEP_UNSHARE_MNT: "unshare mount namespace",
    _lib.MP_START_STEP_PRIVATE: "make / private",
    _lib.MP_START_STEP_OVERLAY: "mount overlay rootfs",
    _lib.MP_START_STEP_PIVOT: "pivot_root",
    _lib.MP_START_STEP_PROC: "mount /proc",
    _lib.MP_START_STEP_SYS: "mount /sys",
    _lib.MP_START_STEP_DEV: "mount /dev",
    _lib.MP_START_STEP_DEVPTS: "mount /dev/pts",
    _lib.MP_START_STEP_SHM: "bind /dev/shm",
    _lib.MP_START_STEP_MQUEUE: "mount /dev/mqueue",
    _lib.MP_START_STEP_DETACH: "detach old root",
    _lib.MP_START_STEP_STDIO: "set up stdio",
    _lib.MP_START_STEP_CAPS: "drop capabilities",
    _lib.MP_START_STEP_IDENTITY: "set user and group",
}


def start_container(  # noqa: PLR0917 - the signature agreed with pod.py
        plan: LaunchPlan, rootfs: RootfsPlan, pod_ns: NsFds, pidns_fd: int | None,
        stdout_fd: int, stderr_fd: int, what: str) -> Child:
    """Start the container's command in the pod's namespaces (pidns_fd None:
    as PID 1 of a new pid namespace); return once it has exec'd."""
    owners: list[object] = []  # keeps every C buffer alive until mp_start returns

    def cstr(value: str) -> object:
        buf = _ffi.new("char[]", os.fsencode(value))
        owners.append(buf)
        return buf

    def carray(values: list[str]) -> Any:
        array = _ffi.new("char *[]", [*(cstr(v) for v in values), _ffi.NULL])
        owners.append(array)
        return array

    spec = _ffi.new("struct mp_start_spec *")
    joins = [(pod_ns.fds[name], flag) for name, flag in POD_NAMESPACES if name in pod_ns.fds]
    for i, (fd, flag) in enumerate(joins):
        spec.ns_fds[i], spec.ns_types[i] = fd, flag
    spec.n_ns = len(joins)

    # rootfs._open_sources: devices, the shm dir, the bind sources, each once
    sources = [f"/dev/{d}" for d in DEVICES]
    index: dict[str, int] = {}
    for source in [*sources, rootfs.shm_dir, *(b.source for b in rootfs.binds)]:
        index.setdefault(source, len(index))
    sources = list(index)
    spec.sources = carray(sources)
    spec.n_sources, spec.n_devices = len(sources), len(DEVICES)
    spec.shm_source = index[rootfs.shm_dir]
    spec.source_fds = fds = _ffi.new("int[]", len(sources))
    binds = _ffi.new("struct mp_start_bind[]", max(len(rootfs.binds), 1))
    for i, b in enumerate(rootfs.binds):
        binds[i].source = index[b.source]
        binds[i].target = cstr(b.target)
        binds[i].flags = ((_lib.MP_START_BIND_RO if b.read_only else 0)
                          | (_lib.MP_START_BIND_FILE if b.is_file else 0))
    spec.binds, spec.n_binds = binds, len(rootfs.binds)
    spec.merged = cstr(rootfs.merged)
    spec.put_old = cstr(rootfs.merged + OLD_ROOT)
    spec.overlay_data = cstr(f"lowerdir={rootfs.lower},upperdir={rootfs.upper},"
                             f"workdir={rootfs.work}")

    spec.workdir = cstr(plan.working_dir)
    spec.out_fd, spec.err_fd = stdout_fd, stderr_fd
    spec.keep_caps = KEEP_CAPS
    spec.uid = -1 if plan.run_as_user is None else plan.run_as_user
    spec.gid = -1 if plan.run_as_group is None else plan.run_as_group
    spec.argv = argv = carray(list(plan.argv))
    spec.file = argv[0]
    spec.envp = carray([f"{k}={v}" for k, v in plan.env.items()])
    spec.path = cstr(plan.env.get("PATH", os.defpath))  # os.execvpe's PATH

    with pid_namespace_for_children(pidns_fd):  # None: a new one
        ret = _lib.mp_start(spec)
    del fds, binds  # (kept alive until here on purpose)
    if ret < 0:
        raise StartError(f"{what}: clone", -ret, os.strerror(-ret))
    if spec.failed:
        step, path = _step_name(spec.step, spec.step_arg, plan, rootfs, sources)
        message = os.strerror(spec.err) + (f": {path}" if path else "")
        raise StartError(f"{what}: {step}", spec.err, message)
    return Child(spec.pid, spec.pidfd)


def _step_name(step: int, arg: int, plan: LaunchPlan, rootfs: RootfsPlan,
               sources: list[str]) -> tuple[str, str | None]:
    """The Python recipe's name for a step, and the path it concerned (if any)."""
    if step == _lib.MP_START_STEP_OPEN:
        return f"open {sources[arg]}", sources[arg]
    if step == _lib.MP_START_STEP_DEV_BIND:
        return f"bind {sources[arg]}", sources[arg]
    if step == _lib.MP_START_STEP_BIND:
        bind = rootfs.binds[arg]
        return f"bind mount {bind.source} on {bind.target}", bind.target
    if step == _lib.MP_START_STEP_WORKDIR:
        return f"working directory {plan.working_dir}", plan.working_dir
    if step == _lib.MP_START_STEP_EXEC:
        return f"exec {plan.argv[0]}", plan.argv[0]
    return _STEPS.get(step, f"step {step}"), None
