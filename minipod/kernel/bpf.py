"""A seccomp program laid out again for a cheaper load (kernel/seccomp.py).

libseccomp makes a container's filter (csrc/mp_seccomp.c): which system
call, of which arch, with which arguments, gets which action. It lays the
decisions out as a binary tree of single system call numbers: Moby's
profile on x86-64 (arches x86-64 and x86) is some 880 instructions, with a
path of 19 on average from the start to the decision of a system call.

The kernel's cost of loading a filter grows with both. It checks, converts
and JIT-compiles every instruction, some 0.08 us each here; and it runs the
filter once for every system call number of each arch it serves (about 470
of x86-64 and as many of x86), to find the calls whose answer is always
"allow", which it then lets through without running the filter
(seccomp_cache_prepare, Linux 5.11), some 3.5 ns an instruction on the way.
An exec probe loads the container's filter each time, and Moby's profile
made that 0.17 ms of CPU (README: "Exec probes and seccomp").

relayout() keeps libseccomp's decisions and changes their layout only. It
evaluates the program for every arch and every system call number at once,
by ranges of each (a partial evaluation: the program's comparisons of the
arch and the number split the ranges until each range takes a single path),
and lays the decisions out again as a search over ranges of system call
numbers: Moby's allow list is mostly runs of consecutive numbers. What
depends on the arguments (clone's flags, personality, socket's family) is
libseccomp's own code for that system call, copied with the arch and the
number folded in. The result is the same function of struct seccomp_data,
by construction; tests/unit/test_bpf.py runs both programs through a
classic BPF interpreter of its own for every system call number of every
arch, with and without the argument values the conditions test, and they
must decide alike.

Anything it does not model (the X register, scratch memory, an ALU on the
arch or the number, a program over 4096 instructions) leaves the program
as libseccomp made it, and so does a layout that would not be shorter.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

Insn = tuple[int, int, int, int]  # code, jt, jf, k (struct sock_filter)

# linux/filter.h and linux/bpf_common.h
LD_W_ABS, LD_W_LEN, LD_IMM = 0x20, 0x80, 0x00
JA, JEQ, JGT, JGE, JSET = 0x05, 0x15, 0x25, 0x35, 0x45
RET_K, RET_A = 0x06, 0x16
ALU_NEG = 0x84
U32 = 0xFFFFFFFF
_ALU_K: dict[int, Callable[[int, int], int]] = {
    0x04: lambda a, k: a + k, 0x14: lambda a, k: a - k, 0x24: lambda a, k: a * k,
    0x34: lambda a, k: a // k, 0x44: lambda a, k: a | k, 0x54: lambda a, k: a & k,
    0x64: lambda a, k: a << k if k < 32 else 0, 0x74: lambda a, k: a >> k if k < 32 else 0,
    0x94: lambda a, k: a % k, 0xA4: lambda a, k: a ^ k,
}
NR, ARCH, _IP = 0, 4, 8  # offsets of struct seccomp_data's fields
SECCOMP_DATA_SIZE = 64
MAX_INSNS = 4096  # BPF_MAXINSNS
MAX_REGIONS = 20000  # a profile that splits the numbers finer is left as it is
# The system call numbers the kernel's cache walks, and real programs use:
# where a search over the numbers spends its comparisons (x32's are above).
_HOT_NUMBERS = 1024

# A node of the new program, hash-consed (equal nodes are one object):
#   ("ret", k) | ("reta",) | ("ld", offset, next) | ("alu", code, k, next)
#   | ("jmp", code, k, if_true, if_false), a jump on the A register.
Node = tuple[Any, ...]


def decode(program: bytes) -> list[Insn]:
    return [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]


def encode(insns: list[Insn]) -> bytes:
    return b"".join(struct.pack("<HBBI", *i) for i in insns)


class _Unsupported(Exception):
    """The program does something the layout does not model."""


class _Split(Exception):
    """A comparison of ``field`` that the range does not decide: evaluate
    each of ``pieces`` on its own."""

    def __init__(self, field: int, pieces: list[tuple[int, int]]) -> None:
        super().__init__(field)
        self.field, self.pieces = field, pieces


def _test(code: int, a: int, k: int) -> bool:
    if code == JEQ:
        return a == k
    if code == JGT:
        return a > k
    if code == JGE:
        return a >= k
    return bool(a & k)


def _decide(code: int, lo: int, hi: int, k: int) -> bool | list[tuple[int, int]]:
    """A comparison of a value known to be in [lo, hi]: its outcome, or the
    pieces of the range that each have one."""
    if code == JEQ:
        if lo == hi == k:
            return True
        if k < lo or k > hi:
            return False
        return [p for p in ((lo, k - 1), (k, k), (k + 1, hi)) if p[0] <= p[1]]
    if code == JGT:
        if lo > k:
            return True
        if hi <= k:
            return False
        return [(lo, k), (k + 1, hi)]
    if code == JGE:
        if lo >= k:
            return True
        if hi < k:
            return False
        return [(lo, k - 1), (k, hi)]
    raise _Unsupported("JSET on a range of the arch or the number")


class _Evaluator:
    """The program for one region (arch in one range, nr in another): the
    node its run starts with, the arch and the number folded in.

    A is an int (known), ("field", NR or ARCH) (that field, over its
    range), or None (read from an argument: not known). Instructions on a
    known A are done here and leave no code; those on an unknown A become
    nodes."""

    def __init__(self, prog: list[Insn], ranges: dict[int, tuple[int, int]],
                 cons: Callable[[Node], Node]) -> None:
        self.prog, self.ranges, self.cons = prog, ranges, cons
        self.memo: dict[tuple[int, object], Node] = {}

    def run(self, pc: int, a: object) -> Node:
        """From instruction ``pc`` with A = ``a``."""
        start = (pc, a)
        if start in self.memo:
            return self.memo[start]
        while True:
            if not 0 <= pc < len(self.prog):
                raise _Unsupported("a jump out of the program")
            step = self._fold(self.prog[pc], a)
            if step is None:
                break
            pc, a = pc + step[0], step[1]
        node = self._node(pc, a)
        self.memo[start] = node
        return node

    def _fold(self, insn: Insn, a: object) -> tuple[int, object] | None:
        """(how far on, the new A) for an instruction done here, None for
        one that becomes a node."""
        code, jt, jf, k = insn
        if code == LD_W_ABS and k in (NR, ARCH):
            lo, hi = self.ranges[k]
            return 1, (lo if lo == hi else ("field", k))
        if code == LD_IMM:
            return 1, k
        if code == LD_W_LEN:
            return 1, SECCOMP_DATA_SIZE
        if code == JA:
            return 1 + k, a
        if code in (JEQ, JGT, JGE, JSET) and a is not None:
            if isinstance(a, int):
                return 1 + (jt if _test(code, a, k) else jf), a
            field = a[1]  # type: ignore[index]
            outcome = _decide(code, *self.ranges[field], k)
            if isinstance(outcome, list):
                raise _Split(field, outcome)
            return 1 + (jt if outcome else jf), a
        if (code in _ALU_K or code == ALU_NEG) and a is not None:
            if not isinstance(a, int):
                raise _Unsupported("ALU on the arch or the number")
            if code in (0x34, 0x94) and k == 0:
                raise _Unsupported("division by zero")
            return 1, (-a if code == ALU_NEG else _ALU_K[code](a, k)) & U32
        return None

    def _node(self, pc: int, a: object) -> Node:
        code, jt, jf, k = self.prog[pc]
        if code == LD_W_ABS:
            if k % 4 or k >= SECCOMP_DATA_SIZE:
                raise _Unsupported("a load outside struct seccomp_data")
            return self.cons(("ld", k, self.run(pc + 1, None)))
        if code in (JEQ, JGT, JGE, JSET):  # on an argument
            taken, other = self.run(pc + 1 + jt, None), self.run(pc + 1 + jf, None)
            # a test whose two ways go on alike decides nothing
            return taken if taken is other else self.cons(("jmp", code, k, taken, other))
        if code in _ALU_K or code == ALU_NEG:
            return self.cons(("alu", code, k, self.run(pc + 1, None)))
        if code == RET_K:
            return self.cons(("ret", k))
        if code == RET_A:
            if isinstance(a, tuple):
                raise _Unsupported("RET A of a range")
            return self.cons(("ret", a) if isinstance(a, int) else ("reta",))
        raise _Unsupported(f"opcode {code:#x}")


def _regions(prog: list[Insn], cons: Callable[[Node], Node]
             ) -> list[tuple[tuple[int, int], tuple[int, int], Node]]:
    """(arch range, nr range, node) covering every arch and number once."""
    todo = [{ARCH: (0, U32), NR: (0, U32)}]
    done: list[tuple[tuple[int, int], tuple[int, int], Node]] = []
    while todo:
        if len(done) + len(todo) > MAX_REGIONS:
            raise _Unsupported("too many regions")
        ranges = todo.pop()
        try:
            node = _Evaluator(prog, ranges, cons).run(0, 0)  # A starts as 0
        except _Split as split:
            todo += [{**ranges, split.field: piece} for piece in split.pieces]
            continue
        done.append((ranges[ARCH], ranges[NR], node))
    return done


def _search(intervals: list[tuple[int, int, Node]], weight: Callable[[int, int], float],
            cons: Callable[[Node], Node]) -> Node:
    """Comparisons of A over contiguous ``intervals`` (lo, hi, node) that end
    at each interval's node: a JEQ chain where a few single values stand out
    of one background, else a split where the weight on either side is
    about even (the weight: how often a value of the interval is looked up)."""
    merged: list[tuple[int, int, Node]] = []
    for lo, hi, node in intervals:
        if merged and merged[-1][2] is node:
            merged[-1] = (merged[-1][0], hi, node)
        else:
            merged.append((lo, hi, node))
    return _tree(merged, weight, cons)


def _tree(ivs: list[tuple[int, int, Node]], weight: Callable[[int, int], float],
          cons: Callable[[Node], Node]) -> Node:
    if len(ivs) == 1:
        return ivs[0][2]
    background = ivs[0][2]
    if len(ivs) % 2 and len(ivs) <= 7 and all(iv[2] is background for iv in ivs[::2]) \
            and all(lo == hi for lo, hi, _ in ivs[1::2]):
        points = sorted(ivs[1::2], key=lambda iv: -weight(iv[0], iv[1]))
        node = background
        for value, _, target in reversed(points):
            node = cons(("jmp", JEQ, value, target, node))
        return node
    weights = [weight(lo, hi) for lo, hi, _ in ivs]
    total, left, best, at = sum(weights), 0.0, None, 1
    for i in range(1, len(ivs)):
        left += weights[i - 1]
        gap = abs(total - 2 * left)
        if best is None or gap < best:
            best, at = gap, i
    return cons(("jmp", JGE, ivs[at][0], _tree(ivs[at:], weight, cons),
                 _tree(ivs[:at], weight, cons)))


def _nr_weight(lo: int, hi: int) -> float:
    return max(0, min(hi, _HOT_NUMBERS - 1) - lo + 1) + 0.001


def _arch_weight(lo: int, hi: int) -> float:
    return 1.0 if lo == hi else 0.001  # real arches are single values


def _dispatch(done: list[tuple[tuple[int, int], tuple[int, int], Node]],
              cons: Callable[[Node], Node]) -> Node:
    """The arch first, then the number: the new program's first node."""
    bounds = sorted({r[0][0] for r in done} | {r[0][1] + 1 for r in done} - {U32 + 1})
    by_arch: list[tuple[int, int, Node]] = []
    for i, lo in enumerate(bounds):
        hi = bounds[i + 1] - 1 if i + 1 < len(bounds) else U32
        numbers = sorted(((n[0], n[1], node) for a, n, node in done if a[0] <= lo and hi <= a[1]),
                         key=lambda iv: iv[0])
        tree = _search(numbers, _nr_weight, cons)
        if len(numbers) > 1 and any(iv[2] is not numbers[0][2] for iv in numbers):
            tree = cons(("ld", NR, tree))
        by_arch.append((lo, hi, tree))
    tree = _search(by_arch, _arch_weight, cons)
    return tree if all(iv[2] is by_arch[0][2] for iv in by_arch) else cons(("ld", ARCH, tree))


def _order(root: Node) -> list[Node]:
    """Postorder: every node after the nodes it goes on to (depth first,
    so that a subtree's nodes stay together in the program)."""
    out: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            out.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack += [(succ, False) for succ in _successors(node)]
    return out


def _successors(node: Node) -> tuple[Node, ...]:
    if node[0] == "jmp":
        return node[3], node[4]
    if node[0] in ("ld", "alu"):
        return (node[-1],)
    return ()


def _emit(root: Node) -> list[Insn]:
    """The nodes as instructions, each before those it goes on to. A
    conditional jump reaches at most 255 instructions ahead: one further
    goes through a trampoline right after it (a JA, or a copy of the RET it
    is for)."""
    rev: list[Insn] = []  # the program, last instruction first
    end: dict[int, int] = {}  # node -> its first instruction's distance from the end

    def copy_or_jump(distance: int, target: Node) -> Insn:
        if target[0] == "ret":
            return (RET_K, 0, 0, target[1])
        if target[0] == "reta":
            return (RET_A, 0, 0, 0)
        return (JA, 0, 0, distance - end[id(target)] - 1)

    for node in _order(root):
        size = len(rev)  # what is placed already comes after this node
        block: list[Insn]
        if node[0] == "ret":
            block = [(RET_K, 0, 0, node[1])]
        elif node[0] == "reta":
            block = [(RET_A, 0, 0, 0)]
        elif node[0] in ("ld", "alu"):
            code, k = (LD_W_ABS, node[1]) if node[0] == "ld" else (node[1], node[2])
            succ = node[-1]
            block = [(code, 0, 0, k)]
            if end[id(succ)] != size:  # not right after: LD and ALU fall through
                block.append((JA, 0, 0, size + 1 - end[id(succ)] - 1))
        else:
            _, code, k, taken, other = node
            far = [False, False]
            for _ in range(3):  # a trampoline moves the jump one further away
                here = size + 1 + sum(far)
                now = [f or here - end[id(t)] - 1 > 255
                       for f, t in zip(far, (taken, other), strict=True)]
                if now == far:
                    break
                far = now
            here = size + 1 + sum(far)
            offsets: list[int] = []
            tramps: list[Insn] = []
            for is_far, target in zip(far, (taken, other), strict=True):
                if is_far:
                    tramps.append(copy_or_jump(here - 1 - len(tramps), target))
                    offsets.append(len(tramps) - 1)
                else:
                    offsets.append(here - end[id(target)] - 1)
            block = [(code, offsets[0], offsets[1], k), *tramps]
        rev.extend(reversed(block))
        end[id(node)] = len(rev)
    return list(reversed(rev))


def layout(program: bytes) -> bytes | None:
    """``program`` laid out as a search over ranges (see the top), or None
    when it does something this does not model."""
    table: dict[Node, Node] = {}

    def cons(node: Node) -> Node:
        return table.setdefault(node, node)

    try:
        insns = _emit(_dispatch(_regions(decode(program), cons), cons))
    except (_Unsupported, RecursionError):
        return None
    return encode(insns) if len(insns) <= MAX_INSNS else None


def relayout(program: bytes) -> bytes:
    """The layout of ``program`` if it is shorter, else ``program``."""
    new = layout(program)
    return new if new is not None and len(new) < len(program) else program


def uncached(program: bytes) -> bytes:
    """``program`` for a process that lives a moment (an exec probe, a hook):
    a load of the instruction pointer in front, which the program's own
    first load overwrites, so every decision stays the same. The kernel's
    cache walk (seccomp_cache_prepare: the filter run for every system call
    number of each arch it serves, see the top) stops at such a load, as
    the value is not a constant: the load costs some 30 us less CPU here,
    and the few dozen system calls of a short command each run the filter
    instead of a lookup in the cache (a few ns apiece, JIT-compiled). The
    container's own processes keep the cached program. A program that does
    not begin with a plain load of A is returned as it is."""
    insns = decode(program)
    if not insns or insns[0][0] not in (LD_W_ABS, LD_W_LEN, LD_IMM) \
            or len(insns) >= MAX_INSNS:
        return program
    return encode([(LD_W_ABS, 0, 0, _IP), *insns])
