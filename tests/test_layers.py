"""The layering of docs/architecture.md, checked against every module's imports (parsed with ast).

A unit is a top-level package (handlers/, store/ …) or module (intake.py …). Each unit has a
floor; an import may go to the same floor or lower, never up. Lazy imports inside functions
count too: they are still a dependency, only a hidden one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. Keep in step with the "Layers" section of docs/architecture.md.
FLOORS: list[tuple[str, set[str]]] = [
    # The pipeline's parts: no web, no process, no loop; each can be used and tested alone.
    (
        "ground",
        {
            "lead",
            "logs",
            "redact",
            "handlers",
            "mappings",
            "routing",
            "store",
            "engage",
            "config",
            "windows",
            "compliance",
            "crm",
        },
    ),
    # What runs the parts: one webhook (intake), the dispatcher, alerts, the shared map-and-route step.
    (
        "pipeline",
        {"prepare", "dialing", "replay", "metrics", "health", "intake", "dispatch", "alerts", "runtime", "trial"},
    ),
    # HTTP surfaces: the webhook blueprint, the operator's console and API, the asyncio front worker.
    ("web", {"webhooks", "admin", "front"}),
    # Wiring and tools: the Flask app, the CLI, gunicorn's config, test harness and benchmarks.
    ("wiring", {"app", "cli", "gunicorn.conf", "harness", "bench", "conftest"}),
]
FLOOR = {unit: level for level, (_, units) in enumerate(FLOORS) for unit in units}
GROUND = FLOORS[0][1]

# Known violations in files that other work is editing at the time of writing; each names the
# import and the fix. Remove an entry when its import is gone (the test then insists).
KNOWN_CYCLES: set[frozenset[str]] = set()


def _unit_of(path: Path) -> str | None:
    """The top-level unit a file belongs to, or None for files outside the layering (tests)."""
    rel = path.relative_to(ROOT)
    if rel.parts[0] in ("tests", "instance", "build") or rel.parts[0].startswith("."):
        return None
    return rel.stem if len(rel.parts) == 1 else rel.parts[0]


def _units() -> set[str]:
    """Every top-level module and package of the repository (a package has an __init__.py)."""
    found = set()
    for path in ROOT.iterdir():
        if path.name.startswith(".") or path.name == "tests":
            continue
        if path.suffix == ".py":
            found.add(path.stem)
        elif path.is_dir() and (path / "__init__.py").exists():
            found.add(path.name)
    return found


def _imports() -> dict[tuple[str, str], list[str]]:
    """(importer unit, imported unit) → the files and lines that import it."""
    units = _units()
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        unit = _unit_of(path)
        if unit is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                target = name.split(".")[0]
                if target in units and target != unit:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    edges.setdefault((unit, target), []).append(where)
    return edges


EDGES = _imports()


def test_every_unit_has_a_floor():
    # A new top-level module must be placed (here and in docs/architecture.md) to be checked.
    assert sorted(_units() - set(FLOOR)) == []


def test_the_parser_sees_real_imports():
    # Guards the test itself: if the walk found nothing, every other assertion would pass.
    assert ("mappings", "handlers") in EDGES and ("intake", "store") in EDGES and ("app", "webhooks") in EDGES


def test_no_upward_import():
    upward = [
        f"{a} ({FLOORS[FLOOR[a]][0]}) imports {b} ({FLOORS[FLOOR[b]][0]}) at {', '.join(where)}"
        for (a, b), where in sorted(EDGES.items())
        if FLOOR[b] > FLOOR[a]
    ]
    assert upward == []


def test_ground_floor_imports_only_the_ground_floor():
    assert sorted((a, b) for a, b in EDGES if a in GROUND and b not in GROUND) == []


def test_handlers_and_mappings_one_direction():
    # verify → parse → map: mappings read the handlers' parsed records; handlers never need a mapping.
    assert ("handlers", "mappings") not in EDGES, EDGES.get(("handlers", "mappings"))
    # lead/ is below both: it imports neither (nor anything else of ours).
    assert sorted(b for a, b in EDGES if a == "lead") == []


def _cycles() -> list[frozenset[str]]:
    """Strongly connected components of more than one unit (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {}
    for a, b in EDGES:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        """One depth-first step of Tarjan's algorithm."""
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_units():
    cycles = _cycles()
    assert [sorted(c) for c in cycles if c not in KNOWN_CYCLES] == []


def _cycle_id(cycle: frozenset[str]) -> str:
    """A readable test id: the cycle's units in order."""
    return "-".join(sorted(cycle))


KNOWN_CYCLE_CASES: list[frozenset[str]] = sorted(KNOWN_CYCLES, key=_cycle_id)


@pytest.mark.parametrize("cycle", KNOWN_CYCLE_CASES, ids=_cycle_id)
def test_known_exceptions_are_still_real(cycle):
    # An exception that no longer happens must leave the list, so the list stays the truth.
    assert cycle in _cycles()
