"""Labels keyed by request key, joined with the prediction log: a live metric per served version."""

import json
from pathlib import Path

import pytest

from ml_assets.demo.data import DEMO_SPEC
from ml_assets.lib.live_performance import labelled_files


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
