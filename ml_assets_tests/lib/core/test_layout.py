"""The layout: every place under the data folder derived in one module, honouring the overrides."""

import ast
from pathlib import Path

import pytest

from ml_assets.lib.core import layout as layout_module
from ml_assets.lib.core.layout import REGISTRY_DIR_ENV, Layout, LayoutError

PACKAGE = Path(layout_module.__file__).resolve().parents[1]
# Every folder or file name the layout spells, as code elsewhere would spell it.
NAMES = {
    value
    for name, value in vars(layout_module).items()
    if name.isupper() and not name.endswith("_ENV") and isinstance(value, str)
}
SEGMENTS = {part for value in NAMES for part in value.split("/")}
PATH_SUFFIXES = ("_SUBDIR", "_DIR", "_FILE", "_PATH", "_LOG")


def test_storage_places_follow_storage_url_and_local_files_stay_in_data_dir() -> None:
    layout = Layout("/data", storage_url="s3://bucket/prefix/")
    assert layout.storage == "s3://bucket/prefix"
    assert layout.batches.startswith("s3://bucket/prefix/")
    assert layout.model_cards.startswith("s3://bucket/prefix/")
    assert layout.drift.startswith("s3://bucket/prefix/")
    assert layout.feature_store.startswith("s3://bucket/prefix/")
    assert layout.predictions.startswith("s3://bucket/prefix/")
    for local in (layout.landing, layout.manifest, layout.alerts, layout.serving_log):
        assert local.is_relative_to("/data")
    assert layout.registry == "/data/registry"


def test_the_registry_follows_registry_dir_and_keeps_url_slashes() -> None:
    assert Layout("s3://bucket/data").registry == "s3://bucket/data/registry"
    moved = Layout("/data", registry_dir="s3://models/registry")
    assert moved.registry == "s3://models/registry"
    assert moved.with_registry(None).registry == "s3://models/registry"
    assert moved.with_registry("/elsewhere").registry == "/elsewhere"


def test_the_environment_moves_data_storage_and_registry(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ML_ASSETS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ML_ASSETS_STORAGE_URL", "memory://store")
    monkeypatch.setenv(REGISTRY_DIR_ENV, str(tmp_path / "models"))
    layout = Layout.from_environment("/configured", "incoming")
    assert layout.landing == tmp_path / "data" / "incoming"
    assert layout.storage == "memory://store"
    assert layout.registry == str(tmp_path / "models")


@pytest.mark.parametrize("subpath", ["/etc", "../outside", "a/../../b"])
def test_a_sub_path_may_not_leave_the_data_folder(subpath: str) -> None:
    with pytest.raises(LayoutError, match="landing_subdir"):
        _ = Layout("/data", landing_subdir=subpath).landing


def _spelled_paths(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants used as a path: joined with ``/``, or holding a layout name as a segment."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant) and side.value in SEGMENTS:
                    found.append((side.lineno, side.value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            parts = node.value.split("/")
            if len(parts) > 1 and SEGMENTS & {p.strip("<>{}`'\" .") for p in parts}:
                found.append((node.lineno, node.value))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if node.value.value in NAMES and any(t.endswith(PATH_SUFFIXES) for t in targets):
                found.append((node.lineno, node.value.value))
    return found


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            body[0] = ast.Pass()
    return tree


def test_no_module_but_the_layout_spells_a_data_folder_path() -> None:
    spelled = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == Path(layout_module.__file__).resolve():
            continue
        tree = _without_docstrings(ast.parse(path.read_text(), str(path)))
        for line, text in _spelled_paths(tree):
            spelled[f"{path.relative_to(PACKAGE.parent)}:{line}"] = text
    assert spelled == {}
