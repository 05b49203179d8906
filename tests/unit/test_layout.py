"""The tree shows the pipeline: no import cycles between the harness's modules, and nothing outside
services/ names a service."""

from __future__ import annotations

import ast
from pathlib import Path

from harness import REPO
from harness.contract.manifest import discover

HARNESS = REPO / "harness"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """harness modules imported anywhere in `tree` (function bodies included), except under TYPE_CHECKING."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for stmt in node.orelse:
                visit(stmt)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in modules else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found & modules


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in HARNESS.rglob("*.py")}
    modules = set(files)
    graph = {}
    for name, path in files.items():
        parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        graph[name] = _imports(ast.parse(path.read_text(encoding="utf-8")), modules) - parents - {name}
    return graph


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def dfs(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                dfs(nxt, [*path, nxt])
        state[node] = 2

    for n in sorted(graph):
        if n not in state:
            dfs(n, [n])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_graph_sees_real_imports() -> None:
    """The check above is only worth something if it finds the edges that exist."""
    graph = _graph()
    assert "harness.contract.transports" in graph["harness.contract.manifest"]
    assert "harness.loadgen.protocol" in graph["harness.run.runner"]


ALLOWED = {"PLACEHOLDERS", "CALLER_PLACEHOLDERS", "HARNESS_CALLER", "V2_CALLER", "base_values"}
"""Where the harness may spell `python`: the `{python}` placeholder (the harness's own interpreter) and
the harness's own caller (Locust's users are Python), each defined once."""


def _named_strings(tree: ast.AST, names: set[str]) -> list[int]:
    """Lines of string constants equal to a service's name, outside the ALLOWED definitions."""
    lines: list[int] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef) and node.name in ALLOWED:
            return
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in ALLOWED for t in node.targets):
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
            lines.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return lines


def test_nothing_in_the_harness_names_a_service() -> None:
    names = set(discover())
    offenders = []
    for path in HARNESS.rglob("*.py"):
        if "floor" not in path.parts:
            offenders += [f"{path.relative_to(REPO)}:{n}" for n in _named_strings(ast.parse(path.read_text()), names)]
    for path in [REPO / "Makefile", *(REPO / "scripts").glob("*")]:
        text = path.read_text()
        offenders += [f"{path.relative_to(REPO)}: services/{n}" for n in names if f"services/{n}" in text]
    assert offenders == []


def test_the_name_check_finds_a_service_name() -> None:
    tree = ast.parse('SERVICE = "java"\nPLACEHOLDERS = ("python",)\ndef f() -> str:\n    return "erlang"\n')
    assert _named_strings(tree, {"java", "python", "erlang"}) == [1, 4]
