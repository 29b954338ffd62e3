"""The package's import graph: every module imports, and no module reaches itself again.

Lazy imports inside functions count too: a cycle through them still means two modules that
cannot be read (or moved) apart. The graph is read from the source (AST), not from
``sys.modules``, so an import that is never executed in the tests is still checked.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import certbot_dns_autopilot

PACKAGE = Path(certbot_dns_autopilot.__file__).parent
NAME = "certbot_dns_autopilot"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join([NAME, *parts])] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path) -> set[str]:
    """The package modules ``module`` imports (at top level or inside functions).

    Importing ``a.b.c`` runs ``a`` and ``a.b`` first; for a module inside ``a.b`` that is
    Python's order, not a dependency, so its own parent packages count only where it takes
    names from them (``from . import Writer``).
    """
    is_package = path.name == "__init__.py"
    base = module.split(".") if is_package else module.split(".")[:-1]
    direct: set[str] = set()  # modules named, whose contents are used
    passed: set[str] = set()  # modules whose parents run on the way
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            direct.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                stem = base[:len(base) - (node.level - 1)]
                source = ".".join(stem + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            submodules = {f"{source}.{a.name}" for a in node.names} & MODULES.keys()
            direct.update(submodules)
            if len(submodules) < len(node.names):  # names defined in ``source`` itself
                direct.add(source)
            else:
                passed.add(source)
    edges = set()
    for target in direct | passed:
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            candidate = ".".join(parts[:i])
            if candidate not in MODULES or candidate == module:
                continue
            own_parent = module.startswith(candidate + ".")
            if not own_parent or (candidate == target and target in direct):
                edges.add(candidate)
    return edges


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _registry_edges() -> None:
    """The registry imports each writer by name (importlib, so that a writer's SDK loads
    only when configured): those are edges too."""
    from certbot_dns_autopilot.writers import registry as writers

    registry = f"{NAME}.writers.registry"
    GRAPH[registry] = GRAPH[registry] | {f"{NAME}.writers.{kind.name}"
                                         for kind in writers.every_kind().values()}


_registry_edges()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    importlib.import_module(module)


def _cycle() -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_package_has_no_import_cycle():
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _units() -> dict[str, set[str]]:
    """The graph between the package's parts: each step's sub-package, or a top-level
    module (``dnsio``, ``answers``, ``zones``…), as one node."""
    def unit(module: str) -> str:
        return module.split(".")[1] if "." in module else module

    found: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        if module == NAME:
            continue
        found.setdefault(unit(module), set()).update(
            unit(t) for t in targets if t != NAME and unit(t) != unit(module))
    return found


def test_calls_go_downward_only_between_the_packages():
    """No two parts import each other, even through others: the steps read in one order
    (the DNS layer below the plan, the plan below pre-flight and the wait, the glue on
    top), and a part can be understood without those above it."""
    units = _units()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(units.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target] if target in path else [node,
                                                                                      target]
            if target not in state and (found := visit(target, path + [target])):
                return found
        state[node] = 2
        return None

    for node in sorted(units):
        if node not in state:
            cycle = visit(node, [node])
            assert cycle is None, "parts importing each other: " + " -> ".join(cycle)
    assert not units["dnsio"] & {"answers", "zones", "plan", "wait", "preflight"}
    assert not units["answers"] & {"zones", "plan", "wait", "preflight", "diagnose"}
    assert not units["zones"] & {"plan", "wait", "preflight", "diagnose"}


def test_the_walk_finds_a_cycle_when_there_is_one():
    """The check itself can fail: a graph with a loop is reported."""
    saved = dict(GRAPH)
    try:
        GRAPH[f"{NAME}.names"] = GRAPH[f"{NAME}.names"] | {f"{NAME}.plugin.run"}
        GRAPH[f"{NAME}.plugin.run"] = GRAPH[f"{NAME}.plugin.run"] | {f"{NAME}.names"}
        assert _cycle() is not None
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_the_pipeline_reads_off_the_tree():
    steps = {"plugin", "plan", "preflight", "writers", "wait", "diagnose", "cleanup", "cli"}
    assert steps <= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert f"{NAME}.dnsio" in MODULES


def test_no_test_module_imports_another():
    """Tests share helpers through conftest.py and the helper modules, never through each
    other (an import of a test module runs its module-level fixtures and constants twice)."""
    tests = Path(__file__).resolve().parents[1]
    for path in sorted(tests.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.split(".")[-1].startswith("test_"), f"{path.name} imports {name}"


def test_every_test_directory_collects_beside_the_others():
    """`pytest tests/` in any combination: the test directories are not packages, so pytest
    puts each on sys.path and a module name may stand in one directory only, and nothing
    imports from a conftest (another directory's conftest would answer instead)."""
    tests = Path(__file__).resolve().parents[1]
    seen: dict[str, Path] = {}
    for path in sorted(tests.rglob("*.py")):
        if path.name == "conftest.py" or "emulators" in path.parts:
            continue
        assert path.stem not in seen, f"{path} and {seen[path.stem]} share a module name"
        seen[path.stem] = path
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == "conftest" or \
                    isinstance(node, ast.Import) and "conftest" in [a.name for a in node.names]:
                raise AssertionError(f"{path} imports from conftest: import from the "
                                     "directory's helper module instead")
