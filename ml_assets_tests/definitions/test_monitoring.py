"""The drift report in the graph: a drifted batch errs once, alerts once and marks retraining."""

import json
from pathlib import Path

from ml_assets.demo.drifted import write_drifted_csv
from ml_assets_tests.conftest import check_results, materialize


def alerts_of(data_dir: Path, kind: str) -> list[dict]:
    path = data_dir / "alerts.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [alert for alert in map(json.loads, lines) if alert["kind"] == kind]


def test_a_drifted_batch_is_named_alerted_once_and_marks_retraining(data_dir: Path, instance):
    first = materialize(data_dir, instance)
    assert first.success
    checks = check_results(first)
    assert checks["drift_below_warning"].passed and checks["drift_below_error"].passed
    report = json.loads((data_dir / "storage" / "drift_report.json").read_text())
    assert report["batches"] == {} and list(report["not_compared"].values()) == [
        "part of the reference training set"
    ]

    drifted = write_drifted_csv(data_dir / "landing", rows=400)
    second = materialize(data_dir, instance)
    assert second.success
    checks = check_results(second)
    assert not checks["drift_below_error"].passed and not checks["drift_below_warning"].passed
    report = json.loads((data_dir / "storage" / "drift_report.json").read_text())
    (batch,) = report["batches"]
    assert batch.startswith(drifted.name)
    assert set(report["drifted"][batch]) == {"numeric2", "category", "_prediction"}
    assert report["batches"][batch]["columns"]["numeric1"]["verdict"] == "ok"
    (alert,) = alerts_of(data_dir, "drift")
    assert alert["batch"] == [batch] and alert["run_id"] == second.run_id
    assert "numeric2" in alert["message"] and alert["check"] == "drift_below_error"
    assert alert["figures"][batch]["numeric2"]["psi"] > 0.25
    marker = json.loads((data_dir / "storage" / "drift" / "retraining_due.json").read_text())
    assert set(marker["drifted"]) == {batch}

    assert materialize(data_dir, instance, selection="drift_report").success
    assert len(alerts_of(data_dir, "drift")) == 1
