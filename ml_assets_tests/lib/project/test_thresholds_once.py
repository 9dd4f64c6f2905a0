"""Every threshold default is spelled once: in the configuration's sections, nowhere else.

A second spelling (a dataclass default, a config class's ``Field(default=…)``, a module constant
named after the setting, a dict keyed by it) drifts from the section the day one of them changes.
"""

import ast
from pathlib import Path

from pydantic import BaseModel

from ml_assets.lib.project import project_config
from ml_assets.lib.project.project_config import (
    ABTestSection,
    ApprovalSection,
    ChecksSection,
    DriftSection,
    LivePerformanceSection,
    StatisticsSection,
)

PACKAGE = Path(project_config.__file__).resolve().parents[2]


def _numeric_settings(model: type[BaseModel]) -> set[str]:
    """The names of every section field whose default is a number (or holds numbers)."""
    names = set()
    for name, info in model.model_fields.items():
        default = info.default
        if isinstance(default, BaseModel):
            names.add(name)
            names |= _numeric_settings(type(default))
        elif isinstance(default, int | float) and not isinstance(default, bool):
            names.add(name)
        elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            names |= _numeric_settings(info.annotation)
    return names


# The sections of thresholds (training's hyperparameters and the dataset's split are not).
SECTIONS = (
    ChecksSection,
    StatisticsSection,
    DriftSection,
    LivePerformanceSection,
    ABTestSection,
    ApprovalSection,
)
SETTINGS = set().union(*map(_numeric_settings, SECTIONS)) - {"warn", "error"}
THRESHOLD_CALLS = {"Field", "Threshold"}


def _is_number(node: ast.AST | None) -> bool:
    """A numeric literal, a negated one, an expression of them, or a threshold made of them."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _is_number(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_number(node.left) and _is_number(node.right)
    if isinstance(node, ast.Call) and _callee(node) in THRESHOLD_CALLS:
        # Field(default=0.05), Threshold(0.1, 0.25)
        keywords = (k.value for k in node.keywords if k.arg in (None, "default", "warn", "error"))
        given = [*node.args, *keywords]
        return any(_is_number(value) for value in given)
    return False


def _callee(node: ast.Call) -> str:
    function = node.func
    return function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")


def _named(name: str) -> bool:
    bare = name.lower().removeprefix("default_").removeprefix("_")
    return bare in SETTINGS


def _spelled_defaults(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            pairs = [(node.target.id, node.value)]
        elif isinstance(node, ast.Assign):
            pairs = [(t.id, node.value) for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.arguments):
            positional = [*node.posonlyargs, *node.args]
            pairs = [
                (arg.arg, default)
                for arg, default in zip(positional[::-1], node.defaults[::-1], strict=False)
            ]
            pairs += [(a.arg, d) for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True)]
        elif isinstance(node, ast.Dict):
            pairs = [
                (key.value, value)
                for key, value in zip(node.keys, node.values, strict=True)
                if isinstance(key, ast.Constant) and isinstance(key.value, str)
            ]
        else:
            continue
        found += [
            (value.lineno, name) for name, value in pairs if _named(name) and _is_number(value)
        ]
    return found


def test_no_module_but_the_sections_spells_a_threshold_default() -> None:
    found = {
        f"{path.relative_to(PACKAGE)}:{line} {name}": None
        for path in sorted((PACKAGE / "ml_assets").rglob("*.py"))
        if path.resolve() != Path(project_config.__file__).resolve()
        for line, name in _spelled_defaults(ast.parse(path.read_text()))
    }
    assert list(found) == []


def test_the_finder_finds_each_way_of_spelling_one() -> None:
    source = """
MIN_SLICE_ROWS = 30
class Limits:
    min_batch_rows: int = 100
    mean_shift: Threshold = Threshold(0.3, 1.0)
    max_drop: float = Field(default=0.05, ge=0)
def judge(rows, false_alarm_rate=0.01, *, alpha: float = 0.05): ...
TEMPLATE = {"min_rows": 100, "psi": Threshold(warn=0.1, error=0.25)}
max_file_bytes = 512 * 1024**2
row = {"outlier_share": round(share, 4), "min_rows": min(section.min_rows, 10)}
"""
    names = [name for _, name in _spelled_defaults(ast.parse(source))]
    assert sorted(names) == sorted(
        ["MIN_SLICE_ROWS", "min_batch_rows", "mean_shift", "max_drop", "false_alarm_rate"]
        + ["alpha", "min_rows", "psi", "max_file_bytes"]
    )
