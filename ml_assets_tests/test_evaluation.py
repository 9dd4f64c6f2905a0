"""Evaluation: metrics on the held-out side, baselines on the same split, fairness gaps."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.demo.data import DEMO_SPEC
from ml_assets.lib.evaluation import (
    classification_metrics,
    evaluate,
    fairness_slices,
    report_markdown,
)
from ml_assets.lib.features import build_features
from ml_assets.lib.modeling import train_model
from ml_assets_tests.test_features import validated


def test_binary_metrics_on_a_hand_checked_case() -> None:
    truth = pd.Series([0, 0, 1, 1])
    scores = classification_metrics(
        truth,
        np.array([0, 1, 1, 1]),
        np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]]),
        np.array([0, 1]),
    )
    assert scores["accuracy"] == 0.75
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == 1.0
    assert scores["roc_auc"] == 1.0


@pytest.fixture(scope="module")
def report():
    table = build_features(validated(1500), DEMO_SPEC)
    model = train_model(
        table[table["_split"] == "train"], DEMO_SPEC, search="none", cv_folds=3
    ).model
    return evaluate(model, table, DEMO_SPEC), model, table


def test_report_compares_against_both_baselines_on_the_same_test_rows(report) -> None:
    result, _, table = report
    assert result["rows"]["test"] == int((table["_split"] == "test").sum())
    assert set(result["baselines"]) == {"majority_class", "logistic_regression"}
    assert result["baselines"]["majority_class"]["roc_auc"] == 0.5
    assert result["lift_over_baselines"]["majority_class"] > 0.3
    assert np.array(result["confusion_matrix"]).sum() == result["rows"]["test"]
    assert {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"} <= set(
        result["metrics"]
    )


def test_fairness_reports_each_group_and_the_largest_gap(report) -> None:
    _, model, table = report
    test = table[table["_split"] == "test"].copy()
    test.loc[test["category"] == "C", "target"] = 1 - test.loc[test["category"] == "C", "target"]
    slices = fairness_slices(model, test, DEMO_SPEC, "category")
    assert set(slices["groups"]) == {"A", "B", "C"}
    assert slices["gaps"]["accuracy"]["worst"] == "C"
    assert slices["largest_gap"]["gap"] > 0.5


def test_markdown_report_holds_every_section(report) -> None:
    text = report_markdown(report[0])
    for heading in (
        "# Evaluation report",
        "## Candidate against baselines",
        "## Confusion matrix",
        "## Fairness slices by `category`",
    ):
        assert heading in text
