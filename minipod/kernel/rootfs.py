"""A container's setup as data: the ops csrc/mp_start.c runs, in order, in
the child between clone and exec (bubblewrap's SetupOp list, run by its
setup_newroot). Pure: this module decides, C does; nothing here makes a
system call. launch.py adds the namespaces to join before these ops and the
process's own (working directory, stdio, capabilities, identity, exec)
after them, and hands the list to C.

The filesystem, inside the container's own mount namespace (bubblewrap's and
crun's recipe):
  1. unshare(CLONE_NEWNS) and make / recursively private *before* mounting
     anything, so nothing we mount propagates back to the host;
  2. open every bind source as an O_PATH fd while host paths still resolve;
  3. mount the overlay (image lower, per-run upper) and pivot_root into it,
     the old root parked at /.minipod-oldroot (bubblewrap's oldroot);
  4. mount /proc, /sys (read-only), a tmpfs /dev with the usual nodes, devpts,
     the pod's /dev/shm and an mqueue for the pod's ipc namespace;
  5. bind /etc/hosts, /etc/hostname, /etc/resolv.conf and the volumes, the
     targets resolved *inside* the new root, so a symlink in the image cannot
     point a mount at the host;
  6. detach the old root. Only now: a bind from an O_PATH fd needs the
     source's mount still attached to the namespace (else EINVAL).
All of it disappears with the mount namespace: no host mount is left behind.

Each op's ``step`` is what a failure of it is reported as ("mount /proc"),
and ``path`` (if any) the path the message ends with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from minipod.kernel import sys as msys
from minipod.kernel.devices import BOUND

DEVICES = BOUND  # bound from the host's /dev: devices.py has the one list
DEV_SYMLINKS = (
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
    ("/proc/kcore", "core"),
)
NOSUID_NODEV_NOEXEC = msys.MS_NOSUID | msys.MS_NODEV | msys.MS_NOEXEC
OLD_ROOT = "/.minipod-oldroot"

# How an op makes its target before it mounts there or enters it: "" not at
# all, "dirs" mkdir -p (an existing directory is fine), "dir" mkdir (it must
# not exist), "file" an empty file (and its directory) unless it exists.
Make = Literal["", "dirs", "dir", "file"]

_NAMESPACES = {msys.CLONE_NEWNS: "mount", msys.CLONE_NEWUTS: "uts", msys.CLONE_NEWIPC: "ipc",
               msys.CLONE_NEWNET: "net", msys.CLONE_NEWPID: "pid",
               msys.CLONE_NEWCGROUP: "cgroup", msys.CLONE_NEWUSER: "user"}


@dataclass(frozen=True)
class BindMount:
    source: str  # host path
    target: str  # absolute path inside the container
    read_only: bool = False
    is_file: bool = False


@dataclass(frozen=True)
class RootfsPlan:
    lower: tuple[str, ...]  # the image's layer directories, top first (read-only)
    upper: str
    work: str
    merged: str
    shm_dir: str
    binds: tuple[BindMount, ...] = field(default=())


# -- the ops (csrc/mp_start.h's MP_OP_*, one class each) --------------------------------


@dataclass(frozen=True)
class SetNs:
    """setns(fd, nstype): join one of the pod's namespaces."""

    fd: int
    nstype: int
    step: ClassVar[str] = "join pod namespaces"
    path: ClassVar[str | None] = None


@dataclass(frozen=True)
class Unshare:
    """unshare(flags): a namespace of the container's own."""

    flags: int
    path: ClassVar[str | None] = None

    @property
    def step(self) -> str:
        return f"unshare {_NAMESPACES.get(self.flags, hex(self.flags))} namespace"


@dataclass(frozen=True)
class OpenPath:
    """open(path, O_PATH | O_CLOEXEC) into ``slot``, for a Bind after pivot_root."""

    path: str
    slot: int

    @property
    def step(self) -> str:
        return f"open {self.path}"


@dataclass(frozen=True)
class Mount:
    """mount(source, target, fstype, flags, data), ``target`` made first."""

    source: str | None
    target: str
    fstype: str | None
    flags: int
    data: str | None = None
    make: Make = ""
    mode: int = 0o755  # of what ``make`` makes
    label: str = ""  # the step's name, if not "mount TARGET"
    path: ClassVar[str | None] = None

    @property
    def step(self) -> str:
        return self.label or f"mount {self.target}"


@dataclass(frozen=True)
class PivotRoot:
    """pivot_root(new_root, put_old) (put_old made 0700 first), chdir("/")."""

    new_root: str
    put_old: str
    step: ClassVar[str] = "pivot_root"
    path: ClassVar[str | None] = None


@dataclass(frozen=True)
class Bind:
    """A bind mount of ``slot``'s O_PATH fd through its /proc/self/fd link
    (runc's trick) on ``target``, made first; remounted read-only if asked."""

    source: str  # the host path ``slot`` was opened from
    slot: int
    target: str
    flags: int = msys.MS_BIND | msys.MS_REC
    read_only: bool = False
    make: Make = "dirs"
    mode: int = 0o755
    label: str = ""  # the step's name, if not "bind mount SOURCE on TARGET"

    @property
    def step(self) -> str:
        return self.label or f"bind mount {self.source} on {self.target}"

    @property
    def path(self) -> str:
        return self.target


@dataclass(frozen=True)
class Symlink:
    """symlink(target, link)."""

    target: str
    link: str

    @property
    def step(self) -> str:
        return f"symlink {self.link}"

    @property
    def path(self) -> str:
        return self.link


@dataclass(frozen=True)
class CloseSources:
    """close() every fd an OpenPath made: the old root's mounts are no longer
    held open when it is detached."""

    step: ClassVar[str] = "close sources"
    path: ClassVar[str | None] = None


@dataclass(frozen=True)
class DetachOldRoot:
    """umount2(path, MNT_DETACH), then rmdir(path). / is already rprivate, so
    the lazy unmount does not propagate to the host."""

    target: str
    step: ClassVar[str] = "detach old root"
    path: ClassVar[str | None] = None


@dataclass(frozen=True)
class Chdir:
    """chdir(path), made first (Kubernetes creates a missing workingDir)."""

    path: str
    make: Make = "dirs"
    mode: int = 0o777

    @property
    def step(self) -> str:
        return f"working directory {self.path}"


@dataclass(frozen=True)
class Stdio:
    """A session of its own (a Ctrl-C on the terminal of `minipod up` goes to
    the supervisor's process group, never straight into a container), stdin
    /dev/null, stdout and stderr these fds, every other fd close-on-exec."""

    stdout_fd: int
    stderr_fd: int
    step: ClassVar[str] = "set up stdio"
    path: ClassVar[str | None] = None


@dataclass(frozen=True)
class DropCaps:
    """Only ``keep`` stays in the bounding, effective and permitted sets, for
    good (also across exec); the inheritable and ambient sets are emptied."""

    keep: int
    step: ClassVar[str] = "drop capabilities"
    path: ClassVar[str | None] = None


@dataclass(frozen=True)
class SetIdentity:
    """setgroups(groups, or [gid] when None), setresgid, setresuid (None:
    keep the uid; a gid of None: the uid's group in the container's
    /etc/passwd, else 0, containerd's rule). For a non-zero uid the kernel
    clears the capabilities."""

    uid: int | None
    gid: int | None
    groups: tuple[int, ...] | None = None
    step: ClassVar[str] = "set user and group"
    path: ClassVar[str | None] = None


@dataclass(frozen=True)
class Exec:
    """Default signal dispositions and an empty mask, then execve of argv[0],
    searched in ``search_path`` (the new environment's PATH) when it has no
    slash, as os.execvpe does."""

    argv: tuple[str, ...]
    envp: tuple[str, ...]  # "NAME=value"
    search_path: str

    @property
    def step(self) -> str:
        return f"exec {self.argv[0]}"

    @property
    def path(self) -> str:
        return self.argv[0]


@dataclass(frozen=True)
class EnterCgroup:
    """"0" into each file: the container's cgroup, before any other op (v1:
    each hierarchy's "tasks", which moves the child alone; kernel/cgroups.py).
    Skipped where clone3 made the child there already (mp_start_spec.cgroup_fd)."""

    files: tuple[str, ...]
    step: ClassVar[str] = "enter cgroup"

    @property
    def path(self) -> str | None:
        return self.files[0] if self.files else None


Op = (SetNs | Unshare | OpenPath | Mount | PivotRoot | Bind | Symlink | CloseSources
      | DetachOldRoot | Chdir | Stdio | DropCaps | SetIdentity | Exec | EnterCgroup)


def rootfs_ops(plan: RootfsPlan) -> list[Op]:
    """Steps 1 to 6 above: after them the process is inside its new root."""
    ops: list[Op] = [Unshare(msys.CLONE_NEWNS),
                     Mount(None, "/", None, msys.MS_REC | msys.MS_PRIVATE, label="make / private")]
    slots: dict[str, int] = {}  # each source opened once
    for source in (*(f"/dev/{name}" for name in DEVICES), plan.shm_dir,
                   *(b.source for b in plan.binds)):
        if source not in slots:
            slots[source] = len(slots)
            ops.append(OpenPath(source, slots[source]))
    ops += run_ops(plan)
    ops += [
        Mount("proc", "/proc", "proc", NOSUID_NODEV_NOEXEC, make="dirs"),
        Mount("sysfs", "/sys", "sysfs", NOSUID_NODEV_NOEXEC | msys.MS_RDONLY, make="dirs"),
        Mount("tmpfs", "/dev", "tmpfs", msys.MS_NOSUID | msys.MS_STRICTATIME,
              "mode=755,size=65536k", make="dirs"),
    ]
    ops += [Bind(f"/dev/{name}", slots[f"/dev/{name}"], f"/dev/{name}", make="file", mode=0o644,
                 label=f"bind /dev/{name}") for name in DEVICES]
    ops += [Symlink(target, f"/dev/{name}") for target, name in DEV_SYMLINKS]
    ops += [
        Mount("devpts", "/dev/pts", "devpts", msys.MS_NOSUID | msys.MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620,gid=5", make="dir"),
        # The pod's one /dev/shm: POSIX shm is shared by the pod's containers,
        # as System V shm is through the shared ipc namespace.
        Bind(plan.shm_dir, slots[plan.shm_dir], "/dev/shm", msys.MS_BIND, make="dir",
             mode=0o1777, label="bind /dev/shm"),
        # mqueue shows the queues of the ipc namespace we are in: the pod's.
        Mount("mqueue", "/dev/mqueue", "mqueue", NOSUID_NODEV_NOEXEC, make="dir", mode=0o1777),
    ]
    ops += [Bind(b.source, slots[b.source], b.target, read_only=b.read_only,
                 make="file" if b.is_file else "dirs", mode=0o644 if b.is_file else 0o755)
            for b in plan.binds]
    ops += [CloseSources(), DetachOldRoot(OLD_ROOT)]
    return ops


def run_ops(plan: RootfsPlan) -> tuple[Mount, PivotRoot]:
    """The two ops that name the run's own directories (upper, work, merged):
    all a restart changes in rootfs_ops."""
    options = f"lowerdir={':'.join(plan.lower)},upperdir={plan.upper},workdir={plan.work}"
    return (Mount("overlay", plan.merged, "overlay", 0, options, label="mount overlay rootfs"),
            PivotRoot(plan.merged, plan.merged + OLD_ROOT))
