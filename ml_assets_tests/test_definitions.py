"""Snapshot of the public asset graph: keys, groups, lineage, checks and sensors.

A failure here means the project's public interface changed: update the snapshot on purpose.
"""

import dagster as dg
import pandas as pd

from ml_assets.definitions import defs

ASSETS = {
    "raw_data": ("ingestion", set()),
    "validated_data": ("validation", {"raw_data"}),
    "quarantined_rows": ("validation", {"raw_data"}),
    "features": ("features", {"validated_data"}),
    "trained_model": ("training", {"features"}),
    "evaluation_report": ("evaluation", {"trained_model", "features"}),
}
CHECKS = {
    ("raw_data", "every_file_has_rows"): True,
    ("validated_data", "contract_failures"): False,
    ("validated_data", "enough_rows"): True,
    ("validated_data", "null_rates"): True,
    ("validated_data", "quarantined_share"): True,
    ("features", "split_is_usable"): True,
}


def test_asset_keys_groups_and_lineage() -> None:
    graph = defs.resolve_asset_graph()
    actual = {
        key.to_user_string(): (
            graph.get(key).group_name,
            {p.to_user_string() for p in graph.get(key).parent_keys},
        )
        for key in graph.get_all_asset_keys()
    }
    assert actual == ASSETS


def test_checks_and_which_are_blocking() -> None:
    graph = defs.resolve_asset_graph()
    actual = {
        (key.asset_key.to_user_string(), key.name): graph.get(key).blocking
        for key in graph.asset_check_keys
    }
    assert actual == CHECKS


def test_every_asset_has_a_code_version_and_downstream_assets_refresh_themselves() -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.code_version, key
        assert (node.automation_condition is not None) == (key != dg.AssetKey("raw_data")), key


def test_sensors_are_on_and_the_schedule_is_off_by_default() -> None:
    sensors = {sensor.name: sensor.default_status for sensor in defs.sensors}
    assert sensors == dict.fromkeys(
        ["landing_sensor", "ml_assets_automation", "run_failure_alerts"],
        dg.DefaultSensorStatus.RUNNING,
    )
    schedules = {schedule.name: schedule for schedule in defs.schedules}
    assert set(schedules) == {"retrain_schedule"}
    assert schedules["retrain_schedule"].default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedules["retrain_schedule"].job_name == "full_refresh"


def test_every_asset_writes_through_its_own_pool() -> None:
    pools = {
        key.to_user_string(): node.pools
        for key, node in (
            (key, defs.resolve_asset_graph().get(key))
            for key in defs.resolve_asset_graph().get_all_asset_keys()
        )
    }
    assert all(len(pool) == 1 for pool in pools.values()), pools
    assert len({next(iter(pool)) for pool in pools.values()}) == 5


def test_package_exposes_defs_for_dash_m_ml_assets() -> None:
    import ml_assets

    assert ml_assets.defs is defs
    assert "defs" in dir(ml_assets)


def test_contract_types_check_structure_and_carry_the_schema() -> None:
    from ml_assets.assets.validation import ValidatedData
    from ml_assets.lib.demo_data import make_demo_frame
    from ml_assets.lib.frames import TEXT

    frame = make_demo_frame(10)
    frame["_source_file"], frame["_source_line"] = "demo.csv", range(2, 12)
    frame = frame.astype({"category": TEXT, "_source_file": TEXT})
    before = frame.copy()
    assert dg.check_dagster_type(ValidatedData, frame).success
    pd.testing.assert_frame_equal(frame, before)
    assert not dg.check_dagster_type(ValidatedData, frame.astype({"category": object})).success
    assert not dg.check_dagster_type(ValidatedData, frame.drop(columns=["numeric2"])).success
    assert not dg.check_dagster_type(ValidatedData, frame.to_dict()).success
    failed = dg.check_dagster_type(ValidatedData, frame.astype({"numeric2": str}))
    assert not failed.success and "numeric2" in failed.description
    assert failed.metadata["num_violations"].value >= 1
    columns = {column.name for column in ValidatedData.metadata["schema"].schema.columns}
    assert {"numeric1", "numeric2", "category", "target"} <= columns
