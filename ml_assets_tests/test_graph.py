"""The whole graph, materialized in-process on small data with its checks."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ml_assets.lib.storage import load_model_bytes
from ml_assets_tests.conftest import ASSET_NAMES, check_results, materialize, stored

ALL_ASSETS = set(ASSET_NAMES)


def materialized_keys(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def test_full_graph_materializes_with_every_check_passing(data_dir: Path, instance) -> None:
    result = materialize(data_dir, instance)
    assert result.success
    assert materialized_keys(result) == ALL_ASSETS
    checks = check_results(result)
    assert set(checks) == {
        "every_file_has_rows",
        "contract_failures",
        "quarantined_share",
        "enough_rows",
        "null_rates",
        "split_is_usable",
    }
    assert all(evaluation.passed for evaluation in checks.values())
    report = json.loads((data_dir / "storage" / "evaluation_report.json").read_text())
    assert report["metrics"]["roc_auc"] > report["baselines"]["majority_class"]["roc_auc"] + 0.3
    assert set(report["fairness"]["category"]["groups"]) == {"A", "B", "C"}
    assert (
        "## Fairness slices by `category`"
        in (data_dir / "storage" / "evaluation_report.md").read_text()
    )
    model = load_model_bytes((data_dir / "storage" / "trained_model.skops").read_bytes(), "model")
    assert [name for name, _ in model.steps] == ["preprocessor", "estimator"]


def test_rows_in_equal_validated_plus_quarantined(data_dir: Path, instance) -> None:
    bad = pd.DataFrame(
        {
            "numeric1": ["0.5", "abc", "1.0"],
            "numeric2": ["50", "40", "250"],
            "category": ["Z", "A", "B"],
            "target": ["1", "0", "1"],
        }
    )
    bad.to_csv(data_dir / "landing" / "bad.csv", index=False)
    result = materialize(data_dir, instance)
    assert result.success
    validated, quarantined = (
        stored(data_dir, "validated_data"),
        stored(data_dir, "quarantined_rows"),
    )
    assert len(validated) + len(quarantined) == len(stored(data_dir, "raw_data")) == 603
    assert quarantined[["_source_file", "_source_line"]].values.tolist() == [
        ["bad.csv", 2],
        ["bad.csv", 3],
        ["bad.csv", 4],
    ]
    assert quarantined["_reason"].tolist() == [
        "category: isin(['A', 'B', 'C']) failed for 'Z'",
        "numeric1: dtype('float64') failed for 'abc'",
        "numeric2: less_than_or_equal_to(100.0) failed for '250'",
    ]
    assert not check_results(result)["contract_failures"].passed


def test_missing_column_stops_the_run_naming_file_and_column(data_dir: Path, instance) -> None:
    pd.DataFrame({"numeric1": [1.0], "category": ["A"], "target": [1]}).to_csv(
        data_dir / "landing" / "no_numeric2.csv", index=False
    )
    result = materialize(data_dir, instance)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "no_numeric2.csv: missing required column(s) ['numeric2']" in failure.message
    assert not (data_dir / "storage" / "validated_data.parquet").exists()


def test_header_only_file_fails_its_blocking_check_and_nothing_downstream_runs(
    data_dir: Path, instance
) -> None:
    (data_dir / "landing" / "header_only.csv").write_text("numeric1,numeric2,category,target\n")
    result = materialize(data_dir, instance)
    assert not result.success
    evaluation = check_results(result)["every_file_has_rows"]
    assert not evaluation.passed
    assert evaluation.metadata["files_without_rows"].value == "header_only.csv"
    assert materialized_keys(result) == {"raw_data"}


def test_downstream_run_refuses_after_failed_upstream_blocking_check(
    data_dir: Path, instance
) -> None:
    assert materialize(data_dir, instance).success
    shifted = pd.read_csv(data_dir / "landing" / "demo.csv")
    shifted["category"] = "D"
    shifted.to_csv(data_dir / "landing" / "demo.csv", index=False)
    failed = materialize(data_dir, instance, selection="raw_data*")
    assert not check_results(failed)["quarantined_share"].passed
    assert "features" not in materialized_keys(failed)

    alone = materialize(data_dir, instance, selection="features")
    assert not alone.success
    message = alone.get_step_failure_events()[0].step_failure_data.error.message
    assert "validated_data:quarantined_share failed" in message


def test_quarantine_over_limit_is_blocking_but_keeps_the_previous_model(
    data_dir: Path, instance
) -> None:
    assert materialize(data_dir, instance).success
    model_path = data_dir / "storage" / "trained_model.skops"
    before = model_path.read_bytes()
    frame = pd.read_csv(data_dir / "landing" / "demo.csv")
    frame.loc[:100, "numeric2"] = 1000
    frame.to_csv(data_dir / "landing" / "demo.csv", index=False)
    result = materialize(data_dir, instance)
    assert not result.success
    assert "trained_model" not in materialized_keys(result)
    assert model_path.read_bytes() == before


@pytest.mark.parametrize(
    "training", [{"search": "grid", "search_space": '{"max_depth": [3, null]}'}]
)
def test_same_inputs_give_same_versions_and_model(data_dir: Path, instance, training) -> None:
    first = materialize(data_dir, instance, training=training)
    first_model = load_model_bytes((data_dir / "storage" / "trained_model.skops").read_bytes(), "1")
    second = materialize(data_dir, instance, training=training)
    second_model = load_model_bytes(
        (data_dir / "storage" / "trained_model.skops").read_bytes(), "2"
    )

    def versions(result: dg.ExecuteInProcessResult) -> dict[str, str]:
        return {
            event.asset_key.to_user_string(): event.materialization.tags["dagster/data_version"]
            for event in result.get_asset_materialization_events()
        }

    assert versions(first) == versions(second)
    features = stored(data_dir, "features")
    from ml_assets.lib.demo_data import DEMO_SPEC
    from ml_assets.lib.modeling import model_fingerprint, model_inputs

    inputs = model_inputs(features, DEMO_SPEC)
    assert model_fingerprint(first_model) == model_fingerprint(second_model)
    assert (first_model.predict_proba(inputs) == second_model.predict_proba(inputs)).all()


def test_the_guard_judges_the_evaluation_of_the_latest_materialization(instance) -> None:
    """Check records of concurrent runs can arrive out of order; the guard matches by target."""
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData as Target,
    )

    from ml_assets.checks.gates import blocking_check_problems
    from ml_assets.definitions import defs

    graph, raw = defs.resolve_asset_graph(), dg.AssetKey("raw_data")

    def problems() -> list[str]:
        return blocking_check_problems(instance, graph, {raw}, timeout=0)

    def materialize_raw() -> Target:
        instance.report_runless_asset_event(dg.AssetMaterialization(raw))
        record = instance.fetch_materializations(raw, limit=1).records[0]
        return Target(storage_id=record.storage_id, run_id="", timestamp=record.timestamp)

    def evaluate(target: Target, passed: bool) -> None:
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                raw, "every_file_has_rows", passed, target_materialization_data=target
            )
        )

    assert problems() == [
        "raw_data:every_file_has_rows has not been evaluated (raw_data never stored)"
    ]
    older, newer = materialize_raw(), materialize_raw()
    assert problems() == [
        "raw_data:every_file_has_rows has not been evaluated on the latest materialization"
    ]
    evaluate(newer, passed=True)
    evaluate(older, passed=False)  # recorded last, but about data that is no longer the latest
    assert problems() == []
    evaluate(materialize_raw(), passed=False)
    assert problems() == ["raw_data:every_file_has_rows failed"]
