"""kernel/cgroups.py without a kernel: which hierarchies a host has and where
minipod's subtree goes (v1, hybrid, v2, systemd), the limits files in the
order the kernel takes them; kernel/devices.py: the v1 rules, and the BPF
device program run on a small interpreter of the instructions it uses."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest

from minipod.kernel import cgroups
from minipod.kernel.cgroups import (
    CgroupError,
    CgroupLimits,
    NotDelegated,
    detect,
    own_cgroup,
    pod_path,
)
from minipod.kernel.devices import ANY, DEFAULT_DEVICES, Device, bpf_program, v1_rules
from minipod.kernel.rootfs import DEVICES

HYBRID = """\
22 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
27 22 0:23 / /sys/fs/cgroup rw,relatime shared:8 - tmpfs tmpfs rw,mode=755
28 27 0:24 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
29 27 0:25 / /sys/fs/cgroup/cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpuacct
30 27 0:26 / /sys/fs/cgroup/cpuset rw,relatime shared:11 - cgroup cgroup rw,cpuset
31 27 0:27 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory
32 27 0:28 / /sys/fs/cgroup/devices rw,relatime shared:13 - cgroup cgroup rw,devices
33 27 0:29 / /sys/fs/cgroup/freezer rw,relatime shared:14 - cgroup cgroup rw,freezer
34 27 0:30 / /sys/fs/cgroup/blkio rw,relatime shared:15 - cgroup cgroup rw,blkio
35 27 0:31 / /sys/fs/cgroup/pids rw,relatime shared:16 - cgroup cgroup rw,pids
36 27 0:32 / /sys/fs/cgroup/systemd rw,relatime shared:17 - cgroup cgroup rw,name=systemd
37 27 0:33 / /sys/fs/cgroup/unified rw,relatime shared:18 - cgroup2 cgroup2 rw
"""

LEGACY_COMOUNTED = """\
28 27 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
31 27 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
32 27 0:28 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
33 27 0:29 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
35 27 0:31 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
"""


def test_hybrid_is_v1_in_every_controller_we_use() -> None:
    host = detect(HYBRID, systemd=False, environ={})
    assert host.version == 1 and host.base == "/" and host.root == "/minipod"
    assert [h.mount for h in host.hierarchies] == [
        f"/sys/fs/cgroup/{c}" for c in ("cpu", "cpuacct", "memory", "devices", "freezer", "pids")]
    assert host.dirs("/minipod/pod1")[2] == "/sys/fs/cgroup/memory/minipod/pod1"
    assert host.file("memory", "/x", "memory.limit_in_bytes") == \
        "/sys/fs/cgroup/memory/x/memory.limit_in_bytes"


def test_comounted_controllers_are_one_hierarchy() -> None:
    host = detect(LEGACY_COMOUNTED, systemd=False, environ={"MINIPOD_CGROUP_ROOT": "mp"})
    assert host.hierarchies[0].controllers == ("cpu", "cpuacct")
    assert host.mount_of("cpuacct") == host.mount_of("cpu") == "/sys/fs/cgroup/cpu,cpuacct"
    assert host.root == "/mp"


def test_a_missing_controller_is_refused_by_name() -> None:
    text = "\n".join(line for line in HYBRID.splitlines() if "freezer" not in line)
    with pytest.raises(CgroupError, match="not mounted: freezer"):
        detect(text, systemd=False, environ={})


def test_no_cgroups_at_all() -> None:
    with pytest.raises(CgroupError, match="no cgroup hierarchy"):
        detect("22 26 0:20 / /sys rw - sysfs sysfs rw\n", systemd=False, environ={})


def test_the_root_name_is_one_name() -> None:
    with pytest.raises(CgroupError, match="single name"):
        detect(HYBRID, systemd=False, environ={"MINIPOD_CGROUP_ROOT": "a/b"})


def v2_host(tmp_path: Path, controllers: str) -> str:
    (tmp_path / "cgroup.controllers").write_text(controllers + "\n")
    return f"30 27 0:26 / {tmp_path} rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n"


def test_unified_without_systemd(tmp_path: Path) -> None:
    host = detect(v2_host(tmp_path, "cpuset cpu io memory hugetlb pids"), systemd=False,
                  environ={})
    assert (host.version, host.base, host.root) == (2, "/", "/minipod")
    assert host.dirs("/minipod") == [f"{tmp_path}/minipod"]
    assert host.file("memory", "/a", "memory.max") == f"{tmp_path}/a/memory.max"


def test_unified_without_a_controller(tmp_path: Path) -> None:
    with pytest.raises(CgroupError, match="not available in /: memory"):
        detect(v2_host(tmp_path, "cpu pids"), systemd=False, environ={})


def test_under_systemd_outside_a_delegated_cgroup(tmp_path: Path) -> None:
    with pytest.raises(NotDelegated, match="not delegated"):
        detect(v2_host(tmp_path, "cpu memory pids"), "0::/user.slice/session-1.scope\n",
               systemd=True, environ={})


def test_reading_needs_no_delegation(tmp_path: Path) -> None:
    host = detect(v2_host(tmp_path, "cpu memory pids"), "0::/user.slice/session-1.scope\n",
                  systemd=True, environ={}, reading=True)
    assert host.base == "/"


def test_own_cgroup() -> None:
    text = "4:memory:/a/b\n1:cpu:/c\n0::/user.slice/x.scope\n"
    assert own_cgroup(1, text) == "/a/b"
    assert own_cgroup(2, text) == "/user.slice/x.scope"
    with pytest.raises(CgroupError):
        own_cgroup(1, "0::/\n")


def test_pod_paths_by_qos() -> None:
    host = detect(HYBRID, systemd=False, environ={})
    assert pod_path(host, "Guaranteed", "u1") == "/minipod/podu1"
    assert pod_path(host, "Burstable", "u1") == "/minipod/burstable/podu1"
    assert pod_path(host, "BestEffort", "u1") == "/minipod/besteffort/podu1"


def test_limits_without_values_write_nothing() -> None:
    assert CgroupLimits().writes(1) == [] == CgroupLimits().writes(2)
    assert CgroupLimits(pids=10).writes(2) == [("pids", "pids.max", "10")]


# -- devices -----------------------------------------------------------------------------


def test_v1_rules_deny_all_then_allow_the_list() -> None:
    assert v1_rules() == [
        ("devices.deny", "a"), ("devices.allow", "c 1:3 rwm"), ("devices.allow", "c 1:5 rwm"),
        ("devices.allow", "c 1:7 rwm"), ("devices.allow", "c 1:8 rwm"),
        ("devices.allow", "c 1:9 rwm"), ("devices.allow", "c 5:0 rwm"),
        ("devices.allow", "c 5:2 rwm"), ("devices.allow", "c 136:* rwm")]


def test_the_devices_bound_into_containers_are_allowed() -> None:
    allowed = {d.path for d in DEFAULT_DEVICES}
    assert {f"/dev/{name}" for name in DEVICES} <= allowed
    assert DEVICES == ("null", "zero", "full", "random", "urandom", "tty")


def run_bpf(program: bytes, kind: int, access: int, major: int, minor: int) -> int:
    """Interpret the instructions bpf_program emits (and only those) on one
    access: r1 points to {access << 16 | type, major, minor}."""
    ctx = [access << 16 | kind, major, minor]
    regs = [0] * 11
    insns = [struct.unpack_from("<BBhi", program, i) for i in range(0, len(program), 8)]
    pc = 0
    while True:
        code, regbits, off, imm = insns[pc]
        dst, src = regbits & 0xF, regbits >> 4
        pc += 1
        if code == 0x61:  # ldxw dst, [src + off]
            assert src == 1
            regs[dst] = ctx[off // 4]
        elif code == 0x54:
            regs[dst] &= imm & 0xFFFFFFFF
        elif code == 0x74:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif code == 0xBC:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif code == 0xB4:
            regs[dst] = imm & 0xFFFFFFFF
        elif code == 0x55:
            if regs[dst] != imm:
                pc += off
        elif code == 0x5D:
            if regs[dst] != regs[src]:
                pc += off
        elif code == 0x95:
            return regs[0]
        else:  # pragma: no cover - an instruction the generator does not make
            raise AssertionError(f"opcode {code:#x}")


CHAR, BLOCK = 2, 1
READ, WRITE, MKNOD = 2, 4, 1


@pytest.mark.parametrize(("kind", "access", "major", "minor", "allowed"), [
    (CHAR, READ | WRITE, 1, 3, 1),  # /dev/null
    (CHAR, MKNOD, 1, 9, 1),  # mknod urandom
    (CHAR, READ, 136, 7, 1),  # /dev/pts/7
    (CHAR, READ | WRITE, 5, 2, 1),  # ptmx
    (CHAR, READ, 1, 11, 0),  # /dev/kmsg
    (CHAR, READ, 1, 1, 0),  # /dev/mem
    (BLOCK, READ, 1, 3, 0),  # a block device with null's numbers
    (BLOCK, READ, 7, 0, 0),  # /dev/loop0
    (CHAR, READ, 4, 0, 0),  # /dev/tty0
])
def test_the_device_program_allows_exactly_the_list(kind: int, access: int, major: int,
                                                    minor: int, allowed: int) -> None:
    assert run_bpf(bpf_program(), kind, access, major, minor) == allowed


def test_the_device_program_checks_the_access_asked_for() -> None:
    read_only = (Device("c", 1, 3, "r", "/dev/null"), Device("b", ANY, ANY, "m", ""))
    program = bpf_program(read_only)
    assert run_bpf(program, CHAR, READ, 1, 3) == 1
    assert run_bpf(program, CHAR, READ | WRITE, 1, 3) == 0
    assert run_bpf(program, BLOCK, MKNOD, 8, 1) == 1
    assert run_bpf(program, BLOCK, READ, 8, 1) == 0


def test_a_cgroup_removed_under_us_reads_as_gone(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """kernfs answers ENODEV for a file whose cgroup was removed while it was
    open (systemd trims an emptied unit's tree while we kill and remove the
    pod's cgroups below it): that is FileNotFoundError, handled as gone."""
    target = tmp_path / "cgroup.kill"
    target.write_text("")

    def removed(fd: int, data: bytes) -> int:
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(cgroups.os, "write", removed)
    with pytest.raises(FileNotFoundError) as caught:
        cgroups._write(str(target), "1")
    assert caught.value.filename == str(target)

    def refused(fd: int, data: bytes) -> int:
        raise OSError(errno.EBUSY, "Device or resource busy")

    monkeypatch.setattr(cgroups.os, "write", refused)
    with pytest.raises(OSError) as other:
        cgroups._write(str(target), "1")
    assert other.value.errno == errno.EBUSY  # any other error stays what it is
