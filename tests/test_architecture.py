"""The package's shape: no circle of imports, and no feature that reaches back into `app.py`.

Every module under src/conveyor is parsed (not imported) and every import in it counts: at the
top, inside a function (a lazy import), or under `if TYPE_CHECKING:`, since a circle that only
type checking sees is still a circle of dependencies. `from X import name` depends on the module
`X.name` when there is one, else on `X`; importing a submodule is not counted as depending on its
parent package's `__init__` (every module would then depend on `conveyor/__init__.py`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "conveyor"
APP = "conveyor.app"
# The composition root and what sits on top of it may use the app; nothing else may.
MAY_IMPORT_APP = ("conveyor", "conveyor.app", "conveyor.cli", "conveyor.web")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The package modules that module `name` (at `path`) imports, anywhere in it."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "conveyor":
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = resolve(name, is_package, node.module, node.level)
            if base is None or base.split(".")[0] != "conveyor":
                continue
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base


def resolve(name: str, is_package: bool, module: str | None, level: int) -> str | None:
    if level == 0:
        return module
    parts = name.split(".") if is_package else name.split(".")[:-1]
    parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, module] if module else parts)


@cache
def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    edges: dict[str, set[str]] = {}
    for name, path in found.items():
        targets = set(imported(name, path, known)) - {name}
        unknown = targets - known
        assert not unknown, f"{name} imports {sorted(unknown)}, which are not modules here"
        edges[name] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def may_import_app(name: str) -> bool:
    return any(name == allowed or name.startswith(f"{allowed}.") for allowed in MAY_IMPORT_APP[2:])


def test_the_graph_sees_every_kind_of_import() -> None:
    """The parser itself: a lazy import, a TYPE_CHECKING one and a relative one all count."""
    edges = graph()
    assert "conveyor.worker" in edges["conveyor.app"]  # inside `Conveyor.worker()`
    assert "conveyor.connections.connection" in edges["conveyor.types"]  # TYPE_CHECKING
    assert "conveyor.options" in edges["conveyor.enqueueing"]  # `from . import options`
    assert "conveyor.store" in edges["conveyor.ops"]  # a package's `__init__`


def test_no_circle_of_imports() -> None:
    assert cycles(graph()) == []


def test_cycles_are_found() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(edges) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(modules()))
def test_features_do_not_import_the_app(name: str) -> None:
    if name in MAY_IMPORT_APP[:2] or may_import_app(name):
        return
    assert APP not in graph()[name], (
        f"{name} imports conveyor.app: take a Protocol from conveyor.types instead"
    )
