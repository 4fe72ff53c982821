"""What a container's securityContext means, with the kubelet's and
containerd's rules (pure: kernel/launch.py turns it into setup ops).

- the effective context: the pod's runAsUser, runAsGroup, runAsNonRoot and
  seccompProfile, each replaced by the container's own when it has one
  (pkg/securitycontext DetermineEffectiveSecurityContext);
- capabilities: containerd 2's default set (DEFAULT_CAPABILITIES), then
  "ALL" added or dropped, then the other names added, then dropped
  (containerd's WithCapabilities); privileged: every capability;
- no_new_privs only when allowPrivilegeEscalation is false
  (AddNoNewPrivileges);
- seccomp: RuntimeDefault unless the context says otherwise (minipod is a
  kubelet with --seccomp-default); none for a privileged container;
- /proc's masked and read-only paths of procMount Default (none for a
  privileged container);
- runAsNonRoot, checked against the user the container will run as, with
  the kubelet's messages (CreateContainerConfigError);
- the supplementary groups: the primary group, the groups /etc/group of the
  image lists the user in (supplementalGroupsPolicy Merge), fsGroup and
  supplementalGroups (containerd's WithAdditionalGIDs, the kubelet's
  determineEffectiveSecurityContext);
- sysctls: the kubelet's safe set, plus every net.* (namespaced by the
  pod's own network namespace: minipod allows them as a kubelet started
  with --allowed-unsafe-sysctls 'net.*' would); everything else is refused
  by name, as the kubelet's SysctlForbidden.
"""

from __future__ import annotations

from minipod.api.frozen import frozen
from minipod.api.model import Capabilities, Container, SecurityContext

# containerd 2.x's defaultUnixCaps (pkg/oci/spec.go): MKNOD, NET_RAW, SETFCAP,
# SYS_CHROOT and AUDIT_WRITE left containerd 1.x's set of 14.
DEFAULT_CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "SETGID", "SETUID", "SETPCAP",
    "NET_BIND_SERVICE", "KILL",
)
# linux/capability.h, by number
ALL_CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
    "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
CAPABILITY_NUMBERS = {name: number for number, name in enumerate(ALL_CAPABILITIES)}

# pkg/securitycontext/util.go: the paths of procMount Default (kept in step
# with moby's and containerd's)
MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# pkg/kubelet/sysctl/safe_sysctls.go (those of a 4.15+ kernel); every net.*
# is allowed besides, which takes in the safe set's net.ipv4 ones
SAFE_SYSCTLS = (
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
)
NAMESPACED_SYSCTL_PREFIXES = ("net.",)


@frozen
class Effective:
    """The settings a container runs with (see the top)."""

    run_as_user: int | None
    run_as_group: int | None
    run_as_non_root: bool
    privileged: bool
    capabilities: frozenset[str]  # "CAP_..." names
    no_new_privs: bool
    seccomp: str  # "RuntimeDefault", "Unconfined" or "Localhost"
    seccomp_localhost: str | None
    read_only_root: bool
    masked: tuple[str, ...]
    readonly: tuple[str, ...]


def effective(container: Container, pod: SecurityContext | None) -> Effective:
    own = container.security_context or SecurityContext()
    pod = pod or SecurityContext()

    def pick(attr: str) -> object:
        value = getattr(own, attr)
        return value if value is not None else getattr(pod, attr)

    privileged = bool(own.privileged)
    profile = own.seccomp_profile or pod.seccomp_profile
    seccomp = "Unconfined" if privileged else (profile.type if profile else "RuntimeDefault")
    run_as_user, run_as_group = pick("run_as_user"), pick("run_as_group")
    return Effective(
        run_as_user=run_as_user if isinstance(run_as_user, int) else None,
        run_as_group=run_as_group if isinstance(run_as_group, int) else None,
        run_as_non_root=bool(pick("run_as_non_root")),
        privileged=privileged,
        capabilities=capability_set(own.capabilities, privileged),
        no_new_privs=own.allow_privilege_escalation is False,
        seccomp=seccomp,
        seccomp_localhost=profile.localhost_profile if profile and seccomp == "Localhost"
        else None,
        read_only_root=bool(own.read_only_root_filesystem),
        masked=() if privileged else MASKED_PATHS,
        readonly=() if privileged else READONLY_PATHS,
    )


def capability_set(caps: Capabilities | None, privileged: bool = False) -> frozenset[str]:
    """containerd's WithCapabilities over its default set; every one for a
    privileged container (oci.WithPrivileged)."""
    if privileged:
        return frozenset(f"CAP_{c}" for c in ALL_CAPABILITIES)
    found = {f"CAP_{c}" for c in DEFAULT_CAPABILITIES}
    if caps is None:
        return frozenset(found)
    add = [c.upper() for c in caps.add]
    drop = [c.upper() for c in caps.drop]
    if "ALL" in add:
        found = {f"CAP_{c}" for c in ALL_CAPABILITIES}
    if "ALL" in drop:
        found = set()
    found |= {f"CAP_{c}" for c in add if c != "ALL"}
    found -= {f"CAP_{c}" for c in drop if c != "ALL"}
    return frozenset(found)


def capability_mask(caps: frozenset[str]) -> int:
    """The kernel's bit mask of ``caps`` ("CAP_..." names)."""
    return sum(1 << CAPABILITY_NUMBERS[c.removeprefix("CAP_")] for c in caps)


def run_as_non_root_error(eff: Effective, uid: int | None, username: str, pod_ref: str,
                          container: str) -> str | None:
    """The kubelet's verifyRunAsNonRoot: the message of its
    CreateContainerConfigError, or None. ``uid`` is the user the image runs
    as (0 for an image without a User), ``username`` its name when the image
    gives a name that is no number."""
    if not eff.run_as_non_root:
        return None
    where = f'(pod: "{pod_ref}", container: {container})'
    if eff.run_as_user is not None:
        if eff.run_as_user == 0:
            return f"container's runAsUser breaks non-root policy {where}"
        return None
    if uid is None and username:
        return (f"container has runAsNonRoot and image has non-numeric user ({username}), "
                f"cannot verify user is non-root {where}")
    if uid == 0:
        return f"container has runAsNonRoot and image will run as root {where}"
    return None


def supplementary_groups(gid: int, member_of: tuple[int, ...], pod: SecurityContext | None
                         ) -> tuple[int, ...]:
    """The groups a container's processes have: its primary group, the
    groups of the image's /etc/group that list the user (``member_of``;
    not with supplementalGroupsPolicy Strict), fsGroup and
    supplementalGroups, sorted and each once (containerd's mergeGids)."""
    groups = {gid}
    pod = pod or SecurityContext()
    if pod.supplemental_groups_policy != "Strict":
        groups.update(member_of)
    if pod.fs_group is not None:
        groups.add(pod.fs_group)
    groups.update(pod.supplemental_groups)
    return tuple(sorted(groups))


def normalize_sysctl(name: str) -> str:
    """The kubelet's NormalizeName: "net/ipv4/conf/eth0.100/rp_filter" is
    "net.ipv4.conf.eth0/100.rp_filter" (dots and slashes swapped when a
    slash comes first)."""
    first = next((c for c in name if c in "./"), ".")
    if first == ".":
        return name
    return name.translate(str.maketrans("./", "/."))


def sysctl_path(name: str) -> str:
    """The file below /proc/sys of a sysctl (normalized name)."""
    return normalize_sysctl(name).translate(str.maketrans("./", "/."))


def forbidden_sysctl(name: str) -> str | None:
    """The kubelet's SysctlForbidden message for a sysctl minipod does not
    set, or None (see the top)."""
    normalized = normalize_sysctl(name)
    if normalized in SAFE_SYSCTLS or normalized.startswith(NAMESPACED_SYSCTL_PREFIXES):
        return None
    return f'forbidden sysctl: "{normalized}" not allowlisted'
