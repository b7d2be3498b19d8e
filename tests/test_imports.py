"""The shape of the code: data flows one way, so `rag` never imports `api` or `eval`, and no two
modules import each other (directly or round a longer circle). Read from the source with `ast`,
imports inside functions included: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rag", "api")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, resolved to absolute names (relative imports too)."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {_module_name(p): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        # `from rag.store import Store` names a module or a name in one; keep the modules.
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


def test_rag_never_imports_api_or_eval() -> None:
    offenders = {
        name: sorted(m for m in _imports(path) if m.split(".")[0] in ("api", "eval"))
        for pkg in ("rag",)
        for path in (ROOT / pkg).rglob("*.py")
        if (name := _module_name(path))
    }
    assert not {k: v for k, v in offenders.items() if v}


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that reach each other (the import circles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def _without_package_reexports(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # A package's __init__ re-exporting its own modules is not a circle of dependencies: a
    # module of the package importing a sibling through the package name would be, and is kept.
    packages = {m for m in graph if any(o.startswith(m + ".") for o in graph)}
    return {
        m: {d for d in deps if not (m in packages and d.startswith(m + "."))}
        for m, deps in graph.items()
    }


def test_no_import_circles() -> None:
    circles = [g for g in _strongly_connected(_without_package_reexports(_graph())) if len(g) > 1]
    assert not circles, f"modules that import each other: {circles}"


def test_the_check_sees_a_circle_when_there_is_one() -> None:
    """The checker itself: a two-module circle and a three-module one are found."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": set()}
    assert sorted(g for g in _strongly_connected(graph) if len(g) > 1) == [
        ["a", "b"],
        ["c", "d", "e"],
    ]
