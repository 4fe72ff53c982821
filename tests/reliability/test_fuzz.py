"""A manifest fuzzer: a seeded mutation corpus of the examples (every
integer field set to the edges of int32 and int64 and past them, floats,
strings for numbers, NULs and escape sequences in strings, wrong types,
dropped and unknown keys, deep nesting). Every case must end in exit 0 or in
exit 2 with one `error: ` line per problem and no traceback; a sample is run
for real with `up -d` and `delete`, and nothing may be left on the host.

Every case is validated in-process (parse_objects: SpecError or a manifest,
nothing else); a sample of each outcome goes through the `minipod` command.
CI: 400 cases, 16 through the command; MINIPOD_RELIABILITY=long: 5000 and 200."""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hostcheck import LONG, report
from podtest import Minipod, pauses_under

from minipod.api.errors import SpecError
from minipod.api.manifest import parse_objects

pytestmark = [pytest.mark.root, pytest.mark.slow]

CASES = 5000 if LONG else 400
RUN = 200 if LONG else 16
SEED = 15
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EDGES: list[Any] = [0, -1, 1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 10**100, 1.5,
                    1e100, "5", True, None, [], {}, "", "a\0b", "\x1b[2J", "x" * 5000]


def corpus() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return docs


def paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at] if at else []
    if len(at) > 30:  # inside a nesting a mutation made: not further
        return found
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*at, index))
    return found


def get(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def mutate(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        where = rng.choice(paths(doc))
        parent, key = get(doc, where[:-1]), where[-1]
        value = parent[key]
        kind = rng.random()
        if isinstance(value, int) and not isinstance(value, bool) and kind < 0.6:
            parent[key] = rng.choice(EDGES[:12])
        elif isinstance(value, str) and kind < 0.5:
            parent[key] = value + rng.choice(["\0", "\x1b[31m", "\n", "\u200b", "'\"", "é"])
        elif kind < 0.7:
            parent[key] = rng.choice(EDGES)
        elif kind < 0.8 and isinstance(parent, dict):
            del parent[key]
        elif kind < 0.9 and isinstance(parent, dict):
            parent[f"{key}x"] = value
        else:
            nested: Any = value
            for _ in range(rng.choice([2, 50, 200])):
                nested = [nested]
            parent[key] = nested
    name = doc.get("metadata", {}).get("name") if isinstance(doc.get("metadata"), dict) else None
    if isinstance(name, str):  # the cases may run: names of their own
        doc["metadata"]["name"] = f"fz{rng.randrange(10**6)}-{name}"[:50].rstrip("-")
    return doc


def validate(text: str) -> str:
    try:
        parse_objects(text, "case.yaml")
    except SpecError as e:
        assert all(error.path or error.message for error in e.errors)
        assert "\n" not in "".join(str(error) for error in e.errors)
        return "refused"
    return "valid"


MAX_RUN_REPLICAS = 3


def runnable(text: str) -> str:
    """The case as it is run: a workload's replicas at most MAX_RUN_REPLICAS.
    A valid `replicas: 2147483647` would have the supervisor make pods, 500 a
    sync (api/workloads.py BURST_REPLICAS), until the host is full; what
    such a value does to the controller is tests/unit/test_workloads.py's
    test_at_most_burst_replicas_a_sync, and its validation is checked here."""
    doc = json.loads(text)
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if doc.get("kind") in ("Deployment", "ReplicaSet") and isinstance(spec, dict):
        replicas = spec.get("replicas")
        if isinstance(replicas, int) and not isinstance(replicas, bool) \
                and replicas > MAX_RUN_REPLICAS:
            spec["replicas"] = MAX_RUN_REPLICAS
            return json.dumps(doc, ensure_ascii=False)
    return text


def test_every_mutated_manifest_is_refused_in_lines_or_runs(minipod: Minipod) -> None:
    rng = random.Random(SEED)
    docs = corpus()
    outcomes: Counter[str] = Counter()
    to_run: dict[str, list[str]] = {"valid": [], "refused": []}
    for _ in range(CASES):
        # JSON is YAML, and its encoder takes the deep nestings the YAML one cannot
        text = json.dumps(mutate(rng.choice(docs), rng), ensure_ascii=False)
        outcome = validate(text)
        outcomes[outcome] += 1
        if len(to_run[outcome]) < RUN // 2:
            to_run[outcome].append(text)
    ran: Counter[str] = Counter()
    for outcome, texts in to_run.items():
        for i, text in enumerate(texts):
            path = minipod.manifest(runnable(text), f"{outcome}-{i}.yaml")
            result = minipod.run("up", "-d", str(path), timeout=120)
            assert "Traceback" not in result.stdout + result.stderr, result.stderr
            if outcome == "refused":
                assert result.returncode == 2, (text, result.stderr)
                assert all(line.startswith("error: ") for line in result.stderr.splitlines())
            else:  # valid: it runs; or its image is not stored (2), or it cannot start (1)
                assert result.returncode in (0, 1, 2), (text, result.stderr)
                assert all(line.startswith(("error: ", "warning: "))
                           for line in result.stderr.splitlines()), result.stderr
                minipod.delete_leftover_pods()
                workloads = minipod.root / "workloads"
                for record in workloads.glob("*.json") if workloads.exists() else []:
                    namespace, kind, name = record.stem.split("_", 2)
                    minipod.run("delete", kind, name, "-n", namespace)
                minipod.delete_leftover_pods()
            ran[f"{outcome}: exit {result.returncode}"] += 1
    assert pauses_under(minipod.root) == []
    assert outcomes["refused"] > 0 and outcomes["valid"] > 0
    report("fuzz", {"cases": CASES, "seed": SEED, "validated": dict(outcomes),
                    "run_through_the_command": dict(ran), "tracebacks": 0, "left_behind": 0})
