"""The layer contract (ARCHITECTURE.md): every import in minipod/ points down
a layer or stays within its own, no two modules import each other through
any chain, and an import inside a function is found only in cli/, where it
keeps the commands' start-up short and says so in a comment.

Read from the source with ast, so every import counts: module level,
function level and under TYPE_CHECKING alike.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "minipod"

# lowest first: a module may import its own layer and those before it
LAYERS = ("api", "loop", "kernel", "probes", "runtime", "server", "cli", "testing")
TOP = len(LAYERS)  # minipod/__init__.py and __main__.py


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the imported module of ours, dotted
    line: int
    nested: bool  # inside a function or class body
    comment: str  # the comment on the import's line or the line above


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in LAYERS:
        return TOP
    return LAYERS.index(parts[1])


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The module of ours that ``name`` (module or module.attribute) is."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[Import]:
    text = path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    found: list[Import] = []

    def comment(lineno: int) -> str:
        """The comments of the block of imports ``lineno`` is in, and of the
        line above that block: one comment may speak for a group."""
        first = lineno - 1
        while first > 0 and lines[first - 1].lstrip().startswith(("import ", "from ")):
            first -= 1
        near = lines[max(first - 1, 0):lineno]
        return " ".join(line.partition("#")[2] for line in near if "#" in line)

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                 ast.ClassDef, ast.Lambda))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    pkg = module.split(".")
                    if path.name != "__init__.py":
                        pkg = pkg[:-1]
                    pkg = pkg[: len(pkg) - child.level + 1]
                    base = ".".join([*pkg, base] if base else pkg)
                names = [f"{base}.{a.name}" for a in child.names] or [base]
            for name in names:
                target = _resolve(name, known)
                if target is not None and target != module:
                    found.append(Import(module, target, child.lineno, nested,
                                        comment(child.lineno)))
            if isinstance(child, (ast.Import, ast.ImportFrom)) and nested \
                    and not any(n.startswith("minipod") for n in names):
                # a function-level import of another package counts too
                found.append(Import(module, names[0] if names else "?", child.lineno,
                                    True, comment(child.lineno)))
            visit(child, inner)

    visit(tree, False)
    return found


def all_imports() -> list[Import]:
    known = modules()
    return [i for m, p in known.items() for i in imports_of(m, p, known)]


def test_imports_point_down() -> None:
    upward = [f"{i.source}:{i.line} imports {i.target}" for i in all_imports()
              if i.target.startswith("minipod") and layer(i.target) > layer(i.source)]
    assert upward == []


def test_no_cycles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for i in all_imports():
        if i.target in graph:
            graph[i.source].add(i.target)
    cycles = [sorted(c) for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == []


def test_function_level_imports_only_in_cli_for_start_up() -> None:
    bad = [f"{i.source}:{i.line} ({i.target})" for i in all_imports() if i.nested
           and not (i.source.startswith("minipod.cli") and "start-up" in i.comment)]
    assert bad == []


def test_every_layer_says_what_it_owns() -> None:
    for name in LAYERS:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and "import" in doc, f"minipod/{name}/__init__.py: what it may import"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root, out in graph.items():
        if root in index:
            continue
        work = [(root, iter(sorted(out)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    found.append(component)
    return found


@pytest.mark.parametrize("graph, cycles", [
    ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
])
def test_strongly_connected(graph: dict[str, set[str]], cycles: list[list[str]]) -> None:
    assert [sorted(c) for c in strongly_connected(graph) if len(c) > 1] == cycles
