"""Labels keyed by request key, joined with the prediction log: a live metric per served version."""

import json
from pathlib import Path

import pytest

from ml_assets.demo.data import DEMO_SPEC
from ml_assets.lib.data.features import build_features
from ml_assets.lib.model import conformal
from ml_assets.lib.model.conformal import coverage_shortfall
from ml_assets.lib.model.modeling import train_model
from ml_assets.lib.monitoring.live_performance import labelled_files, live_row, under_covered
from ml_assets_tests.lib.data.test_features import validated


def test_request_key_labels_give_each_served_version_its_live_metric(tmp_path: Path) -> None:
    log = tmp_path / "serving" / "predictions.jsonl"
    log.parent.mkdir()
    served = [("r1", "v0001", 1, 0.9), ("r2", "v0001", 0, 0.2), ("r3", "v0001", 1, 0.7)]
    served += [("r4", "v0002", 1, 0.8), ("r5", "v0002", 0, 0.6), ("r6", "v0002", 1, 0.3)]
    lines = [
        json.dumps({"request_key": k, "model_version": v, "prediction": p, "probability": q})
        for k, v, p, q in served
    ]
    log.write_text("\n".join(lines) + '\n{"request_key": "torn')
    labels = tmp_path / "labels"
    labels.mkdir()
    # r3's first label is corrected by the later line; r9 was never served.
    (labels / "day1.csv").write_text(
        "request_key,target\nr1,1\nr2,0\nr3,1\nr3,0\nr4,1\nr5,0\nr6,1\nr9,1\n"
    )
    (labels / "broken.csv").write_text("request_key,outcome\nr1,1\n")
    held_out = {"v0001": {"roc_auc": 0.9}, "v0002": {"roc_auc": 0.95}}
    rows, errors = labelled_files(
        tmp_path, None, DEMO_SPEC, {}, 1, lambda version: held_out.get(version, {})
    )
    first, second = rows["labels/day1.csv (v0001)"], rows["labels/day1.csv (v0002)"]
    # v0001: positives r1 (0.9); negatives r2 (0.2), r3 (0.7): both pairs ranked right.
    assert first["rows"] == 3 and first["live"] == pytest.approx(1.0)
    assert first["drop"] == pytest.approx(-0.1)
    # v0002: positives r4 (0.8), r6 (0.3); negative r5 (0.6): one of two pairs right.
    assert second["live"] == pytest.approx(0.5) and second["drop"] == pytest.approx(0.45)
    assert list(errors) == ["broken.csv"] and "no target column 'target'" in errors["broken.csv"]


def test_a_shortfall_of_coverage_counts_only_beyond_noise() -> None:
    def judged(covered: int, rows: int) -> dict:
        facts = {"coverage_target": 0.9, "rows": rows, "covered": covered}
        return coverage_shortfall({**facts, "coverage": covered / rows})

    assert not judged(8, 10)["below_target"]  # 2 misses in 10 rows: noise at 90%
    assert judged(800, 1000)["below_target"] and judged(800, 1000)["p_value"] < 1e-6
    assert not judged(895, 1000)["below_target"]


def test_live_rows_carry_range_coverage_and_name_the_batches_that_fall_short() -> None:
    table = build_features(validated(1500), DEMO_SPEC)
    train, test = table[table["_split"] == "train"], table[table["_split"] == "test"]
    model = train_model(train, DEMO_SPEC, "linear", search="none", cv_folds=3, coverage=0.9).model
    held = live_row(model, test, DEMO_SPEC, {"roc_auc": 0.99})
    assert held["ranges"]["rows"] == len(test) and not held["ranges"]["below_target"]
    # Ranges a tenth as wide as calibrated: they miss the truth far more often than 10%.
    calibration = conformal.calibration_of(model)
    setattr(model, conformal.ATTRIBUTE, {**calibration, "quantile": 1e-9})
    flipped = test.assign(target=1 - test["target"])
    short = live_row(model, flipped, DEMO_SPEC, {"roc_auc": 0.99})
    assert short["ranges"]["below_target"]
    rows = {"batch-a": held, "batch-b": short, "labels/x.csv (v1)": {"rows": 3, "drop": None}}
    assert under_covered(rows) == {"batch-b": short["ranges"]["coverage"]}
