"""A container's setup as data: the ops csrc/mp_start.c runs, in order, in
the child between clone and exec (bubblewrap's SetupOp list, run by its
setup_newroot). Pure: this module decides, C does; nothing here makes a
system call. launch.py adds the namespaces to join before these ops and the
process's own (working directory, stdio, keyring, capabilities, identity,
no_new_privs, seccomp, exec) after them, and hands the list to C.

The filesystem, inside the container's own mount namespace (bubblewrap's and
crun's recipe, with the new mount API):
  1. unshare(CLONE_NEWNS) and make / recursively private *before* mounting
     anything, so nothing we mount propagates back to the host;
  2. while host paths still resolve: open the overlay's directories as
     O_PATH fds, and clone every bind source (the /dev nodes, the pod's
     /dev/shm, the /etc files, the volumes) into a detached mount
     (open_tree OPEN_TREE_CLONE), made private, nodev (but the devices) and
     read-only where asked before it is ever attached;
  3. mount the overlay (image lower, per-run upper; nodev, so a device node
     an image ships is unusable) with its directories named as
     /proc/self/fd/N, so the container's mountinfo shows no host path, and
     pivot_root into it with pivot_root(".", "."); the old root is detached
     at once, before any target in the container is looked up or made;
  4. from here on every target is resolved inside the container's root
     (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: a symlink the image
     or a volume holds, even /proc/1/root/... of pause, never leads out),
     missing directories made one resolved level at a time, and mounted
     through the fd (move_mount): /proc, /sys (read-only), a tmpfs /dev
     with the allowed device nodes, devpts, the pod's /dev/shm, an mqueue
     for the pod's ipc namespace, then the /etc files and the volumes (a
     volume that would land inside /proc is refused, as runc refuses it);
  5. /proc's masked paths (/dev/null or an empty read-only tmpfs on them)
     and read-only paths, as the kubelet's procMount Default asks (none for
     a privileged container).
All of it disappears with the mount namespace: no host mount is left behind.

Each op's ``step`` is what a failure of it is reported as ("mount /proc"),
and ``path`` (if any) the path the message ends with.
"""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar, Literal

from minipod.api.frozen import frozen
from minipod.api.security import MASKED_PATHS, READONLY_PATHS
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
NOSUID_NODEV_NOEXEC = msys.MOUNT_ATTR_NOSUID | msys.MOUNT_ATTR_NODEV | msys.MOUNT_ATTR_NOEXEC

# How an op makes its target before it mounts there or enters it: "" not at
# all, "dirs" mkdir -p (an existing directory is fine), "dir" mkdir (it must
# not exist), "file" an empty file (and its directory) unless it exists.
Make = Literal["", "dirs", "dir", "file"]

_NAMESPACES = {msys.CLONE_NEWNS: "mount", msys.CLONE_NEWUTS: "uts", msys.CLONE_NEWIPC: "ipc",
               msys.CLONE_NEWNET: "net", msys.CLONE_NEWPID: "pid",
               msys.CLONE_NEWCGROUP: "cgroup", msys.CLONE_NEWUSER: "user"}


@frozen
class BindMount:
    source: str  # host path
    target: str  # absolute path inside the container
    read_only: bool = False
    is_file: bool = False


@frozen
class HostDevice:
    """A device node a privileged container gets (the host's, made anew)."""

    path: str  # /dev/...
    mode: int  # st_mode: type and permissions
    rdev: int
    uid: int
    gid: int


@frozen
class RootfsPlan:
    lower: tuple[str, ...]  # the image's layer directories, top first (read-only)
    upper: str
    work: str
    merged: str
    shm_dir: str
    binds: tuple[BindMount, ...] = field(default=())
    # procMount Default: the kubelet's lists (api/security.py); () for privileged
    masked: tuple[str, ...] = MASKED_PATHS
    readonly: tuple[str, ...] = READONLY_PATHS
    privileged: bool = False  # /sys writable, and the host's devices below
    host_devices: tuple[HostDevice, ...] = ()


# -- the ops (csrc/mp_start.h's MP_OP_*, one class each) --------------------------------


@frozen
class SetNs:
    """setns(fd, nstype): join one of the pod's namespaces."""

    fd: int
    nstype: int
    step: ClassVar[str] = "join pod namespaces"
    path: ClassVar[str | None] = None


@frozen
class Unshare:
    """unshare(flags): a namespace of the container's own."""

    flags: int
    path: ClassVar[str | None] = None

    @property
    def step(self) -> str:
        return f"unshare {_NAMESPACES.get(self.flags, hex(self.flags))} namespace"


@frozen
class OpenPath:
    """open(path, O_PATH | O_CLOEXEC) into ``slot``: an overlay directory."""

    path: str
    slot: int

    @property
    def step(self) -> str:
        return f"open {self.path}"


@frozen
class CloneTree:
    """open_tree(path, OPEN_TREE_CLONE [| AT_RECURSIVE]) into ``slot``: a
    detached copy of the source's mount, made private and given ``attrs``
    (MOUNT_ATTR_*: read-only, nodev...) before it is attached anywhere."""

    source: str  # a host path
    slot: int
    attrs: int = 0
    recursive: bool = True

    @property
    def step(self) -> str:
        return f"clone mount {self.source}"

    @property
    def path(self) -> str:
        return self.source


@frozen
class Mount:
    """mount(source, target, fstype, flags, data) on a host path, before
    pivot_root (making / private)."""

    source: str | None
    target: str
    fstype: str | None
    flags: int
    data: str | None = None
    label: str = ""  # the step's name, if not "mount TARGET"
    path: ClassVar[str | None] = None

    @property
    def step(self) -> str:
        return self.label or f"mount {self.target}"


@frozen
class Overlay:
    """mount("overlay", target, "overlay", flags, ...) with lowerdir (top
    first), upperdir and workdir the /proc/self/fd links of OpenPath slots."""

    target: str
    lower_slots: tuple[int, ...]
    upper_slot: int
    work_slot: int
    flags: int = msys.MS_NODEV
    step: ClassVar[str] = "mount overlay rootfs"
    path: ClassVar[str | None] = None


@frozen
class PivotRoot:
    """chdir(new_root), pivot_root(".", "."), umount2(".", MNT_DETACH):
    the old root is gone before the next op, and "/" is the new root."""

    new_root: str
    step: ClassVar[str] = "pivot_root"
    path: ClassVar[str | None] = None


@frozen
class MountFs:
    """A new filesystem (fsopen, fsconfig with ``options``, fsmount with
    ``attrs``) moved onto ``target``, resolved in the root and made first."""

    fstype: str
    target: str
    attrs: int = 0
    options: str = ""  # "key=value,flag,...", as mount(8) -o
    source: str | None = None
    make: Make = "dirs"
    mode: int = 0o755  # of what ``make`` makes
    path: ClassVar[str | None] = None

    @property
    def step(self) -> str:
        return f"mount {self.target}"


@frozen
class MoveTree:
    """move_mount of ``slot``'s detached tree onto ``target``, resolved in
    the root and made first. ``not_in_proc``: refused (EPERM) when the
    target is on a procfs, as runc refuses a volume inside /proc."""

    source: str  # the host path ``slot`` was cloned from
    slot: int
    target: str
    make: Make = "dirs"
    mode: int = 0o755
    not_in_proc: bool = False
    label: str = ""  # the step's name, if not "bind mount SOURCE on TARGET"

    @property
    def step(self) -> str:
        return self.label or f"bind mount {self.source} on {self.target}"

    @property
    def path(self) -> str:
        return self.target


@frozen
class Symlink:
    """symlink(target, link), its directory resolved in the root."""

    target: str
    link: str

    @property
    def step(self) -> str:
        return f"symlink {self.link}"

    @property
    def path(self) -> str:
        return self.link


@frozen
class MakeDevice:
    """mknod(path, mode, rdev) and chown(uid, gid), its directory resolved in
    the root: a host device of a privileged container (an existing node,
    one of the default set, is kept)."""

    device: HostDevice

    @property
    def step(self) -> str:
        return f"make device {self.device.path}"

    @property
    def path(self) -> str:
        return self.device.path


@frozen
class CloseSources:
    """close() every fd an OpenPath or CloneTree made."""

    step: ClassVar[str] = "close sources"
    path: ClassVar[str | None] = None


@frozen
class MaskPath:
    """runc's maskPath: /dev/null bound on a file, an empty read-only tmpfs
    on a directory; a path this kernel lacks is skipped."""

    target: str

    @property
    def step(self) -> str:
        return f"mask {self.target}"

    @property
    def path(self) -> str:
        return self.target


@frozen
class ReadonlyPath:
    """runc's readonlyPath: ``target`` bound on itself, recursively read-only;
    a path this kernel lacks is skipped."""

    target: str

    @property
    def step(self) -> str:
        return f"make {self.target} read-only"

    @property
    def path(self) -> str:
        return self.target


@frozen
class ReadonlyRoot:
    """mount_setattr("/", MOUNT_ATTR_RDONLY): readOnlyRootFilesystem, once
    the working directory is made."""

    step: ClassVar[str] = "make the root filesystem read-only"
    path: ClassVar[str | None] = None


@frozen
class Chdir:
    """chdir(path), resolved in the root and made first (Kubernetes creates a
    missing workingDir)."""

    path: str
    make: Make = "dirs"
    mode: int = 0o777

    @property
    def step(self) -> str:
        return f"working directory {self.path}"


@frozen
class Stdio:
    """A session of its own (a Ctrl-C on the terminal of `minipod up` goes to
    the supervisor's process group, never straight into a container), stdin
    /dev/null, stdout and stderr these fds, every other fd close-on-exec."""

    stdout_fd: int
    stderr_fd: int
    step: ClassVar[str] = "set up stdio"
    path: ClassVar[str | None] = None


@frozen
class SessionKeyring:
    """keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): a new, empty session keyring
    of the container's own (runc's), its owner allowed to search it."""

    step: ClassVar[str] = "join a new session keyring"
    path: ClassVar[str | None] = None


@frozen
class DropCaps:
    """Only ``keep`` stays in the bounding set, for good (also across exec),
    and in the effective and permitted sets but for ``transient`` (what a
    SetIdentity after it needs, and takes away); the inheritable and ambient
    sets are emptied."""

    keep: int
    transient: int = 0
    step: ClassVar[str] = "drop capabilities"
    path: ClassVar[str | None] = None


@frozen
class SetIdentity:
    """setgroups(groups, or [gid] when None), setresgid, setresuid (None:
    keep the uid; a gid of None: the uid's group in the container's
    /etc/passwd, else 0, containerd's rule). For a non-zero uid the kernel
    clears the capabilities."""

    uid: int | None
    gid: int | None
    groups: tuple[int, ...] | None = None
    keep: int = -1  # the effective and permitted sets then cut to it (-1: all)
    step: ClassVar[str] = "set user and group"
    path: ClassVar[str | None] = None


@frozen
class NoNewPrivs:
    """prctl(PR_SET_NO_NEW_PRIVS): allowPrivilegeEscalation false."""

    step: ClassVar[str] = "set no_new_privs"
    path: ClassVar[str | None] = None


@frozen
class Seccomp:
    """seccomp(SECCOMP_SET_MODE_FILTER, program): the container's profile
    (kernel/seccomp.py compiled it)."""

    program: bytes = field(repr=False)
    step: ClassVar[str] = "load the seccomp filter"
    path: ClassVar[str | None] = None


@frozen
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


@frozen
class EnterCgroup:
    """"0" into each file: the container's cgroup, before any other op (v1:
    each hierarchy's "tasks", which moves the child alone; kernel/cgroups.py).
    Skipped where clone3 made the child there already (mp_start_spec.cgroup_fd)."""

    files: tuple[str, ...]
    step: ClassVar[str] = "enter cgroup"

    @property
    def path(self) -> str | None:
        return self.files[0] if self.files else None


Op = (SetNs | Unshare | OpenPath | CloneTree | Mount | Overlay | PivotRoot | MountFs
      | MoveTree | Symlink | MakeDevice | CloseSources | MaskPath | ReadonlyPath | ReadonlyRoot
      | Chdir | Stdio | SessionKeyring | DropCaps | SetIdentity | NoNewPrivs | Seccomp | Exec
      | EnterCgroup)


def rootfs_ops(plan: RootfsPlan) -> list[Op]:
    """Steps 1 to 5 above: after them the process is inside its new root."""
    ops: list[Op] = [Unshare(msys.CLONE_NEWNS),
                     Mount(None, "/", None, msys.MS_REC | msys.MS_PRIVATE, label="make / private")]
    # One clone per target: move_mount attaches a tree where it is told, and
    # a second move of it would take it away from the first target.
    clones: list[CloneTree] = []

    def clone(source: str, attrs: int) -> int:
        clones.append(CloneTree(source, _overlay_slots(plan) + len(clones), attrs))
        ops.append(clones[-1])
        return clones[-1].slot

    devices = [(name, clone(f"/dev/{name}", 0)) for name in DEVICES]
    shm = clone(plan.shm_dir, NOSUID_NODEV_NOEXEC)
    binds = [(b, clone(b.source, msys.MOUNT_ATTR_NODEV
                       | (msys.MOUNT_ATTR_RDONLY if b.read_only else 0)))
             for b in plan.binds]
    ops += run_ops(plan)
    sysfs = NOSUID_NODEV_NOEXEC | (0 if plan.privileged else msys.MOUNT_ATTR_RDONLY)
    ops += [
        MountFs("proc", "/proc", NOSUID_NODEV_NOEXEC, source="proc"),
        MountFs("sysfs", "/sys", sysfs, source="sysfs"),
        MountFs("tmpfs", "/dev", msys.MOUNT_ATTR_NOSUID | msys.MOUNT_ATTR_STRICTATIME,
                "mode=755,size=65536k", source="tmpfs"),
    ]
    ops += [MoveTree(f"/dev/{name}", slot, f"/dev/{name}", make="file", mode=0o644,
                     label=f"bind /dev/{name}") for name, slot in devices]
    ops += [MakeDevice(d) for d in plan.host_devices]
    ops += [Symlink(target, f"/dev/{name}") for target, name in DEV_SYMLINKS]
    ops += [
        MountFs("devpts", "/dev/pts", msys.MOUNT_ATTR_NOSUID | msys.MOUNT_ATTR_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620,gid=5", source="devpts", make="dir"),
        # The pod's one /dev/shm (a tmpfs of the sandbox's): POSIX shm is
        # shared by the pod's containers, as System V shm is through the
        # shared ipc namespace.
        MoveTree(plan.shm_dir, shm, "/dev/shm", make="dir", mode=0o1777, label="bind /dev/shm"),
        # mqueue shows the queues of the ipc namespace we are in: the pod's.
        MountFs("mqueue", "/dev/mqueue", NOSUID_NODEV_NOEXEC, source="mqueue", make="dir",
                mode=0o1777),
    ]
    ops += [MoveTree(b.source, slot, b.target, make="file" if b.is_file else "dirs",
                     mode=0o644 if b.is_file else 0o755, not_in_proc=True)
            for b, slot in binds]
    ops.append(CloseSources())
    ops += [MaskPath(p) for p in plan.masked]
    ops += [ReadonlyPath(p) for p in plan.readonly]
    return ops


def _overlay_slots(plan: RootfsPlan) -> int:
    """Slots 0 .. n-1: the overlay's lower directories; n, n+1: its upper and
    work directories. The image store keeps an image's lowerdir list within
    its budget (imagestore.LOWERDIR_BUDGET), which is far below the C side's
    MP_START_MAX_LOWER."""
    return len(plan.lower) + 2


def run_ops(plan: RootfsPlan) -> tuple[OpenPath | Overlay | PivotRoot, ...]:
    """The overlay's ops: the lower layers' opens, then run_dir_ops."""
    return (*(OpenPath(lower, i) for i, lower in enumerate(plan.lower)), *run_dir_ops(plan))


def run_dir_ops(plan: RootfsPlan) -> tuple[OpenPath | Overlay | PivotRoot, ...]:
    """The ops that name the run's own directories (upper, work, merged): all
    a restart changes in rootfs_ops (the lower layers are the image's)."""
    n = len(plan.lower)
    return (OpenPath(plan.upper, n), OpenPath(plan.work, n + 1),
            Overlay(plan.merged, tuple(range(n)), n, n + 1), PivotRoot(plan.merged))
