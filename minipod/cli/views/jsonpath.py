"""kubectl's JSONPath (k8s.io/client-go/util/jsonpath): a template of text
and {actions}, where an action is a path (.a.b, ['a'], [0], [*], [1:3],
[-1:], ..name recursion, [?(@.x=="y")] filters, ['a','b'] unions), @, a
"quoted" text, or {range PATH}...{end}.

Its own dialect, not RFC 9535 nor jsonpath-ng's: the template text around
the actions, {range}, and how results print (several results of one action
with a space between them, strings bare, maps and lists as compact JSON)
are kubectl's, so this is a port of client-go's parser and evaluator
rather than a use of a JSONPath library. Missing keys print nothing, as
under kubectl's default --allow-missing-template-keys=true.

Also the two other users of paths: custom-columns (each cell Go's %v of
its values, joined by commas, <none> when there is none) and --sort-by.
"""

from __future__ import annotations

import json
import re
from typing import Any

from minipod.api.errors import SpecError
from minipod.api.frozen import frozen

# -- parsing ------------------------------------------------------------------------------


@frozen
class Text:
    text: str


@frozen
class Path:
    steps: tuple[Any, ...]  # ("field", name) ("recurse", name|None) ("index", sl) ("filter", f)
                            # ("union", names) ("all",)


@frozen
class Range:
    path: Path
    body: tuple[Any, ...]


Node = Text | Path | Range


class JSONPathError(SpecError):
    pass


def parse_template(template: str) -> tuple[Node, ...]:
    nodes, _end = _parse_nodes(template, 0, top=True)
    return tuple(nodes)


def _parse_nodes(text: str, pos: int, top: bool) -> tuple[list[Node], int]:
    nodes: list[Node] = []
    while pos < len(text):
        start = text.find("{", pos)
        if start < 0:
            nodes.append(Text(text[pos:]))
            return nodes, len(text)
        if start > pos:
            nodes.append(Text(text[pos:start]))
        end = _close(text, start)
        action = text[start + 1:end].strip()
        pos = end + 1
        if action == "end":
            if top:
                raise JSONPathError("not in range, nothing to end")
            return nodes, pos
        if action.startswith("range "):
            body, pos = _parse_nodes(text, pos, top=False)
            nodes.append(Range(_parse_path(action[6:].strip()), tuple(body)))
            continue
        nodes.extend(_parse_action(action))
    if not top:
        raise JSONPathError("unclosed range")
    return nodes, pos


def _close(text: str, start: int) -> int:
    depth, i, quote = 0, start, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise JSONPathError(f"unclosed action in {text!r}")


def _parse_action(action: str) -> list[Node]:
    if action.startswith('"'):
        try:
            return [Text(json.loads(action, strict=False))]
        except ValueError as e:
            raise JSONPathError(f"invalid string literal {action}: {e}") from None
    if action.startswith("'"):
        return [Text(action[1:-1])]
    return [_parse_path(action)]


_IDENT = re.compile(r"[A-Za-z0-9_\-/$]+")


def _parse_path(text: str) -> Path:  # noqa: PLR0912 - a case per token
    steps: list[Any] = []
    i = 0
    if text.startswith("@"):
        i = 1
    while i < len(text):
        if text.startswith("..", i):
            i += 2
            match = _IDENT.match(text, i)
            if match:
                steps.append(("recurse", match.group()))
                i = match.end()
            else:
                steps.append(("recurse", None))
        elif text[i] == ".":
            i += 1
            if i < len(text) and text[i] == "*":
                steps.append(("all",))
                i += 1
                continue
            match = _IDENT.match(text, i)
            if match is None:
                if i >= len(text):
                    break  # a trailing "." (".items." or a lone ".") is the object itself
                raise JSONPathError(f"unrecognized character in action: {text[i]!r}")
            steps.append(("field", match.group()))
            i = match.end()
        elif text[i] == "[":
            end = _bracket_end(text, i)
            steps.append(_parse_bracket(text[i + 1:end].strip()))
            i = end + 1
        elif text[i].isspace():
            i += 1
        else:
            match = _IDENT.match(text, i)
            if match is None:
                raise JSONPathError(f"unrecognized character in action: {text[i]!r}")
            steps.append(("field", match.group()))
            i = match.end()
    return Path(tuple(steps))


def _bracket_end(text: str, start: int) -> int:
    depth, quote = 0, ""
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "[(":
            depth += 1
        elif c in "])":
            depth -= 1
            if depth == 0 and c == "]":
                return i
    raise JSONPathError(f"unterminated array in {text!r}")


def _parse_bracket(inner: str) -> Any:
    if inner == "*":
        return ("all",)
    if inner.startswith("?(") and inner.endswith(")"):
        return ("filter", _parse_filter(inner[2:-1].strip()))
    if inner.startswith(("'", '"')):
        names = [n.strip()[1:-1] for n in _split_top(inner, ",")]
        return ("union", tuple(names))
    if "," in inner:
        return ("indexes", tuple(int(n) for n in inner.split(",")))
    parts = inner.split(":")
    try:
        numbers = [int(p) if p.strip() else None for p in parts]
    except ValueError:
        raise JSONPathError(f"invalid array index {inner}") from None
    if len(parts) == 1:
        return ("index", numbers[0])
    return ("slice", tuple(numbers + [None] * (3 - len(numbers))))


def _split_top(text: str, sep: str) -> list[str]:
    out, current, quote = [], "", ""
    for c in text:
        if quote:
            current += c
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
            current += c
        elif c == sep:
            out.append(current)
            current = ""
        else:
            current += c
    out.append(current)
    return out


_FILTER_RE = re.compile(r"(.+?)\s*(==|!=|<=|>=|<|>|=~)\s*(.+)")


def _parse_filter(text: str) -> tuple[Any, str, Any]:
    match = _FILTER_RE.fullmatch(text)
    if match is None:
        return (_operand(text), "exists", None)
    left, op, right = match.groups()
    return (_operand(left), op, _operand(right))


def _operand(text: str) -> Any:
    text = text.strip()
    if text.startswith("@"):
        return _parse_path(text)
    if text[:1] in "\"'":
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


# -- evaluation --------------------------------------------------------------------------


def find(path: Path, data: Any) -> list[Any]:
    """Every value ``path`` reaches from ``data``; [] when a key is missing."""
    current = [data]
    for step in path.steps:
        following: list[Any] = []
        for value in current:
            following += _step(step, value)
        current = following
    return current


def _step(step: Any, value: Any) -> list[Any]:
    kind = step[0]
    if kind == "field":
        return [value[step[1]]] if isinstance(value, dict) and step[1] in value else []
    if kind == "all":
        if isinstance(value, list):
            return list(value)
        if isinstance(value, dict):
            return [value[k] for k in sorted(value)]
        return []
    if kind == "union":
        return [value[n] for n in step[1] if isinstance(value, dict) and n in value]
    if kind == "index":
        if isinstance(value, list) and -len(value) <= step[1] < len(value):
            return [value[step[1]]]
        return []
    if kind == "indexes":
        return [value[n] for n in step[1]
                if isinstance(value, list) and -len(value) <= n < len(value)]
    if kind == "slice":
        if not isinstance(value, list):
            return []
        start, stop, stride = step[1]
        return list(value[start:stop:stride or 1])
    if kind == "filter":
        items = value if isinstance(value, list) else []
        return [item for item in items if _keep(step[1], item)]
    if kind == "recurse":
        return _recurse(value, step[1])
    raise JSONPathError(f"unknown step {step}")


def _recurse(value: Any, name: str | None) -> list[Any]:
    found: list[Any] = []
    if isinstance(value, dict):
        if name is None:
            found.append(value)
        elif name in value:
            found.append(value[name])
        for key in sorted(value):
            found += _recurse(value[key], name)
    elif isinstance(value, list):
        for item in value:
            found += _recurse(item, name)
    return found


def _keep(condition: tuple[Any, str, Any], item: Any) -> bool:
    left, op, right = condition
    lefts = find(left, item) if isinstance(left, Path) else [left]
    if op == "exists":
        return bool(lefts)
    rights = find(right, item) if isinstance(right, Path) else [right]
    if not lefts or not rights:
        return False
    a, b = lefts[0], rights[0]
    try:
        if op == "==":
            return bool(a == b)
        if op == "!=":
            return bool(a != b)
        if op == "=~":
            return re.search(str(b), str(a)) is not None
        return bool({"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op])
    except TypeError:
        return False


def execute(template: str, data: Any) -> str:
    """The template's text for ``data``, as `kubectl get -o jsonpath=` prints it."""
    return _run(parse_template(template), data)


def _run(nodes: tuple[Node, ...], data: Any) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, Range):
            for item in find(node.path, data):
                out.append(_run(node.body, item))
        else:
            out.append(" ".join(_text(v) for v in find(node, data)))
    return "".join(out)


def _text(value: Any) -> str:
    """PrintResults: maps and lists as compact JSON, the rest as fmt.Fprint does."""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return go_value(value)


def go_value(value: Any) -> str:
    """Go's %v of a decoded JSON value: map[k:v ...] with sorted keys, [a b],
    <nil>, true/false, numbers as they are."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- relaxed paths: custom-columns and --sort-by ----------------------------------------


def relaxed(path: str) -> str:
    """RelaxedJSONPathExpression: "metadata.name", ".metadata.name" and
    "{.metadata.name}" all mean "{.metadata.name}"."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text and not text.startswith((".", "[")):
        text = "." + text
    return "{" + text + "}"


def relaxed_values(path: str, data: Any) -> list[Any]:
    nodes = parse_template(relaxed(path))
    found: list[Any] = []
    for node in nodes:
        if isinstance(node, Path):
            found += find(node, data)
    return found


def parse_columns(spec: str) -> list[tuple[str, str]]:
    """custom-columns=HEADER:PATH,...: (header, relaxed path) pairs."""
    columns = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep or not header:
            raise JSONPathError("unexpected custom-columns spec: "
                                f"{part}, expected <header>:<json-path-expr>")
        parse_template(relaxed(path))  # an error now, not on the first row
        columns.append((header, path))
    return columns


def column_cell(path: str, data: Any) -> str:
    values = relaxed_values(path, data)
    if not values:
        return "<none>"
    return ",".join(go_value(v) for v in values)


def sort_key(path: str) -> Any:
    """A key for --sort-by: numbers by value, then text; missing first."""
    def key(data: Any) -> tuple[int, Any]:
        values = relaxed_values(path, data)
        if not values or values[0] is None:
            return (0, "")
        value = values[0]
        if isinstance(value, bool):
            return (1, int(value))
        if isinstance(value, int | float):
            return (1, value)
        return (2, go_value(value))
    return key
