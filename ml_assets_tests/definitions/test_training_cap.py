"""training.max_rows through the graph: a capped training set trains on a sample, says so in the
run and in the evaluation report, and the evaluation still scores every held-out row."""

import json
from pathlib import Path

import dagster as dg

from ml_assets_tests.conftest import materialize, stored


def test_a_training_set_past_max_rows_trains_on_a_sample_and_the_report_says_so(
    data_dir: Path, instance: dg.DagsterInstance
) -> None:
    assert materialize(data_dir, instance, "tag:stage=data").success
    selection = "key:trained_model or key:evaluation_report"
    result = materialize(data_dir, instance, selection, training={"max_rows": 200})
    assert result.success

    features = stored(data_dir, "features")
    train_rows = int((features["_split"] == "train").sum())
    metadata = result.asset_materializations_for_node("trained_model")[0].metadata
    assert metadata["train_rows_available"].value == train_rows > 200
    assert abs(metadata["train_rows"].value - 200) <= 5
    sample = metadata["training"].value["sample"]
    assert sample["rows_available"] == train_rows and len(sample["learning_curve"]) == 3
    assert all(0 < point["roc_auc"] <= 1 for point in sample["learning_curve"])  # no NaN

    report = (data_dir / "storage" / "evaluation_report.md").read_text()
    assert f"## Training sample: {metadata['train_rows'].value} of {train_rows} training" in report
    scored = json.loads((data_dir / "storage" / "evaluation_report.json").read_text())["rows"]
    assert scored["test"] == int((features["_split"] == "test").sum())
