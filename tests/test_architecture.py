"""The layout rules of docs/architecture.md, checked on the source: no import cycle anywhere in
readlx/ (module level, inside functions and under TYPE_CHECKING alike), small modules, short functions,
and library code that never prints."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "readlx"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
PARSER_TABLES = ("add_parser", "add_parsers", "build_parser")
"""Argument-parser tables: one ``add_argument`` per option, long by nature."""


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """readlx modules that ``name`` imports anywhere in its source (a package import counts as the
    package's ``__init__``; ``from pkg import mod`` counts as ``pkg.mod``)."""
    found = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        found |= {t for t in targets if t in known and t != name and not name.startswith(t + ".")}
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], dict.fromkeys(graph, 0)

    def visit(v: str, path: list[str]) -> None:
        state[v] = 1
        for w in sorted(graph[v]):
            if state[w] == 1:
                cycles.append(path[path.index(w):] + [w])
            elif state[w] == 0:
                visit(w, path + [w])
        state[v] = 2

    for v in sorted(graph):
        if state[v] == 0:
            visit(v, [v])
    return cycles


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    assert sum(map(len, graph.values())) > 100  # the scan sees the imports
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:5])


def test_cycle_detection_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize("name", sorted(_modules()))
def test_module_is_small(name: str) -> None:
    lines = len(_modules()[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines"


def _long_functions(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in PARSER_TABLES:
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                out.append(f"{node.name} ({length} lines)")
    return out


def test_functions_are_short() -> None:
    long = {name: found for name, path in _modules().items() if (found := _long_functions(path))}
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_only_the_cli_prints() -> None:
    printing = []
    for name, path in _modules().items():
        if name.startswith("readlx.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                printing.append(f"{name}:{node.lineno}")
    assert not printing, f"print outside readlx.cli: {printing}"
