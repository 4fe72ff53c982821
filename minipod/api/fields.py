"""The toolkit every kind's validator is written with, after the API server's
(k8s.io/apimachinery pkg/util/validation, field.ErrorList).

Keys: the field names Kubernetes defines at one level of an object, so that a
real field minipod lacks gets "not supported by minipod" and a typo gets
"unknown field". Obj: one manifest mapping at its field path, whose typed
getters record a FieldError and carry on. Then the shared value rules, each
with the API server's message: type descriptions ("must be X (got Y)"), DNS
labels and subdomains, qualified names, label values, port names and numbers,
enums, counts, and "exactly one of".

Knows no kind: a rule about one kind's field belongs in that kind's module.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any, TypeGuard

from minipod.api.errors import FieldError
from minipod.api.frozen import frozen
from minipod.api.text import printable as shown

# ---------------------------------------------------------------------------
# Key sets: the field names of one level of an object (k8s.io/api types.go)
# ---------------------------------------------------------------------------

NOT_SUPPORTED = "not supported by minipod"


@frozen
class Keys:
    """The field names Kubernetes defines at one level of an object.

    Knowing the real Kubernetes names minipod does not implement lets a manifest
    using them get "not supported by minipod" rather than a misleading
    "unknown field" (which is kept for typos).
    """

    supported: tuple[str, ...]
    unsupported: Mapping[str, str] = field(default_factory=dict)  # name -> message
    ignored: frozenset[str] = frozenset()  # accepted and dropped (server-set fields)

    def known(self) -> list[str]:
        return [*self.supported, *self.unsupported, *sorted(self.ignored)]


def keys(supported: str, unsupported: str = "", hint: str = "", ignored: str = "") -> Keys:
    message = f"{NOT_SUPPORTED} ({hint})" if hint else NOT_SUPPORTED
    return Keys(
        tuple(supported.split()),
        dict.fromkeys(unsupported.split(), message),
        frozenset(ignored.split()),
    )


def key_errors(data: dict[Any, Any], path: str, keys: Keys) -> list[FieldError]:
    """One error per key of ``data`` that this level does not accept."""
    errors = []
    for key in data:
        if not isinstance(key, str):
            errors.append(FieldError(path, wrong_type("field names must be strings", key)))
        elif key in keys.unsupported:
            errors.append(FieldError(_join(path, key), keys.unsupported[key]))
        elif key not in keys.supported and key not in keys.ignored:
            errors.append(FieldError(_join(path, key), _unknown_field(key, keys)))
    return errors


def _unknown_field(key: str, keys: Keys) -> str:
    message = f'unknown field "{key}"'
    close = difflib.get_close_matches(key, keys.known(), n=1, cutoff=0.6)
    if close:
        return f'{message}; did you mean "{close[0]}"?'
    if len(keys.supported) <= 8:  # short enough to list in full
        return f"{message} (allowed: {', '.join(keys.supported)})"
    return message


# ---------------------------------------------------------------------------
# Obj: typed field readers
# ---------------------------------------------------------------------------

REQUIRED = "Required value"
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1  # an int64 field (terminationGracePeriodSeconds, sleep.seconds)
NUL_MESSAGE = "must not contain a NUL character (the kernel would cut the string there)"
_SHOWN_MAX = 40  # characters of a wrong-typed string quoted back in a message


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def is_int(value: object) -> TypeGuard[int]:
    # YAML booleans are Python ints; the API server rejects true for an int32.
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(value: object) -> str:
    """A value the way the manifest spelled it, for "must be X (got Y)"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        text = str(value)
        if len(text) > _SHOWN_MAX:  # 10**100 is one line, not a screenful
            text = f"{value:.6g}" if isinstance(value, float) else f"{text[:_SHOWN_MAX]}..."
        return f"number {text}"
    if isinstance(value, str):
        cut = value if len(value) <= _SHOWN_MAX else value[:_SHOWN_MAX] + "..."
        return f'string "{shown(cut)}"'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def wrong_type(expected: str, value: object) -> str:
    return f"{expected} (got {_describe(value)})"


def _wrap(value: object, path: str, errors: list[FieldError], keys: Keys) -> Obj | None:
    """``value`` as an Obj after checking it is a mapping with only known keys."""
    if not isinstance(value, dict):
        errors.append(FieldError(path, wrong_type("must be a mapping", value)))
        return None
    errors.extend(key_errors(value, path, keys))
    return Obj(value, path, errors)


class Obj:
    """One manifest mapping at a field path.

    The get_* readers check one field's type; on a mismatch they record a
    FieldError and return None, so callers carry on and find every other error.
    A null value counts as absent, as it does for the API server's decoder.
    """

    def __init__(self, data: dict[Any, Any], path: str, errors: list[FieldError]) -> None:
        self.data = data
        self.path = path
        self.errors = errors

    def at(self, key: str) -> str:
        return _join(self.path, key)

    def fail(self, key: str, message: str) -> None:
        self.errors.append(FieldError(self.at(key), message))

    def fail_here(self, message: str) -> None:
        self.errors.append(FieldError(self.path, message))

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _absent(self, key: str, required: bool) -> bool:
        if self.has(key):
            return False
        if required:
            self.fail(key, REQUIRED)
        return True

    def get_str(self, key: str, *, required: bool = False) -> str | None:
        if self._absent(key, required):
            return None
        value = self.data[key]
        if not isinstance(value, str):
            self.fail(key, wrong_type("must be a string", value))
            return None
        if required and not value:
            self.fail(key, REQUIRED)
            return None
        if "\0" in value:  # a name, a path, a command: none may hold one
            self.fail(key, f'Invalid value: "{shown(value)}": {NUL_MESSAGE}')
            return None
        return value

    def get_int(self, key: str, *, required: bool = False) -> int | None:
        # No "5" for 5: the API server's decoder refuses a string for an int32.
        if self._absent(key, required):
            return None
        value = self.data[key]
        if not is_int(value):
            self.fail(key, wrong_type("must be an integer", value))
            return None
        return value

    def get_bool(self, key: str) -> bool | None:
        if self._absent(key, False):
            return None
        value = self.data[key]
        if not isinstance(value, bool):
            self.fail(key, wrong_type("must be a boolean", value))
            return None
        return value

    def get_list(self, key: str, *, required: bool = False) -> list[Any] | None:
        """A list; with ``required``, an empty one is missing too."""
        if self._absent(key, required):
            return None
        value = self.data[key]
        if not isinstance(value, list):
            self.fail(key, wrong_type("must be a list", value))
            return None
        if required and not value:
            self.fail(key, REQUIRED)
            return None
        return value

    def get_dict(self, key: str) -> dict[Any, Any] | None:
        """A free-form mapping (labels, annotations): no key check."""
        if self._absent(key, False):
            return None
        value = self.data[key]
        if not isinstance(value, dict):
            self.fail(key, wrong_type("must be a mapping", value))
            return None
        return value

    def get_mapping(self, key: str, keys: Keys, *, required: bool = False) -> Obj | None:
        if self._absent(key, required):
            return None
        return _wrap(self.data[key], self.at(key), self.errors, keys)

    def get_mappings(self, key: str, keys: Keys, *, required: bool = False) -> list[Obj]:
        """The items of a list of mappings, each at its ``key[i]`` path."""
        items = self.get_list(key, required=required) or []
        wrapped = (_wrap(v, f"{self.at(key)}[{i}]", self.errors, keys) for i, v in enumerate(items))
        return [obj for obj in wrapped if obj is not None]

    def get_strings(self, key: str, *, required: bool = False) -> tuple[str, ...] | None:
        items = self.get_list(key, required=required)
        if items is None:
            return None
        for i, item in enumerate(items):
            if not isinstance(item, str):
                self.errors.append(
                    FieldError(f"{self.at(key)}[{i}]", wrong_type("must be a string", item))
                )
            elif "\0" in item:  # execve would end the argument there
                self.errors.append(FieldError(f"{self.at(key)}[{i}]",
                                              f'Invalid value: "{shown(item)}": {NUL_MESSAGE}'))
        return tuple(item for item in items if isinstance(item, str) and "\0" not in item)


# ---------------------------------------------------------------------------
# Shared value rules (k8s.io/apimachinery pkg/util/validation)
# ---------------------------------------------------------------------------

_DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")

_DNS_LABEL_MAX = 63
_DNS_SUBDOMAIN_MAX = 253
_PORT_NAME_MAX = 15

_DNS_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-',"
    " and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')"
)
_DNS_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
    " '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')"
)
_QUALIFIED_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and"
    " end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_'"
    " or '.', and must start and end with an alphanumeric character (e.g. 'MyValue')"
)


def _too_long(value: str, limit: int) -> list[str]:
    return [f"must be no more than {limit} characters"] if len(value) > limit else []


def dns_label_errors(value: str) -> list[str]:
    errors = _too_long(value, _DNS_LABEL_MAX)
    return errors if _DNS_LABEL_RE.fullmatch(value) else [*errors, _DNS_LABEL_MSG]


def dns_subdomain_errors(value: str) -> list[str]:
    errors = _too_long(value, _DNS_SUBDOMAIN_MAX)
    return errors if _DNS_SUBDOMAIN_RE.fullmatch(value) else [*errors, _DNS_SUBDOMAIN_MSG]


def qualified_name_errors(value: str) -> list[str]:
    """Label and annotation keys: an optional DNS subdomain prefix, '/', a name."""
    prefix, slash, name = value.rpartition("/")
    if slash and "/" in prefix:
        return ["a qualified name may contain at most one '/'"]
    errors = [f"prefix part {m}" for m in dns_subdomain_errors(prefix)] if slash else []
    if not name:
        return [*errors, "name part must be non-empty"]
    errors += [f"name part {m}" for m in _too_long(name, _DNS_LABEL_MAX)]
    return errors if _QUALIFIED_NAME_RE.fullmatch(name) else [*errors, _QUALIFIED_NAME_MSG]


def label_value_errors(value: str) -> list[str]:
    errors = _too_long(value, _DNS_LABEL_MAX)
    if value and not _QUALIFIED_NAME_RE.fullmatch(value):
        errors.append(_LABEL_VALUE_MSG)
    return errors


def port_name_errors(name: str) -> list[str]:
    """IANA_SVC_NAME (RFC 6335), as validation.IsValidPortName checks it."""
    errors = _too_long(name, _PORT_NAME_MAX)
    if not re.fullmatch(r"[-a-z0-9]+", name):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        errors.append("must not contain consecutive hyphens")
    if not re.search(r"[a-z]", name):
        errors.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors


_PORT_MAX = 65535


def check_port_number(obj: Obj, key: str, number: int) -> bool:
    if 1 <= number <= _PORT_MAX:
        return True
    obj.fail(key, f"Invalid value: {number}: must be between 1 and {_PORT_MAX}, inclusive")
    return False


def check(obj: Obj, key: str, value: str, messages: list[str]) -> None:
    for message in messages:
        obj.fail(key, f'Invalid value: "{shown(value)}": {message}')


def check_unique(obj: Obj, key: str, value: str, seen: set[str]) -> None:
    if value in seen:
        obj.fail(key, f'Duplicate value: "{value}"')
    seen.add(value)


def relative_path_errors(path: str, reserved: bool = False) -> list[str]:
    """validateLocalDescendingPath (and, with ``reserved``, validateLocalNonReservedPath:
    the kubelet's atomic writer keeps names starting with '..' for itself)."""
    errors = ["must be a relative path"] if path.startswith("/") else []
    if ".." in path.split("/"):
        errors.append("must not contain '..'")
    elif reserved and path.startswith(".."):
        errors.append("must not start with '..'")
    return errors


def check_absolute(obj: Obj, key: str, path: str) -> None:
    if not path.startswith("/"):
        obj.fail(key, f'Invalid value: "{path}": must be an absolute path')


def unsupported_value(value: str, allowed: tuple[str, ...]) -> str:
    listed = ", ".join(f'"{a}"' for a in allowed)
    return f'Unsupported value: "{value}": supported values: {listed}'


def get_enum(obj: Obj, key: str, allowed: tuple[str, ...], default: str) -> str:
    value = obj.get_str(key)
    if value is None:
        return default
    if value not in allowed:
        obj.fail(key, unsupported_value(value, allowed))
        return default
    return value


def get_count(
    obj: Obj, key: str, default: int, minimum: int, *, zero_is_default: bool = False
) -> int:
    """An int32 count with a lower bound; absent means ``default``."""
    value = obj.get_int(key)
    if value is None or (zero_is_default and value == 0):
        return default
    if value < minimum:
        obj.fail(key, f"must be >= {minimum}")
        return default
    if value > INT32_MAX:
        obj.fail(key, f"must be <= {INT32_MAX}")
        return default
    return value


def get_int64(obj: Obj, key: str) -> int | None:
    """An int64 field: what the API server's decoder takes, and no more
    (a larger number is refused there, before validation)."""
    value = obj.get_int(key)
    if value is None:
        return None
    if value > INT64_MAX:
        obj.fail(key, f"must be <= {INT64_MAX} (got {_describe(value)})")
        return None
    if value < -INT64_MAX - 1:
        obj.fail(key, f"must be >= {-INT64_MAX - 1} (got {_describe(value)})")
        return None
    return value


def one_of(
    obj: Obj,
    names: tuple[str, ...],
    what: str,
    refused: Iterable[str],
    null_is_set: Iterable[str] = (),
) -> str | None:
    """The single field of ``names`` that ``obj`` sets (a handler or volume source).

    ``refused`` are real alternatives minipod does not implement; they have
    been reported already, so their presence is not "must specify" too.
    ``null_is_set`` are fields that count as set even with a null value.
    """
    present = [n for n in names if obj.has(n) or (n in null_is_set and n in obj.data)]
    if not present:
        if not any(name in obj.data for name in refused):
            obj.fail_here(f"must specify a {what} (one of: {', '.join(names)})")
        return None
    for extra in present[1:]:
        obj.fail(extra, f"may not specify more than 1 {what}")
    return present[0]

