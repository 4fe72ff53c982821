"""seccomp profiles: the JSON format of Moby's and the OCI spec's
(defaultAction, archMap, syscalls with names, action, errnoRet, args,
includes and excludes), turned into the BPF program a container loads
right before exec.

RuntimeDefault is Moby's default profile, shipped in profiles/ (Apache-2.0,
see profiles/NOTICE.seccomp-default): what containerd and Docker give a
container, and what the kubelet's --seccomp-default asks for. Localhost
profiles are files below seccomp_root() (kernel/paths.py), as below the
kubelet's --seccomp-profile-root.

Which rules apply is decided here, as Moby's setupSeccomp does it: a rule
whose includes name capabilities applies only when every one of them is in
the container's bounding set, one that excludes a capability only when none
is; arches and minKernel likewise, against this machine. The rules are then
compiled by libseccomp (csrc/mp_seccomp.c), once per profile and capability
set: a restart, another container with the same set, or an exec probe
reuses the program. libseccomp's program is then laid out again
(kernel/bpf.py: the same decisions as a search over ranges of system call
numbers, a quarter of the instructions), because the kernel's cost of
loading it, which every exec probe pays, grows with its length and depth.
libseccomp takes some 55 ms for Moby's profile on x86-64 (three arches:
x86-64, x86, x32), so the program is also kept on disk in the cache
directory (kernel/paths.py: /var/cache/minipod), with everything it was
made from (the profile's bytes, the capabilities, the arch, the kernel's
version and libseccomp's), which a reader compares before it takes the
program: the first container with a new profile or capability set pays for
it, once per machine, and `minipod exec` finds it there. (The file is named
by a CRC of that key, not a SHA: hashlib's import alone costs the
supervisor's and the CLI's start some 6 ms.) A Localhost profile is read
again when its file changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import zlib
from pathlib import Path
from typing import Any

from minipod.api.frozen import frozen
from minipod.kernel import bpf
from minipod.kernel import sys as msys
from minipod.kernel.paths import cache_root, seccomp_root

DEFAULT_PROFILE = Path(__file__).parent / "profiles" / "seccomp-default.json"
EPERM = 1

# uname's machine -> (the arch as a profile's includes and excludes name
# it: Moby's "native" names, from Go's GOARCH; the arch as archMap names it)
_MACHINES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "i686": ("x86", "SCMP_ARCH_X86"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
    "loongarch64": ("loongarch64", "SCMP_ARCH_LOONGARCH64"),
}


class ProfileError(ValueError):
    """A profile that cannot be read or compiled; the message says why."""


@frozen
class Host:
    """What a profile's includes and excludes are judged against."""

    arch: str  # Moby's native name ("amd64")
    scmp_arch: str  # archMap's name ("SCMP_ARCH_X86_64")
    kernel: tuple[int, int]
    x32: bool = True  # the kernel runs x32 system calls (x86-64)

    @staticmethod
    def this() -> Host:
        machine = os.uname().machine
        arch, scmp_arch = _MACHINES.get(machine, (machine, f"SCMP_ARCH_{machine.upper()}"))
        return Host(arch, scmp_arch, _version(os.uname().release), msys.seccomp_x32())


def _version(text: str) -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", text)
    if found is None:
        raise ProfileError(f"bad kernel version {text!r}")
    return int(found[1]), int(found[2])


@frozen
class Filter:
    """A profile made ready for one capability set: libseccomp's input."""

    default_action: int
    default_ret: int
    arches: tuple[str, ...]  # libseccomp's names, besides the native one
    rules: tuple[msys.SeccompRule, ...]
    x32_enosys: bool = False  # x32 left out: its system calls get ENOSYS


def _action(where: str, name: Any) -> int:
    if name == "SCMP_ACT_NOTIFY":
        raise ProfileError(f"{where}: SCMP_ACT_NOTIFY is not supported by minipod")
    if not isinstance(name, str) or name not in msys.SCMP_ACTIONS:
        raise ProfileError(f"{where}: unknown action {name!r}")
    return msys.SCMP_ACTIONS[name]


def _list(where: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProfileError(f"{where}: must be a list")
    return value


def _applies(call: dict[str, Any], where: str, caps: frozenset[str], host: Host) -> bool:
    """Moby's setupSeccomp: excludes first, then includes."""
    excludes, includes = call.get("excludes") or {}, call.get("includes") or {}
    if not isinstance(excludes, dict) or not isinstance(includes, dict):
        raise ProfileError(f"{where}: includes and excludes must be mappings")
    if host.arch in _list(f"{where}.excludes.arches", excludes.get("arches")):
        return False
    if any(c in caps for c in _list(f"{where}.excludes.caps", excludes.get("caps"))):
        return False
    if excludes.get("minKernel") and host.kernel >= _version(str(excludes["minKernel"])):
        return False
    arches = _list(f"{where}.includes.arches", includes.get("arches"))
    if arches and host.arch not in arches:
        return False
    if not all(c in caps for c in _list(f"{where}.includes.caps", includes.get("caps"))):
        return False
    return not (includes.get("minKernel")
                and host.kernel < _version(str(includes["minKernel"])))


def _args(where: str, args: list[Any]) -> list[tuple[int, int, int, int]]:
    out = []
    for i, arg in enumerate(args):
        if not isinstance(arg, dict):
            raise ProfileError(f"{where}.args[{i}]: must be a mapping")
        index, op = arg.get("index"), arg.get("op")
        if not isinstance(index, int) or not 0 <= index < msys.SECCOMP_MAX_ARGS:
            raise ProfileError(f"{where}.args[{i}].index: must be 0 to 5")
        if op not in msys.SCMP_COMPARES:
            raise ProfileError(f"{where}.args[{i}].op: unknown operator {op!r}")
        values = [arg.get("value", 0), arg.get("valueTwo", 0)]
        if not all(isinstance(v, int) and 0 <= v < 1 << 64 for v in values):
            raise ProfileError(f"{where}.args[{i}]: value and valueTwo must be 64-bit integers")
        out.append((index, msys.SCMP_COMPARES[op], values[0], values[1]))
    return out


def make_filter(profile: Any, caps: frozenset[str], host: Host) -> Filter:
    """The rules of ``profile`` (its parsed JSON) that apply to a container
    whose bounding set is ``caps`` ("CAP_..." names) on ``host``. A rule
    testing one argument twice becomes one rule per condition, as runc
    makes it (libseccomp refuses two conditions on one argument)."""
    if not isinstance(profile, dict):
        raise ProfileError("a profile must be a JSON object")
    for key in ("listenerPath", "flags"):
        if profile.get(key):
            raise ProfileError(f"{key} is not supported by minipod")
    default = _action("defaultAction", profile.get("defaultAction"))
    default_ret = profile.get("defaultErrnoRet", EPERM)
    if not isinstance(default_ret, int):
        raise ProfileError("defaultErrnoRet: must be an integer")
    if profile.get("architectures") and profile.get("archMap"):
        raise ProfileError("both 'architectures' and 'archMap' are specified in the seccomp "
                           "profile, use either 'architectures' or 'archMap'")
    arches = [str(a) for a in _list("architectures", profile.get("architectures"))]
    for entry in _list("archMap", profile.get("archMap")):
        if isinstance(entry, dict) and entry.get("architecture") == host.scmp_arch:
            arches = [host.scmp_arch, *_list("archMap.subArchitectures",
                                             entry.get("subArchitectures"))]
    names = tuple(a.removeprefix("SCMP_ARCH_").lower() for a in arches
                  if a != host.scmp_arch)
    # A kernel that refuses x32 system calls (Debian's and Ubuntu's do unless
    # booted with syscall.x32=y) answers them ENOSYS with or without a
    # filter: the filter answers it itself, and is a third shorter, which
    # makes it that much cheaper to load (every container, every exec probe).
    x32_enosys = "x32" in names and not host.x32
    if x32_enosys:
        names = tuple(n for n in names if n != "x32")
    rules: list[msys.SeccompRule] = []
    for n, call in enumerate(_list("syscalls", profile.get("syscalls"))):
        rules += _rules(f"syscalls[{n}]", call, caps, host)
    return Filter(default, default_ret, names, tuple(rules), x32_enosys)


def _rules(where: str, call: Any, caps: frozenset[str], host: Host
           ) -> list[msys.SeccompRule]:
    """One entry of a profile's syscalls: a rule per name (and per
    condition when one argument is tested twice), or none if it does not
    apply."""
    if not isinstance(call, dict):
        raise ProfileError(f"{where}: must be a mapping")
    if call.get("name") and call.get("names"):
        raise ProfileError(f"{where}: both 'name' and 'names' are specified in the seccomp "
                           "profile, use either 'name' or 'names'")
    if not _applies(call, where, caps, host):
        return []
    action = _action(f"{where}.action", call.get("action"))
    ret = call.get("errnoRet", EPERM if action == msys.SCMP_ACTIONS["SCMP_ACT_ERRNO"] else 0)
    if not isinstance(ret, int):
        raise ProfileError(f"{where}.errnoRet: must be an integer")
    args = _args(where, _list(f"{where}.args", call.get("args")))
    indexes = [a[0] for a in args]
    groups = [[a] for a in args] if len(set(indexes)) < len(indexes) else [args]
    rules = []
    for name in call.get("names") or [call.get("name")]:
        if not isinstance(name, str) or not name:
            raise ProfileError(f"{where}.names: must be syscall names")
        rules += [msys.SeccompRule(name, action, ret, tuple(g)) for g in groups]
    return rules


# (where the profile came from, its file's mtime and size, caps) -> program
_compiled: dict[tuple[str, int, int, frozenset[str]], bytes] = {}
_MAX_CACHED = 64


def runtime_default(caps: frozenset[str]) -> bytes:
    """RuntimeDefault's program for a container whose bounding set is ``caps``."""
    return _program(DEFAULT_PROFILE, caps)


def localhost(name: str, caps: frozenset[str]) -> bytes:
    """The program of profile ``name`` (a path below seccomp_root(); the API
    checked that it is relative and has no '..'). ProfileError if it is
    missing or bad: the container cannot be created (CreateContainerError)."""
    return _program(Path(seccomp_root()) / name, caps)


def _program(path: Path, caps: frozenset[str]) -> bytes:
    try:
        st = os.stat(path)
    except OSError as e:
        raise ProfileError(f"failed to load seccomp profile {str(path)!r}: "
                           f"{e.strerror}") from None
    key = (str(path), st.st_mtime_ns, st.st_size, caps)
    program = _compiled.get(key)
    if program is None:
        try:
            text = path.read_bytes()
        except OSError as e:
            raise ProfileError(f"failed to load seccomp profile {str(path)!r}: "
                               f"{e.strerror}") from None
        host = Host.this()
        made_of = repr((text, sorted(caps), host, msys.seccomp_version(), _FORMAT)).encode()
        program = _read_cached(made_of)
        if program is None:
            try:
                profile = json.loads(text)
            except ValueError as e:
                raise ProfileError(f"failed to load seccomp profile {str(path)!r}: "
                                   f"{e}") from None
            try:
                program = bpf.relayout(compile_filter(make_filter(profile, caps, host)))
            except ProfileError as e:
                raise ProfileError(f"seccomp profile {str(path)!r}: {e}") from None
            _write_cached(made_of, program)
        if len(_compiled) >= _MAX_CACHED:
            _compiled.clear()
        _compiled[key] = program
    return program


_FORMAT = 3  # of the programs kept on disk: csrc/mp_seccomp.c's, laid out by kernel/bpf.py
_MAGIC = b"minipod-seccomp 1\n"


def _cache_path(made_of: bytes) -> str:
    name = f"{zlib.crc32(made_of):08x}{len(made_of):x}.bpf"
    return os.path.join(cache_root(), "seccomp", name)


def _read_cached(made_of: bytes) -> bytes | None:
    """The program kept for ``made_of``, or None (none, or another's)."""
    try:
        with open(_cache_path(made_of), "rb") as f:
            data = f.read()
    except OSError:
        return None
    head = _MAGIC + len(made_of).to_bytes(4, "little") + made_of
    if not data.startswith(head):
        return None
    program = data[len(head):]
    return program if program and len(program) % 8 == 0 else None


def _write_cached(made_of: bytes, program: bytes) -> None:
    """Best effort: a cache directory that cannot take it only costs the next
    supervisor a compile. Written whole under another name, then renamed."""
    path = _cache_path(made_of)
    temp = f"{path}.{os.getpid()}"
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(temp, "wb") as f:
            f.write(_MAGIC + len(made_of).to_bytes(4, "little") + made_of + program)
        os.rename(temp, path)
    with contextlib.suppress(OSError):
        os.unlink(temp)


def compile_filter(flt: Filter) -> bytes:
    """libseccomp's program for ``flt``, as it lays it out."""
    try:
        return msys.seccomp_compile(flt.default_action, flt.default_ret, flt.arches,
                                    flt.rules, flt.x32_enosys).bpf
    except ValueError as e:
        raise ProfileError(str(e)) from None
