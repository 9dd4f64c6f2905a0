"""The approval gate's criteria on hand-made reports, and the champion re-scored on the same rows."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.release.approval_gate import (
    ChampionComparison,
    GateThresholds,
    SliceGap,
    compare_with_champion,
    decision_markdown,
    judge,
    slice_gap,
)
from ml_assets.lib.release.registry import CHAMPION, ModelRegistry


def slice_scores(roc_auc: float, accuracy: float, rows: int) -> dict:
    return {"roc_auc": roc_auc, "accuracy": accuracy, "rows": rows}


def report(**changes) -> dict:
    """A binary report as ``evaluate`` writes it, trimmed to what the gate reads."""
    base = {
        "task": "binary",
        "primary_metric": "roc_auc",
        "metrics": {"roc_auc": 0.90, "accuracy": 0.85},
        "baselines": {
            "majority_class": {"roc_auc": 0.5, "accuracy": 0.6},
            "logistic_regression": {"roc_auc": 0.895, "accuracy": 0.84},
        },
        "fairness": {
            "category": {
                "groups": {
                    "A": slice_scores(0.92, 0.86, 50),
                    "B": slice_scores(0.88, 0.84, 40),
                    "C": slice_scores(0.10, 0.20, 5),  # too small to judge
                },
                "min_rows": 30,
                "too_small": {"C": 5},
                "gaps": {"roc_auc": {"gap": 0.04, "worst": "B", "best": "A"}},
                "largest_gap": {"metric": "roc_auc", "gap": 0.04, "worst": "B", "best": "A"},
            }
        },
    }
    return {**base, **changes}


NARROW_GAP = SliceGap("category", "roc_auc", 2, gap=0.04, low=0.01, high=0.09, worst="B", best="A")


def by_name(decision) -> dict:
    return {criterion.name: criterion for criterion in decision.criteria}


def test_a_sound_first_model_passes_with_the_champion_criterion_skipped() -> None:
    decision = judge(report(), GateThresholds(), None, [NARROW_GAP])
    assert decision.passed
    criteria = by_name(decision)
    assert list(criteria) == [
        "beats_majority_class",
        "beats_logistic_regression",
        "not_worse_than_champion",
        "fairness_gap_category",
        "slice_category=A_roc_auc",
        "slice_category=B_roc_auc",
    ]  # slice C has 5 rows: it decides nothing
    assert criteria["not_worse_than_champion"].status == "skipped"
    assert criteria["beats_majority_class"].candidate == 0.90
    assert criteria["beats_majority_class"].reference == 0.5
    assert decision.summary().startswith("passed all 5 judged criteria (1 skipped: no champion")


def test_each_criterion_fails_on_its_own_figures() -> None:
    failing = report(
        metrics={"roc_auc": 0.51, "accuracy": 0.6},
        fairness={
            "category": {
                **report()["fairness"]["category"],
                "groups": {"A": slice_scores(0.92, 0.9, 50), "B": slice_scores(0.55, 0.5, 40)},
                "largest_gap": {"metric": "roc_auc", "gap": 0.37, "worst": "B", "best": "A"},
            }
        },
    )
    champion = ChampionComparison("v0003", "roc_auc", 120, candidate_score=0.51, champion_score=0.9)
    wide = SliceGap("category", "roc_auc", 2, gap=0.37, low=0.2, high=0.5, worst="B", best="A")
    decision = judge(failing, GateThresholds(), champion, [wide])
    assert not decision.passed
    assert [c.name for c in decision.failures] == [
        "beats_majority_class",
        "beats_logistic_regression",
        "not_worse_than_champion",
        "fairness_gap_category",
        "slice_category=B_roc_auc",
    ]
    criteria = by_name(decision)
    assert "lift +0.0100 (at least +0.0200)" in criteria["beats_majority_class"].description
    assert criteria["not_worse_than_champion"].description == (
        "roc_auc 0.510 against champion v0003's 0.900 on the same 120 held-out rows: "
        "difference -0.3900 (at least -0.0100)"
    )
    assert "roc_auc gap 0.3700 between B (worst) and A (best) of 2 slices, 95% interval " in (
        criteria["fairness_gap_category"].description
    )
    markdown = decision_markdown(decision.as_dict(), "v0004")
    assert markdown.startswith("# Approval gate: v0004 **failed**")
    assert "| not_worse_than_champion | fail | 0.510 | 0.900 |" in markdown


def test_thresholds_are_configurable_and_bounds_follow_the_metric_direction() -> None:
    loose = GateThresholds(baseline_margin=0.0, max_fairness_gap=0.5, slice_bounds={"roc_auc": 0.5})
    champion = ChampionComparison("v0001", "roc_auc", 100, candidate_score=0.89, champion_score=0.9)
    assert judge(report(), loose, champion).passed  # 0.01 worse: within the default tolerance
    strict = GateThresholds(champion_tolerance=0.0)
    assert [c.name for c in judge(report(), strict, champion).failures] == [
        "not_worse_than_champion"
    ]
    loss_bound = GateThresholds(slice_bounds={"log_loss": 0.3})
    with_losses = report()
    groups = with_losses["fairness"]["category"]["groups"]
    groups["A"]["log_loss"], groups["B"]["log_loss"] = 0.2, 0.4
    failed = judge(with_losses, loss_bound, None).failures
    assert [c.name for c in failed] == ["slice_category=B_log_loss"]
    assert failed[0].requirement == "log_loss ≤ 0.300"
    off = GateThresholds(compare_with_champion=False)
    criterion = by_name(judge(report(), off, champion))["not_worse_than_champion"]
    assert criterion.status == "skipped" and "by configuration" in criterion.description


def test_trailing_the_linear_baseline_fails_only_beyond_noise() -> None:
    trailing = {"metrics": {"roc_auc": 0.865, "accuracy": 0.85}}
    noisy = report(
        **trailing,
        verdict={"against": "logistic_regression", "metric": "roc_auc", "interval": [-0.08, 0.004]},
    )
    criteria = by_name(judge(noisy, GateThresholds(), None))
    assert criteria["beats_logistic_regression"].status == "pass"
    assert "95% interval [-0.0800, +0.0040] not all below -0.0100" in (
        criteria["beats_logistic_regression"].description
    )
    sure = report(
        **trailing,
        verdict={"against": "logistic_regression", "metric": "roc_auc", "interval": [-0.05, -0.02]},
    )
    assert [c.name for c in judge(sure, GateThresholds(), None).failures] == [
        "beats_logistic_regression"
    ]


def test_a_champion_that_cannot_be_rescored_fails_the_gate() -> None:
    broken = ChampionComparison("v0002", "roc_auc", 100, error="its model file is missing")
    decision = judge(report(), GateThresholds(), broken)
    assert [c.name for c in decision.failures] == ["not_worse_than_champion"]
    assert "champion v0002 could not be re-scored: its model file is missing" in (
        decision.failures[0].description
    )


def test_the_champion_is_rescored_on_the_candidates_own_held_out_rows(tmp_path) -> None:
    from ml_assets.demo.data import DEMO_SPEC
    from ml_assets.lib.data.features import build_features
    from ml_assets.lib.model.evaluation import score_model
    from ml_assets.lib.model.modeling import build_pipeline, model_fingerprint, model_inputs
    from ml_assets_tests.lib.data.test_features import validated

    rows = build_features(validated(400), DEMO_SPEC)
    train, test = rows[rows["_split"] == "train"], rows[rows["_split"] == "test"]

    def fit(estimator: str, data: pd.DataFrame):
        return build_pipeline(DEMO_SPEC, estimator).fit(
            model_inputs(data, DEMO_SPEC), data["target"]
        )

    registry = ModelRegistry(tmp_path)
    champion = fit("linear", train.iloc[:60])  # trained on less, and on other rows
    registry.set_alias(CHAMPION, registry.register(champion).version, reason="t", actor="t")
    candidate = fit("random_forest", train)
    comparison = compare_with_champion(
        registry, candidate, model_fingerprint(candidate), test, DEMO_SPEC, 1
    )
    assert comparison.rows == len(test) and comparison.champion_version == "v0001"
    assert comparison.champion_score == pytest.approx(
        score_model(champion, test, DEMO_SPEC)["roc_auc"]
    )
    assert comparison.candidate_score == pytest.approx(
        score_model(candidate, test, DEMO_SPEC)["roc_auc"]
    )
    same = compare_with_champion(registry, champion, model_fingerprint(champion), test, DEMO_SPEC)
    assert same.same_model
    missing_column = compare_with_champion(
        registry, candidate, "other", test.drop(columns=["numeric2"]), DEMO_SPEC
    )
    assert missing_column.error and "numeric2" in missing_column.error
    assert np.isfinite(comparison.candidate_score)

    sound = slice_gap(candidate, test, DEMO_SPEC, "category", 1, min_rows=10)
    assert sound.slices == 3 and sound.low <= sound.gap <= sound.high
    assert by_name(judge(report(), GateThresholds(), None, [sound]))["fairness_gap_category"].passed


class GuessesOutsideA:
    """A model that is right on category A and guesses (0.5) everywhere else."""

    def __init__(self, model) -> None:
        self.model, self.classes_ = model, model.classes_

    def predict_proba(self, inputs: pd.DataFrame) -> np.ndarray:
        probabilities = self.model.predict_proba(inputs)
        probabilities[(inputs["category"] != "A").to_numpy()] = 0.5
        return probabilities


def test_a_gap_beyond_noise_fails_the_gate() -> None:
    from ml_assets.demo.data import DEMO_SPEC
    from ml_assets.lib.data.features import build_features
    from ml_assets.lib.model.modeling import build_pipeline, model_inputs
    from ml_assets_tests.lib.data.test_features import validated

    rows = build_features(validated(1500), DEMO_SPEC)
    train, test = rows[rows["_split"] == "train"], rows[rows["_split"] == "test"]
    model = build_pipeline(DEMO_SPEC, "linear").fit(model_inputs(train, DEMO_SPEC), train["target"])
    gap = slice_gap(GuessesOutsideA(model), test, DEMO_SPEC, "category", 1, min_rows=30)
    assert gap.worst in {"B", "C"} and gap.best == "A" and gap.low > 0.3
    criterion = by_name(judge(report(), GateThresholds(), None, [gap]))["fairness_gap_category"]
    assert criterion.status == "fail" and criterion.candidate == pytest.approx(gap.gap)


def test_slice_bootstraps_share_a_row_budget_and_keep_the_full_point_figures(monkeypatch) -> None:
    from ml_assets.demo.data import DEMO_SPEC
    from ml_assets.lib.data.features import build_features
    from ml_assets.lib.model.modeling import build_pipeline, model_inputs
    from ml_assets.lib.release import approval_gate as approval
    from ml_assets_tests.lib.data.test_features import validated

    rows = build_features(validated(4000), DEMO_SPEC)
    train, test = rows[rows["_split"] == "train"], rows[rows["_split"] == "test"]
    model = build_pipeline(DEMO_SPEC, "linear").fit(model_inputs(train, DEMO_SPEC), train["target"])
    whole = slice_gap(model, test, DEMO_SPEC, "category", 1, min_rows=30)
    drawn = []
    real = approval.resample_counts
    monkeypatch.setattr(
        approval, "resample_counts", lambda rng, n, rounds: drawn.append(n) or real(rng, n, rounds)
    )
    monkeypatch.setattr(approval, "BOOTSTRAP_MAX_ROWS", 150)
    budget = slice_gap(model, test, DEMO_SPEC, "category", 1, min_rows=30)
    assert (budget.gap, budget.worst, budget.best) == (whole.gap, whole.worst, whole.best)
    sizes = test["category"].value_counts()
    assert len(drawn) == len(sizes) and sum(drawn) <= 150 + len(sizes)
    assert all(n >= 30 for n in drawn)
    assert budget.low <= whole.gap <= budget.high
