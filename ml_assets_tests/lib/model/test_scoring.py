"""Batch scoring: validation and quarantine, predictions with provenance, rescoring per champion."""

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_assets.demo.data import DEMO_SPEC, make_demo_frame
from ml_assets.lib.contract.dataset import REASON
from ml_assets.lib.data import batches
from ml_assets.lib.data.batches import BatchStore
from ml_assets.lib.data.features import derive_columns
from ml_assets.lib.model.conformal import ATTRIBUTE
from ml_assets.lib.model.modeling import build_pipeline, model_inputs
from ml_assets.lib.model.scoring import (
    Champion,
    ChampionUnavailable,
    range_columns,
    score_folder,
    scoring_rules,
)
from ml_assets_tests.conftest import DEMO


def with_derived(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([rows, derive_columns(rows, DEMO_SPEC)], axis=1)


@pytest.fixture(scope="module")
def model():
    frame = with_derived(make_demo_frame(400, seed=3))
    pipeline = build_pipeline(DEMO_SPEC, "random_forest", {"n_estimators": 10})
    return pipeline.fit(model_inputs(frame, DEMO_SPEC), frame[DEMO_SPEC.target])


def champion(model, version: str = "v0001", loads: list | None = None) -> Champion:
    def load():
        if loads is not None:
            loads.append(version)
        return model

    return Champion(version, f"sha-of-{version}", load)


def score(folder: Path, root: Path, chosen: Champion):
    rules = scoring_rules(DEMO.contract, DEMO_SPEC, 0.05, 1 << 20, "code", chosen)
    return score_folder(folder, root, rules, chosen)


def test_valid_rows_are_scored_and_bad_rows_quarantined_with_reasons(tmp_path: Path, model) -> None:
    folder, root = tmp_path / "scoring", tmp_path / "predictions"
    folder.mkdir()
    rows = make_demo_frame(100, seed=8).drop(columns=["target"])
    rows.loc[4, "numeric2"] = 500.0  # out of range: quarantined, the batch still accepted
    rows.to_csv(folder / "=good.csv", index=False)  # a name a spreadsheet would run
    shifted = make_demo_frame(50, seed=9)
    shifted["category"] = "Z"
    shifted.to_csv(folder / "shifted.csv", index=False)  # every row bad: rejected whole
    (folder / "broken.csv").write_text("numeric1,category\n1.0,A\n")  # missing column

    run = score(folder, root, champion(model))

    status = {record.file: record.status for record in run.refresh.records}
    assert status == {"broken.csv": "rejected", "=good.csv": "accepted", "shifted.csv": "rejected"}
    broken = next(r for r in run.refresh.records if r.file == "broken.csv")
    assert (
        broken.reason
        == "broken.csv: missing required column(s) ['numeric2']; the file has ['numeric1', 'category']"
    )
    assert run.rows_scored == 99 and run.models_loaded == 1
    predictions = BatchStore(root).read(run.predictions)
    assert list(predictions.columns) == [
        "_batch",
        "_source_file",
        "_source_line",
        "prediction",
        "probability_0",
        "probability_1",
        "model_version",
    ]
    assert 6 not in set(predictions["_source_line"]) and len(predictions) == 99
    assert set(predictions["model_version"]) == {"v0001"}
    inputs = rows.drop(index=4).reset_index(drop=True)
    expected = model.predict_proba(model_inputs(with_derived(inputs), DEMO_SPEC))[:, 1]
    assert predictions["probability_1"].to_numpy() == pytest.approx(expected)
    quarantined = BatchStore(root).read(run.quarantined)
    by_file = {file: list(group[REASON]) for file, group in quarantined.groupby("_source_file")}
    assert by_file["=good.csv"] == ["numeric2: less_than_or_equal_to(100.0) failed for '500.0'"]
    assert len(by_file["shifted.csv"]) == 50 and by_file["shifted.csv"][0].startswith(
        "category: isin"
    )
    folder_of_good = root / "v0001" / run.refresh.version / run.predictions.batches[0]
    with (folder_of_good / "predictions.csv").open() as handle:
        lines = list(csv.reader(handle))
    assert len(lines) == 100 and lines[1][:3] == [f"'{predictions['_batch'][0]}", "'=good.csv", "2"]


def test_each_batch_is_scored_once_per_champion(tmp_path: Path, model, monkeypatch) -> None:
    folder, root = tmp_path / "scoring", tmp_path / "predictions"
    folder.mkdir()
    make_demo_frame(60, seed=1).to_csv(folder / "a.csv", index=False)
    make_demo_frame(40, seed=2).to_csv(folder / "b.csv", index=False)
    reads: list[str] = []
    read_landing = batches.read_landing
    monkeypatch.setattr(
        batches,
        "read_landing",
        lambda path, cap: reads.append(path.name) or read_landing(path, cap),
    )
    loads: list[str] = []

    first = score(folder, root, champion(model, "v0001", loads))
    assert sorted(first.refresh.new) == sorted(first.predictions.batches) and len(reads) == 2

    again = score(folder, root, champion(model, "v0001", loads))
    assert again.refresh.new == [] and again.models_loaded == 0 and len(reads) == 2
    assert again.predictions == first.predictions and loads == ["v0001"]

    promoted = score(folder, root, champion(model, "v0002", loads))
    assert sorted(promoted.refresh.new) == sorted(promoted.predictions.batches)
    assert promoted.models_loaded == 1 and loads == ["v0001", "v0002"]
    scored = BatchStore(root).read(promoted.predictions)
    assert set(scored["model_version"]) == {"v0002"} and len(scored) == 100

    make_demo_frame(30, seed=4).to_csv(folder / "c.csv", index=False)
    landed = score(folder, root, champion(model, "v0002", loads))
    assert [name[:6] for name in landed.refresh.new] == ["c.csv-"] and len(
        landed.predictions.batches
    ) == 3


def test_a_champion_that_cannot_load_fails_the_run_and_marks_nothing_done(
    tmp_path: Path, model
) -> None:
    folder, root = tmp_path / "scoring", tmp_path / "predictions"
    folder.mkdir()
    make_demo_frame(30, seed=1).to_csv(folder / "a.csv", index=False)

    def tampered():
        raise ValueError("sha256 mismatch")

    with pytest.raises(
        ChampionUnavailable, match="champion v0003 cannot be loaded: sha256 mismatch"
    ):
        score(folder, root, Champion("v0003", "sha", tampered))
    assert not list(root.rglob("batch.json"))
    assert score(folder, root, champion(model, "v0003")).rows_scored == 30


def test_scored_rows_carry_the_models_interval_or_set() -> None:
    class Line:
        classes_ = None

    regression = Line()
    setattr(regression, ATTRIBUTE, {"kind": "interval", "coverage": 0.9, "quantile": 2.0})
    columns = range_columns(regression, np.array([1.0, 5.0]), None)
    assert columns["prediction_lower"].tolist() == [-1.0, 3.0]
    assert columns["prediction_upper"].tolist() == [3.0, 7.0]

    classifier = Line()
    classifier.classes_ = np.array(["a", "b", "c"])
    setattr(classifier, ATTRIBUTE, {"kind": "set", "coverage": 0.9, "quantile": 0.7})
    probabilities = np.array([[0.5, 0.35, 0.15], [0.1, 0.2, 0.7]])
    columns = range_columns(classifier, None, probabilities)
    assert [json.loads(value) for value in columns["prediction_set"]] == [["a", "b"], ["c"]]
    # No class clears a stricter quantile on an unsure row: its set is empty, not its top class.
    setattr(classifier, ATTRIBUTE, {"kind": "set", "coverage": 0.9, "quantile": 0.5})
    columns = range_columns(classifier, None, np.array([[0.4, 0.35, 0.25]]))
    assert json.loads(columns["prediction_set"][0]) == []
    assert range_columns(Line(), np.array([1.0]), None) == {}
