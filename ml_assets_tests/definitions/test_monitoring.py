"""The drift report in the graph: a drifted batch errs once, alerts once and marks retraining."""

import json
from pathlib import Path

import pytest

from ml_assets.demo.drifted import write_drifted_csv
from ml_assets_tests.conftest import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    CHROMIUM_MISSING,
    check_results,
    materialize,
)


def image_widths(pages: list[Path]) -> dict[str, list[int]]:
    """Each page's images' natural widths as headless Chromium decodes them (0: broken)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            widths = {}
            for path in pages:
                page.goto(path.as_uri(), wait_until="load")
                widths[path.name] = page.eval_on_selector_all(
                    "img", "images => images.map(image => image.naturalWidth)"
                )
            return widths
        finally:
            browser.close()


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
    # Before labels, the expected ROC AUC from calibrated probabilities; the realised one beside.
    performance = report["batches"][batch]["performance"]
    assert performance["metric"] == "roc_auc" and performance["realised"] is not None
    assert performance["low"] <= performance["estimate"] <= performance["high"]
    assert performance["error"] == pytest.approx(performance["estimate"] - performance["realised"])
    # The champion serving when the batch landed, whether or not a newer one was promoted since.
    reference = report["batches"][batch]["reference"]
    assert reference["source"].endswith("champion v0001") and len(reference["batches"]) == 1
    (alert,) = alerts_of(data_dir, "drift")
    assert alert["batch"] == [batch] and alert["run_id"] == second.run_id
    assert "numeric2" in alert["message"] and alert["check"] == "drift_below_error"
    assert alert["figures"][batch]["numeric2"]["psi"] > 0.25
    marker = json.loads((data_dir / "storage" / "drift" / "retraining_due.json").read_text())
    assert set(marker["drifted"]) == {batch}

    assert materialize(data_dir, instance, selection="drift_report").success
    assert len(alerts_of(data_dir, "drift")) == 1
    assert "data:image/png;base64," in (data_dir / "storage" / "drift_report.md").read_text()
    evaluation = json.loads((data_dir / "storage" / "evaluation_report.json").read_text())
    importance = evaluation["permutation_importance"]
    assert set(importance) == {"numeric1", "numeric2", "numeric_ratio", "category"}
    assert max(importance, key=importance.get) in {"numeric1", "numeric2", "numeric_ratio"}

    if CHROMIUM_MISSING:
        pytest.skip(f"{CHROMIUM} is not installed (CI installs it): the HTML was not opened")
    reports = [
        data_dir / "storage" / f"{name}.html" for name in ("drift_report", "evaluation_report")
    ]
    widths = image_widths(reports)
    assert len(widths["drift_report.html"]) == 1 and len(widths["evaluation_report.html"]) == 4
    assert all(width > 0 for found in widths.values() for width in found), widths


def test_drifted_batch_command_lands_the_file_and_refuses_other_projects(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from ml_assets.cli import main

    monkeypatch.setenv("ML_ASSETS_DATA_DIR", str(tmp_path))
    assert main(["drifted-batch", "--rows", "30"]) == 0
    landed = tmp_path / "landing" / "demo_drifted.csv"
    assert str(landed) in capsys.readouterr().out
    assert landed.read_text().count("\n") == 31
    other = tmp_path / "other.yaml"
    config = Path(__file__).parents[2] / "ml_assets" / "demo" / "config.yaml"
    other.write_text(config.read_text().replace("name: demo", "name: churn"))
    (tmp_path / "contract.yaml").write_text((config.parent / "contract.yaml").read_text())
    monkeypatch.setenv("ML_ASSETS_CONFIG", str(other))
    assert main(["drifted-batch"]) == 2
    assert "active project is 'churn'" in capsys.readouterr().err


def test_flipped_labels_raise_exactly_one_performance_alert(data_dir: Path, instance) -> None:
    from ml_assets.demo.data import make_demo_frame

    assert materialize(data_dir, instance).success
    labels = data_dir / "labels"
    labels.mkdir()
    frame = make_demo_frame(300, seed=21)
    frame.to_csv(labels / "honest.csv", index=False)
    result = materialize(data_dir, instance, selection="live_performance")
    assert check_results(result)["live_performance_holds"].passed
    assert alerts_of(data_dir, "performance_drop") == []

    frame.assign(target=1 - frame["target"]).to_csv(labels / "flipped.csv", index=False)
    for _ in range(2):
        result = materialize(data_dir, instance, selection="live_performance")
        assert not check_results(result)["live_performance_holds"].passed
    (alert,) = alerts_of(data_dir, "performance_drop")
    assert alert["batch"] == ["labels/flipped.csv"] and alert["check"] == "live_performance_holds"
    figures = alert["figures"]["labels/flipped.csv"]
    assert figures["metric"] == "roc_auc" and figures["live"] < 0.2 < 0.9 < figures["held_out"]
    report = json.loads((data_dir / "storage" / "live_performance.json").read_text())
    assert (
        report["model"] == "champion v0001" and report["rows"]["labels/honest.csv"]["drop"] < 0.05
    )


def test_a_rejected_batch_is_judged_with_its_reason_and_heads_the_report(data_dir, instance):
    from ml_assets.demo.data import make_demo_frame

    assert materialize(data_dir, instance).success
    frame = make_demo_frame(400, seed=23)
    frame["numeric2"] = frame["numeric2"] - 45  # a third of the rows fall below the floor of 0
    frame.to_csv(data_dir / "landing" / "fell.csv", index=False)
    result = materialize(data_dir, instance)
    assert result.success
    report = json.loads((data_dir / "storage" / "drift_report.json").read_text())
    (batch,) = [name for name in report["arrivals"] if name.startswith("fell.csv")]
    arrival = report["arrivals"][batch]
    assert arrival["status"] == "rejected" and "of its rows break the contract" in arrival["reason"]
    compared = report["batches"][batch]
    assert compared["arrival"]["status"] == "rejected" and compared["rows"] == 400
    assert "numeric2" in compared["drifted"] and compared["verdict"] == "error"
    # The model's scores lead, then the columns by the evaluation's permutation importance.
    assert list(compared["columns"])[0] in {"_prediction", "numeric2"}
    assert report["headline"].startswith(f"error: {batch} drifted most in")
    markdown = (data_dir / "storage" / "drift_report.md").read_text()
    assert markdown.startswith(f"# Drift report: error: {batch}") and "| rejected |" in markdown
    assert not check_results(result)["drift_below_error"].passed
