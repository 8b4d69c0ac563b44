"""The import graph, read from the source: dependencies run one way (an app imports only the apps
below it; the project package ``newvoice`` sits on top and no app imports it), no two modules
import each other, counting imports inside functions: one moved there to dodge a cycle still closes it."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Lowest first: each may import only those before it.
LAYERS = ["tenancy", "skillbases", "campaigns", "analytics", "voiceagent", "newvoice"]


def modules() -> dict[str, Path]:
    found = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            found[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = path
    return found


def imports(path: Path) -> list[tuple[str, bool, int]]:
    """(module imported, whether inside a function, line) for each import of our own code."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # for type checkers only: never imported when the code runs
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                out.extend((alias.name, in_function, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                out.append((child.module, in_function, child.lineno))
                # "from package import module" imports the module too
                out.extend((f"{child.module}.{alias.name}", in_function, child.lineno) for alias in child.names)
            visit(child, inside)

    visit(tree, False)
    return out


def graph() -> dict[str, set[str]]:
    """Module → the modules of ours it imports, at the top or inside a function alike: an import
    moved into a function to dodge a cycle is still an edge of that cycle here."""
    known = modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in known.items():
        for target, _in_function, _line in imports(path):
            if target in known and target != name:
                edges[name].add(target)
    return edges


def layer_of(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def test_apps_import_only_the_apps_below_them():
    edges = graph()
    upward = sorted(
        f"{source} imports {target}" for source, targets in edges.items() for target in targets if layer_of(target) > layer_of(source)
    )
    assert not upward, "\n".join(upward)


def test_no_two_modules_import_each_other():
    edges = graph()
    # A cycle of any length: a depth-first walk that meets a module on its own path.
    cycles, state = [], {}

    def walk(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                walk(target, [*path, target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            walk(module, [module])
    assert not cycles, "\n".join(cycles)


def test_the_graph_reader_sees_an_upward_import(tmp_path):
    """The reader itself: an import from a higher app is found, at any depth of the code."""
    source = tmp_path / "example.py"
    source.write_text("import os\n\ndef f():\n    if True:\n        from analytics.models import CallMetrics\n")
    assert ("analytics.models", True, 5) in imports(source)
    assert layer_of("analytics.models") > layer_of("campaigns.models")


def test_every_package_of_the_project_has_its_place_in_the_layers():
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages == set(LAYERS)
