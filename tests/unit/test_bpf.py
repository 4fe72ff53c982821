"""The range layout of seccomp programs (minipod/kernel/bpf.py) decides as
libseccomp's own program does: both run through a classic BPF interpreter of
this test's (written from the kernel's seccomp and classic BPF semantics,
none of bpf.py's code) for every system call number of every arch the
programs name, x32's too, and wherever either program reads an argument,
again with the argument values its conditions test. libseccomp's program is
the truth; the layout only makes it cheaper to load."""

from __future__ import annotations

import functools
import json
import random
import struct
from collections.abc import Iterator

import pytest

from minipod.api import security
from minipod.kernel import bpf, seccomp

U32 = 0xFFFFFFFF
X32_BIT = 0x40000000
# AUDIT_ARCH_* (linux/audit.h): x86-64 (and x32), x86, and a few others
ARCHES = (0xC000003E, 0x40000003, 0xC00000B7, 0x40000028, 0x80000016, 0, U32)
NUMBERS = (*range(1024), *(X32_BIT | n for n in range(1024)),
           0x3FFFFFFF, 0x7FFFFFFF, 0x80000000, U32 - 1, U32)
DEFAULT_CAPS = frozenset(f"CAP_{c}" for c in security.DEFAULT_CAPABILITIES)
ALL_CAPS = DEFAULT_CAPS | {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_BOOT", "CAP_BPF",
                           "CAP_SYS_MODULE", "CAP_SYSLOG", "CAP_PERFMON", "CAP_SYS_TIME",
                           "CAP_SYS_NICE", "CAP_SYS_RAWIO", "CAP_NET_ADMIN"}


# -- the interpreter -------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def instructions(program: bytes) -> tuple[tuple[int, int, int, int], ...]:
    return tuple(struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8))


class Machine:
    """Classic BPF as seccomp runs it (net/core/filter.c, kernel/seccomp.c):
    A, X and 16 words of scratch start at 0, loads read struct seccomp_data,
    32-bit arithmetic, forward jumps, RET ends it. ``read_args`` tells
    whether the run read an argument (assert_same varies the instruction
    pointer for every number)."""

    def __init__(self, program: bytes) -> None:
        self.insns = instructions(program)
        self.read_args = False
        self.first_arg_pc = -1  # where the run first read an argument

    def run(self, data: bytes) -> int:  # noqa: PLR0912 - one case per opcode
        a = x = 0
        mem = [0] * 16
        pc = 0
        while True:
            code, jt, jf, k = self.insns[pc]
            pc += 1
            cls, size_or_op, src = code & 0x07, code & 0xF0, code & 0x08
            if cls == 0x00:  # LD
                if code == 0x20:
                    assert k % 4 == 0 and k + 4 <= len(data), k
                    if k >= 16 and not self.read_args:
                        self.read_args, self.first_arg_pc = True, pc - 1
                    a = struct.unpack_from("<I", data, k)[0]
                elif code == 0x80:
                    a = len(data)
                elif code == 0x00:
                    a = k
                elif code == 0x60:
                    a = mem[k]
                else:
                    raise AssertionError(f"load {code:#x}")
            elif cls == 0x01:  # LDX
                if code == 0x81:
                    x = len(data)
                elif code == 0x01:
                    x = k
                else:
                    assert code == 0x61, f"ldx {code:#x}"
                    x = mem[k]
            elif cls == 0x02:
                mem[k] = a
            elif cls == 0x03:
                mem[k] = x
            elif cls == 0x04:  # ALU
                a = alu(size_or_op, a, x if src else k)
            elif cls == 0x05:  # JMP
                if size_or_op == 0x00:
                    pc += k
                    continue
                operand = x if src else k
                taken = {0x10: a == operand, 0x20: a > operand, 0x30: a >= operand,
                         0x40: bool(a & operand)}[size_or_op]
                pc += jt if taken else jf
            elif cls == 0x06:  # RET
                return a if code & 0x18 == 0x10 else k
            elif code & 0xF8 == 0x00:  # MISC: TAX
                x = a
            else:  # TXA
                a = x


def alu(op: int, a: int, operand: int) -> int:
    if op == 0x00:
        a += operand
    elif op == 0x10:
        a -= operand
    elif op == 0x20:
        a *= operand
    elif op == 0x30:
        a //= operand
    elif op == 0x40:
        a |= operand
    elif op == 0x50:
        a &= operand
    elif op == 0x60:
        a = a << operand if operand < 32 else 0
    elif op == 0x70:
        a = a >> operand if operand < 32 else 0
    elif op == 0x80:
        a = -a
    elif op == 0x90:
        a %= operand
    else:
        assert op == 0xA0, hex(op)
        a ^= operand
    return a & U32


def seccomp_data(nr: int, arch: int, ip: int = 0, args: tuple[int, ...] = (0,) * 6) -> bytes:
    """struct seccomp_data, little-endian (x86-64's)."""
    return struct.pack("<II", nr, arch) + struct.pack("<Q", ip) + struct.pack("<6Q", *args)


def decide(program: bytes, data: bytes) -> tuple[int, bool]:
    machine = Machine(program)
    return machine.run(data), machine.read_args


# -- what to try -----------------------------------------------------------------------


def reachable(insns: tuple[tuple[int, int, int, int], ...], start: int) -> set[int]:
    seen, todo = set(), [start]
    while todo:
        pc = todo.pop()
        if pc in seen or pc >= len(insns):
            continue
        seen.add(pc)
        code, jt, jf, k = insns[pc]
        if code == 0x05:
            todo.append(pc + 1 + k)
        elif code & 0x07 == 0x05:
            todo += [pc + 1 + jt, pc + 1 + jf]
        elif code & 0x07 != 0x06:
            todo.append(pc + 1)
    return seen


def constants(*runs: tuple[bytes, int]) -> set[int]:
    """The values the code from each (program, pc) on compares or masks
    with: each, its neighbours, its complement, and each flag of a mask."""
    found = {0, 1, U32}
    for program, start in runs:
        insns = Machine(program).insns
        for pc in reachable(insns, start):
            code, _, _, k = insns[pc]
            if (code & 0x07 in (0x04, 0x05) and code != 0x05) or code == 0x00:
                found |= {k, (k - 1) & U32, (k + 1) & U32, ~k & U32}
                found |= {1 << b for b in range(32) if k >> b & 1}
    return found


def arg_vectors(words: set[int], seed: int) -> Iterator[tuple[int, tuple[int, ...]]]:
    """(instruction_pointer, args): each argument (and the pointer) alone
    over the values the conditions test, both halves of it; pairs of
    arguments over a few of them; and random ones."""
    values = sorted(set(words) | {w << 32 for w in words} | {U32 << 32 | w for w in words}
                    | {(w << 32) | w for w in words})
    zero = (0,) * 6
    for value in values:
        yield value, zero
        for i in range(6):
            yield 0, (*zero[:i], value, *zero[i + 1:])
    few = sorted(words)[:: max(1, len(words) // 12)]
    for i in range(6):
        for j in range(i + 1, 6):
            for u in few:
                for v in few:
                    args = list(zero)
                    args[i], args[j] = u, v
                    yield 0, tuple(args)
    rng = random.Random(seed)
    pool = sorted(values)
    for _ in range(200):
        yield rng.choice(pool), tuple(rng.choice(pool) if rng.random() < 0.5
                                      else rng.getrandbits(64) for _ in range(6))


def arches_of(*programs: bytes) -> set[int]:
    """ARCHES and the values the programs compare the arch with."""
    found = set(ARCHES)
    for program in programs:
        insns = Machine(program).insns
        for i, (code, _, _, k) in enumerate(insns[:-1]):
            if code == 0x20 and k == 4:
                for later in insns[i + 1:i + 4]:
                    if later[0] & 0x07 == 0x05 and later[0] != 0x05:
                        found |= {later[3], (later[3] - 1) & U32, (later[3] + 1) & U32}
    return found


def assert_same(ours: bytes, theirs: bytes) -> int:
    """Every arch and number; the arguments wherever either program reads
    them, over the values the code from there on tests. Returns how many
    decisions were compared."""
    compared = 0
    for arch in sorted(arches_of(ours, theirs)):
        for nr in NUMBERS:
            data = seccomp_data(nr, arch)
            mine, libs = Machine(ours), Machine(theirs)
            assert mine.run(data) == libs.run(data), (hex(arch), hex(nr))
            data = seccomp_data(nr, arch, ip=(nr * 0x9E3779B97F4A7C15) & (U32 << 32 | U32))
            assert decide(ours, data)[0] == decide(theirs, data)[0], (hex(arch), hex(nr), "ip")
            compared += 2
            if not (mine.read_args or libs.read_args):
                continue  # no argument read: the same for every argument
            words = constants(*((p, m.first_arg_pc) for p, m in ((ours, mine), (theirs, libs))
                                if m.read_args))
            for ip, args in arg_vectors(words, nr ^ arch):
                data = seccomp_data(nr, arch, ip, args)
                assert decide(ours, data)[0] == decide(theirs, data)[0], \
                    (hex(arch), hex(nr), hex(ip), [hex(a) for a in args])
                compared += 1
    return compared


# -- the profiles ----------------------------------------------------------------------


def moby() -> object:
    return json.loads(seccomp.DEFAULT_PROFILE.read_text())


def host(x32: bool) -> seccomp.Host:
    return seccomp.Host("amd64", "SCMP_ARCH_X86_64", (6, 1), x32=x32)


# every operator, 64-bit values, several actions and errnos, two arguments
# in one rule, a rule on a system call x86 reaches through socketcall
EVERY_OP = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                 "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
    "syscalls": [
        {"names": ["read", "write", "close", "exit", "exit_group", "futex", "mmap"],
         "action": "SCMP_ACT_ALLOW"},
        {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 1, "value": 0x5401, "op": "SCMP_CMP_EQ"}]},
        {"names": ["fcntl"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 1, "value": 4, "op": "SCMP_CMP_LT"}]},
        {"names": ["lseek"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 2, "value": 2, "op": "SCMP_CMP_LE"}]},
        {"names": ["pread64"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 3, "value": 0x100000000, "op": "SCMP_CMP_GE"}]},
        {"names": ["pwrite64"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 3, "value": 0x1234567890, "op": "SCMP_CMP_GT"}]},
        {"names": ["kill"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_NE"}]},
        {"names": ["mprotect"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 2, "value": 0x4, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 0x80000, "valueTwo": 0x80000,
                   "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 2, "value": 0x40, "valueTwo": 0x40, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["openat"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["reboot"], "action": "SCMP_ACT_TRAP"},
        {"names": ["getpid"], "action": "SCMP_ACT_LOG"},
        {"names": ["uname"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_EQ"}]},
    ],
}
# an allow-by-default profile that denies some calls, some only for some arguments
DENY_LIST = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "syscalls": [
        {"names": ["mkdir", "mkdirat", "rmdir", "unlink", "unlinkat"],
         "action": "SCMP_ACT_ERRNO", "errnoRet": 30},
        {"names": ["clone"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 0x10000000, "valueTwo": 0x10000000,
                   "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["setsockopt"], "action": "SCMP_ACT_KILL",
         "args": [{"index": 1, "value": 6, "op": "SCMP_CMP_EQ"},
                  {"index": 2, "value": 13, "op": "SCMP_CMP_GT"}]},
    ],
}


def filters() -> Iterator[tuple[str, seccomp.Filter]]:
    yield "RuntimeDefault", seccomp.make_filter(moby(), DEFAULT_CAPS, host(False))
    yield "RuntimeDefault, x32", seccomp.make_filter(moby(), DEFAULT_CAPS, host(True))
    yield "RuntimeDefault, many caps", seccomp.make_filter(moby(), ALL_CAPS, host(False))
    yield "every operator", seccomp.make_filter(EVERY_OP, DEFAULT_CAPS, host(True))
    yield "deny list", seccomp.make_filter(DENY_LIST, DEFAULT_CAPS, host(False))


@pytest.mark.parametrize(("name", "flt"), list(filters()), ids=[n for n, _ in filters()])
def test_the_layout_decides_as_libseccomp_does(name: str, flt: seccomp.Filter) -> None:
    theirs = seccomp.compile_filter(flt)
    ours = bpf.layout(theirs)
    assert ours is not None and ours != theirs, name
    assert assert_same(ours, theirs) > len(arches_of(ours, theirs)) * len(NUMBERS)
    # relayout takes it when it is shorter: Moby's profile, not the small ones
    assert (bpf.relayout(theirs) == ours) == (len(ours) < len(theirs))


@pytest.mark.parametrize(("name", "flt"), list(filters()), ids=[n for n, _ in filters()])
def test_the_uncached_program_decides_as_libseccomp_does(name: str, flt: seccomp.Filter) -> None:
    """Exec probes' and hooks' program (runtime/effects.py): the same
    decisions, and a first instruction that stops the kernel's cache walk
    (seccomp_is_const_allow gives up at a load of anything but nr and arch)."""
    theirs = seccomp.compile_filter(flt)
    ours = bpf.uncached(bpf.relayout(theirs))
    assert len(ours) == len(bpf.relayout(theirs)) + 8, name
    assert instructions(ours)[0] == (0x20, 0, 0, 8)
    assert assert_same(ours, theirs) > len(arches_of(ours, theirs)) * len(NUMBERS)
    # a program that does not begin with a plain load is left as it is
    odd = struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)
    assert bpf.uncached(odd) == odd


def test_runtime_default_is_short_and_shallow() -> None:
    """What the layout is for (README: "Exec probes and seccomp"): fewer
    instructions to check and compile, and a shorter way to each number's
    answer in the kernel's walk over every number (seccomp_cache_prepare)."""
    theirs = seccomp.compile_filter(seccomp.make_filter(moby(), DEFAULT_CAPS, host(False)))
    ours = bpf.relayout(theirs)
    assert len(ours) // 8 < len(theirs) // 8 // 3

    def steps(program: bytes) -> int:  # the kernel's walk: until an argument or a RET
        insns, total = Machine(program).insns, 0
        for arch in (0xC000003E, 0x40000003):
            for nr in range(470):
                pc, a = 0, 0
                while True:
                    code, jt, jf, k = insns[pc]
                    total += 1
                    if (code == 0x20 and k >= 8) or code & 0x07 == 0x06:
                        break
                    if code == 0x20:
                        a = nr if k == 0 else arch
                        pc += 1
                    elif code == 0x54:
                        a &= k
                        pc += 1
                    elif code == 0x05:
                        pc += 1 + k
                    else:
                        pc += 1 + (jt if {0x15: a == k, 0x25: a > k, 0x35: a >= k,
                                          0x45: a & k}[code] else jf)
        return total
    assert steps(ours) < steps(theirs) * 2 // 3


def test_the_interpreter_gives_the_answers_the_profile_states() -> None:
    """The test's interpreter on libseccomp's program, for calls whose
    action the profile states (clone with and without CLONE_NEWUSER)."""
    program = seccomp.compile_filter(seccomp.make_filter(moby(), DEFAULT_CAPS, host(False)))
    x86_64, read, clone, keyctl = 0xC000003E, 0, 56, 250
    allow, eperm = 0x7FFF0000, 0x50001
    assert decide(program, seccomp_data(read, x86_64))[0] == allow
    assert decide(program, seccomp_data(keyctl, x86_64))[0] == eperm
    assert decide(program, seccomp_data(clone, x86_64, args=(0x11,) + (0,) * 5))[0] == allow
    assert decide(program, seccomp_data(clone, x86_64, args=(0x10000000,) + (0,) * 5))[0] == eperm
    assert decide(program, seccomp_data(X32_BIT | read, x86_64))[0] == 0x50026  # ENOSYS


def test_what_it_does_not_model_is_left_alone() -> None:
    tax = struct.pack("<HBBI", 0x20, 0, 0, 0) + struct.pack("<HBBI", 0x07, 0, 0, 0) \
        + struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)
    assert bpf.relayout(tax) == tax
    nr_alu = struct.pack("<HBBI", 0x20, 0, 0, 0) + struct.pack("<HBBI", 0x54, 0, 0, 1) \
        + struct.pack("<HBBI", 0x15, 0, 1, 1) + struct.pack("<HBBI", 0x06, 0, 0, 0) \
        + struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)
    assert bpf.relayout(nr_alu) == nr_alu
    allow = struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)
    assert bpf.relayout(allow) == allow  # nothing shorter to make


def test_far_jumps_go_through_trampolines() -> None:
    """A search whose answers lie more than 255 instructions ahead: each
    conditional jump still lands where it should."""
    # every other number allowed up to 1200: 1200 intervals, and a RET far
    # from most jumps to it
    insns = []
    for n in range(0, 1200, 2):
        insns += [(0x20, 0, 0, 0), (0x15, 0, 1, n), (0x06, 0, 0, 0x7FFF0000)]
    insns.append((0x06, 0, 0, 0x50001))
    theirs = b"".join(struct.pack("<HBBI", *i) for i in insns)
    ours = bpf.layout(theirs)
    assert ours is not None and len(ours) // 8 > 256
    assert any(jt == 0 and code == 0x06 for code, jt, _, _ in Machine(ours).insns[:-2])
    for nr in range(1300):
        data = seccomp_data(nr, 0xC000003E)
        assert decide(ours, data)[0] == decide(theirs, data)[0], nr
