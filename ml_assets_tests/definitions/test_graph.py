"""The whole graph, materialized in-process on small data with its checks."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from ml_assets.definitions import build_assets, project_resources
from ml_assets.demo.data import DEMO_SPEC, make_demo_frame
from ml_assets.lib.core.storage import load_model_bytes
from ml_assets.lib.model.modeling import model_fingerprint, model_inputs
from ml_assets.resources.settings import launch_settings
from ml_assets_tests.conftest import (
    ASSET_NAMES,
    DEMO,
    FAST_TRAINING,
    SMALL_ROWS,
    check_results,
    materialize,
    stored,
    stored_table,
)

ALL_ASSETS = set(ASSET_NAMES)


def materialized_keys(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def model_of(data_dir: Path):
    return load_model_bytes((data_dir / "storage" / "trained_model.skops").read_bytes(), "model")


def shifted_csv(path: Path, rows: int = 120) -> None:
    frame = make_demo_frame(rows, seed=11)
    frame["category"] = "D"
    frame.to_csv(path, index=False)


def test_full_graph_materializes_with_every_check_passing(data_dir: Path, instance) -> None:
    result = materialize(data_dir, instance)
    assert result.success
    assert materialized_keys(result) == ALL_ASSETS
    checks = check_results(result)
    assert set(checks) == {
        "batches_accepted",
        "contract_failures",
        "enough_rows",
        "null_rates",
        "split_is_usable",
        "beats_baselines",
        "drift_below_warning",
        "drift_below_error",
        "live_performance_holds",
        "approval_gate",
        "distribution_bounds",
        "outlier_share",
        "correlation_stability",
        "class_balance",
    }
    assert all(evaluation.passed for evaluation in checks.values())
    report = json.loads((data_dir / "storage" / "evaluation_report.json").read_text())
    assert report["metrics"]["roc_auc"] > report["baselines"]["majority_class"]["roc_auc"] + 0.3
    assert set(report["fairness"]["category"]["groups"]) == {"A", "B", "C"}
    model = model_of(data_dir)
    assert [name for name, _ in model.steps] == ["preprocessor", "estimator"]
    assert_every_materialization_records_its_versions(result)


def assert_every_materialization_records_its_versions(result: dg.ExecuteInProcessResult) -> None:
    from ml_assets.lib.core.versioning import git_state

    events = {
        e.asset_key.to_user_string(): e.materialization
        for e in result.get_asset_materialization_events()
    }
    graph = result.job_def.asset_layer
    code = git_state()
    for name, materialization in events.items():
        metadata = materialization.metadata
        assert (metadata["code_commit"].value, metadata["code_tree"].value) == (
            code["commit"],
            code["tree"],
        )
        assert metadata["config_hash"].value == DEMO.config_hash and metadata["settings_hash"].value
        assert set(metadata["package_versions"].value) == {
            "dagster",
            "scikit-learn",
            "pandas",
            "pandera",
            "numpy",
            "skops",
        }
        parents = {p.to_user_string() for p in graph.get(dg.AssetKey(name)).parent_keys}
        expected = {p: events[p].tags["dagster/data_version"] for p in parents}
        assert metadata["input_data_versions"].value == expected, name


def test_the_report_names_model_data_batches_config_and_time(data_dir: Path, instance) -> None:
    assert materialize(data_dir, instance).success
    report = json.loads((data_dir / "storage" / "evaluation_report.json").read_text())
    provenance = report["provenance"]
    features = stored_table(data_dir, "features")
    assert provenance["model_version"] == model_fingerprint(model_of(data_dir))
    assert provenance["data_version"] == features.data_version
    assert provenance["batches"] == features.batches == [features.records[0].batch]
    assert provenance["config_hash"] == DEMO.config_hash and provenance["created_at"]
    markdown = (data_dir / "storage" / "evaluation_report.md").read_text()
    assert provenance["model_version"][:16] in markdown and features.batches[0] in markdown


def test_a_bad_batch_between_good_ones_never_stops_them(data_dir: Path, instance) -> None:
    landing = data_dir / "landing"
    shifted_csv(landing / "m_shifted.csv")
    make_demo_frame(300, seed=5).to_csv(landing / "z_more.csv", index=False)
    result = materialize(data_dir, instance)
    assert result.success and materialized_keys(result) == ALL_ASSETS
    features = stored(data_dir, "features")
    assert sorted(set(features["_source_file"])) == ["demo.csv", "z_more.csv"]
    assert len(features) == SMALL_ROWS + 300
    trained = next(
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.path == ["trained_model"]
    )
    train_rows = int((features["_split"] == "train").sum())
    assert trained.materialization.metadata["train_rows"].value == train_rows
    quarantined = stored(data_dir, "quarantined_rows")
    assert len(quarantined) == 120 and set(quarantined["_source_file"]) == {"m_shifted.csv"}
    assert quarantined["_reason"].str.startswith("category: isin").all()
    warned = check_results(result)["batches_accepted"]
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert warned.description.startswith("m_shifted.csv-")
    assert "rejected: 100.0% of its rows break the contract (limit 5%)" in warned.description
    assert "raise checks.max_quarantined_share" in warned.description
    alerts = [json.loads(line) for line in (data_dir / "alerts.jsonl").read_text().splitlines()]
    # The rejection, then its drift: the drift report judges a rejected batch too (one alert each).
    assert [a["kind"] for a in alerts] == ["batch_rejected", "drift"]
    assert alerts[0]["batch"].startswith("m_shifted.csv-")
    assert alerts[1]["batch"] == [alerts[0]["batch"]]
    assert (alerts[0]["asset"], alerts[0]["check"]) == ("validated_data", "batches_accepted")
    assert alerts[0]["figures"] == {"rows_in": 120, "rows_breaking": 120}

    before = stored_table(data_dir, "features")
    again = materialize(data_dir, instance)
    assert again.success and len((data_dir / "alerts.jsonl").read_text().splitlines()) == 2
    assert stored_table(data_dir, "features") == before

    make_demo_frame(120, seed=11).to_csv(landing / "m_shifted.csv", index=False)
    corrected = materialize(data_dir, instance)
    assert check_results(corrected)["batches_accepted"].passed
    assert len(stored(data_dir, "features")) == SMALL_ROWS + 420


def test_unreadable_files_are_rejected_batches_with_reason_files(data_dir: Path, instance) -> None:
    landing = data_dir / "landing"
    (landing / "no_numeric2.csv").write_text("numeric1,category,target\n1.0,A,1\n")
    (landing / "header_only.csv").write_text("numeric1,numeric2,category,target\n")
    result = materialize(data_dir, instance)
    assert result.success and materialized_keys(result) == ALL_ASSETS
    rejected = data_dir / "ingestion" / "rejected"
    missing = json.loads((rejected / "no_numeric2.csv.reason.json").read_text())
    assert missing["reason"].startswith("no_numeric2.csv: missing required column(s) ['numeric2']")
    assert len(missing["sha256"]) == 64 and missing["stage"] == "ingestion"
    header = json.loads((rejected / "header_only.csv.reason.json").read_text())
    assert header["reason"] == "header_only.csv: no data rows (a header only)"
    manifest = json.loads((data_dir / "ingestion" / "manifest.json").read_text())
    assert {e["file"]: e["status"] for e in manifest["files"]} == {
        "demo.csv": "accepted",
        "header_only.csv": "rejected",
        "no_numeric2.csv": "rejected",
    }


def test_a_failed_training_set_gate_keeps_the_model_and_refuses_later_runs(
    data_dir: Path, instance
) -> None:
    assert materialize(data_dir, instance).success
    model = data_dir / "storage" / "trained_model.skops"
    before = model.read_bytes()
    failed = materialize(data_dir, instance, settings={"min_rows": 10_000})
    assert not failed.success
    gate = check_results(failed)["enough_rows"]
    assert not gate.passed and "(minimum 10000)" in gate.description
    assert "trained_model" not in materialized_keys(failed) and model.read_bytes() == before

    alone = materialize(
        data_dir, instance, selection="trained_model", settings={"min_rows": 10_000}
    )
    assert not alone.success
    message = alone.get_step_failure_events()[0].step_failure_data.error.message
    assert (
        "refusing to build on a training set that fails its checks: features: enough_rows"
        in message
    )
    assert model.read_bytes() == before


def test_same_inputs_give_same_versions_and_model(data_dir: Path, instance) -> None:
    training = {"search": "grid", "search_space": '{"max_depth": [3, null]}'}
    first = materialize(data_dir, instance, training=training)
    first_model = model_of(data_dir)
    second = materialize(data_dir, instance, training=training)
    second_model = model_of(data_dir)

    def versions(result: dg.ExecuteInProcessResult) -> dict[str, str]:
        return {
            event.asset_key.to_user_string(): event.materialization.tags["dagster/data_version"]
            for event in result.get_asset_materialization_events()
        }

    assert versions(first) == versions(second)
    inputs = model_inputs(stored(data_dir, "features"), DEMO_SPEC)
    assert model_fingerprint(first_model) == model_fingerprint(second_model)
    assert (first_model.predict_proba(inputs) == second_model.predict_proba(inputs)).all()


def test_the_launchpad_data_dir_moves_every_path_together(tmp_path: Path, instance) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "landing").mkdir(parents=True)
    shifted_csv(elsewhere / "landing" / "bad.csv")
    make_demo_frame(SMALL_ROWS).to_csv(elsewhere / "landing" / "demo.csv", index=False)
    result = dg.materialize(
        build_assets(DEMO),
        instance=instance,
        resources=project_resources(launch_settings(DEMO)),
        run_config={
            "resources": {"settings": {"config": {"data_dir": str(elsewhere)}}},
            "ops": {"trained_model": {"config": FAST_TRAINING}},
        },
    )
    assert result.success
    written = {path.relative_to(elsewhere).parts[0] for path in elsewhere.rglob("*")}
    assert written == {
        "landing",
        "storage",
        "ingestion",
        "registry",
        "alerts.jsonl",
        "alert_state.json",
        "alert_state.json.lock",
    }
    assert (elsewhere / "storage" / "trained_model.skops").exists()
    assert pd.read_json(elsewhere / "alerts.jsonl", lines=True)["kind"].tolist() == [
        "batch_rejected",
        "drift",
    ]


def test_overriding_one_setting_works_while_the_env_var_sets_the_data_dir(
    tmp_path: Path, instance, monkeypatch
) -> None:
    env_dir = tmp_path / "from_env"
    (env_dir / "landing").mkdir(parents=True)
    make_demo_frame(SMALL_ROWS).to_csv(env_dir / "landing" / "demo.csv", index=False)
    monkeypatch.setenv("ML_ASSETS_DATA_DIR", str(env_dir))
    result = dg.materialize(
        build_assets(DEMO),
        instance=instance,
        selection="tag:stage=data",
        resources=project_resources(launch_settings(DEMO)),
        run_config={"resources": {"settings": {"config": {"min_rows": 5000}}}},
        raise_on_error=False,
    )
    assert not check_results(result)["enough_rows"].passed
    assert "(minimum 5000)" in check_results(result)["enough_rows"].description
    assert (env_dir / "storage" / "raw_data.json").exists()


def test_the_model_records_the_locked_environment(data_dir: Path, instance) -> None:
    import hashlib

    result = materialize(data_dir, instance)
    trained = next(
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.path == ["trained_model"]
    )
    lock = Path(__file__).resolve().parents[2] / "requirements-lock.txt"
    metadata = trained.materialization.metadata
    assert metadata["lock_hash"].value == hashlib.sha256(lock.read_bytes()).hexdigest()
    assert metadata["config_hash"].value == DEMO.config_hash
    assert metadata["batches"].value == stored_table(data_dir, "features").batches


def test_the_feature_store_writes_only_new_batches_and_reads_as_of_a_time(
    data_dir: Path, instance
) -> None:
    from ml_assets.lib.data.feature_store import FeatureStore

    def store_metadata(result: dg.ExecuteInProcessResult) -> dict:
        (event,) = [
            e
            for e in result.get_asset_materialization_events()
            if e.asset_key.path == ["feature_store"]
        ]
        return event.materialization.metadata

    first = store_metadata(materialize(data_dir, instance))
    assert first["batches_written"].value == 1
    make_demo_frame(300, seed=5).to_csv(data_dir / "landing" / "z_more.csv", index=False)
    second = store_metadata(materialize(data_dir, instance, "tag:stage=data"))
    assert second["batches_written"].value == 1 and len(second["batches"].value) == 2
    store = FeatureStore.open(second["store_path"].value)
    arrivals = json.loads((Path(second["store_path"].value).parent / "_arrivals.json").read_text())
    first_batch, later_batch = sorted(arrivals, key=arrivals.get)
    assert first_batch.startswith("demo.csv-") and later_batch.startswith("z_more.csv-")
    everything = store.get_training_frame()
    assert len(everything) == SMALL_ROWS + 300
    before = store.get_training_frame(as_of=arrivals[first_batch], columns=["numeric1"])
    assert len(before) == SMALL_ROWS and set(before["batch"]) == {first_batch}
