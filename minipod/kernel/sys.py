"""Thin typed wrappers over minipod.kernel._native (cffi) for syscalls CPython 3.11 lacks.

With launch.py, which lays out mp_start's table of setup ops, the only
module that imports _native. Every -errno from C becomes an OSError
carrying the path or namespace it concerned, so messages stay concrete.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from minipod.api.frozen import frozen
from minipod.kernel import _native  # type: ignore[attr-defined]

_lib = _native.lib
_ffi = _native.ffi

# the system's flags (csrc/mp_sys.h names them MP_*, so cffi can take their values)
CLONE_NEWNS: int = _lib.MP_CLONE_NEWNS
CLONE_NEWUTS: int = _lib.MP_CLONE_NEWUTS
CLONE_NEWIPC: int = _lib.MP_CLONE_NEWIPC
CLONE_NEWPID: int = _lib.MP_CLONE_NEWPID
CLONE_NEWNET: int = _lib.MP_CLONE_NEWNET
CLONE_NEWCGROUP: int = _lib.MP_CLONE_NEWCGROUP
CLONE_NEWUSER: int = _lib.MP_CLONE_NEWUSER

MS_RDONLY: int = _lib.MP_MS_RDONLY
MS_NOSUID: int = _lib.MP_MS_NOSUID
MS_NODEV: int = _lib.MP_MS_NODEV
MS_NOEXEC: int = _lib.MP_MS_NOEXEC
MS_REMOUNT: int = _lib.MP_MS_REMOUNT
MS_BIND: int = _lib.MP_MS_BIND
MS_REC: int = _lib.MP_MS_REC
MS_PRIVATE: int = _lib.MP_MS_PRIVATE
MS_SLAVE: int = _lib.MP_MS_SLAVE
MS_STRICTATIME: int = _lib.MP_MS_STRICTATIME
MS_RELATIME: int = _lib.MP_MS_RELATIME

MOUNT_ATTR_RDONLY: int = _lib.MP_MOUNT_ATTR_RDONLY
MOUNT_ATTR_NOSUID: int = _lib.MP_MOUNT_ATTR_NOSUID
MOUNT_ATTR_NODEV: int = _lib.MP_MOUNT_ATTR_NODEV
MOUNT_ATTR_NOEXEC: int = _lib.MP_MOUNT_ATTR_NOEXEC
MOUNT_ATTR_STRICTATIME: int = _lib.MP_MOUNT_ATTR_STRICTATIME

MNT_DETACH: int = _lib.MP_MNT_DETACH
MNT_FORCE: int = _lib.MP_MNT_FORCE

# where mp_exec_start failed (csrc/mp_exec.h)
EXEC_OK: int = _lib.MP_EXEC_OK
EXEC_STEP_POD_NS: int = _lib.MP_EXEC_STEP_POD_NS
EXEC_STEP_MNT_NS: int = _lib.MP_EXEC_STEP_MNT_NS
EXEC_STEP_CHDIR: int = _lib.MP_EXEC_STEP_CHDIR
EXEC_STEP_UNSHARE_PID: int = _lib.MP_EXEC_STEP_UNSHARE_PID
EXEC_STEP_CAPBSET: int = _lib.MP_EXEC_STEP_CAPBSET
EXEC_STEP_CAPS: int = _lib.MP_EXEC_STEP_CAPS
EXEC_STEP_SETGROUPS: int = _lib.MP_EXEC_STEP_SETGROUPS
EXEC_STEP_SETGID: int = _lib.MP_EXEC_STEP_SETGID
EXEC_STEP_SETUID: int = _lib.MP_EXEC_STEP_SETUID
EXEC_STEP_CLONE: int = _lib.MP_EXEC_STEP_CLONE
EXEC_STEP_DEVNULL: int = _lib.MP_EXEC_STEP_DEVNULL
EXEC_STEP_STDIO: int = _lib.MP_EXEC_STEP_STDIO
EXEC_STEP_CLOSE_RANGE: int = _lib.MP_EXEC_STEP_CLOSE_RANGE
EXEC_STEP_EXEC: int = _lib.MP_EXEC_STEP_EXEC
EXEC_STEP_KILLED: int = _lib.MP_EXEC_STEP_KILLED
EXEC_STEP_SETSID: int = _lib.MP_EXEC_STEP_SETSID
EXEC_STEP_CTTY: int = _lib.MP_EXEC_STEP_CTTY
EXEC_STEP_PTY: int = _lib.MP_EXEC_STEP_PTY
EXEC_STEP_CGROUP: int = _lib.MP_EXEC_STEP_CGROUP
EXEC_STEP_KEYRING: int = _lib.MP_EXEC_STEP_KEYRING
EXEC_STEP_NO_NEW_PRIVS: int = _lib.MP_EXEC_STEP_NO_NEW_PRIVS
EXEC_STEP_SECCOMP: int = _lib.MP_EXEC_STEP_SECCOMP
EXEC_MAX_NS: int = _lib.MP_EXEC_MAX_NS

# how far mp_probe_dial got (csrc/mp_probe.h)
PROBE_IN_PROGRESS: int = _lib.MP_PROBE_IN_PROGRESS
PROBE_CONNECTED: int = _lib.MP_PROBE_CONNECTED
PROBE_STEP_SETNS: int = _lib.MP_PROBE_STEP_SETNS
PROBE_STEP_SOCKET: int = _lib.MP_PROBE_STEP_SOCKET
PROBE_STEP_HOME: int = _lib.MP_PROBE_STEP_HOME
PROBE_STEP_CONNECT: int = _lib.MP_PROBE_STEP_CONNECT


def _check(ret: int, what: str, path: str | None = None) -> int:
    if ret < 0:
        err = -ret
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return ret


def _cstr(value: str | None) -> object:
    return _ffi.NULL if value is None else value.encode()


def setns(fd: int, nstype: int, name: str | None = None) -> None:
    """Join the namespace behind ``fd`` (nstype 0 accepts any kind)."""
    _check(_lib.mp_setns(fd, nstype), "setns", name)


def unshare(flags: int) -> None:
    _check(_lib.mp_unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None = None,
          flags: int = 0, data: str | None = None) -> None:
    ret = _lib.mp_mount(_cstr(source), target.encode(), _cstr(fstype), flags, _cstr(data))
    _check(ret, f"mount {fstype or source or ''} on {target}".replace("  ", " "), target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_lib.mp_umount2(target.encode(), flags), "umount", target)


# <linux/prctl.h>: what the supervisor and the tests ask of prctl(2)
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_CHILD_SUBREAPER = 36


def prctl(option: int, arg: int = 0) -> int:
    """prctl(2) with one argument; its result (OSError on failure)."""
    return _check(_lib.mp_prctl(option, arg), f"prctl {option}")


def set_child_subreaper(on: bool) -> None:
    prctl(PR_SET_CHILD_SUBREAPER, int(on))


def set_pdeathsig(signo: int) -> None:
    """``signo`` to this thread when its parent thread dies."""
    prctl(PR_SET_PDEATHSIG, signo)


_probe_out = _ffi.new("int[2]")  # reused: the supervisor dials from one thread
_probe_dial = _lib.mp_probe_dial


def probe_dial(netns_fd: int, home_fd: int, family: int, addr: bytes,  # noqa: PLR0917
               port: int, scope_id: int = 0, data: bytes = b"",
               reuse_fd: int = -1) -> tuple[int, int, int]:
    """A non-blocking TCP socket made in the netns behind ``netns_fd`` (-1: ours),
    with SO_LINGER {1, 0}, connecting to ``addr`` (packed, 4 or 16 bytes) and
    ``port`` (csrc/mp_probe.c). The thread is back in ``home_fd``'s netns on return.
    ``reuse_fd``, a socket probe_disconnect() left ready, is connected instead
    of a new one (and closed if that fails).

    Returns (fd, PROBE_CONNECTED or PROBE_IN_PROGRESS, how much of ``data``
    was sent: 0 unless connected, or -errno of that send), or (-errno, the
    step that failed, 0); not an exception: a refused connect is a probe's
    everyday failure, worded by the caller.
    """
    out = _probe_out
    ret = _probe_dial(netns_fd, home_fd, family, addr, port, scope_id, data, len(data),
                      reuse_fd, out)
    return ret, out[0], out[1]


def probe_disconnect(fd: int) -> int:
    """End fd's connection with RST and keep the socket for the next probe_dial:
    0, or -errno (then close it)."""
    return int(_lib.mp_probe_disconnect(fd))


# what an mp_prober report says (csrc/mp_prober.h)
PROBER_SUCCESS: int = _lib.MP_PROBER_SUCCESS
PROBER_DIAL_FAILED: int = _lib.MP_PROBER_DIAL_FAILED
PROBER_CONNECTING: int = _lib.MP_PROBER_CONNECTING
PROBER_SENT: int = _lib.MP_PROBER_SENT
PROBER_ANSWERED: int = _lib.MP_PROBER_ANSWERED
PROBER_EXPIRED: int = _lib.MP_PROBER_EXPIRED


class Prober:
    """The network probes' engine (csrc/mp_prober.c; minipod/probes/net/engine.py).

    turn() fills ``out`` (reused, one buffer per engine) and returns how many
    reports it holds: fields id, what, fd, err, step, sent, deadline. wait()
    fills it too (take_reported() says how many).
    """

    CAP = 64
    MAX_READY = 64

    def __init__(self, home_fd: int) -> None:
        ptr = _lib.mp_prober_new(home_fd)
        if ptr == _ffi.NULL:
            err = _ffi.errno
            raise OSError(err, f"mp_prober_new: {os.strerror(err)}")
        self._ptr = ptr
        self.fd: int = _lib.mp_prober_fd(ptr)
        self.out = _ffi.new("struct mp_prober_report[]", self.CAP)
        self._counts = _ffi.new("int64_t[2]")
        self._turn = _lib.mp_prober_turn
        self._wait = _lib.mp_prober_wait
        self._ready = _ffi.new("int32_t[]", 2 * self.MAX_READY)
        self._reported = _ffi.new("int32_t *")

    def add(self, netns_fd: int, family: int, addr: bytes, port: int,  # noqa: PLR0917
            scope_id: int, request: bytes, first: int, period: int, timeout: int,
            tick: int, quiet: bool, reuse_fd: int) -> int:
        """A probe scheduled from tick ``tick`` on (times: CLOCK_MONOTONIC ns); its id."""
        return _check(_lib.mp_prober_add(self._ptr, netns_fd, family, addr, port, scope_id,
                                         request, len(request), first, period, timeout, tick,
                                         quiet, reuse_fd), "mp_prober_add")

    def remove(self, probe_id: int) -> None:
        _lib.mp_prober_remove(self._ptr, probe_id)

    def quiet(self, probe_id: int, quiet: bool) -> None:
        _lib.mp_prober_quiet(self._ptr, probe_id, quiet)

    def give_back(self, probe_id: int, fd: int) -> None:
        _lib.mp_prober_give_back(self._ptr, probe_id, fd)

    def turn(self) -> int:
        return int(self._turn(self._ptr, self.out, self.CAP))

    def wait(self, epfd: int, timeout: float) -> list[tuple[int, int]]:
        """epoll.poll(timeout) of the loop's epoll ``epfd`` (which holds
        ``fd``), but a wake-up of this engine alone is turned in C, and the
        wait goes on unless the turn reported: take_reported() says how many
        reports ``out`` holds then. [] also when a signal interrupted it."""
        ns = -1 if timeout < 0 else int(timeout * 1e9)
        self._reported[0] = 0
        n = self._wait(self._ptr, epfd, ns, self._ready, self.MAX_READY, self.out, self.CAP,
                       self._reported)
        if n < 0:
            raise OSError(-n, f"mp_prober_wait: {os.strerror(-n)}")
        ready = self._ready
        return [(ready[2 * i], ready[2 * i + 1]) for i in range(n)]

    def take_reported(self) -> int:
        """How many reports the last wait() left in ``out`` (once: then 0)."""
        count, self._reported[0] = int(self._reported[0]), 0
        return count

    def counts(self, probe_id: int) -> tuple[int, int]:
        """(probes started, ticks skipped)."""
        _lib.mp_prober_counts(self._ptr, probe_id, self._counts)
        return int(self._counts[0]), int(self._counts[1])

    def close(self) -> None:
        """Free the engine: every socket it holds is closed."""
        ptr, self._ptr = getattr(self, "_ptr", _ffi.NULL), _ffi.NULL
        if ptr != _ffi.NULL:
            _lib.mp_prober_free(ptr)

    def __del__(self) -> None:
        self.close()  # an engine whose loop went away without stopping its probes


@frozen
class ExecStart:
    """What mp_exec_start reports. The intermediate process is reaped already.

    ``pidfd`` is the command's (CLOEXEC, ours to close), or -1 if it never
    existed. ``step`` is EXEC_OK, or where it failed with ``errno``; a failure
    from EXEC_STEP_DEVNULL on happened in the command's process, which then
    exited 127 (still to be reaped, through ``pidfd``). ``pty_master`` (with
    ``pty``, when it started) is the master of the command's terminal,
    CLOEXEC and ours to close.
    """

    pidfd: int
    step: int
    step_arg: int
    errno: int
    pty_master: int = -1


class ExecCommand:
    """A command line with its environment, PATH (searched for ``argv[0]``
    when it has no slash), working directory and supplementary groups (None:
    just the gid, when an identity is set), as the C strings and arrays
    mp_exec_start reads. An exec probe runs the same command every period:
    ExecTarget.command makes it once per container and command line, not a
    score of cffi allocations per probe."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], path: str, cwd: str,
                 groups: Sequence[int] | None = None) -> None:
        self.argv0 = argv[0]
        self._args = [_ffi.new("char[]", os.fsencode(a)) for a in argv]
        self._envs = [_ffi.new("char[]", os.fsencode(f"{k}={v}")) for k, v in env.items()]
        self.argv = _ffi.new("char *[]", [*self._args, _ffi.NULL])
        self.envp = _ffi.new("char *[]", [*self._envs, _ffi.NULL])
        self.cwd = _ffi.new("char[]", os.fsencode(cwd))
        self.path = _ffi.new("char[]", os.fsencode(path))
        self.groups = _ffi.new("uint32_t[]", list(groups) if groups is not None else [])
        self.n_groups = -1 if groups is None else len(groups)


def exec_start(command: ExecCommand, *, pod_ns: Sequence[tuple[int, int]], mnt_fd: int,
               out_fd: int, keep_caps: int, uid: int | None, gid: int | None,
               in_fd: int = -1, err_fd: int = -1, nested_pid_ns: bool = True,
               new_session: bool = False, pty: bool = False,
               pty_size: tuple[int, int] = (0, 0), cgroup_fd: int = -1,
               cgroup_files: CPaths | None = None, no_new_privs: bool = False,
               seccomp: bytes | None = None) -> ExecStart:
    """Start ``command`` in a running container (csrc/mp_exec.c; minipod/probes/execprobe.py).

    Call it with pid_for_children set to the container's pid namespace.
    ``pod_ns`` is (fd, CLONE_NEW*) in join order. Raises OSError only when
    the intermediate process cannot be created.

    stdin is ``in_fd`` (-1: /dev/null), stdout ``out_fd``, stderr ``err_fd``
    (-1: ``out_fd``). ``nested_pid_ns`` False runs the command as a member of
    the container's pid namespace; ``new_session`` gives it a session of its
    own. ``pty`` gives it a new pty of the container's devpts
    (``pty_size``: rows, columns) as session, controlling terminal and stdio
    instead of the three fds. The command is born in the container's cgroup:
    ``cgroup_fd`` (v2, clone3) or, failing that, ``cgroup_files`` entered
    first. ``no_new_privs`` and ``seccomp`` (a BPF program) confine it as
    the container's own processes are.
    """
    if len(pod_ns) > EXEC_MAX_NS:
        raise ValueError(f"at most {EXEC_MAX_NS} pod namespaces")
    spec = _ffi.new("struct mp_exec_spec *")
    for i, (fd, nstype) in enumerate(pod_ns):
        spec.ns_fds[i], spec.ns_types[i] = fd, nstype
    spec.n_ns = len(pod_ns)
    spec.mnt_fd = mnt_fd
    spec.cwd, spec.path = command.cwd, command.path
    spec.in_fd, spec.out_fd, spec.err_fd = in_fd, out_fd, err_fd
    spec.flags = ((0 if nested_pid_ns else _lib.MP_EXEC_SAME_PID_NS)
                  | (_lib.MP_EXEC_NEW_SESSION if new_session else 0)
                  | (_lib.MP_EXEC_PTY if pty else 0))
    spec.pty_rows, spec.pty_cols = pty_size
    spec.keep_caps = keep_caps
    spec.uid = -1 if uid is None else uid
    spec.gid = -1 if gid is None else gid
    spec.n_groups, spec.groups = command.n_groups, command.groups
    spec.no_new_privs = no_new_privs
    if seccomp is not None:
        program = _ffi.from_buffer(seccomp)  # kept alive by ``seccomp`` until the return
        spec.seccomp, spec.seccomp_len = program, len(seccomp)
    spec.file, spec.argv, spec.envp = command.argv[0], command.argv, command.envp
    spec.cgroup_fd = cgroup_fd
    if cgroup_files is not None:
        spec.cgroup_files, spec.n_cgroup_files = cgroup_files.array, len(cgroup_files.paths)
    _check(_lib.mp_exec_start(spec), "clone", command.argv0)
    return ExecStart(spec.pidfd, spec.step, spec.step_arg, spec.err, spec.pty_master)


# -- cgroups (csrc/mp_cgroup.c; minipod/kernel/cgroups.py) --------------------------

SPAWN_STEPS = {
    _lib.MP_SPAWN_STEP_CGROUP: "enter cgroup", _lib.MP_SPAWN_STEP_SETSID: "setsid",
    _lib.MP_SPAWN_STEP_STDIO: "set up stdio", _lib.MP_SPAWN_STEP_KEEP: "keep report fd",
    _lib.MP_SPAWN_STEP_EXEC: "exec",
}


@frozen
class Spawned:
    pid: int
    pidfd: int
    born_in_cgroup: bool  # clone3 made it there (else it entered by itself)


def spawn(argv: Sequence[str], stdio: tuple[int, int, int], keep_fd: int, *,
          cgroup_fd: int = -1, cgroup_files: Sequence[str] = ()) -> Spawned:
    """posix_spawn of ``argv[0]`` (a path) with an empty environment, born in a
    cgroup: in cgroup v2 directory ``cgroup_fd`` by clone3, else the child
    writes "0" into each of ``cgroup_files`` before anything else. A session
    of its own, default signals, empty mask, ``keep_fd`` inherited.
    OSError names the step that failed."""
    owners: list[object] = []

    def cstr(value: str) -> object:
        buf = _ffi.new("char[]", os.fsencode(value))
        owners.append(buf)
        return buf

    spec = _ffi.new("struct mp_spawn_spec *")
    argv_c = _ffi.new("char *[]", [*(cstr(a) for a in argv), _ffi.NULL])
    envp_c = _ffi.new("char *[]", [_ffi.NULL])
    files_c = _ffi.new("char *[]", [*(cstr(f) for f in cgroup_files), _ffi.NULL])
    spec.file, spec.argv, spec.envp = argv_c[0], argv_c, envp_c
    for i, fd in enumerate(stdio):
        spec.stdio[i] = fd
    spec.keep_fd, spec.cgroup_fd = keep_fd, cgroup_fd
    spec.cgroup_files, spec.n_cgroup_files = files_c, len(cgroup_files)
    _check(_lib.mp_spawn(spec), "clone", argv[0])
    if spec.failed:
        step = SPAWN_STEPS.get(spec.step, f"step {spec.step}")
        where = cgroup_files[spec.step_arg] if spec.step == _lib.MP_SPAWN_STEP_CGROUP \
            else argv[0]
        raise OSError(spec.err, f"{step}: {os.strerror(spec.err)}", where)
    return Spawned(spec.pid, spec.pidfd, spec.placed == _lib.MP_PLACED_CLONE3)


def bpf_device_program(instructions: bytes) -> int:
    """Load a BPF_PROG_TYPE_CGROUP_DEVICE program; its fd. A refusal carries
    the verifier's log in the OSError's message."""
    n = len(instructions) // 8
    insns = _ffi.from_buffer("uint64_t[]", instructions)
    fd: int = _lib.mp_bpf_device_program(insns, n, _ffi.NULL, 0)
    if fd < 0:
        log = _ffi.new("char[]", 1 << 16)
        _lib.mp_bpf_device_program(insns, n, log, 1 << 16)
        text = _ffi.string(log).decode(errors="replace").strip().splitlines()
        raise OSError(-fd, f"load device program: {os.strerror(-fd)}"
                      + (f" ({text[-1]})" if text else ""))
    return fd


def bpf_attach_device(prog_fd: int, cgroup_fd: int, path: str) -> None:
    _check(_lib.mp_bpf_attach_device(prog_fd, cgroup_fd), "attach device program", path)


def bpf_device_programs(cgroup_fd: int, path: str) -> int:
    """How many device programs are attached to the cgroup itself."""
    return _check(_lib.mp_bpf_device_programs(cgroup_fd), "query device programs", path)


class CPaths:
    """Paths as a C array of strings, made once (a container's cgroup files,
    entered by every exec into it)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = tuple(paths)
        self._owners = [_ffi.new("char[]", os.fsencode(p)) for p in self.paths]
        self.array = _ffi.new("char *[]", [*self._owners, _ffi.NULL])


# -- seccomp (csrc/mp_seccomp.c) -------------------------------------------------------

SCMP_ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": _lib.MP_SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": _lib.MP_SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": _lib.MP_SCMP_ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": _lib.MP_SCMP_ACT_TRAP,
    "SCMP_ACT_ERRNO": _lib.MP_SCMP_ACT_ERRNO,
    "SCMP_ACT_TRACE": _lib.MP_SCMP_ACT_TRACE,
    "SCMP_ACT_ALLOW": _lib.MP_SCMP_ACT_ALLOW,
    "SCMP_ACT_LOG": _lib.MP_SCMP_ACT_LOG,
}
SCMP_COMPARES: dict[str, int] = {
    "SCMP_CMP_NE": _lib.MP_SCMP_CMP_NE,
    "SCMP_CMP_LT": _lib.MP_SCMP_CMP_LT,
    "SCMP_CMP_LE": _lib.MP_SCMP_CMP_LE,
    "SCMP_CMP_EQ": _lib.MP_SCMP_CMP_EQ,
    "SCMP_CMP_GE": _lib.MP_SCMP_CMP_GE,
    "SCMP_CMP_GT": _lib.MP_SCMP_CMP_GT,
    "SCMP_CMP_MASKED_EQ": _lib.MP_SCMP_CMP_MASKED_EQ,
}
SECCOMP_MAX_ARGS: int = _lib.MP_SECCOMP_MAX_ARGS


@frozen
class SeccompRule:
    """One rule as libseccomp takes it: a syscall, an action (SCMP_ACTIONS'
    value) with its errno or trace message, and (index, SCMP_COMPARES' value,
    value, value_two) conditions on distinct arguments, all of which hold."""

    name: str
    action: int
    ret: int = 0
    args: tuple[tuple[int, int, int, int], ...] = ()


@frozen
class SeccompProgram:
    bpf: bytes  # struct sock_filter[], for seccomp(SECCOMP_SET_MODE_FILTER)
    unknown: int  # rules whose syscall this libseccomp does not know (skipped)


def seccomp_version() -> int:
    """libseccomp's version (major * 10000 + minor * 100 + micro)."""
    return int(_lib.mp_seccomp_version())


def seccomp_x32() -> bool:
    """Whether this kernel runs x32 system calls (x86-64)."""
    return bool(_lib.mp_seccomp_x32())


def seccomp_compile(default_action: int, default_ret: int, arches: Sequence[str],
                    rules: Sequence[SeccompRule], x32_enosys: bool = False) -> SeccompProgram:
    """The BPF program of a filter (libseccomp; csrc/mp_seccomp.c). ``arches``
    are libseccomp's names of the arches besides the native one; with
    ``x32_enosys`` (x86-64), x32 system calls get ENOSYS. Raises
    ValueError naming the arch or rule libseccomp refused."""
    spec = _ffi.new("struct mp_seccomp_spec *")
    names = [_ffi.new("char[]", a.encode()) for a in arches]
    arch_array = _ffi.new("char *[]", names)
    crules = _ffi.new("struct mp_seccomp_rule[]", len(rules))
    rule_names = []
    for c, rule in zip(crules, rules, strict=True):
        if len(rule.args) > SECCOMP_MAX_ARGS:
            raise ValueError(f"seccomp rule for {rule.name}: more than {SECCOMP_MAX_ARGS} args")
        rule_names.append(_ffi.new("char[]", rule.name.encode()))
        c.name, c.action, c.ret, c.n_args = rule_names[-1], rule.action, rule.ret, len(rule.args)
        for i, (index, op, value, value_two) in enumerate(rule.args):
            c.args[i].index, c.args[i].op = index, op
            c.args[i].value, c.args[i].value_two = value, value_two
    bpf = _ffi.new("unsigned char[]", _lib.MP_SECCOMP_MAX_BPF)
    spec.default_action, spec.default_ret = default_action, default_ret
    spec.arches, spec.n_arches = arch_array, len(arches)
    spec.rules, spec.n_rules = crules, len(rules)
    spec.bpf, spec.bpf_cap = bpf, _lib.MP_SECCOMP_MAX_BPF
    spec.x32_enosys = x32_enosys
    ret = _lib.mp_seccomp_compile(spec)
    if ret < 0:
        if spec.failed_arch >= 0:
            raise ValueError(f"seccomp: architecture {arches[spec.failed_arch]!r}: "
                             f"{os.strerror(-ret)}")
        if spec.failed_rule >= 0:
            raise ValueError(f"seccomp: the rule for {rules[spec.failed_rule].name!r}: "
                             f"{os.strerror(-ret)}")
        raise ValueError(f"seccomp: {os.strerror(-ret)}")
    return SeccompProgram(bytes(_ffi.buffer(bpf, spec.bpf_len)), int(spec.unknown))
