"""Snapshot of the public asset graph: keys, groups, lineage, checks, jobs and sensors.

A failure here means the project's public interface changed: update the snapshot on purpose.
"""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from ml_assets_tests.conftest import DEFS, DEMO_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
ASSETS = {
    "raw_data": ("data", set()),
    "validated_data": ("data", {"raw_data"}),
    "quarantined_rows": ("data", {"raw_data"}),
    "features": ("data", {"validated_data"}),
    "trained_model": ("model", {"features"}),
    "evaluation_report": ("model", {"trained_model", "features"}),
    "drift_report": ("model", {"trained_model", "features", "raw_data", "evaluation_report"}),
    "live_performance": ("model", {"trained_model", "features", "evaluation_report"}),
    "model_approval": ("model", {"trained_model", "evaluation_report", "features"}),
    "production_model": ("model", {"model_approval"}),
    "batch_predictions": ("serving", {"production_model"}),
    "ab_test_report": ("serving", set()),
    "feature_store": ("data", {"features"}),
    "model_card": ("model", {"evaluation_report", "features", "model_approval"}),
}
CHECKS = {
    ("validated_data", "batches_accepted"): False,
    ("validated_data", "contract_failures"): False,
    ("features", "enough_rows"): True,
    ("features", "null_rates"): True,
    ("features", "split_is_usable"): True,
    ("evaluation_report", "beats_baselines"): False,
    ("drift_report", "drift_below_warning"): False,
    ("drift_report", "drift_below_error"): False,
    ("raw_data", "freshness_check"): False,
    ("trained_model", "freshness_check"): False,
    ("live_performance", "live_performance_holds"): False,
    ("model_approval", "approval_gate"): True,
    ("features", "distribution_bounds"): False,
    ("features", "outlier_share"): False,
    ("features", "correlation_stability"): False,
    ("features", "class_balance"): False,
}


def test_asset_keys_stages_and_lineage() -> None:
    graph = DEFS.resolve_asset_graph()
    actual = {
        key.to_user_string(): (
            graph.get(key).tags["stage"],
            {p.to_user_string() for p in graph.get(key).parent_keys},
        )
        for key in graph.get_all_asset_keys()
    }
    assert actual == ASSETS


def test_checks_and_which_are_blocking() -> None:
    graph = DEFS.resolve_asset_graph()
    actual = {
        (key.asset_key.to_user_string(), key.name): graph.get(key).blocking
        for key in graph.asset_check_keys
    }
    assert actual == CHECKS


def test_every_asset_is_described_versioned_and_refreshes_itself() -> None:
    graph = DEFS.resolve_asset_graph()
    batch_assets = {"raw_data", "validated_data", "quarantined_rows", "features"}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.code_version and node.description, key
        assert node.kinds, key
        refreshed_by_sensor = key.to_user_string() in batch_assets
        assert (node.automation_condition is None) == refreshed_by_sensor, key


def test_jobs_select_by_group_and_sensors_are_on_and_the_schedule_off() -> None:
    jobs = {job.name for job in DEFS.jobs}
    assert jobs == {"full_refresh", "refresh_data", "retrain", "rollback"}
    sensors = {sensor.name: sensor.default_status for sensor in DEFS.sensors}
    assert sensors == dict.fromkeys(
        [
            "landing_sensor",
            "ml_assets_automation",
            "run_failure_alerts",
            "dead_run_recovery",
            "freshness_checks_sensor",
            "check_failure_alerts",
            "retrain_on_drift",
        ],
        dg.DefaultSensorStatus.RUNNING,
    )
    (schedule,) = DEFS.schedules
    assert schedule.name == "retrain_schedule" and schedule.job_name == "full_refresh"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_each_step_writes_through_its_own_pool() -> None:
    graph = DEFS.resolve_asset_graph()
    pools = {
        graph.get(key).pools and next(iter(graph.get(key).pools))
        for key in graph.get_all_asset_keys()
    }
    assert pools == {
        "ml_assets.write.batches",
        "ml_assets.write.trained_model",
        "ml_assets.write.evaluation_report",
        "ml_assets.write.drift_report",
        "ml_assets.write.live_performance",
        "ml_assets.write.registry",
        "ml_assets.write.batch_predictions",
        "ml_assets.write.ab_test_report",
        "ml_assets.write.feature_store",
        "ml_assets.write.model_card",
    }


def test_column_schemas_come_from_the_contract() -> None:
    graph = DEFS.resolve_asset_graph()

    def columns(name: str) -> dict[str, dg.TableColumn]:
        schema = graph.get(dg.AssetKey(name)).metadata["dagster/column_schema"]
        return {column.name: column for column in schema.columns}

    validated = columns("validated_data")
    assert list(validated) == DEMO_COLUMNS
    assert validated["numeric1"].constraints.nullable is True
    assert validated["category"].constraints.other == ["isin(['A', 'B', 'C'])"]
    assert validated["numeric2"].type == "float64"
    assert {"numeric_ratio", "_row_key", "_split"} <= set(columns("features"))
    assert {"_reason", "_failures"} <= set(columns("quarantined_rows"))
    assert columns("raw_data")["numeric2"].type == "str"


def test_package_exposes_defs_for_dash_m_ml_assets() -> None:
    import ml_assets
    from ml_assets.definitions import defs

    assert ml_assets.defs is defs
    assert "defs" in dir(ml_assets)


def test_loading_the_code_location_writes_nothing_and_needs_no_data_library(
    tmp_path: Path,
) -> None:
    """With a read-only HOME and data folder, the definitions load and no heavy library is imported."""
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o500)
    script = (
        "import sys; from ml_assets.definitions import defs; d = defs();"
        "heavy = [m for m in ('pandas', 'pandera', 'numpy', 'pyarrow', 'sklearn', 'skops', 'fsspec')"
        " if m in sys.modules]; print(len(d.resolve_asset_graph().get_all_asset_keys()), heavy)"
    )
    before = {path for path in ROOT.rglob("*") if ".venv" not in path.parts}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "HOME": str(home), "ML_ASSETS_DATA_DIR": str(tmp_path / "data")},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "14 []"
    assert list(home.iterdir()) == [] and not (tmp_path / "data").exists()
    after = {path for path in ROOT.rglob("*") if ".venv" not in path.parts}
    assert {p for p in after - before if "__pycache__" not in p.parts} == set()


def test_the_feature_store_describes_and_owns_each_feature() -> None:
    graph = DEFS.resolve_asset_graph()
    schema = graph.get(dg.AssetKey("feature_store")).metadata["dagster/column_schema"]
    columns = {column.name: column for column in schema.columns}
    assert list(columns)[:3] == ["_row_key", "_event_timestamp", "_arrival_timestamp"]
    assert columns["numeric_ratio"].tags == {"owner": "data-science"}
    assert columns["numeric_ratio"].description.startswith("numeric1 / numeric2, row by row")
    assert columns["target"].tags == {"owner": "risk-team"}
    assert columns["numeric2"].description.startswith("a measurement around 50")
