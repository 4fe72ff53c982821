"""Label and field selectors as kubectl's -l and --field-selector take them
(k8s.io/apimachinery pkg/labels/selector.go Parse, pkg/fields/selector.go).

Labels: requirements joined by commas, each ``key``, ``!key``, ``key=value``,
``key==value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``,
``key>N`` or ``key<N``. Fields: ``path=value``, ``path==value`` or
``path!=value``, over the fields each resource allows (FIELDS); any other
field is the API server's "field label not supported".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from minipod.api.errors import SpecError
from minipod.api.frozen import frozen

_KEY_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]/)?"
                     r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)")
_TOKEN_RE = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")


@frozen
class Requirement:
    key: str
    operator: str  # exists, !, =, !=, in, notin, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        try:  # gt, lt: both sides integers, as labels.Requirement does it
            number, bound = int(value or ""), int(self.values[0])
        except ValueError:
            return False
        return number > bound if self.operator == "gt" else number < bound


@frozen
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str) -> LabelSelector:  # noqa: PLR0912, PLR0915 - one grammar
        """labels.Parse; SpecError with its message when ``text`` is not one."""
        tokens = [t for t in _TOKEN_RE.findall(text) if t]
        rest = "".join(_TOKEN_RE.sub(lambda m: "", text).split())
        if rest:
            raise SpecError(f"unable to parse requirement: found '{rest}'")
        reqs: list[Requirement] = []
        i = 0

        def take() -> str:
            nonlocal i
            if i >= len(tokens):
                raise SpecError(f"unable to parse requirement: found '', expected: "
                                f"identifier after '{tokens[-1] if tokens else ''}'")
            i += 1
            return str(tokens[i - 1])

        while i < len(tokens):
            token = take()
            if token == "!":
                key = _key(take())
                reqs.append(Requirement(key, "!"))
            else:
                key = _key(token)
                op = tokens[i] if i < len(tokens) else ","
                if op == ",":
                    reqs.append(Requirement(key, "exists"))
                elif op in ("=", "==", "!="):
                    i += 1
                    value = tokens[i] if i < len(tokens) and tokens[i] != "," else ""
                    if value:
                        i += 1
                    reqs.append(Requirement(key, "!=" if op == "!=" else "=", (_value(value),)))
                elif op in ("in", "notin"):
                    i += 1
                    if take() != "(":
                        raise SpecError(f"unable to parse requirement: found '{tokens[i - 1]}',"
                                        " expected: '('")
                    values: list[str] = []
                    while True:
                        item = take()
                        if item == ")":
                            break
                        if item == ",":
                            continue
                        values.append(_value(item))
                    reqs.append(Requirement(key, op, tuple(values)))
                elif op in (">", "<"):
                    i += 1
                    bound = take()
                    if not bound.lstrip("-").isdigit():
                        raise SpecError(f"unable to parse requirement: for 'Gt', 'Lt' operators,"
                                        f" the value must be an integer: {bound}")
                    reqs.append(Requirement(key, "gt" if op == ">" else "lt", (bound,)))
                else:
                    raise SpecError(f"unable to parse requirement: found '{op}', expected: "
                                    "'=', '!=', '==', 'in', notin'")
            if i < len(tokens):
                if tokens[i] != ",":
                    raise SpecError(f"unable to parse requirement: found '{tokens[i]}', "
                                    "expected: ',' or 'end of string'")
                i += 1
        return cls(tuple(reqs))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


def _key(token: str) -> str:
    if not _KEY_RE.fullmatch(token) or len(token.rpartition("/")[2]) > 63:
        raise SpecError(f'unable to parse requirement: invalid label key "{token}": name part '
                        "must consist of alphanumeric characters, '-', '_' or '.', and must "
                        "start and end with an alphanumeric character")
    return token


def _value(token: str) -> str:
    if token and not re.fullmatch(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]", token):
        raise SpecError(f'unable to parse requirement: invalid label value: "{token}": a valid'
                        " label must be an empty string or consist of alphanumeric characters,"
                        " '-', '_' or '.', and must start and end with an alphanumeric character")
    return token


# -- fields --------------------------------------------------------------------------

# The fields the API server lets each resource be selected by (its
# GetAttrs/field label conversion functions); metadata.name and
# metadata.namespace for every one.
FIELDS: dict[str, tuple[str, ...]] = {
    "pods": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
             "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
             "status.podIPs", "status.nominatedNodeName"),
    "events": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
               "involvedObject.uid", "involvedObject.apiVersion",
               "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
               "reportingComponent", "source", "type"),
    "secrets": ("type",),
}


@frozen
class FieldSelector:
    terms: tuple[tuple[str, str, str], ...] = ()  # (path, "=" or "!=", value)

    @classmethod
    def parse(cls, text: str, resource: str) -> FieldSelector:
        terms = []
        allowed = ("metadata.name", "metadata.namespace", *FIELDS.get(resource, ()))
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            match = re.fullmatch(r"([^=!]+?)(==|=|!=)(.*)", part)
            if match is None:
                raise SpecError(f"invalid selector: '{text}'; can't understand '{part}'")
            path, op, value = match.groups()
            if path not in allowed:
                raise SpecError(f'Unable to find "{resource}" that match label selector "", '
                                f'field selector "{text}": field label not supported: {path}')
            terms.append((path, "!=" if op == "!=" else "=", value))
        return cls(tuple(terms))

    def matches(self, value_of: Callable[[str], str]) -> bool:
        return all((value_of(path) == value) == (op == "=") for path, op, value in self.terms)
