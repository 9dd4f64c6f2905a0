"""Shared fixtures: small demo data in a temporary data folder, and an in-process graph runner."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ml_assets.definitions import build_assets, build_definitions, project_resources
from ml_assets.demo.data import make_demo_frame
from ml_assets.lib.data.batch_records import BatchTable
from ml_assets.lib.project.project_config import DEMO_CONFIG, load_project
from ml_assets.resources.settings import PipelineSettings, batch_store, settings_values

ASSET_NAMES = (
    "raw_data",
    "validated_data",
    "quarantined_rows",
    "features",
    "trained_model",
    "evaluation_report",
    "drift_report",
    "live_performance",
    "model_approval",
    "production_model",
    "batch_predictions",
    "ab_test_report",
    "feature_store",
    "model_card",
)
DEMO_COLUMNS = [
    "numeric1",
    "numeric2",
    "category",
    "target",
    "_batch",
    "_source_file",
    "_source_line",
]
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Debian's Chromium, headless, with nothing reaching for the network (this machine has none).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# CI installs it (scripts/ci/chromium.sh): there a missing browser fails, elsewhere it skips.
CHROMIUM_MISSING = not CHROMIUM.exists() and os.environ.get("CI") != "true"
SMALL_ROWS = 600
FAST_TRAINING = {"search": "grid", "search_space": '{"n_estimators": [20]}', "cv_folds": 3}
DEMO = load_project(DEMO_CONFIG)
DEFS = build_definitions(DEMO)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data folder whose landing folder holds a small demo CSV."""
    landing = tmp_path / "landing"
    landing.mkdir()
    make_demo_frame(SMALL_ROWS).to_csv(landing / "demo.csv", index=False)
    return tmp_path


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A throwaway persistent instance, so check records and data versions behave as in prod."""
    with dg.instance_for_test() as test_instance:
        yield test_instance


def settings_for(data_dir: Path, **overrides) -> PipelineSettings:
    """The demo's settings with the data folder (and any field) replaced."""
    return PipelineSettings(**{**settings_values(DEMO), "data_dir": str(data_dir), **overrides})


def materialize(
    data_dir: Path,
    instance: dg.DagsterInstance,
    selection: str = "*",
    training: dict | None = None,
    raise_on_error: bool = False,
    settings: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize ``selection`` in-process against ``data_dir`` with fast training settings."""
    selected = dg.AssetSelection.from_string(selection).resolve(DEFS.resolve_asset_graph())
    training_config = {"config": {**FAST_TRAINING, **(training or {})}}
    ops = {"trained_model": training_config} if dg.AssetKey("trained_model") in selected else {}
    return dg.materialize(
        build_assets(DEMO),
        selection=selection,
        instance=instance,
        resources=project_resources(settings_for(data_dir, **(settings or {}))),
        run_config=dg.RunConfig(ops=ops),
        raise_on_error=raise_on_error,
    )


def stored(data_dir: Path, name: str) -> pd.DataFrame:
    """The rows of a stored batch table, every batch stacked."""
    table = BatchTable.from_json((data_dir / "storage" / f"{name}.json").read_text())
    return batch_store(settings_for(data_dir)).read(table)


def stored_table(data_dir: Path, name: str) -> BatchTable:
    """A stored batch table (its batches and their records)."""
    return BatchTable.from_json((data_dir / "storage" / f"{name}.json").read_text())


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    """Check evaluations of a run by check name."""
    return {
        evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()
    }


def run_cli(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """A command of the venv (``dagster``, ``ml-assets``) with its own instance and data folder."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "ML_ASSETS_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def pytest_collection_modifyitems(config, items) -> None:
    """Under pytest-xdist, a file's tests stay on one worker: module fixtures start once."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        item.add_marker(pytest.mark.xdist_group(str(item.path)))
