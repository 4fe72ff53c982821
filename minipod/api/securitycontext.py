"""securityContext, of the Pod and of each container: every field minipod
applies, checked as the API server checks it (ValidateSecurityContext,
validatePodSpecSecurityContext); the others (SELinux, AppArmor, Windows)
are named and refused. What the fields then mean is api/security.py's.
"""

from __future__ import annotations

import re
from dataclasses import replace

from minipod.api.fields import (
    INT32_MAX,
    NOT_SUPPORTED,
    Keys,
    Obj,
    check_unique,
    get_enum,
    keys,
    unsupported_value,
)
from minipod.api.model import Capabilities, SeccompProfile, SecurityContext, Sysctl
from minipod.api.security import ALL_CAPABILITIES, forbidden_sysctl

POD_SECURITY_KEYS = keys(
    "runAsUser runAsGroup runAsNonRoot fsGroup fsGroupChangePolicy supplementalGroups"
    " supplementalGroupsPolicy sysctls seccompProfile",
    "seLinuxOptions seLinuxChangePolicy appArmorProfile windowsOptions",
)
CONTAINER_SECURITY_KEYS = keys(
    "runAsUser runAsGroup runAsNonRoot privileged capabilities readOnlyRootFilesystem"
    " allowPrivilegeEscalation seccompProfile procMount",
    "seLinuxOptions appArmorProfile windowsOptions",
)
_CAPABILITY_KEYS = keys("add drop")
_SECCOMP_KEYS = keys("type localhostProfile")
_SYSCTL_KEYS = keys("name value")
_SECCOMP_TYPES = ("Localhost", "RuntimeDefault", "Unconfined")
_SYSCTL_RE = re.compile(r"([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?")
_SYSCTL_MAX = 253


def parse_security_context(parent: Obj, keys: Keys) -> SecurityContext | None:
    obj = parent.get_mapping("securityContext", keys)
    if obj is None:
        return None
    common = SecurityContext(
        run_as_user=_get_id(obj, "runAsUser"),
        run_as_group=_get_id(obj, "runAsGroup"),
        run_as_non_root=obj.get_bool("runAsNonRoot"),
        seccomp_profile=_seccomp_profile(obj),
    )
    if keys is POD_SECURITY_KEYS:
        return replace(
            common,
            supplemental_groups=_get_ids(obj, "supplementalGroups"),
            supplemental_groups_policy=_get_enum(obj, "supplementalGroupsPolicy",
                                                 ("Merge", "Strict")),
            fs_group=_get_id(obj, "fsGroup"),
            fs_group_change_policy=_get_enum(obj, "fsGroupChangePolicy",
                                             ("OnRootMismatch", "Always")),
            sysctls=_sysctls(obj),
        )
    context = replace(
        common,
        privileged=obj.get_bool("privileged"),
        capabilities=_capabilities(obj),
        read_only_root_filesystem=obj.get_bool("readOnlyRootFilesystem"),
        allow_privilege_escalation=obj.get_bool("allowPrivilegeEscalation"),
        proc_mount=_proc_mount(obj),
    )
    if context.allow_privilege_escalation is False:
        if context.privileged:
            obj.fail_here("Invalid value: cannot set `allowPrivilegeEscalation` to false and "
                          "`privileged` to true")
        # the API server's check compares the name as written
        if context.capabilities is not None and "CAP_SYS_ADMIN" in context.capabilities.add:
            obj.fail_here("Invalid value: cannot set `allowPrivilegeEscalation` to false and "
                          "`capabilities.Add` CAP_SYS_ADMIN")
    return context


def _get_id(obj: Obj, key: str) -> int | None:
    value = obj.get_int(key)
    if value is not None and not 0 <= value <= INT32_MAX:
        obj.fail(key, f"must be between 0 and {INT32_MAX}, inclusive")
        return None
    return value


def _get_ids(obj: Obj, key: str) -> tuple[int, ...]:
    found = []
    for i, value in enumerate(obj.get_list(key) or []):
        if isinstance(value, bool) or not isinstance(value, int):
            obj.fail(f"{key}[{i}]", "must be an integer")
        elif not 0 <= value <= INT32_MAX:
            obj.fail(f"{key}[{i}]", f"must be between 0 and {INT32_MAX}, inclusive")
        else:
            found.append(value)
    return tuple(found)


def _get_enum(obj: Obj, key: str, allowed: tuple[str, ...]) -> str | None:
    return get_enum(obj, key, allowed, "") or None


def _capabilities(obj: Obj) -> Capabilities | None:
    caps = obj.get_mapping("capabilities", _CAPABILITY_KEYS)
    if caps is None:
        return None
    lists = {}
    for key in ("add", "drop"):
        names = caps.get_strings(key) or ()
        for i, name in enumerate(names):
            # The API server takes any string, and containerd gives runc
            # "CAP_" + the name, which runc skips when it is no capability:
            # a typo would be silently ignored, so it is refused here.
            upper = name.upper()
            if upper == "ALL" or upper in ALL_CAPABILITIES:
                continue
            hint = (f'capabilities are named without "CAP_" (e.g. "{upper[4:]}")'
                    if upper.startswith("CAP_") else 'not a Linux capability (e.g. "NET_ADMIN")')
            caps.fail(f"{key}[{i}]", f'Unsupported value: "{name}": {hint}')
        lists[key] = names
    return Capabilities(lists["add"], lists["drop"])


def _seccomp_profile(obj: Obj) -> SeccompProfile | None:
    profile = obj.get_mapping("seccompProfile", _SECCOMP_KEYS)
    if profile is None:
        return None
    kind = profile.get_str("type", required=True)
    if kind is not None and kind not in _SECCOMP_TYPES:
        profile.fail("type", unsupported_value(kind, _SECCOMP_TYPES))
    local = profile.get_str("localhostProfile")
    if kind == "Localhost":
        if not local:
            profile.fail("localhostProfile", "Required value: must be set when seccomp type "
                         "is Localhost")
        elif local.startswith("/"):
            profile.fail("localhostProfile", f'Invalid value: "{local}": must be a relative '
                         "path")
        elif ".." in local.split("/"):
            profile.fail("localhostProfile", f"Invalid value: \"{local}\": must not contain "
                         "'..'")
    elif local is not None:
        profile.fail("localhostProfile", f'Invalid value: "{local}": can only be set when '
                     "seccomp type is Localhost")
    return SeccompProfile(kind or "RuntimeDefault", local if kind == "Localhost" else None)


def _proc_mount(obj: Obj) -> str | None:
    value = obj.get_str("procMount")
    if value == "Unmasked":
        obj.fail("procMount", f'Unsupported value: "Unmasked": {NOT_SUPPORTED} (it needs a '
                 "user namespace, hostUsers: false)")
        return None
    if value is not None and value != "Default":
        obj.fail("procMount", unsupported_value(value, ("Default", "Unmasked")))
        return None
    return value


def _sysctls(obj: Obj) -> tuple[Sysctl, ...]:
    found = []
    names: set[str] = set()
    for item in obj.get_mappings("sysctls", _SYSCTL_KEYS):
        name = item.get_str("name", required=True)
        value = item.get_str("value", required=True)
        if name is None:
            continue
        if len(name) > _SYSCTL_MAX or not _SYSCTL_RE.fullmatch(name):
            item.fail("name", f'Invalid value: "{name}": must have at most {_SYSCTL_MAX} '
                      f"characters and match regex ^{_SYSCTL_RE.pattern}$")
            continue
        check_unique(item, "name", name, names)
        forbidden = forbidden_sysctl(name)
        if forbidden is not None:
            item.fail("name", f"{forbidden} (minipod sets the kubelet's safe sysctls and "
                      "net.*, in the pod's own namespaces)")
            continue
        found.append(Sysctl(name, value or ""))
    return tuple(found)
