"""securityContext, of the Pod and of each container: the fields minipod applies
(runAsUser, runAsGroup); the other Kubernetes fields are named and refused.
"""

from __future__ import annotations

from minipod.api.fields import INT32_MAX, Keys, Obj, keys
from minipod.api.model import SecurityContext

POD_SECURITY_KEYS = keys(
    "runAsUser runAsGroup",
    "runAsNonRoot fsGroup fsGroupChangePolicy supplementalGroups supplementalGroupsPolicy"
    " sysctls seLinuxOptions seLinuxChangePolicy seccompProfile appArmorProfile windowsOptions",
)
CONTAINER_SECURITY_KEYS = keys(
    "runAsUser runAsGroup",
    "runAsNonRoot privileged capabilities readOnlyRootFilesystem allowPrivilegeEscalation"
    " seccompProfile seLinuxOptions procMount appArmorProfile windowsOptions",
)


def parse_security_context(parent: Obj, keys: Keys) -> SecurityContext | None:
    obj = parent.get_mapping("securityContext", keys)
    if obj is None:
        return None
    return SecurityContext(_get_id(obj, "runAsUser"), _get_id(obj, "runAsGroup"))


def _get_id(obj: Obj, key: str) -> int | None:
    value = obj.get_int(key)
    if value is not None and not 0 <= value <= INT32_MAX:
        obj.fail(key, f"must be between 0 and {INT32_MAX}, inclusive")
        return None
    return value
