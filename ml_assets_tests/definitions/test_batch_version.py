"""A batch is reprocessed when a library that shapes its tables changes, and only then."""

import importlib.metadata
from pathlib import Path

import pytest

from ml_assets.lib.core.environment import BATCH_PACKAGES, installed_versions
from ml_assets_tests.conftest import materialize, stored_table


def batch_versions(data_dir: Path) -> set[str]:
    """The versions under which batches have been processed (storage/batches/<version>/)."""
    return {path.name for path in (data_dir / "storage" / "batches").iterdir() if path.is_dir()}


def bump(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make ``package`` look installed at a new version, as after a lock upgrade."""
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata,
        "version",
        lambda name: f"{real(name)}.post99" if name == package else real(name),
    )
    installed_versions.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_versions():
    installed_versions.cache_clear()
    yield
    installed_versions.cache_clear()


def test_a_dev_tool_bump_keeps_every_batch(data_dir: Path, instance, monkeypatch) -> None:
    materialize(data_dir, instance, "tag:stage=data", raise_on_error=True)
    before = batch_versions(data_dir)
    for tool in ("ruff", "pytest", "dagster", "scikit-learn"):
        bump(monkeypatch, tool)
    result = materialize(data_dir, instance, "tag:stage=data", raise_on_error=True)
    assert batch_versions(data_dir) == before
    assert result.output_for_node("batches", "features").batches == (
        stored_table(data_dir, "features").batches
    )
    new_batches = [
        event.materialization.metadata["new_batches"].value
        for event in result.get_asset_materialization_events()
        if event.asset_key.path == ["features"]
    ]
    assert new_batches == [0]


@pytest.mark.parametrize("package", ["pandas", "pyarrow", "pandera"])
def test_a_library_that_shapes_batches_reprocesses_them(
    package: str, data_dir: Path, instance, monkeypatch
) -> None:
    assert package in BATCH_PACKAGES
    materialize(data_dir, instance, "tag:stage=data", raise_on_error=True)
    before = batch_versions(data_dir)
    bump(monkeypatch, package)
    result = materialize(data_dir, instance, "tag:stage=data", raise_on_error=True)
    after = batch_versions(data_dir)
    assert len(after - before) == 1
    new_batches = [
        event.materialization.metadata["new_batches"].value
        for event in result.get_asset_materialization_events()
        if event.asset_key.path == ["features"]
    ]
    assert new_batches == [1]
