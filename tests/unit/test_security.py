"""What a securityContext means (api/security.py), the identity a container
gets from its image (kernel/identity.py), and seccomp profiles made into
libseccomp's rules (kernel/seccomp.py): pure, or on files of a tmp_path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from minipod.api import security
from minipod.api.errors import StartError
from minipod.api.manifest import parse_pods
from minipod.api.model import Capabilities, Container, SeccompProfile, SecurityContext
from minipod.kernel import seccomp
from minipod.kernel import sys as msys
from minipod.kernel.identity import resolve_identity
from minipod.kernel.image import Image, read_image_file

DEFAULT = frozenset(f"CAP_{c}" for c in security.DEFAULT_CAPABILITIES)


def container(**context: object) -> Container:
    return Container("app", "busybox", security_context=SecurityContext(**context)  # type: ignore[arg-type]
                     if context else None)


# -- capabilities -----------------------------------------------------------------------


@pytest.mark.parametrize(("add", "drop", "expected"), [
    ((), (), DEFAULT),
    (("NET_ADMIN",), ("CHOWN",), DEFAULT - {"CAP_CHOWN"} | {"CAP_NET_ADMIN"}),
    # containerd: ALL first, then the single names, whatever the order written
    (("NET_BIND_SERVICE",), ("ALL",), {"CAP_NET_BIND_SERVICE"}),
    (("ALL",), ("CHOWN",), {f"CAP_{c}" for c in security.ALL_CAPABILITIES} - {"CAP_CHOWN"}),
    (("all",), ("ALL",), set()),  # both ALL: drop wins, as in containerd's order
    (("sys_ptrace",), (), DEFAULT | {"CAP_SYS_PTRACE"}),  # containerd upper-cases
])
def test_capabilities_as_containerd_adds_and_drops(add: tuple[str, ...], drop: tuple[str, ...],
                                                   expected: set[str]) -> None:
    assert security.capability_set(Capabilities(add, drop)) == expected


def test_default_set_is_containerd_2s_nine() -> None:
    assert security.capability_mask(DEFAULT) == 0x5FB
    assert len(security.ALL_CAPABILITIES) == 41  # up to CHECKPOINT_RESTORE
    assert security.capability_set(None, privileged=True) == {
        f"CAP_{c}" for c in security.ALL_CAPABILITIES}


# -- the effective context ------------------------------------------------------------------


def test_the_container_wins_field_by_field() -> None:
    pod = SecurityContext(run_as_user=1000, run_as_group=2000, run_as_non_root=True,
                          seccomp_profile=SeccompProfile("Unconfined"))
    eff = security.effective(container(run_as_user=5), pod)
    assert (eff.run_as_user, eff.run_as_group, eff.run_as_non_root, eff.seccomp) == (
        5, 2000, True, "Unconfined")
    eff = security.effective(container(seccomp_profile=SeccompProfile("Localhost", "a.json")),
                             pod)
    assert (eff.seccomp, eff.seccomp_localhost) == ("Localhost", "a.json")


def test_defaults() -> None:
    eff = security.effective(container(), None)
    assert eff.seccomp == "RuntimeDefault"  # minipod is a kubelet with --seccomp-default
    assert not eff.no_new_privs and not eff.privileged and not eff.read_only_root
    assert eff.masked == security.MASKED_PATHS and eff.readonly == security.READONLY_PATHS
    assert eff.capabilities == DEFAULT


@pytest.mark.parametrize(("ape", "nnp"), [(None, False), (True, False), (False, True)])
def test_no_new_privs_only_when_escalation_is_false(ape: bool | None, nnp: bool) -> None:
    """The kubelet's AddNoNewPrivileges: unset allows escalation."""
    assert security.effective(container(allow_privilege_escalation=ape), None).no_new_privs \
        is nnp


def test_privileged_is_unconfined_unmasked_and_all_powerful() -> None:
    eff = security.effective(container(privileged=True, seccomp_profile=SeccompProfile(
        "RuntimeDefault")), None)
    assert eff.seccomp == "Unconfined" and eff.masked == eff.readonly == ()
    assert eff.capabilities == {f"CAP_{c}" for c in security.ALL_CAPABILITIES}


# -- runAsNonRoot ------------------------------------------------------------------------


@pytest.mark.parametrize(("context", "uid", "username", "message"), [
    ({}, 0, "", None),  # not asked
    ({"run_as_non_root": True}, 0, "",
     "container has runAsNonRoot and image will run as root"),
    ({"run_as_non_root": True}, 1000, "", None),
    ({"run_as_non_root": True, "run_as_user": 0}, 0, "",
     "container's runAsUser breaks non-root policy"),
    ({"run_as_non_root": True, "run_as_user": 7}, 0, "", None),
    ({"run_as_non_root": True}, None, "www",
     "container has runAsNonRoot and image has non-numeric user (www), cannot verify user is "
     "non-root"),
    ({"run_as_non_root": False}, 0, "", None),
])
def test_run_as_non_root_as_the_kubelet_words_it(context: dict[str, object], uid: int | None,
                                                 username: str, message: str | None) -> None:
    eff = security.effective(container(**context), None)
    got = security.run_as_non_root_error(eff, uid, username, "web_default(u-1)", "app")
    assert got == (None if message is None
                   else f'{message} (pod: "web_default(u-1)", container: app)')


# -- groups ---------------------------------------------------------------------------------


def image(passwd: str, group: str) -> Image:
    """An image that runs as root (no User), with these /etc files."""
    return Image(ref="x", name="x", lowers=("/nonexistent",), etc_passwd=passwd,
                 etc_group=group)


PASSWD = "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
GROUP = "root:x:0:root\napp:x:1000:app\nmedia:x:1500:app,other\nwheel:x:10:root\n"


@pytest.mark.parametrize(("pod", "context", "expected"), [
    # the image's root: its group, and root's memberships (not its own group)
    (None, {}, (0, 0, (0, 10))),
    # runAsUser: the uid's primary group and memberships
    (None, {"run_as_user": 1000}, (1000, 1000, (1000, 1500))),
    # runAsGroup keeps the memberships the user has (issue 14: they were dropped)
    (None, {"run_as_user": 1000, "run_as_group": 3000}, (1000, 3000, (1500, 3000))),
    # fsGroup and supplementalGroups are added, sorted, once each
    (SecurityContext(fs_group=2000, supplemental_groups=(4000, 1500)), {"run_as_user": 1000},
     (1000, 1000, (1000, 1500, 2000, 4000))),
    # Strict: no /etc/group
    (SecurityContext(supplemental_groups=(4000,), supplemental_groups_policy="Strict"),
     {"run_as_user": 1000}, (1000, 1000, (1000, 4000))),
    # a uid the image does not name: group 0, no memberships
    (None, {"run_as_user": 4321}, (4321, 0, (0,))),
])
def test_identity_as_containerd_merges_groups(pod: SecurityContext | None,
                                              context: dict[str, object],
                                              expected: tuple[int, int, tuple[int, ...]]) -> None:
    eff = security.effective(container(**context), pod)
    who = resolve_identity("c", eff, pod, image(PASSWD, GROUP))
    assert (who.uid, who.gid, who.groups) == expected


def test_image_files_behind_a_symlink_are_not_read(tmp_path: Path) -> None:
    """The identity's /etc files come from the image's layers, never through
    a link (one could point anywhere on the host)."""
    layer = tmp_path / "layer"
    (layer / "etc").mkdir(parents=True)
    secret = tmp_path / "host-passwd"
    secret.write_text("root:x:0:4242::/:/bin/sh\n")
    os.symlink(secret, layer / "etc" / "passwd")
    assert read_image_file((str(layer),), "etc/passwd") is None
    os.symlink(tmp_path, layer / "up")
    assert read_image_file((str(layer),), "up/host-passwd") is None


def test_an_image_user_that_does_not_resolve_cannot_start() -> None:
    """containerd's CreateContainerError; a runAsUser needs no image user."""
    broken = Image(ref="x", name="x", lowers=("/nonexistent",), user="nobody",
                   user_error="unable to find user nobody: no matching entries in passwd file")
    with pytest.raises(StartError, match="unable to find user nobody"):
        resolve_identity("c", security.effective(container(), None), None, broken)
    eff = security.effective(container(run_as_user=1000), None)
    assert resolve_identity("c", eff, None, broken).uid == 1000


# -- sysctls -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "forbidden"), [
    ("kernel.shm_rmid_forced", False), ("net.ipv4.ip_unprivileged_port_start", False),
    ("net.core.somaxconn", False), ("net/ipv4/conf/eth0.100/rp_filter", False),
    ("kernel.msgmax", True), ("kernel.core_pattern", True), ("vm.overcommit_memory", True),
    ("fs.protected_symlinks", True), ("kernel/panic_on_oops", True),
])
def test_only_the_safe_set_and_net(name: str, forbidden: bool) -> None:
    message = security.forbidden_sysctl(name)
    assert (message is not None) is forbidden
    if forbidden:
        assert message == f'forbidden sysctl: "{security.normalize_sysctl(name)}" not allowlisted'


def test_sysctl_names_and_paths() -> None:
    """The kubelet's NormalizeName, and the file below /proc/sys."""
    assert security.normalize_sysctl("net/ipv4/conf/eth0.100/rp_filter") == \
        "net.ipv4.conf.eth0/100.rp_filter"
    assert security.sysctl_path("net.ipv4.conf.eth0/100.rp_filter") == \
        "net/ipv4/conf/eth0.100/rp_filter"
    assert security.sysctl_path("net/ipv4/conf/eth0.100/rp_filter") == \
        "net/ipv4/conf/eth0.100/rp_filter"
    assert security.sysctl_path("kernel.shm_rmid_forced") == "kernel/shm_rmid_forced"


def test_a_manifest_with_every_field() -> None:
    pod = parse_pods("""
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  securityContext:
    runAsUser: 1000
    runAsNonRoot: true
    fsGroup: 2000
    fsGroupChangePolicy: OnRootMismatch
    supplementalGroups: [4000]
    supplementalGroupsPolicy: Merge
    seccompProfile: {type: RuntimeDefault}
    sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "0"}]
  containers:
  - name: app
    image: busybox
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
      seccompProfile: {type: Localhost, localhostProfile: profiles/app.json}
      procMount: Default
      privileged: false
""")[0]
    eff = security.effective(pod.spec.containers[0], pod.spec.security_context)
    assert (eff.run_as_user, eff.run_as_non_root, eff.no_new_privs, eff.read_only_root) == (
        1000, True, True, True)
    assert eff.capabilities == {"CAP_NET_BIND_SERVICE"}
    assert (eff.seccomp, eff.seccomp_localhost) == ("Localhost", "profiles/app.json")
    assert pod.spec.security_context is not None
    assert pod.spec.security_context.sysctls[0].value == "0"


# -- seccomp profiles ------------------------------------------------------------------------

HOST = seccomp.Host("amd64", "SCMP_ARCH_X86_64", (6, 1), x32=True)
ALLOW, ERRNO = msys.SCMP_ACTIONS["SCMP_ACT_ALLOW"], msys.SCMP_ACTIONS["SCMP_ACT_ERRNO"]


def moby() -> object:
    return json.loads(seccomp.DEFAULT_PROFILE.read_text())


def names(flt: seccomp.Filter, action: int) -> set[str]:
    return {r.name for r in flt.rules if r.action == action}


def test_runtime_default_as_moby_makes_it() -> None:
    flt = seccomp.make_filter(moby(), DEFAULT, HOST)
    assert (flt.default_action, flt.default_ret) == (ERRNO, 1)
    assert flt.arches == ("x86", "x32")  # archMap's sub-architectures of x86-64
    allowed = names(flt, ALLOW)
    assert {"read", "ptrace", "arch_prctl"} <= allowed  # ptrace: minKernel 4.8
    # what needs a capability the container lacks stays refused
    assert not {"keyctl", "bpf", "perf_event_open", "unshare", "mount", "open_by_handle_at",
                "io_uring_setup", "reboot", "chroot"} & allowed
    # clone only without namespace flags, clone3 answered ENOSYS so libc falls back
    clone = [r for r in flt.rules if r.name == "clone"]
    assert clone == [msys.SeccompRule("clone", ALLOW, 0, (
        (0, msys.SCMP_COMPARES["SCMP_CMP_MASKED_EQ"], 0x7E020000, 0),))]
    assert [r for r in flt.rules if r.name == "clone3"] == [
        msys.SeccompRule("clone3", ERRNO, 38)]


def test_x32_is_left_to_enosys_where_the_kernel_refuses_it() -> None:
    flt = seccomp.make_filter(moby(), DEFAULT, seccomp.Host("amd64", "SCMP_ARCH_X86_64",
                                                            (6, 1), x32=False))
    assert flt.arches == ("x86",) and flt.x32_enosys
    assert len(seccomp.compile_filter(flt)) < len(seccomp.compile_filter(
        seccomp.make_filter(moby(), DEFAULT, HOST)))


def test_capabilities_open_their_system_calls() -> None:
    flt = seccomp.make_filter(moby(), DEFAULT | {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}, HOST)
    allowed = names(flt, ALLOW)
    assert {"unshare", "mount", "bpf", "clone3", "kcmp", "pidfd_getfd"} <= allowed
    assert not [r for r in flt.rules if r.name == "clone3" and r.action == ERRNO]
    # an old kernel: ptrace needs 4.8
    assert "ptrace" not in names(seccomp.make_filter(moby(), DEFAULT, seccomp.Host(
        "amd64", "SCMP_ARCH_X86_64", (4, 4))), ALLOW)
    # another arch: its own sub-arches and rules
    arm = seccomp.make_filter(moby(), DEFAULT, seccomp.Host("arm64", "SCMP_ARCH_AARCH64", (6, 1)))
    assert arm.arches == ("arm",) and "arch_prctl" not in names(arm, ALLOW)


@pytest.mark.parametrize(("profile", "message"), [
    ([], "a profile must be a JSON object"),
    ({"defaultAction": "SCMP_ACT_NOPE"}, "defaultAction: unknown action 'SCMP_ACT_NOPE'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x"},
     "listenerPath is not supported by minipod"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
                                                         "action": "SCMP_ACT_NOTIFY"}]},
     "syscalls[0].action: SCMP_ACT_NOTIFY is not supported by minipod"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "op": "SCMP_CMP_EQ"}]}]},
     "syscalls[0].args[0].index: must be 0 to 5"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "archMap": [{}]},
     "both 'architectures' and 'archMap' are specified"),
])
def test_bad_profiles_are_named(profile: object, message: str) -> None:
    with pytest.raises(seccomp.ProfileError) as caught:
        seccomp.make_filter(profile, DEFAULT, HOST)
    assert message in str(caught.value)


def test_one_argument_tested_twice_is_two_rules() -> None:
    """runc's rule: libseccomp refuses two conditions on one argument."""
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{
        "names": ["personality"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                 {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]}
    flt = seccomp.make_filter(profile, DEFAULT, HOST)
    assert [r.args for r in flt.rules] == [((0, msys.SCMP_COMPARES["SCMP_CMP_EQ"], 1, 0),),
                                           ((0, msys.SCMP_COMPARES["SCMP_CMP_EQ"], 2, 0),)]
    program = seccomp.compile_filter(flt)
    assert len(program) % 8 == 0 and program


def test_programs_are_kept_on_disk_and_a_localhost_profile_is_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIPOD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MINIPOD_SECCOMP_ROOT", str(tmp_path / "profiles"))
    (tmp_path / "profiles").mkdir()
    profile = tmp_path / "profiles" / "p.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}))
    first = seccomp.localhost("p.json", DEFAULT)
    cached = list((tmp_path / "cache" / "seccomp").iterdir())
    assert len(cached) == 1 and cached[0].read_bytes().endswith(first)
    # what it was made from is in it, and checked: another's program is not taken
    data = cached[0].read_bytes()
    cached[0].write_bytes(data.replace(b"mkdir", b"mkdiR", 1))
    assert seccomp._read_cached(data[22:data.index(first)]) is None
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "rmdir"], "action": "SCMP_ACT_ERRNO"}]}))
    os.utime(profile, ns=(1, 1))  # another mtime, whatever the clock's grain
    assert seccomp.localhost("p.json", DEFAULT) != first
    with pytest.raises(seccomp.ProfileError) as caught:
        seccomp.localhost("missing.json", DEFAULT)
    assert str(caught.value) == (f"failed to load seccomp profile "
                                 f"'{tmp_path}/profiles/missing.json': No such file or directory")
