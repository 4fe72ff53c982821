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
from minipod.kernel import _native  # type: ignore[attr-defined]
from minipod.kernel import sys as msys
from minipod.kernel.image import Image
from minipod.kernel.launch import KEEP_CAPS, LaunchCache, LaunchPlan, launch_plan, setup_ops
from minipod.kernel.ns import NsFds
from minipod.kernel.rootfs import (
    Bind,
    BindMount,
    Chdir,
    CloseSources,
    DetachOldRoot,
    DropCaps,
    EnterCgroup,
    Exec,
    Mount,
    Op,
    OpenPath,
    PivotRoot,
    RootfsPlan,
    SetIdentity,
    SetNs,
    Stdio,
    Symlink,
    Unshare,
)

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

NOSUID_NODEV_NOEXEC = msys.MS_NOSUID | msys.MS_NODEV | msys.MS_NOEXEC
REC_BIND = msys.MS_BIND | msys.MS_REC
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def plan() -> LaunchPlan:
    pod = parse_pods(MANIFEST)[0]
    return launch_plan(pod.spec.containers[0], IMAGE, "web", pod.spec.security_context)


def rootfs(run: str = RUN, binds: tuple[BindMount, ...] = BINDS) -> RootfsPlan:
    return RootfsPlan(IMAGE.lowers, f"{run}/upper", f"{run}/work", f"{run}/merged",
                      f"{POD}/shm", binds)


def typical_ops() -> list[Op]:
    return setup_ops(plan(), rootfs(), POD_NS, STDOUT, STDERR)


def test_a_typical_pod() -> None:
    sources = [*(f"/dev/{d}" for d in DEVICES), f"{POD}/shm", *(b.source for b in BINDS)]
    assert typical_ops() == [
        # the pod's namespaces, in POD_NAMESPACES order
        SetNs(10, msys.CLONE_NEWUTS), SetNs(11, msys.CLONE_NEWIPC), SetNs(12, msys.CLONE_NEWNET),
        # a mount namespace of its own, private before anything is mounted
        Unshare(msys.CLONE_NEWNS),
        Mount(None, "/", None, msys.MS_REC | msys.MS_PRIVATE, label="make / private"),
        # every source opened while host paths resolve, each in its slot
        *(OpenPath(path, slot) for slot, path in enumerate(sources)),
        Mount("overlay", f"{RUN}/merged", "overlay", 0,
              f"lowerdir=/images/l/top:/images/l/base,upperdir={RUN}/upper,workdir={RUN}/work",
              label="mount overlay rootfs"),
        PivotRoot(f"{RUN}/merged", f"{RUN}/merged/.minipod-oldroot"),
        Mount("proc", "/proc", "proc", NOSUID_NODEV_NOEXEC, make="dirs"),
        Mount("sysfs", "/sys", "sysfs", NOSUID_NODEV_NOEXEC | msys.MS_RDONLY, make="dirs"),
        Mount("tmpfs", "/dev", "tmpfs", msys.MS_NOSUID | msys.MS_STRICTATIME,
              "mode=755,size=65536k", make="dirs"),
        *(Bind(f"/dev/{d}", slot, f"/dev/{d}", REC_BIND, make="file", mode=0o644,
               label=f"bind /dev/{d}") for slot, d in enumerate(DEVICES)),
        Symlink("/proc/self/fd", "/dev/fd"), Symlink("/proc/self/fd/0", "/dev/stdin"),
        Symlink("/proc/self/fd/1", "/dev/stdout"), Symlink("/proc/self/fd/2", "/dev/stderr"),
        Symlink("pts/ptmx", "/dev/ptmx"), Symlink("/proc/kcore", "/dev/core"),
        Mount("devpts", "/dev/pts", "devpts", msys.MS_NOSUID | msys.MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620,gid=5", make="dir", mode=0o755),
        Bind(f"{POD}/shm", 6, "/dev/shm", msys.MS_BIND, make="dir", mode=0o1777,
             label="bind /dev/shm"),
        Mount("mqueue", "/dev/mqueue", "mqueue", NOSUID_NODEV_NOEXEC, make="dir", mode=0o1777),
        # the /etc files and the volumes: a file bound on a file, a directory
        # on a directory, readOnly remounted read-only
        Bind(f"{POD}/etc/hosts", 7, "/etc/hosts", REC_BIND, make="file", mode=0o644),
        Bind(f"{POD}/etc/hostname", 8, "/etc/hostname", REC_BIND, make="file", mode=0o644),
        Bind(f"{POD}/etc/resolv.conf", 9, "/etc/resolv.conf", REC_BIND, make="file",
             mode=0o644),
        Bind(f"{POD}/volumes/cache", 10, "/cache", REC_BIND, make="dirs", mode=0o755),
        Bind("/host/app.conf", 11, "/etc/app.conf", REC_BIND, read_only=True, make="file",
             mode=0o644),
        Bind("/host/data", 12, "/data", REC_BIND, read_only=True, make="dirs", mode=0o755),
        CloseSources(),
        DetachOldRoot("/.minipod-oldroot"),
        # the process: working directory (made if missing), stdio, capabilities,
        # the pod's runAsUser and runAsGroup, and the command
        Chdir("/srv/app", make="dirs", mode=0o777),
        Stdio(STDOUT, STDERR),
        DropCaps(KEEP_CAPS),
        SetIdentity(1000, 3000, (3000,)),  # the image has no /etc/group
        Exec(("server", "--port", "8080"),
             ("PATH=/usr/bin:/bin", "HOSTNAME=web", "MODE=prod"), "/usr/bin:/bin"),
    ]


def test_step_names_and_paths() -> None:
    """What a failure of each op is reported as: "start container app: STEP:
    strerror[: PATH]" (launch.start_container)."""
    sources = [*(f"/dev/{d}" for d in DEVICES), f"{POD}/shm", *(b.source for b in BINDS)]
    assert [(op.step, op.path) for op in typical_ops()] == [
        *[("join pod namespaces", None)] * 3,
        ("unshare mount namespace", None), ("make / private", None),
        *((f"open {path}", path) for path in sources),
        ("mount overlay rootfs", None), ("pivot_root", None), ("mount /proc", None),
        ("mount /sys", None), ("mount /dev", None),
        *((f"bind /dev/{d}", f"/dev/{d}") for d in DEVICES),
        *((f"symlink /dev/{n}", f"/dev/{n}") for n in ("fd", "stdin", "stdout", "stderr",
                                                        "ptmx", "core")),
        ("mount /dev/pts", None), ("bind /dev/shm", "/dev/shm"), ("mount /dev/mqueue", None),
        *((f"bind mount {b.source} on {b.target}", b.target) for b in BINDS),
        ("close sources", None), ("detach old root", None),
        ("working directory /srv/app", "/srv/app"), ("set up stdio", None),
        ("drop capabilities", None), ("set user and group", None), ("exec server", "server")]


def test_a_source_bound_twice_is_opened_once() -> None:
    binds = (BindMount("/host/data", "/a"), BindMount("/host/data", "/b", read_only=True))
    ops = setup_ops(plan(), rootfs(binds=binds), POD_NS, STDOUT, STDERR)
    opened = [op for op in ops if isinstance(op, OpenPath)]
    assert [op.path for op in opened].count("/host/data") == 1
    slot = next(op.slot for op in opened if op.path == "/host/data")
    assert [(op.slot, op.target, op.read_only) for op in ops
            if isinstance(op, Bind) and op.source == "/host/data"] == [
        (slot, "/a", False), (slot, "/b", True)]


def test_namespaces_are_joined_in_one_order() -> None:
    """Whatever order the fds were opened in (youki's ORDERED_NAMESPACES)."""
    ops = setup_ops(plan(), rootfs(), NsFds(1, {"net": 5, "uts": 3}), STDOUT, STDERR)
    assert [op for op in ops if isinstance(op, SetNs)] == [
        SetNs(3, msys.CLONE_NEWUTS), SetNs(5, msys.CLONE_NEWNET)]
    assert isinstance(ops[2], Unshare)


@pytest.mark.parametrize(("user", "group", "groups", "expected"), [
    (None, None, None, None), (1000, None, None, SetIdentity(1000, None)),
    (None, 42, (42, 7), SetIdentity(None, 42, (42, 7))), (0, 0, (0,), SetIdentity(0, 0, (0,)))])
def test_identity_only_when_asked(user: int | None, group: int | None,
                                  groups: tuple[int, ...] | None,
                                  expected: SetIdentity | None) -> None:
    ops = setup_ops(replace(plan(), run_as_user=user, run_as_group=group, groups=groups),
                    rootfs(), POD_NS, STDOUT, STDERR)
    assert [op for op in ops if isinstance(op, SetIdentity)] == ([expected] if expected else [])
    # between the capabilities and the exec: a uid other than 0 clears the
    # capabilities, so they are dropped to the container's set before it
    assert ops[-2] == (expected or DropCaps(KEEP_CAPS)) and isinstance(ops[-1], Exec)


def test_exec_searches_the_new_environments_path() -> None:
    no_path = LaunchPlan(("app",), {"A": "1"}, "/", None, None)
    exec_op = setup_ops(no_path, rootfs(), POD_NS, STDOUT, STDERR)[-1]
    assert exec_op == Exec(("app",), ("A=1",), os.defpath)  # os.execvpe's default


def test_a_restart_changes_only_its_run() -> None:
    """The overlay and pivot_root of the run's directories and the stdio fds:
    what LaunchCache puts into a kept table."""
    first = typical_ops()
    second = setup_ops(plan(), rootfs(f"{POD}/containers/app/1"), POD_NS, 30, 31)
    changed = [(a.step, b) for a, b in zip(first, second, strict=True) if a != b]
    assert changed == [
        ("mount overlay rootfs",
         Mount("overlay", f"{POD}/containers/app/1/merged", "overlay", 0,
               f"lowerdir=/images/l/top:/images/l/base,upperdir={POD}/containers/app/1/upper,"
               f"workdir={POD}/containers/app/1/work", label="mount overlay rootfs")),
        ("pivot_root", PivotRoot(f"{POD}/containers/app/1/merged",
                                 f"{POD}/containers/app/1/merged/.minipod-oldroot")),
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
    if kind == lib.MP_OP_MOUNT:
        m = c.mount
        return Mount(string(m.source), string(m.target) or "", string(m.fstype), m.flags,
                     string(m.data), MAKE[m.make], m.mode, getattr(op, "label", ""))
    if kind == lib.MP_OP_BIND:
        b = c.bind
        return Bind(getattr(op, "source", ""), b.slot, string(b.target) or "", b.flags,
                    bool(b.read_only), MAKE[b.make], b.mode, getattr(op, "label", ""))
    if kind == lib.MP_OP_PIVOT_ROOT:
        return PivotRoot(string(c.pivot_root.new_root) or "",
                         string(c.pivot_root.put_old) or "")
    if kind == lib.MP_OP_SYMLINK:
        return Symlink(string(c.symlink.target) or "", string(c.symlink.linkpath) or "")
    if kind == lib.MP_OP_CLOSE_SOURCES:
        return CloseSources()
    if kind == lib.MP_OP_DETACH:
        return DetachOldRoot(string(c.detach.target) or "")
    if kind == lib.MP_OP_CHDIR:
        return Chdir(string(c.chdir.path) or "", MAKE[c.chdir.make], c.chdir.mode)
    if kind == lib.MP_OP_STDIO:
        return Stdio(c.stdio.out_fd, c.stdio.err_fd)
    if kind == lib.MP_OP_DROP_CAPS:
        return DropCaps(c.caps.keep)
    if kind == lib.MP_OP_IDENTITY:
        uid, gid, n = c.identity.uid, c.identity.gid, c.identity.n_groups
        return SetIdentity(None if uid < 0 else uid, None if gid < 0 else gid,
                           None if n < 0 else tuple(c.identity.groups[i] for i in range(n)))
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
    assert table.spec.n_fds == 13  # a scratch slot per source opened


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
