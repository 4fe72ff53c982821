"""Quantities ("64Mi", "1G", "1e3"), as k8s.io/apimachinery pkg/api/resource
parses them, turned into the whole numbers minipod uses.
"""

from __future__ import annotations

import re
from decimal import Decimal, DecimalException, localcontext

_QUANTITY_RE = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>[KMGTPE]i|[eE][+-]?[0-9]{1,4}|[numkMGTPE])?"
)
_BINARY_POWERS = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_EXPONENTS = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12}
_DECIMAL_EXPONENTS |= {"P": 15, "E": 18}
_INT64_MAX = 2**63 - 1


def quantity_bytes(text: str) -> int:
    """A quantity ("64Mi", "1G", "1e3", "500") as a whole number of bytes.

    Raises ValueError with the reason when it is not one.
    """
    match = _QUANTITY_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError("must be a quantity such as 64Mi, 1Gi, 500M or 1000")
    suffix = match["suffix"] or ""
    try:
        with localcontext() as ctx:
            ctx.prec = 60  # exact for anything below 2**63 bytes
            value = Decimal(match["number"])
            if suffix in _BINARY_POWERS:
                value *= Decimal(1024) ** _BINARY_POWERS[suffix]
            else:
                exponent = _DECIMAL_EXPONENTS.get(suffix)
                value = value.scaleb(int(suffix[1:]) if exponent is None else exponent)
    except DecimalException as exc:
        raise ValueError("is too large") from exc
    if value != value.to_integral_value():
        raise ValueError("must be a whole number of bytes")
    if value > _INT64_MAX:
        raise ValueError("is too large")
    return int(value)
