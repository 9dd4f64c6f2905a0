"""The model card written with the model, and a registered version's lineage as the CLI prints it."""

import json
from pathlib import Path

import pytest

from ml_assets import cli
from ml_assets.demo.data import make_demo_frame
from ml_assets.lib.core.layout import DATA_DIR_ENV, REGISTRY_DIR_ENV
from ml_assets.lib.release.registry import ModelRegistry
from ml_assets_tests.conftest import DEMO, materialize, stored_table


def test_the_card_and_the_lineage_of_a_model_trained_from_two_batches(
    data_dir: Path, instance, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    make_demo_frame(300, seed=5).to_csv(data_dir / "landing" / "later.csv", index=False)
    assert materialize(data_dir, instance).success
    storage = data_dir / "storage"
    card = (storage / "model_card.md").read_text()
    for column in DEMO.columns.columns:
        assert f"| {column.name} | {column.dtype} |" in card
    features = stored_table(data_dir, "features")
    assert len(features.records) == 2
    for record in features.records:
        assert record.batch in card and record.sha256 in card
    report = json.loads((storage / "evaluation_report.json").read_text())
    fingerprint = report["provenance"]["model_version"]
    page = (storage / "model_cards" / f"{fingerprint[:16]}.html").read_text()
    assert page.startswith("<!doctype html>") and "Known limitations" in page
    registry = ModelRegistry(data_dir / "registry")
    version = registry.get(registry.alias("champion"))
    assert version.fingerprint == fingerprint
    assert "Demonstration only" in card and f"Model card: demo {version.version}" in card
    assert "Passed: passed all" in card
    assert "statistical check" not in card  # the clean demo batches pass every one

    monkeypatch.setenv(DATA_DIR_ENV, str(data_dir))
    assert cli.main(["lineage"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"model {version.version}  fingerprint {fingerprint}")
    for record in features.records:
        assert (
            f"{record.batch}  {record.file}  sha256 {record.sha256}  rows {record.rows_valid}"
            in printed
        )
    assert f"file sha256   {version.sha256}" in printed and "gate          passed: " in printed
    assert "champion from " in printed and "until now (passed the approval gate" in printed
    assert f"training set  {features.data_version}" in printed
    assert "scikit-learn=" in printed and "commit unknown" not in printed

    assert cli.main(["lineage", "v0009"]) == 2
    assert "no model version or alias 'v0009'; versions: ['v0001']" in capsys.readouterr().err

    make_demo_frame(200, seed=8).to_csv(data_dir / "landing" / "newest.csv", index=False)
    assert materialize(data_dir, instance, "tag:stage=data").success
    stale = materialize(data_dir, instance, "model_card")
    assert not stale.success
    (failure,) = [e for e in stale.all_events if e.is_step_failure]
    assert "rematerialize trained_model and evaluation_report first" in str(
        failure.step_failure_data.user_failure_data.description
    )


def test_the_date_range_is_the_event_time_span_when_the_dataset_has_one(tmp_path: Path) -> None:
    import pandas as pd
    import yaml

    from ml_assets.lib.data.batch_records import BatchRecord, BatchTable
    from ml_assets.lib.model.model_card import event_time_span
    from ml_assets.lib.project.project_config import DEMO_CONFIG, load_project
    from ml_assets.resources.settings import batch_store
    from ml_assets_tests.conftest import settings_for

    contract = yaml.safe_load((DEMO_CONFIG.parent / "contract.yaml").read_text())
    contract["columns"]["observed_at"] = {"dtype": "datetime64[ns]"}
    (tmp_path / "contract.yaml").write_text(yaml.safe_dump(contract))
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["dataset"]["drop"] = ["observed_at"]
    config["feature_store"]["event_timestamp"] = "observed_at"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    project = load_project(tmp_path / "config.yaml")
    settings = settings_for(tmp_path)
    records = []
    for name, days in [
        ("a.csv-11111111", ["2026-01-03", "2026-01-01"]),
        ("b.csv-22222222", ["2026-02-09"]),
    ]:
        validated = pd.DataFrame({"observed_at": pd.to_datetime(days)})
        record = BatchRecord(name, name[:5], "cd" * 32, 1, "accepted", "", rows_valid=len(days))
        batch_store(settings).save("v1", record, {"validated_data": validated})
        records.append(record)
    table = BatchTable("features", "v1", tuple(records))
    store = batch_store(settings)
    span = event_time_span(store, table, project.config.feature_store.event_timestamp)
    assert span == {
        "from": "2026-01-01 00:00:00",
        "to": "2026-02-09 00:00:00",
        "basis": "event time (observed_at)",
    }
    assert event_time_span(store, table, DEMO.config.feature_store.event_timestamp) is None


def test_the_card_lists_what_the_latest_statistical_checks_found_on_its_training_set() -> None:
    import dagster as dg

    from ml_assets.checks.statistics import (
        TRAINING_SET,
        statistical_check_names,
        statistical_findings,
    )
    from ml_assets.constants import FEATURES

    instance = dg.DagsterInstance.ephemeral()
    names = statistical_check_names(DEMO)
    assert statistical_findings(instance, DEMO, "set-1") == [
        f"{name}: not evaluated on training set set-1" for name in names
    ]
    for name in names:
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=FEATURES,
                check_name=name,
                passed=name != "outlier_share",
                metadata={TRAINING_SET: "set-1"},
                description=f"{name} says so",
            )
        )
    assert statistical_findings(instance, DEMO, "set-1") == ["outlier_share: outlier_share says so"]
    assert statistical_findings(instance, DEMO, "set-2") == [
        f"{name}: not evaluated on training set set-2" for name in names
    ]


@pytest.mark.slow
def test_the_card_and_the_lineage_find_a_registry_the_environment_moved(
    data_dir: Path,
    instance,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    moved = tmp_path_factory.mktemp("models") / "registry"
    monkeypatch.setenv(REGISTRY_DIR_ENV, str(moved))
    assert materialize(data_dir, instance).success
    assert not (data_dir / "registry").exists()
    registry = ModelRegistry(moved)
    version = registry.get(registry.alias("champion"))
    card = json.loads((data_dir / "storage" / "model_card.json").read_text())
    assert card["model"]["version"] == version.version  # None when the card missed the registry

    monkeypatch.setenv(DATA_DIR_ENV, str(data_dir))
    assert cli.main(["lineage"]) == 0
    assert capsys.readouterr().out.startswith(f"model {version.version}  fingerprint ")
