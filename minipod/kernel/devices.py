"""The devices a container may use: one list (DEFAULT_DEVICES), from which
the devices cgroup's rules (v1) and the cgroup v2 device program (BPF) are
both made, as runc makes them from one list. Everything else is refused:
open(2) and mknod(2) of any other device fail with EPERM, whatever the
container's capabilities.

The set is the default one of runc and containerd (their "default unix
devices" plus the ptys): null, zero, full, random, urandom, tty, ptmx and
every /dev/pts/N. The same list says which are bound from the host into a
container's /dev (BOUND, rootfs.DEVICES); ptmx and the ptys come from the
container's own devpts. Pure: cgroups.py writes the rules and loads the
program. (Issue 14's device set is this one constant too.)
"""

from __future__ import annotations

import struct

from minipod.api.frozen import frozen

ANY = -1  # a wildcard major or minor


@frozen
class Device:
    kind: str  # "c" (character) or "b" (block)
    major: int  # ANY for every one
    minor: int
    access: str  # some of "rwm": read, write, mknod
    path: str  # where a container finds it
    bound: bool = True  # bound from the host's /dev into the container's

    @property
    def rule(self) -> str:
        """The devices cgroup's form: "c 1:3 rwm", "c 136:* rwm"."""
        def number(n: int) -> str:
            return "*" if n == ANY else str(n)
        return f"{self.kind} {number(self.major)}:{number(self.minor)} {self.access}"


DEFAULT_DEVICES = (
    Device("c", 1, 3, "rwm", "/dev/null"),
    Device("c", 1, 5, "rwm", "/dev/zero"),
    Device("c", 1, 7, "rwm", "/dev/full"),
    Device("c", 1, 8, "rwm", "/dev/random"),
    Device("c", 1, 9, "rwm", "/dev/urandom"),
    Device("c", 5, 0, "rwm", "/dev/tty"),
    Device("c", 5, 2, "rwm", "/dev/ptmx", bound=False),  # the container's devpts' ptmx
    Device("c", 136, ANY, "rwm", "/dev/pts/*", bound=False),  # the ptys it opens there
)

# the names rootfs.py binds into a container's /dev: null, zero, full, random, urandom, tty
BOUND = tuple(d.path.removeprefix("/dev/") for d in DEFAULT_DEVICES if d.bound)


def v1_rules(devices: tuple[Device, ...] = DEFAULT_DEVICES) -> list[tuple[str, str]]:
    """(file, line) writes for a v1 devices cgroup that has no child yet:
    deny everything, then allow each device."""
    return [("devices.deny", "a"), *(("devices.allow", d.rule) for d in devices)]


# -- the cgroup v2 device program ---------------------------------------------------
# BPF_PROG_TYPE_CGROUP_DEVICE gets struct bpf_cgroup_dev_ctx {u32 access_type
# (access << 16 | type); u32 major; u32 minor} in r1 and answers 1 (allow) or
# 0 (deny) in r0 (linux/bpf.h; runc's devicefilter writes the same program).

_DEV_BLOCK, _DEV_CHAR = 1, 2  # BPF_DEVCG_DEV_*
_ACCESS_BITS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_*

_LDX_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
_AND32_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
_RSH32_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
_MOV32_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X
_MOV32_K = 0xB4  # BPF_ALU | BPF_MOV | BPF_K
_JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K: if dst != imm goto +off
_JNE_X = 0x5D  # BPF_JMP | BPF_JNE | BPF_X: if dst != src goto +off
_EXIT = 0x95  # BPF_JMP | BPF_EXIT


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def bpf_program(devices: tuple[Device, ...] = DEFAULT_DEVICES) -> bytes:
    """The instructions (8 bytes each, this machine's byte order being
    little-endian: x86-64 and arm64) of a program that allows exactly
    ``devices``."""
    # r2 = type, r3 = requested access, r4 = major, r5 = minor
    head = [_insn(_LDX_W, 2, 1, 0), _insn(_AND32_K, 2, imm=0xFFFF),
            _insn(_LDX_W, 3, 1, 0), _insn(_RSH32_K, 3, imm=16),
            _insn(_LDX_W, 4, 1, 4), _insn(_LDX_W, 5, 1, 8)]
    blocks = []
    for device in devices:
        # each check jumps to the next device's block when it does not match
        steps: list[tuple[bool, int, int, int, int]] = []  # (check, code, dst, src, imm)
        steps.append((True, _JNE_K, 2, 0, _DEV_CHAR if device.kind == "c" else _DEV_BLOCK))
        allowed = sum(_ACCESS_BITS[c] for c in device.access)
        if allowed != 7:  # every access asked for must be allowed: (r3 & allowed) == r3
            steps += [(False, _MOV32_X, 1, 3, 0), (False, _AND32_K, 1, 0, allowed),
                      (True, _JNE_X, 1, 3, 0)]
        if device.major != ANY:
            steps.append((True, _JNE_K, 4, 0, device.major))
        if device.minor != ANY:
            steps.append((True, _JNE_K, 5, 0, device.minor))
        steps += [(False, _MOV32_K, 0, 0, 1), (False, _EXIT, 0, 0, 0)]  # allow
        n = len(steps)
        blocks += [_insn(code, dst, src, n - i - 1 if check else 0, imm)
                   for i, (check, code, dst, src, imm) in enumerate(steps)]
    deny = _insn(_MOV32_K, 0, imm=0) + _insn(_EXIT)
    return b"".join(head + blocks) + deny
