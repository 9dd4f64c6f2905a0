"""batch_predictions and ab_test_report in process: nothing to do, scoring per champion, A/B."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_assets.demo.data import make_demo_frame
from ml_assets.lib.core.storage import load_model_bytes
from ml_assets.lib.data.batches import BatchStore
from ml_assets.lib.release.registry import ModelRegistry
from ml_assets_tests.conftest import materialize, stored_table


def metadata(result, asset: str) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.path == [asset]]
    return {key: value.value for key, value in event.materialization.metadata.items()}


def promote(data_dir: Path, model) -> str:
    registry = ModelRegistry(data_dir / "registry")
    version = registry.register(model, task="binary").version
    registry.set_alias("champion", version, reason="test", actor="test")
    return version


def test_batch_predictions_score_each_file_once_per_champion(data_dir: Path, instance) -> None:
    scoring = data_dir / "scoring"
    scoring.mkdir()
    rows = make_demo_frame(80, seed=21).drop(columns=["target"])
    rows.loc[3, "category"] = "=HYPERLINK()"
    rows.to_csv(scoring / "today.csv", index=False)
    (scoring / "broken.csv").write_text("numeric1,numeric2\n1,2\n")

    before = materialize(data_dir, instance, selection="batch_predictions")
    assert before.success
    assert metadata(before, "batch_predictions")["status"] == (
        "nothing to score: no champion yet: promote a model first"
    )

    scored = materialize(data_dir, instance)  # production_model promotes, then it scores
    assert scored.success
    version = ModelRegistry(data_dir / "registry").alias("champion")
    found = metadata(scored, "batch_predictions")
    assert found["model_version"] == version and found["dagster/row_count"] == 79
    assert found["rows_quarantined"] == 1 and found["batches_rejected"] == 1
    assert "broken.csv: missing required column(s) ['category']" in found["files"]
    storage = data_dir / "storage"
    table = stored_table(data_dir, "batch_predictions")
    predictions = BatchStore(storage / "predictions").read(table)
    assert len(predictions) == 79 and set(predictions["model_version"]) == {version}
    assert 5 not in set(predictions["_source_line"])
    alerts = [json.loads(line) for line in (data_dir / "alerts.jsonl").read_text().splitlines()]
    assert [a["kind"] for a in alerts] == ["scoring_batch_rejected"]

    again = materialize(data_dir, instance, selection="batch_predictions")
    assert metadata(again, "batch_predictions")["new_batches"] == 0
    assert len((data_dir / "alerts.jsonl").read_text().splitlines()) == 1

    model = load_model_bytes((storage / "trained_model.skops").read_bytes(), "model")
    model.set_params(estimator__n_estimators=5).fit(*training_rows())
    newer = promote(data_dir, model)
    rescored = materialize(data_dir, instance, selection="batch_predictions")
    found = metadata(rescored, "batch_predictions")
    assert found["model_version"] == newer != version and found["new_batches"] == 2


def training_rows() -> tuple[pd.DataFrame, pd.Series]:
    from ml_assets.demo.data import DEMO_SPEC
    from ml_assets.lib.data.features import derive_columns
    from ml_assets.lib.model.modeling import model_inputs

    frame = make_demo_frame(200, seed=2)
    frame = pd.concat([frame, derive_columns(frame, DEMO_SPEC)], axis=1)
    return model_inputs(frame, DEMO_SPEC), frame["target"]


def test_the_ab_report_recommends_promoting_a_better_challenger(data_dir: Path, instance) -> None:
    pytest.importorskip("ml_assets.lib.release.prediction_log")  # the serving branch writes the log
    nothing = materialize(data_dir, instance, selection="ab_test_report")
    assert metadata(nothing, "ab_test_report")["status"].startswith("nothing logged yet at ")

    rng = np.random.default_rng(5)
    requests = 3000
    arm = np.where(rng.random(requests) < 0.3, "challenger", "champion")
    label = rng.integers(0, 2, requests)
    right = rng.random(requests) < np.where(arm == "champion", 0.7, 0.85)
    log = data_dir / "serving" / "predictions.jsonl"
    log.parent.mkdir()
    with log.open("w") as handle:
        for i in range(requests):
            entry = {
                "time": f"2026-12-01T10:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
                "request_key": f"r{i}",
                "model_version": "v0001" if arm[i] == "champion" else "v0002",
                "arm": str(arm[i]),
                "input_sha256": "0" * 64,
                "prediction": int(label[i] if right[i] else 1 - label[i]),
                "probability": 0.5,
                "latency_ms": 1.0,
            }
            handle.write(json.dumps(entry) + "\n")
        handle.write('{"time": "2026-12-01T11:00:00+00:00", "request_k')  # torn last line
    labels = data_dir / "labels"
    labels.mkdir()
    frame = pd.DataFrame({"request_key": [f"r{i}" for i in range(requests)], "target": label})
    frame.iloc[:2500].to_csv(labels / "outcomes.csv", index=False)

    result = materialize(data_dir, instance, selection="ab_test_report")
    assert result.success
    found = metadata(result, "ab_test_report")
    assert found["recommendation"] == "promote" and found["effect"] > 0.08
    assert found["champion_rows"] + found["challenger_rows"] == 2500
    report = json.loads((data_dir / "storage" / "ab_test_report.json").read_text())
    assert report["counts"]["unlabelled"] == 500 and report["skipped_log_lines"] == 1
    markdown = (data_dir / "storage" / "ab_test_report.md").read_text()
    assert markdown.startswith("**promote**: the challenger is better")
