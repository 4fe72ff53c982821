"""A container's setup as data (minipod.kernel.rootfs, launch.setup_ops): the
exact ops csrc/mp_start.c runs for a typical pod, their order, flags and
step names, asserted without root (youki's get_setns_args tests); and the C
table they are laid out in (launch.LaunchCache), read back field by field."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pytest

from minipod.api.manifest import parse_pods
from minipod.api.security import MASKED_PATHS, READONLY_PATHS
from minipod.kernel import _native  # type: ignore[attr-defined]
from minipod.kernel import sys as msys
from minipod.kernel.image import Image
from minipod.kernel.launch import KEEP_CAPS, LaunchCache, LaunchPlan, launch_plan, setup_ops
from minipod.kernel.ns import NsFds
from minipod.kernel.rootfs import (
    BindMount,
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
)
from minipod.kernel.seccomp import runtime_default

ffi, lib = _native.ffi, _native.lib

MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  securityContext: {runAsUser: 1000, runAsGroup: 3000}
  containers:
  - name: app
    image: example
    command: [server, --port, "8080"]
    workingDir: /srv/app
    env: [{name: MODE, value: prod}]
    volumeMounts:
    - {name: cache, mountPath: /cache}
    - {name: config, mountPath: /etc/app.conf, readOnly: true}
    - {name: data, mountPath: /data, readOnly: true}
  volumes:
  - {name: cache, emptyDir: {}}
  - {name: config, hostPath: {path: /host/app.conf}}
  - {name: data, hostPath: {path: /host/data}}
"""

POD = "/run/minipod/pods/default_web"
RUN = f"{POD}/containers/app/0"
IMAGE = Image(ref="example", name="example:latest",
              lowers=("/images/l/top", "/images/l/base"),  # top layer first
              env=(("PATH", "/usr/bin:/bin"),))
# what pod.py's _binds makes of the manifest: the pod's /etc files, then
# the volumes (a hostPath that is a file is bound as one)
BINDS = (
    BindMount(f"{POD}/etc/hosts", "/etc/hosts", is_file=True),
    BindMount(f"{POD}/etc/hostname", "/etc/hostname", is_file=True),
    BindMount(f"{POD}/etc/resolv.conf", "/etc/resolv.conf", is_file=True),
    BindMount(f"{POD}/volumes/cache", "/cache"),
    BindMount("/host/app.conf", "/etc/app.conf", read_only=True, is_file=True),
    BindMount("/host/data", "/data", read_only=True),
)
POD_NS = NsFds(4242, {"uts": 10, "ipc": 11, "net": 12})
STDOUT, STDERR = 20, 21

NOSUID_NODEV_NOEXEC = msys.MOUNT_ATTR_NOSUID | msys.MOUNT_ATTR_NODEV | msys.MOUNT_ATTR_NOEXEC
NODEV, RDONLY = msys.MOUNT_ATTR_NODEV, msys.MOUNT_ATTR_RDONLY
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
# containerd 2's default set, as the kernel's mask: CHOWN DAC_OVERRIDE FOWNER
# FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
DEFAULT_MASK = 0x5FB


def plan() -> LaunchPlan:
    pod = parse_pods(MANIFEST)[0]
    return launch_plan(pod.spec.containers[0], IMAGE, "web", pod.spec.security_context)


def rootfs(run: str = RUN, binds: tuple[BindMount, ...] = BINDS, **more: Any) -> RootfsPlan:
    more = {"masked": MASKED_PATHS, "readonly": READONLY_PATHS, **more}
    return RootfsPlan(IMAGE.lowers, f"{run}/upper", f"{run}/work", f"{run}/merged",
                      f"{POD}/shm", binds, **more)


def typical_ops() -> list[Op]:
    return setup_ops(plan(), rootfs(), POD_NS, STDOUT, STDERR)


def test_a_typical_pod() -> None:
    program = runtime_default(frozenset(f"CAP_{c}" for c in (
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "SETGID", "SETUID", "SETPCAP",
        "NET_BIND_SERVICE", "KILL")))
    assert typical_ops() == [
        # the pod's namespaces, in POD_NAMESPACES order
        SetNs(10, msys.CLONE_NEWUTS), SetNs(11, msys.CLONE_NEWIPC), SetNs(12, msys.CLONE_NEWNET),
        # a mount namespace of its own, private before anything is mounted
        Unshare(msys.CLONE_NEWNS),
        Mount(None, "/", None, msys.MS_REC | msys.MS_PRIVATE, label="make / private"),
        # every bind source cloned while host paths resolve, each in its
        # slot (0 to 3: the overlay's), made nodev (not the devices) and
        # read-only as asked before it is attached
        *(CloneTree(f"/dev/{d}", 4 + i, 0) for i, d in enumerate(DEVICES)),
        CloneTree(f"{POD}/shm", 10, NOSUID_NODEV_NOEXEC),
        CloneTree(f"{POD}/etc/hosts", 11, NODEV), CloneTree(f"{POD}/etc/hostname", 12, NODEV),
        CloneTree(f"{POD}/etc/resolv.conf", 13, NODEV),
        CloneTree(f"{POD}/volumes/cache", 14, NODEV),
        CloneTree("/host/app.conf", 15, NODEV | RDONLY),
        CloneTree("/host/data", 16, NODEV | RDONLY),
        # the overlay (nodev) named by fds (the image's layers, top first),
        # and pivot_root, the old root gone
        OpenPath("/images/l/top", 0), OpenPath("/images/l/base", 1),
        OpenPath(f"{RUN}/upper", 2), OpenPath(f"{RUN}/work", 3),
        Overlay(f"{RUN}/merged", (0, 1), 2, 3, msys.MS_NODEV),
        PivotRoot(f"{RUN}/merged"),
        # then every target resolved inside the new root
        MountFs("proc", "/proc", NOSUID_NODEV_NOEXEC, source="proc"),
        MountFs("sysfs", "/sys", NOSUID_NODEV_NOEXEC | RDONLY, source="sysfs"),
        MountFs("tmpfs", "/dev", msys.MOUNT_ATTR_NOSUID | msys.MOUNT_ATTR_STRICTATIME,
                "mode=755,size=65536k", source="tmpfs"),
        *(MoveTree(f"/dev/{d}", 4 + i, f"/dev/{d}", make="file", mode=0o644,
                   label=f"bind /dev/{d}") for i, d in enumerate(DEVICES)),
        Symlink("/proc/self/fd", "/dev/fd"), Symlink("/proc/self/fd/0", "/dev/stdin"),
        Symlink("/proc/self/fd/1", "/dev/stdout"), Symlink("/proc/self/fd/2", "/dev/stderr"),
        Symlink("pts/ptmx", "/dev/ptmx"), Symlink("/proc/kcore", "/dev/core"),
        MountFs("devpts", "/dev/pts", msys.MOUNT_ATTR_NOSUID | msys.MOUNT_ATTR_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620,gid=5", source="devpts", make="dir"),
        MoveTree(f"{POD}/shm", 10, "/dev/shm", make="dir", mode=0o1777, label="bind /dev/shm"),
        MountFs("mqueue", "/dev/mqueue", NOSUID_NODEV_NOEXEC, source="mqueue", make="dir",
                mode=0o1777),
        # the /etc files and the volumes: a file on a file, a directory on a
        # directory, never inside /proc
        MoveTree(f"{POD}/etc/hosts", 11, "/etc/hosts", make="file", mode=0o644,
                 not_in_proc=True),
        MoveTree(f"{POD}/etc/hostname", 12, "/etc/hostname", make="file", mode=0o644,
                 not_in_proc=True),
        MoveTree(f"{POD}/etc/resolv.conf", 13, "/etc/resolv.conf", make="file", mode=0o644,
                 not_in_proc=True),
        MoveTree(f"{POD}/volumes/cache", 14, "/cache", not_in_proc=True),
        MoveTree("/host/app.conf", 15, "/etc/app.conf", make="file", mode=0o644,
                 not_in_proc=True),
        MoveTree("/host/data", 16, "/data", not_in_proc=True),
        CloseSources(),
        # procMount Default
        *(MaskPath(p) for p in MASKED_PATHS), *(ReadonlyPath(p) for p in READONLY_PATHS),
        # the process: working directory (made if missing), stdio, keyring,
        # seccomp while CAP_SYS_ADMIN is there, capabilities, the pod's
        # runAsUser and runAsGroup (its only group: the image has no
        # /etc/group here), and the command
        Chdir("/srv/app", make="dirs", mode=0o777),
        Stdio(STDOUT, STDERR),
        SessionKeyring(),
        Seccomp(program),
        DropCaps(DEFAULT_MASK),  # it keeps CAP_SETUID and CAP_SETGID: none transient
        SetIdentity(1000, 3000, (3000,), DEFAULT_MASK),  # the image has no /etc/group
        Exec(("server", "--port", "8080"),
             ("PATH=/usr/bin:/bin", "HOSTNAME=web", "MODE=prod"), "/usr/bin:/bin"),
    ]
    assert KEEP_CAPS == DEFAULT_MASK


def test_step_names_and_paths() -> None:
    """What a failure of each op is reported as: "start container app: STEP:
    strerror[: PATH]" (launch.start_container)."""
    sources = [*(f"/dev/{d}" for d in DEVICES), f"{POD}/shm", *(b.source for b in BINDS)]
    assert [(op.step, op.path) for op in typical_ops()] == [
        *[("join pod namespaces", None)] * 3,
        ("unshare mount namespace", None), ("make / private", None),
        *((f"clone mount {path}", path) for path in sources),
        ("open /images/l/top", "/images/l/top"), ("open /images/l/base", "/images/l/base"),
        (f"open {RUN}/upper", f"{RUN}/upper"), (f"open {RUN}/work", f"{RUN}/work"),
        ("mount overlay rootfs", None), ("pivot_root", None), ("mount /proc", None),
        ("mount /sys", None), ("mount /dev", None),
        *((f"bind /dev/{d}", f"/dev/{d}") for d in DEVICES),
        *((f"symlink /dev/{n}", f"/dev/{n}") for n in ("fd", "stdin", "stdout", "stderr",
                                                        "ptmx", "core")),
        ("mount /dev/pts", None), ("bind /dev/shm", "/dev/shm"), ("mount /dev/mqueue", None),
        *((f"bind mount {b.source} on {b.target}", b.target) for b in BINDS),
        ("close sources", None),
        *((f"mask {p}", p) for p in MASKED_PATHS),
        *((f"make {p} read-only", p) for p in READONLY_PATHS),
        ("working directory /srv/app", "/srv/app"), ("set up stdio", None),
        ("join a new session keyring", None), ("load the seccomp filter", None),
        ("drop capabilities", None), ("set user and group", None), ("exec server", "server")]


def test_a_source_bound_twice_is_cloned_twice() -> None:
    """move_mount attaches a tree where it is told: moved again, it would
    leave its first target. So every target has a clone of its own."""
    binds = (BindMount("/host/data", "/a"), BindMount("/host/data", "/b", read_only=True),
             BindMount("/host/data", "/c"))
    ops = setup_ops(plan(), rootfs(binds=binds), POD_NS, STDOUT, STDERR)
    clones = [op for op in ops if isinstance(op, CloneTree) and op.source == "/host/data"]
    moves = [op for op in ops if isinstance(op, MoveTree) and op.source == "/host/data"]
    assert len(clones) == len(moves) == 3
    assert len({op.slot for op in moves}) == 3
    assert [c.attrs for c in clones] == [NODEV, NODEV | RDONLY, NODEV]


def test_namespaces_are_joined_in_one_order() -> None:
    """Whatever order the fds were opened in (youki's ORDERED_NAMESPACES)."""
    ops = setup_ops(plan(), rootfs(), NsFds(1, {"net": 5, "uts": 3}), STDOUT, STDERR)
    assert [op for op in ops if isinstance(op, SetNs)] == [
        SetNs(3, msys.CLONE_NEWUTS), SetNs(5, msys.CLONE_NEWNET)]
    assert isinstance(ops[2], Unshare)


@pytest.mark.parametrize(("user", "group", "groups", "expected"), [
    (None, None, None, None), (1000, None, None, SetIdentity(1000, None, None, KEEP_CAPS)),
    (None, 42, (42, 7), SetIdentity(None, 42, (42, 7), KEEP_CAPS)),
    (0, 0, (0,), SetIdentity(0, 0, (0,), KEEP_CAPS))])
def test_identity_only_when_asked(user: int | None, group: int | None,
                                  groups: tuple[int, ...] | None,
                                  expected: SetIdentity | None) -> None:
    ops = setup_ops(replace(plan(), run_as_user=user, run_as_group=group, groups=groups),
                    rootfs(), POD_NS, STDOUT, STDERR)
    assert [op for op in ops if isinstance(op, SetIdentity)] == ([expected] if expected else [])
    # between the capabilities and the exec: a uid other than 0 clears the
    # capabilities, so they are dropped to the container's set before it
    assert ops[-2] == (expected or DropCaps(KEEP_CAPS)) and isinstance(ops[-1], Exec)


def test_no_new_privs_moves_the_filter_right_before_exec() -> None:
    """runc's order: with no_new_privs the filter needs no CAP_SYS_ADMIN, and
    goes last, so it sees none of the setup's own system calls."""
    the_plan = replace(plan(), no_new_privs=True)
    ops = setup_ops(the_plan, rootfs(), POD_NS, STDOUT, STDERR)
    assert ops[-6:-1] == [SessionKeyring(), DropCaps(KEEP_CAPS),
                          SetIdentity(1000, 3000, (3000,), KEEP_CAPS), NoNewPrivs(),
                          Seccomp(the_plan.seccomp or b"")]
    assert ops.count(Seccomp(the_plan.seccomp or b"")) == 1


def test_capabilities_the_identity_needs_are_kept_for_it() -> None:
    """runc's order: with the container's set dropped to nothing, setgroups,
    setresgid and setresuid still need CAP_SETGID and CAP_SETUID: kept for
    SetIdentity, which then cuts the sets to the container's."""
    ops = setup_ops(replace(plan(), keep_caps=0x400), rootfs(), POD_NS, STDOUT, STDERR)
    setid = (1 << 6) | (1 << 7)
    assert ops[-3:-1] == [DropCaps(0x400, setid), SetIdentity(1000, 3000, (3000,), 0x400)]


def test_unconfined_read_only_and_privileged() -> None:
    device = HostDevice("/dev/loop0", 0o60660, os.makedev(7, 0), 0, 6)
    the_plan = replace(plan(), seccomp=None, read_only_root=True)
    ops = setup_ops(the_plan, rootfs(masked=(), readonly=(), privileged=True,
                                     host_devices=(device,)), POD_NS, STDOUT, STDERR)
    assert not [op for op in ops if isinstance(op, Seccomp | MaskPath | ReadonlyPath)]
    assert MountFs("sysfs", "/sys", NOSUID_NODEV_NOEXEC, source="sysfs") in ops  # writable
    assert ops.index(MakeDevice(device)) > ops.index(MountFs(
        "tmpfs", "/dev", msys.MOUNT_ATTR_NOSUID | msys.MOUNT_ATTR_STRICTATIME,
        "mode=755,size=65536k", source="tmpfs"))
    # read-only once the working directory is made
    assert ops[ops.index(ReadonlyRoot()) - 1] == Chdir("/srv/app")


def test_exec_searches_the_new_environments_path() -> None:
    no_path = LaunchPlan(("app",), {"A": "1"}, "/", None, None)
    exec_op = setup_ops(no_path, rootfs(), POD_NS, STDOUT, STDERR)[-1]
    assert exec_op == Exec(("app",), ("A=1",), os.defpath)  # os.execvpe's default


def test_a_restart_changes_only_its_run() -> None:
    """The overlay's directories, pivot_root and the stdio fds: what
    LaunchCache puts into a kept table."""
    first = typical_ops()
    run = f"{POD}/containers/app/1"
    second = setup_ops(plan(), rootfs(run), POD_NS, 30, 31)
    changed = [(a.step, b) for a, b in zip(first, second, strict=True) if a != b]
    assert changed == [
        (f"open {RUN}/upper", OpenPath(f"{run}/upper", 2)),
        (f"open {RUN}/work", OpenPath(f"{run}/work", 3)),
        ("mount overlay rootfs", Overlay(f"{run}/merged", (0, 1), 2, 3)),
        ("pivot_root", PivotRoot(f"{run}/merged")),
        ("set up stdio", Stdio(30, 31))]


# -- the C table ------------------------------------------------------------------------


def string(pointer: Any) -> str | None:
    return None if pointer == ffi.NULL else ffi.string(pointer).decode()


def strings(array: Any) -> tuple[str, ...]:
    values = []
    while array[len(values)] != ffi.NULL:
        values.append(ffi.string(array[len(values)]).decode())
    return tuple(values)


MAKE = {lib.MP_MAKE_NONE: "", lib.MP_MAKE_DIRS: "dirs", lib.MP_MAKE_DIR: "dir",
        lib.MP_MAKE_FILE: "file"}


def read_back(c: Any, op: Op) -> Op:  # noqa: PLR0912 - one case per op kind
    """The op a struct mp_start_op says, built from its fields alone (the
    names and labels, which C never sees, taken from ``op``)."""
    kind = c.kind
    if kind == lib.MP_OP_SETNS:
        return SetNs(c.setns.fd, c.setns.nstype)
    if kind == lib.MP_OP_UNSHARE:
        return Unshare(c.unshare.flags)
    if kind == lib.MP_OP_OPEN:
        return OpenPath(string(c.open.path) or "", c.open.slot)
    if kind == lib.MP_OP_CLONE:
        return CloneTree(string(c.clone.path) or "", c.clone.slot, c.clone.attrs,
                         bool(c.clone.recursive))
    if kind == lib.MP_OP_MOUNT:
        m = c.mount
        return Mount(string(m.source), string(m.target) or "", string(m.fstype), m.flags,
                     string(m.data), getattr(op, "label", ""))
    if kind == lib.MP_OP_OVERLAY:
        o = c.overlay
        return Overlay(string(o.target) or "", tuple(o.lower_slots[i] for i in range(o.n_lower)),
                       o.upper_slot, o.work_slot, o.flags)
    if kind == lib.MP_OP_PIVOT_ROOT:
        return PivotRoot(string(c.pivot_root.new_root) or "")
    if kind == lib.MP_OP_MOUNT_FS:
        f = c.mount_fs
        return MountFs(string(f.fstype) or "", string(f.target) or "", f.attrs,
                       string(f.options) or "", string(f.source), MAKE[f.make], f.mode)
    if kind == lib.MP_OP_MOVE:
        mv = c.move
        return MoveTree(getattr(op, "source", ""), mv.slot, string(mv.target) or "",
                        MAKE[mv.make], mv.mode, bool(mv.not_in_proc), getattr(op, "label", ""))
    if kind == lib.MP_OP_SYMLINK:
        return Symlink(string(c.symlink.target) or "", string(c.symlink.linkpath) or "")
    if kind == lib.MP_OP_MKNOD:
        n = c.mknod
        return MakeDevice(HostDevice(string(n.path) or "", n.mode, n.rdev, n.uid, n.gid))
    if kind == lib.MP_OP_CLOSE_SOURCES:
        return CloseSources()
    if kind == lib.MP_OP_MASK:
        return MaskPath(string(c.mask.path) or "")
    if kind == lib.MP_OP_READONLY:
        return ReadonlyPath(string(c.mask.path) or "")
    if kind == lib.MP_OP_READONLY_ROOT:
        return ReadonlyRoot()
    if kind == lib.MP_OP_CHDIR:
        return Chdir(string(c.chdir.path) or "", MAKE[c.chdir.make], c.chdir.mode)
    if kind == lib.MP_OP_STDIO:
        return Stdio(c.stdio.out_fd, c.stdio.err_fd)
    if kind == lib.MP_OP_KEYRING:
        return SessionKeyring()
    if kind == lib.MP_OP_DROP_CAPS:
        return DropCaps(c.caps.keep, c.caps.transient)
    if kind == lib.MP_OP_IDENTITY:
        i = c.identity
        groups = None if i.n_groups < 0 else tuple(i.groups[k] for k in range(i.n_groups))
        return SetIdentity(None if i.uid < 0 else i.uid, None if i.gid < 0 else i.gid, groups,
                           i.keep)
    if kind == lib.MP_OP_NO_NEW_PRIVS:
        return NoNewPrivs()
    if kind == lib.MP_OP_SECCOMP:
        return Seccomp(bytes(ffi.buffer(c.seccomp.program, c.seccomp.len)))
    if kind == lib.MP_OP_CGROUP:
        files = strings(c.cgroup.files)
        assert len(files) == c.cgroup.n_files
        return EnterCgroup(files)
    assert kind == lib.MP_OP_EXEC, kind
    return Exec(strings(c.exec.argv), strings(c.exec.envp), string(c.exec.path) or "")


def c_table(table: Any) -> list[Op]:
    spec = table.spec
    return [read_back(spec.ops[i], op) for i, op in zip(range(spec.n_ops), table.ops,
                                                          strict=True)]


def test_the_c_table_says_what_the_ops_say() -> None:
    table = LaunchCache().table(plan(), rootfs(), POD_NS, STDOUT, STDERR)
    assert c_table(table) == typical_ops()
    assert table.spec.n_fds == 17  # a scratch slot per directory opened, per tree cloned


def test_a_privileged_tables_devices() -> None:
    device = HostDevice("/dev/loop0", 0o60660, os.makedev(7, 0), 0, 6)
    the_rootfs = rootfs(masked=(), readonly=(), privileged=True, host_devices=(device,))
    table = LaunchCache().table(replace(plan(), no_new_privs=True), the_rootfs, POD_NS,
                                STDOUT, STDERR)
    assert c_table(table) == setup_ops(replace(plan(), no_new_privs=True), the_rootfs, POD_NS,
                                       STDOUT, STDERR)


def test_a_restart_puts_its_run_into_the_kept_table() -> None:
    cache, the_plan = LaunchCache(), plan()
    first = cache.table(the_plan, rootfs(), POD_NS, STDOUT, STDERR)
    second = cache.table(the_plan, rootfs(f"{POD}/containers/app/1"), POD_NS, 30, 31)
    assert second is first
    expected = setup_ops(the_plan, rootfs(f"{POD}/containers/app/1"), POD_NS, 30, 31)
    assert second.ops == expected and c_table(second) == expected


@pytest.mark.parametrize("change", ["plan", "binds", "image", "namespaces"])
def test_a_new_table_when_its_inputs_change(change: str) -> None:
    cache, the_plan = LaunchCache(), plan()
    first = cache.table(the_plan, rootfs(), POD_NS, STDOUT, STDERR)
    new_plan, new_rootfs, new_ns = the_plan, rootfs(f"{POD}/containers/app/1"), POD_NS
    if change == "plan":
        new_plan = replace(the_plan, working_dir="/elsewhere")
    elif change == "binds":  # a hostPath that turned from a file into a directory
        new_rootfs = replace(new_rootfs, binds=(*BINDS[:4], replace(BINDS[4], is_file=False),
                                                BINDS[5]))
    elif change == "image":
        new_rootfs = replace(new_rootfs, lower="/images/other/rootfs")
    else:  # a new sandbox: its namespaces' fds
        new_ns = NsFds(4343, {"uts": 13, "ipc": 14, "net": 15})
    table = cache.table(new_plan, new_rootfs, new_ns, STDOUT, STDERR)
    assert table is not first
    assert c_table(table) == setup_ops(new_plan, new_rootfs, new_ns, STDOUT, STDERR)


CGROUP_FILES = tuple(f"/sys/fs/cgroup/{c}/minipod/podu/app/tasks" for c in ("cpu", "memory"))


def test_the_container_enters_its_cgroup_before_anything_else() -> None:
    ops = setup_ops(plan(), rootfs(), POD_NS, STDOUT, STDERR, CGROUP_FILES)
    assert ops[0] == EnterCgroup(CGROUP_FILES)
    assert ops[1:] == typical_ops()
    assert (ops[0].step, ops[0].path) == ("enter cgroup", CGROUP_FILES[0])
    table = LaunchCache().table(plan(), rootfs(), POD_NS, STDOUT, STDERR, CGROUP_FILES)
    assert c_table(table) == ops
    assert table.spec.cgroup_fd == -1  # start_container sets it for each start
