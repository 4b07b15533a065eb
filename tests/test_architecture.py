"""The layout holds: imports go one way (core ← jobs ← retrieval ← synthesis ← sbsapp ← demo/config), no two
project modules import each other (not even through function-level imports), no module is over 400 lines.

Plain `ast` walks of the source files: no project module is imported, so these tests need neither Django nor
a database and report every violation at once.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "core", "jobs", "retrieval", "synthesis", "sbsapp", "demo")
SCRIPTS = ("celery_worker.py", "manage.py")
LAYER = {"core": 0, "jobs": 1, "retrieval": 2, "synthesis": 3, "sbsapp": 4, "demo": 5, "config": 5,
         "celery_worker": 6, "manage": 6}
MAX_LINES = 400


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. "retrieval.versions"
    target: str  # the imported project module, e.g. "jobs.services"
    line: int
    function_level: bool

    def where(self) -> str:
        kind = "function-level " if self.function_level else ""
        return f"{module_path(self.source)}:{self.line}: {kind}import of {self.target}"


def project_files() -> dict[str, Path]:
    """Dotted module name -> file, for every project module outside migrations and tests."""
    files: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if "migrations" in rel.parts or "tests" in rel.parts or "__pycache__" in rel.parts:
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    for script in SCRIPTS:
        files[script[:-3]] = ROOT / script
    return files


@cache
def _files() -> dict[str, Path]:
    return project_files()


def module_path(module: str) -> str:
    return str(_files()[module].relative_to(ROOT))


def is_package(module: str) -> bool:
    return _files()[module].name == "__init__.py"


def resolve(name: str) -> str | None:
    """The longest project module that `name` (a module or `module.attribute`) names, or None if not ours."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in _files():
            return candidate
        parts.pop()
    return None


def _absolute(source: str, level: int, module: str | None) -> str:
    """`from ..x import y` inside `source` -> the absolute dotted name of `..x`."""
    base = source.split(".") if is_package(source) else source.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def imports_of(source: str) -> list[Import]:
    """Every import of a project module in `source`, at any depth (functions, classes, if/try blocks)."""
    tree = ast.parse(_files()[source].read_text(encoding="utf-8"), filename=str(_files()[source]))
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(source, child.level, child.module) if child.level else (child.module or "")
                # `from pkg import sub` imports the submodule pkg.sub when there is one, else pkg itself.
                names = [f"{base}.{alias.name}" if alias.name != "*" else base for alias in child.names]
            for name in names:
                target = resolve(name)
                if target and target != source:
                    found.append(Import(source, target, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


@cache
def import_graph() -> dict[str, tuple[Import, ...]]:
    return {module: tuple(imports_of(module)) for module in _files()}


def layer(module: str) -> int:
    return LAYER[module.split(".")[0]]


def own_submodule(source: str, target: str) -> bool:
    """A package's __init__ importing (or re-exporting) something under itself: not an edge of a cycle."""
    return is_package(source) and target.startswith(source + ".")


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the graph has a few hundred nodes; recursion would be fine, but why)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_the_walker_sees_function_level_and_relative_imports():
    """Guards the walker itself: a regression here would make the two tests below pass vacuously."""
    graph = import_graph()
    assert len(graph) > 50
    edges = {(imp.source, imp.target) for imports in graph.values() for imp in imports}
    assert ("celery_worker", "config.celery") in edges or ("celery_worker", "config") in edges
    assert any(imp.function_level for imports in graph.values() for imp in imports)
    # jobs/registry.py does `from .kinds import ...` and `from .runner import ...`
    assert {("jobs.registry", "jobs.kinds"), ("jobs.registry", "jobs.runner")} <= edges


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}, "f": {"f", "a"}, "g": set()}
    assert sorted(strongly_connected_components(graph)) == [["a", "b", "c"], ["d", "e"]]


def test_no_upward_imports():
    upward = {imp for imports in import_graph().values() for imp in imports
              if layer(imp.target) > layer(imp.source)}
    assert not upward, (
        f"{len(upward)} upward import(s); layer order is core < jobs < retrieval < synthesis < sbsapp < "
        "demo/config < celery_worker/manage, and a module may import only its own layer or lower ones:\n"
        + "\n".join(f"  {imp.where()}  ({imp.source.split('.')[0]} must not import {imp.target.split('.')[0]})"
                    for imp in sorted(upward, key=lambda i: (i.source, i.line))))


def test_no_import_cycles():
    graph = import_graph()
    edges: dict[str, set[str]] = {module: set() for module in graph}
    for module, imports in graph.items():
        for imp in imports:
            if not own_submodule(module, imp.target):
                edges[module].add(imp.target)
    cycles = strongly_connected_components(edges)
    report = []
    for component in cycles:
        members = set(component)
        report.append(f"cycle between {len(component)} modules: {', '.join(component)}")
        lines = {imp.where() for module in component for imp in graph[module]
                 if imp.target in members and not own_submodule(module, imp.target)}
        report.extend(f"    {line}" for line in sorted(lines))
    assert not cycles, f"{len(cycles)} import cycle(s) between project modules:\n" + "\n".join(report)


def test_no_module_over_400_lines():
    long = sorted((count, module_path(module)) for module, path in _files().items()
                  if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES)
    assert not long, (f"{len(long)} module(s) over {MAX_LINES} lines (split each by concern):\n"
                      + "\n".join(f"  {path}: {count} lines" for count, path in reversed(long)))


def test_bench_and_scripts_stay_under_the_limit_too():
    """bench/ and scripts/ are project code as well (they are not imported by the apps, so not layered)."""
    paths = [p for folder in ("bench", "scripts") for p in sorted((ROOT / folder).rglob("*.py"))]
    long = sorted((len(p.read_text(encoding="utf-8").splitlines()), str(p.relative_to(ROOT))) for p in paths)
    long = [(count, path) for count, path in long if count > MAX_LINES]
    assert not long, (f"{len(long)} module(s) over {MAX_LINES} lines:\n"
                      + "\n".join(f"  {path}: {count} lines" for count, path in reversed(long)))


def test_every_project_import_in_bench_resolves():
    """bench/ scripts are not run by the suite: their (mostly function-level) imports of project code must still
    name modules and attributes that exist, so that a move inside an app does not silently break a benchmark."""
    import importlib

    broken = []
    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if node.module.split(".")[0] not in (*PACKAGES, "bench"):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            try:
                module = importlib.import_module(node.module)
            except ImportError as exc:
                broken.append(f"{where}: from {node.module} import ...: {exc}")
                continue
            for alias in node.names:
                if not hasattr(module, alias.name):
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ImportError:
                        broken.append(f"{where}: {node.module} has no {alias.name!r}")
    assert not broken, "bench imports that no longer resolve:\n  " + "\n  ".join(broken)
