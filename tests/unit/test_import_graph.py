"""The package graph of ``toolkit``: no import loop between subpackages, no arrow pointing up the layers.

Every ``import`` of every ``toolkit/**/*.py`` counts, including the ones inside functions (a lazy
import is still a dependency). A node is a top-level subpackage or root module (``audit``,
``review``, ``labels``, ``demo_api`` …); ``toolkit`` itself is the root ``__init__`` (the version).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "toolkit"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"toolkit", "errors", "units"}),
    frozenset({"medication_lists"}),
    frozenset({"records"}),
    frozenset({"labels"}),
    frozenset({"knowledge", "onnx"}),
    frozenset({"audit"}),
    frozenset({"review", "batch", "care", "extract", "asr", "fhir"}),
    frozenset({"evaluation"}),
    frozenset({"service", "visit", "cli", "demo_api"}),
)
"""Lowest first. A node may import nodes of its own layer or of lower ones, never of a higher one.
Within a layer the cycle check keeps the arrows one way (e.g. care → extract → fhir)."""

KNOWN_UPWARD: dict[tuple[str, str], str] = {}
"""Upward arrows that exist today, each with its reason; any other one fails."""


def _module_name(path: Path) -> tuple[str, str]:
    """(module, package it sits in) for a file under ``toolkit/``."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        name = ".".join(parts[:-1])
        return name, name
    return ".".join(parts), ".".join(parts[:-1])


def _node(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "toolkit"


def imports_of(path: Path) -> set[str]:
    """Every toolkit module ``path`` imports, at any depth of the file (functions included)."""
    _module, package = _module_name(path)
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            out.add(target)
            if not node.module or target == "toolkit":  # ``from toolkit import review`` names a subpackage
                out.update(
                    f"{target}.{a.name}"
                    for a in node.names
                    if (PACKAGE.joinpath(*target.split(".")[1:], a.name)).exists()
                    or PACKAGE.joinpath(*target.split(".")[1:], f"{a.name}.py").exists()
                )
    return {m for m in out if m == "toolkit" or m.startswith("toolkit.")}


def package_graph() -> dict[str, dict[str, list[str]]]:
    """node → imported node → the files making that arrow."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(p in {"rules", "models"} for p in path.relative_to(PACKAGE).parts[:1]):
            continue  # data shipped with the package, not code
        src = _node(_module_name(path)[0])
        for target in imports_of(path):
            dst = _node(target)
            if dst != src:
                graph[src][dst].append(str(path.relative_to(ROOT)))
    return graph


def _layer(node: str) -> int:
    for i, layer in enumerate(LAYERS):
        if node in layer:
            return i
    raise AssertionError(f"toolkit.{node} is in no layer: add it to LAYERS in {Path(__file__).name}")


def _cycles(graph: dict[str, dict[str, list[str]]], ignore: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), without the ``ignore`` arrows."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, {})):
            if (v, w) in ignore:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_function_level_imports(tmp_path: Path) -> None:
    probe = PACKAGE / "audit" / "engine.py"
    assert "toolkit.knowledge" in imports_of(probe)
    # a lazy import inside a function is an arrow too
    lazy = PACKAGE / "batch" / "catalogue.py"
    assert any(m.startswith("toolkit.audit") for m in imports_of(lazy))


def test_every_subpackage_has_a_layer() -> None:
    nodes = {
        _node(_module_name(p)[0])
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).parts[0] not in {"rules", "models"}
    }
    for node in sorted(nodes):
        _layer(node)


def test_no_upward_arrow() -> None:
    graph = package_graph()
    upward = {
        (a, b): files for a, targets in graph.items() for b, files in targets.items() if _layer(b) > _layer(a)
    }
    new = {k: sorted(set(v)) for k, v in upward.items() if k not in KNOWN_UPWARD}
    assert new == {}, f"imports pointing up the layers {[' / '.join(map(str, LAYERS))]}: {new}"
    stale = sorted(set(KNOWN_UPWARD) - set(upward))
    assert stale == [], f"fixed, remove from KNOWN_UPWARD: {stale}"


def test_no_import_loop_between_subpackages() -> None:
    graph = package_graph()
    cycles = _cycles(graph, ignore=set(KNOWN_UPWARD))
    assert cycles == [], {
        " ⇄ ".join(c): {a: {b: sorted(set(graph[a][b])) for b in c if b in graph[a]} for a in c}
        for c in cycles
    }


def test_the_reviewer_sits_above_audit_and_onnx() -> None:
    graph = package_graph()
    assert "review" not in graph.get("audit", {}) and "review" not in graph.get("onnx", {})
    assert {"audit", "onnx"} <= set(graph["review"])


def test_the_checks_catch_a_loop_and_an_upward_arrow() -> None:
    graph = {
        "audit": {"knowledge": ["a.py"], "review": ["lazy.py"]},
        "review": {"audit": ["b.py"]},
        "knowledge": {},
    }
    assert _cycles(graph, ignore=set()) == [["audit", "review"]]
    assert _cycles(graph, ignore={("audit", "review")}) == []
    assert _layer("review") > _layer("audit")  # so audit → review is an upward arrow
