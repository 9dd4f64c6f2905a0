"""Evaluation: metrics on the held-out side, baselines on the same split, fairness gaps."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ml_assets.demo.data import DEMO_SPEC
from ml_assets.lib.data.features import build_features
from ml_assets.lib.model.evaluation import (
    classification_metrics,
    evaluate,
    fairness_slices,
    per_class_metrics,
    report_markdown,
)
from ml_assets.lib.model.modeling import build_pipeline, model_inputs, train_model
from ml_assets_tests.lib.data.test_features import validated


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


@pytest.mark.parametrize("classes", [["bad", "good"], ["a", "b", "c"]])
def test_text_labels_score_as_scikit_learn_scores_them(classes) -> None:
    """Metrics read coded labels; a held-out label the model never saw is told apart."""
    from sklearn import metrics

    rng = np.random.default_rng(0)
    labels = np.array(classes, dtype=object)
    truth = pd.Series(labels[rng.integers(0, len(labels), 300)])
    probabilities = rng.dirichlet(np.ones(len(labels)), 300)
    predicted = labels[probabilities.argmax(axis=1)]
    scores = classification_metrics(truth, predicted, probabilities, labels, positive="good")
    average = {"average": "binary", "pos_label": "good"} if len(labels) == 2 else {}
    suffix = "" if len(labels) == 2 else "_macro"
    found = metrics.precision_recall_fscore_support(
        truth, predicted, zero_division=0, **(average or {"average": "macro"})
    )
    for name, value in zip(("precision", "recall", "f1"), found[:3], strict=True):
        assert scores[name + suffix] == pytest.approx(value)
    assert scores["accuracy"] == pytest.approx(metrics.accuracy_score(truth, predicted))
    assert scores["log_loss"] == pytest.approx(metrics.log_loss(truth, probabilities))
    report = metrics.classification_report(truth, predicted, output_dict=True, zero_division=0)
    for label, row in per_class_metrics(truth, predicted, labels).items():
        assert row == pytest.approx(report[label])
    unseen = truth.where(truth != classes[0], "new")  # a label the model never learned
    report = metrics.classification_report(
        unseen, predicted, labels=labels, output_dict=True, zero_division=0
    )
    for label, row in per_class_metrics(unseen, predicted, labels).items():
        assert row == pytest.approx(report[label])


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


def test_a_model_its_baseline_beats_gets_the_verdict_worse(report) -> None:
    _, _, table = report
    train = table[table["_split"] == "train"].copy()
    rng = np.random.default_rng(0)
    train["target"] = rng.permutation(train["target"].to_numpy())  # learns nothing real
    guessing = train_model(train, DEMO_SPEC, "linear", search="none", cv_folds=3).model
    verdict = evaluate(guessing, table, DEMO_SPEC)["verdict"]
    assert verdict["against"] == "logistic_regression" and verdict["verdict"] == "worse"
    low, high = verdict["interval"]
    assert low <= verdict["difference"] <= high < 0
    text = report_markdown(evaluate(guessing, table, DEMO_SPEC))
    assert "Verdict against `logistic_regression` (the strongest baseline): **worse**" in text


def test_the_verdict_compares_the_reported_metrics_of_the_strongest_baseline(report) -> None:
    found = report[0]
    verdict, primary = found["verdict"], found["primary_metric"]
    strongest = max(found["baselines"], key=lambda name: found["baselines"][name][primary])
    assert verdict["against"] == strongest
    expected = found["metrics"][primary] - found["baselines"][strongest][primary]
    assert verdict["difference"] == pytest.approx(expected)


def test_the_baselines_own_model_is_within_noise_of_it(report) -> None:
    _, _, table = report
    train = table[table["_split"] == "train"]
    same = build_pipeline(DEMO_SPEC, "linear").fit(model_inputs(train, DEMO_SPEC), train["target"])
    verdict = evaluate(same, table, DEMO_SPEC)["verdict"]
    assert verdict["verdict"] == "within noise"
    assert verdict["difference"] == 0 and verdict["interval"] == [0.0, 0.0]


def test_slices_under_the_minimum_are_listed_and_left_out_of_the_gap(report) -> None:
    _, model, table = report
    test = table[table["_split"] == "test"].copy()
    tiny = test.index[:3]
    test.loc[tiny, "category"] = "D"
    test.loc[tiny, "target"] = 1 - test.loc[tiny, "target"]  # the tiny slice is all wrong
    slices = fairness_slices(model, test, DEMO_SPEC, "category", min_rows=30)
    assert slices["too_small"] == {"D": 3}
    assert slices["groups"]["D"]["rows"] == 3 and isinstance(slices["groups"]["D"]["rows"], int)
    assert "D" not in {slices["largest_gap"]["worst"], slices["largest_gap"]["best"]}
    assert (
        fairness_slices(model, test, DEMO_SPEC, "category", min_rows=1)["largest_gap"]["worst"]
        == "D"
    )


def test_perfect_slices_read_as_no_gap_and_counts_as_integers(report) -> None:
    result, _, _ = report
    perfect = {
        **result,
        "fairness": {
            "category": {
                "groups": {"A": {"rows": 40, "accuracy": 1.0}, "B": {"rows": 50, "accuracy": 1.0}},
                "min_rows": 30,
                "too_small": {},
                "gaps": {"accuracy": {"gap": 0.0, "worst": "A", "best": "B"}},
                "largest_gap": {"metric": "accuracy", "gap": 0.0, "worst": "A", "best": "B"},
            }
        },
    }
    text = report_markdown(perfect)
    assert "No gap: every slice large enough to judge scores the same." in text
    assert "differs by" not in text
    assert "| A | 40 | 1.000 |" in text
    support = [row["support"] for row in result["per_class"].values()]
    assert all(isinstance(value, int) for value in support)
    assert f"| {support[0]} |" in text.split("## Per class")[1]


def test_the_positive_label_defaults_to_the_minority_class_of_the_training_rows() -> None:
    table = build_features(validated(1500), DEMO_SPEC)
    train = table["_split"] == "train"
    minority = table.loc[train, "target"].value_counts().idxmin()
    spec = replace(DEMO_SPEC, positive_label=None)
    model = train_model(table[train], spec, "linear", search="none", cv_folds=3).model
    assert evaluate(model, table, spec)["positive_label"] == minority


def test_training_facts_and_provenance_lead_the_markdown(report) -> None:
    result, _, table = report
    training = train_model(
        table[table["_split"] == "train"], DEMO_SPEC, "linear", cv_folds=3
    ).summary()
    provenance = {
        "model_version": "abc123",
        "data_version": "d4t4",
        "batches": ["jan.csv", "feb.csv"],
        "config_hash": "c0nf",
        "created_at": "2026-12-01T12:00:00+00:00",
    }
    text = report_markdown({**result, "training": training, "provenance": provenance})
    top = text.split("## Candidate against baselines")[0]
    assert "Estimator: **linear** (C=" in top
    assert f"Cross-validated roc_auc: {training['cv_mean']:.3f} ± " in top
    assert "Model version `abc123`, data version `d4t4`" in top and "jan.csv, feb.csv" in top
    assert "Created: 2026-12-01T12:00:00+00:00" in top
    assert f"Rows: {result['rows']['train']} trained on" in top
    assert "| linear (chosen) | grid | 3 |" in text


def test_a_blend_is_named_by_its_members_heaviest_first_with_their_weights(report) -> None:
    result, _, _ = report
    members = {"random_forest": {"weight": 1}, "linear": {"weight": 12, "C": 0.5}}
    candidate = {
        "estimator": "ensemble",
        "search": "greedy selection",
        "best_params": members,
        "cv_mean": 0.9,
        "cv_std": 0.01,
        "settings_tried": 2,
        "seconds": 1.0,
    }
    training = {
        "estimator": "ensemble",
        "best_params": members,
        "cv_metric": "roc_auc",
        "cv_mean": 0.9,
        "cv_std": 0.01,
        "candidates": [candidate],
    }
    text = report_markdown({**result, "training": training})
    blend = "linear ×12/20 (C=0.5), random_forest ×1/20 (defaults)"
    assert f"Estimator: **ensemble** ({blend})" in text
    assert "| ensemble (chosen) | greedy selection | 2 |" in text and blend in text


def test_the_markdown_names_the_budget_and_a_search_the_clock_cut(report) -> None:
    result, _, table = report
    training = train_model(
        table[table["_split"] == "train"], DEMO_SPEC, "auto", budget=3, time_limit=1e-6
    ).summary()
    text = report_markdown({**result, "training": training})
    assert "Budget: 3 trials, 1 settings tried." in text
    assert "**Search cut short**: the wall-clock cap of 1e-06 s was reached" in text
    assert "random_forest, hist_gradient_boosting not searched" in text


def test_evaluate_copies_the_training_facts_into_the_report(report) -> None:
    _, model, table = report
    facts = {
        "estimator": "random_forest",
        "best_params": {},
        "cv_metric": "roc_auc",
        "cv_mean": 0.9,
        "cv_std": 0.01,
        "candidates": [],
        "features_kept": [],
        "features_dropped": [],
    }
    assert evaluate(model, table, DEMO_SPEC, training=facts)["training"] == facts


def test_the_bootstrap_resamples_at_most_its_row_budget() -> None:
    import numpy as np

    from ml_assets.lib.model.evaluation import BOOTSTRAP_MAX_ROWS, _bootstrap_rows

    rng = np.random.default_rng(0)
    assert _bootstrap_rows(rng, 50).tolist() == list(range(50))
    rows = _bootstrap_rows(rng, BOOTSTRAP_MAX_ROWS * 3)
    assert len(rows) == len(set(rows.tolist())) == BOOTSTRAP_MAX_ROWS
    assert rows.max() >= BOOTSTRAP_MAX_ROWS and (np.diff(rows) > 0).all()


def test_baselines_fit_on_a_sample_that_keeps_every_class(monkeypatch) -> None:
    from ml_assets.lib.model import evaluation

    rows = build_features(validated(3000), DEMO_SPEC)
    train = rows[rows["_split"] == "train"].copy()
    train.loc[train.index[:1], "target"] = 7  # one row of a rare class
    assert evaluation.baseline_rows(train, DEMO_SPEC, seed=1) is train
    monkeypatch.setattr(evaluation, "BASELINE_MAX_ROWS", 300)
    sample = evaluation.baseline_rows(train, DEMO_SPEC, seed=1)
    assert 300 <= len(sample) <= 302 and sample.index.is_unique
    assert set(sample["target"]) == set(train["target"])
    shares = sample["target"].value_counts(normalize=True)
    assert shares[1] == pytest.approx(train["target"].value_counts(normalize=True)[1], abs=0.01)
    assert sample.index.isin(train.index).all()
    fitted = evaluation.fit_baselines(train, DEMO_SPEC, seed=1)
    assert all(list(model.classes_) == [0, 1, 7] for model in fitted.values())


def test_streaming_the_rows_chunk_by_chunk_gives_the_report_of_the_whole_table(
    monkeypatch,
) -> None:
    """Baselines and bootstrap sampled, importance rows picked: chunks change nothing."""
    from ml_assets.lib.model import evaluation
    from ml_assets.lib.model.plots import evaluation_images

    table = build_features(validated(3000), DEMO_SPEC)[DEMO_SPEC.scored_columns]
    train = table[table["_split"] == "train"]
    model = train_model(train, DEMO_SPEC, search="none", cv_folds=3, coverage=0.9).model
    monkeypatch.setattr(evaluation, "BASELINE_MAX_ROWS", 300)
    monkeypatch.setattr(evaluation, "BOOTSTRAP_MAX_ROWS", 200)
    whole, whole_held = evaluation.evaluate_table(
        model, evaluation.frame_reader(table, len(table)), DEMO_SPEC, seed=5
    )
    streamed, streamed_held = evaluation.evaluate_table(
        model, evaluation.frame_reader(table, 97), DEMO_SPEC, seed=5
    )
    assert streamed == whole
    assert streamed["rows"]["test"] == len(streamed_held.rows) > len(streamed_held.sample)
    assert (
        evaluation_images(model, streamed_held, DEMO_SPEC, streamed, 5)[1]
        == (evaluation_images(model, whole_held, DEMO_SPEC, whole, 5)[1])
    )


def test_a_table_without_rows_cannot_be_evaluated() -> None:
    with pytest.raises(ValueError, match="cannot evaluate: 0 train rows and 0 test rows"):
        evaluate(None, pd.DataFrame(columns=DEMO_SPEC.scored_columns), DEMO_SPEC)
