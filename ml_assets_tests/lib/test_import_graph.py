"""The package's import graph: no cycles, and the plain layer never reaches into Dagster's.

Imports inside functions count too: a lazy import that closes a cycle still makes one module
depend on the code location being loaded.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ml_assets"
PLAIN = ("ml_assets.lib", "ml_assets.demo", "ml_assets.serving")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)  # and `from package import module` names the module
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[module_name(path)] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph.get(module, ()) & set(graph)):
            if target in path:
                found.append([*path[path.index(target) :], target])
            elif target not in done:
                visit(target, [*path, target])
        done.add(module)

    for module in sorted(graph):
        visit(module, [module])
    return found


def test_the_graph_has_no_cycle() -> None:
    assert cycles(imports()) == []


def test_the_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_plain_modules_know_nothing_of_dagster() -> None:
    graph = imports()
    offenders = {
        module: sorted(name for name in names if name == "dagster" or name.startswith("dagster."))
        for module, names in graph.items()
        if module.startswith(PLAIN)
    }
    assert {module: names for module, names in offenders.items() if names} == {}
    layer = {
        module: sorted(n for n in names if n.startswith("ml_assets.") and not n.startswith(PLAIN))
        for module, names in graph.items()
        if module.startswith(PLAIN)
    }
    assert {module: names for module, names in layer.items() if names} == {}


# lib's concerns, lowest first: a module may import its own concern and those below it, never one
# above it nor its neighbour on the same level (release and monitoring know nothing of each other).
LAYERS = (("core",), ("contract",), ("project",), ("data",), ("model",), ("release", "monitoring"))


def concern(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 3 and parts[:2] == ["ml_assets", "lib"] else None


def test_lib_concerns_import_only_their_own_and_the_layers_below() -> None:
    level = {name: index for index, names in enumerate(LAYERS) for name in names}
    found = {concern(module) for module in imports()} - {None}
    assert found == set(level), "every concern of ml_assets/lib has its place in LAYERS"
    upward = {
        module: sorted(
            name
            for name in names
            if concern(name) not in (None, concern(module))
            and level[concern(name)] >= level[concern(module)]
        )
        for module, names in imports().items()
        if concern(module)
    }
    assert {module: names for module, names in upward.items() if names} == {}
