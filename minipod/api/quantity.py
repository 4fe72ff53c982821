"""Quantities ("64Mi", "500m", "1e3"), parsed and printed as
k8s.io/apimachinery's pkg/api/resource does it, for the API server.

parse_quantity() follows ParseQuantity step by step: the same scanner (and
so the same strings accepted and refused, with its error messages), the
amount rounded up to a nanounit, BinarySI capped at 2^63-1, a BinarySI
amount below 1 turned DecimalSI. str() is Quantity.String(): the string
as written when it was already canonical (ParseQuantity's fast path keeps
it), else the canonical form: no fractional digits, the largest suffix
that loses nothing ("1.5" -> "1500m", "1.5Gi" -> "1536Mi"). milli_value()
and value() round up as MilliValue() and Value() do; the kubelet turns cpu
into millicores and memory into bytes with them.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, localcontext
from typing import Literal

from minipod.api.frozen import frozen

Format = Literal["DecimalSI", "BinarySI", "DecimalExponent"]

_SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
# ParseQuantity's three errors, word for word
FORMAT_WRONG = f"quantities must match the regular expression '{_SPLIT_RE}'"
NUMERIC = "unable to parse numeric part of quantity"
SUFFIX = "unable to parse quantity's suffix"

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12,
                     "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_NAMES = {exponent: name for name, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_NAMES = {exponent: name for name, exponent in _BINARY_SUFFIXES.items()}
_MAX_INT64_FACTORS = 18
_INT64_MAX = 2**63 - 1
_NANO = Decimal("1e-9")
_PRECISION = 400  # digits: exact for every amount a resource can mean
_DIGITS = "0123456789"
_SUFFIX_CHARS = "eEinumkKMGTP"


class QuantityError(ValueError):
    """Not a quantity; the message is the API server's."""


@frozen
class Quantity:
    amount: Decimal  # exact
    format: Format
    text: str = ""  # the string as written, when ParseQuantity kept it as canonical

    def __str__(self) -> str:
        return self.text or _canonical(self.amount, self.format)

    def milli_value(self) -> int:
        """MilliValue(): thousandths, rounded up."""
        return _ceil(self.amount * 1000)

    def value(self) -> int:
        """Value(): a whole number, rounded up."""
        return _ceil(self.amount)

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    def __lt__(self, other: Quantity) -> bool:
        return self.amount < other.amount

    def __le__(self, other: Quantity) -> bool:
        return self.amount <= other.amount


def _ceil(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


def parse_quantity(text: str) -> Quantity:
    """ParseQuantity(text); QuantityError with its message when it is not one."""
    if not text:
        raise QuantityError(FORMAT_WRONG)
    if text == "0":
        return Quantity(Decimal(0), "DecimalSI", "0")
    positive, value, num, denom, suffix = _scan(text)
    base, exponent, fmt = _interpret(suffix)

    fast = _fast_path(text, positive, num, denom, exponent, fmt)
    if fast is not None:
        return fast
    with localcontext() as ctx:
        ctx.prec = _PRECISION  # ParseQuantity works on arbitrary precision decimals
        try:
            amount = Decimal(value)
            if not amount.is_finite():
                raise QuantityError(NUMERIC)
            amount = amount.scaleb(exponent) if base == 10 else amount * (2 ** exponent)
            negative = amount < 0
            # any amount at all is at least a nanounit (rounded up, away from zero)
            amount = abs(amount).quantize(_NANO, rounding=ROUND_CEILING)
        except ArithmeticError:  # beyond any sense (an exponent of millions)
            raise QuantityError(NUMERIC) from None
        if fmt == "BinarySI" and amount > _INT64_MAX:
            amount = Decimal(_INT64_MAX)
        if fmt == "BinarySI" and 0 < amount < 1:
            fmt = "DecimalSI"
        return Quantity(-amount if negative else amount, fmt)


def quantity_from_manifest(value: object) -> Quantity:
    """A quantity as the manifest gives it: a string, or a plain number that
    YAML decoded (the API server reads JSON numbers as quantities too)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise QuantityError(FORMAT_WRONG)
    if isinstance(value, float):
        # the JSON text of the number, as YAML-to-JSON would write it
        text = str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    else:
        text = str(value)
    return parse_quantity(text.strip())


def quantity_bytes(text: str) -> int:
    """A size ("64Mi", "1G", "1e3") as a whole number of bytes (sizeLimit).

    Raises ValueError with the reason when it is not one."""
    quantity = parse_quantity(text.strip())
    if quantity.amount != quantity.amount.to_integral_value():
        raise ValueError("must be a whole number of bytes")
    if quantity.amount > _INT64_MAX:
        raise ValueError("is too large")
    return int(quantity.amount)


def _scan(text: str) -> tuple[bool, str, str, str, str]:
    """parseQuantityString: (positive, value, num, denom, suffix)."""
    positive, pos, end = True, 0, len(text)
    if text[0] in "+-":
        positive = text[0] == "+"
        pos = 1
    while pos < end and text[pos] == "0":  # leading zeros
        pos += 1
    if pos >= end:
        return positive, "0", "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
        if pos >= end:
            return positive, text, num, denom, ""
    elif pos >= end:
        return positive, text, num, denom, ""
    value = text[:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:  # anything else left over
        raise QuantityError(FORMAT_WRONG)
    return positive, value, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, Format]:
    """quantitySuffixer.interpret: (base, exponent, format)."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], "DecimalSI"
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE":
        body = suffix[1:]
        digits = body[1:] if body[0] in "+-" else body
        if digits and all(c in _DIGITS for c in digits):
            exponent = int(body)
            if -2**63 <= exponent < 2**63:  # strconv.ParseInt(..., 64); then int32()
                return 10, (exponent + 2**31) % 2**32 - 2**31, "DecimalExponent"
    raise QuantityError(SUFFIX)


def _fast_path(text: str, positive: bool, num: str, denom: str,  # noqa: PLR0917
               exponent: int, fmt: Format) -> Quantity | None:
    """ParseQuantity's int64 path, which keeps ``text`` as the canonical
    string when it is one; None where ParseQuantity goes on to inf.Dec."""
    mantissa, scale = 1, 0
    if fmt == "BinarySI":
        if exponent < 0 or denom:
            return None
        mantissa = 1 << exponent
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
    else:
        scale = exponent
        precision = _MAX_INT64_FACTORS - (len(num) + len(denom))
    if precision < 0:
        return None
    scale -= len(denom)
    if scale < -9:
        return None
    shifted = num + denom
    result = int(shifted) * mantissa
    if result > _INT64_MAX:
        return None
    amount = Decimal(result if positive else -result).scaleb(scale)
    if fmt == "BinarySI":
        canonical = exponent % 10 == 0 and (int(shifted) & 0x07) != 0
    else:
        canonical = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
    return Quantity(amount, fmt, text if canonical else "")


def _canonical(amount: Decimal, fmt: Format) -> str:
    """CanonicalizeBytes, as a string."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return _canonical_exact(amount, fmt)


def _canonical_exact(amount: Decimal, fmt: Format) -> str:
    if amount == 0:
        return "0"
    sign = "-" if amount < 0 else ""
    magnitude = abs(amount)
    if fmt == "BinarySI":
        if magnitude < 1024 or magnitude != magnitude.to_integral_value():
            fmt = "DecimalSI"  # no rounding, and no confusion
        else:
            whole, power = int(magnitude), 0
            while whole % 1024 == 0 and power < 6:
                whole //= 1024
                power += 1
            return f"{sign}{whole}{_BINARY_NAMES.get(power * 10, '')}"
    mantissa, exponent = _mantissa(magnitude)
    if fmt == "DecimalExponent":
        return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
    return f"{sign}{mantissa}{_DECIMAL_NAMES.get(exponent, '')}"


def _mantissa(magnitude: Decimal) -> tuple[int, int]:
    """An integer and an exponent that is a multiple of 3, as large as
    possible without losing a digit (AsCanonicalBytes)."""
    _sign, digits, exponent = magnitude.normalize().as_tuple()
    mantissa = int("".join(map(str, digits)))
    assert isinstance(exponent, int)
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    return mantissa, exponent

