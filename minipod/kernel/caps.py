"""Capability numbers (<linux/capability.h>): fixed kernel ABI. The table is
api/security.py's (CAPABILITY_NUMBERS, which securityContext's validation
needs too); what a container keeps is a mask of them."""

from __future__ import annotations

from minipod.api.security import CAPABILITY_NUMBERS

CAPABILITIES = CAPABILITY_NUMBERS


def mask(names: tuple[str, ...]) -> int:
    """The bit mask of ``names`` (CHOWN, NET_RAW...)."""
    return sum(1 << CAPABILITIES[name] for name in names)
