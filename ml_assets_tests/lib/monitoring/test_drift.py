"""Drift statistics against hand-computed values, and a shifted batch flagged on exactly its columns."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from ml_assets.lib.core.thresholds import ERROR, OK
from ml_assets.lib.monitoring.drift import (
    Profile,
    binned_ks,
    build_profile,
    categorical_drift,
    categorical_profile,
    compare,
    js_divergence,
    linf_distance,
    numeric_drift,
    numeric_profile,
    population_stability_index,
)
from ml_assets.lib.project.project_config import DriftSection

# The drift section's defaults, as ``compare`` takes them.
DRIFT = (DriftSection().thresholds(), DriftSection().false_alarm_rate)


def test_psi_of_two_histograms_is_the_sum_of_share_gaps_times_log_ratios() -> None:
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)  # shares .5/.5 against .25/.75
    assert population_stability_index([50, 50], [25, 75]) == pytest.approx(expected)
    assert population_stability_index([10, 30], [1, 3]) == pytest.approx(0.0)


def test_binned_ks_is_the_largest_gap_of_the_cumulative_shares() -> None:
    assert binned_ks([1, 1, 2], [2, 1, 1]) == pytest.approx(0.25)


def test_js_divergence_and_linf_of_category_counts() -> None:
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    by_hand = (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(2) + math.log2(1 / 0.75)) / 2
    assert js_divergence([1, 1], [2, 0]) == pytest.approx(by_hand)
    assert linf_distance([3, 1], [1, 1]) == pytest.approx(0.25)


def test_unseen_share_and_null_change_of_a_categorical_column() -> None:
    profile = categorical_profile(pd.Series(["A", "B", "A", "B"]))
    drift = categorical_drift(profile, pd.Series(["A", "A", "C", None]))
    assert drift["unseen"] == ["C"] and drift["unseen_share"] == pytest.approx(1 / 3)
    assert drift["null_change"] == pytest.approx(0.25)
    assert drift["linf"] == pytest.approx(0.5)  # B: half the reference, none of the batch


def test_numeric_profile_bins_and_binned_ks_stays_within_a_percentile_of_scipy() -> None:
    rng = np.random.default_rng(3)
    reference, current = rng.normal(0, 1, 4000), rng.normal(0.3, 1.2, 3000)
    profile = numeric_profile(np.append(reference, [np.nan] * 1000))
    assert len(profile.edges) == 99 and sum(profile.counts) == 4000
    assert profile.nulls == 1000 and profile.rows == 5000
    drift = numeric_drift(profile, current)
    exact = ks_2samp(reference, current).statistic
    assert exact - 0.011 <= drift["ks"] <= exact + 1e-9
    assert drift["null_change"] == pytest.approx(-0.2)


def test_psi_uses_the_reference_deciles() -> None:
    profile = numeric_profile(np.arange(1000.0))
    # Every current value below the reference's first decile: one decile holds everything.
    drift = numeric_drift(profile, np.full(100, -5.0))
    shares = np.full(10, 1e-4)
    shares[0] = 1.0
    expected = np.sum((shares - 0.1) * np.log(shares / 0.1))
    assert drift["psi"] == pytest.approx(expected, rel=1e-6)


def _frame(rows: int, seed: int, shift: float = 0.0, new_category_share: float = 0.0):
    rng = np.random.default_rng(seed)
    category = rng.choice(np.array(["A", "B", "C"]), rows)
    category[rng.random(rows) < new_category_share] = "D"
    return pd.DataFrame(
        {
            "x": rng.normal(0, 1, rows) + shift,
            "y": rng.normal(50, 10, rows),
            "colour": category,
            "size": rng.choice(np.array(["S", "M", "L"]), rows),
        }
    )


def _profile(frame: pd.DataFrame) -> Profile:
    return build_profile(frame, ["x", "y"], ["colour", "size"], key="test")


def test_a_shifted_batch_is_flagged_on_exactly_the_shifted_columns() -> None:
    profile = _profile(_frame(5000, seed=1))
    shifted = compare(profile, _frame(2000, seed=2, shift=0.5, new_category_share=0.1), *DRIFT)
    assert shifted["verdict"] == ERROR
    assert shifted["drifted"] == ["x", "colour"] and shifted["warned"] == []
    assert shifted["columns"]["colour"]["unseen"] == ["D"]
    assert "unseen_share" in shifted["columns"]["colour"]["crossed"]
    assert set(shifted["columns"]["x"]["crossed"]) == {"psi", "ks"}

    unshifted = compare(profile, _frame(2000, seed=2), *DRIFT)
    assert unshifted["verdict"] == OK and unshifted["drifted"] == unshifted["warned"] == []


def test_a_profile_survives_its_json_cache() -> None:
    profile = _profile(_frame(500, seed=4))
    again = Profile.from_json(profile.to_json())
    batch = _frame(300, seed=5, shift=1.0)
    assert again == profile and compare(again, batch, *DRIFT) == compare(profile, batch, *DRIFT)


def test_a_batch_is_judged_against_the_newest_model_not_trained_on_it() -> None:
    from ml_assets.lib.monitoring.drift_report import TrainedOn, choose_reference

    older = TrainedOn("m1", "d1", ("b1",), "champion v0001")
    lost = TrainedOn("m2", "d2", ("b1", "b2"), "champion v0002")  # its training set is gone
    newer = TrainedOn("m3", "d3", ("b1", "b2", "b3"), "champion v0003")
    stored = {"d1": "table 1", "d3": "table 3"}
    candidates = [newer, lost, older]

    def choose(batch: str):
        return choose_reference(batch, candidates, lambda t: stored.get(t.data_version), {})

    assert choose("b3") == (older, "")
    assert choose("b4") == (newer, "")
    assert choose("b1") == (None, "part of the reference training set")
    del stored["d1"]
    reference, reason = choose("b3")
    assert reference is None and "training set d1 of champion v0001 is not in the store" in reason


def test_a_column_of_ties_compared_with_itself_shows_no_drift() -> None:
    values = np.random.default_rng(6).choice([0.1, 0.5, 0.9, 0.95], 2000)
    drift = numeric_drift(numeric_profile(values), values)
    assert drift["psi"] == pytest.approx(0.0) and drift["ks"] == pytest.approx(0.0)


def _real_shapes(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Columns shaped like real tables: skewed, heavy-tailed, integer, zero-inflated, rare levels."""
    levels = np.array([*"ABCDEF", *(f"rare{i}" for i in range(30))])
    shares = np.array([0.4, 0.25, 0.15, 0.1, 0.05, 0.04, *([0.01 / 30] * 30)])
    return pd.DataFrame(
        {
            "income": rng.lognormal(10, 1.2, rows),
            "claims": (rng.pareto(1.5, rows) + 1) * 1000,
            "visits": rng.poisson(2, rows).astype(float),
            "spend": np.where(rng.random(rows) < 0.7, 0.0, rng.lognormal(3, 1, rows)),
            "region": rng.choice(levels, rows, p=shares / shares.sum()),
        }
    )


SHAPES = ["income", "claims", "visits", "spend"]


def test_clean_batches_of_real_shapes_do_not_alarm_at_any_size() -> None:
    rng = np.random.default_rng(11)
    profile = build_profile(_real_shapes(20_000, rng), SHAPES, ["region"], key="shapes")
    for rows, trials in ((50, 200), (500, 100), (5000, 20), (1_000_000, 1)):
        flagged = [
            found
            for _ in range(trials)
            if (
                found := (c := compare(profile, _real_shapes(rows, rng), *DRIFT))["drifted"]
                + c["warned"]
            )
        ]
        assert len(flagged) <= max(1, trials // 100), (rows, flagged)


def test_a_half_sd_shift_in_a_thousand_rows_is_seen_and_a_tiny_one_in_a_million_is_not() -> None:
    rng = np.random.default_rng(12)
    reference = _real_shapes(20_000, rng)
    profile = build_profile(reference, SHAPES, ["region"], key="shapes")
    for column in SHAPES:
        seen = 0
        for _ in range(40):
            batch = _real_shapes(1000, rng)
            batch[column] += 0.5 * reference[column].std()
            judged = compare(profile, batch, *DRIFT)
            seen += column in judged["warned"] + judged["drifted"]
        assert seen >= 38, (column, seen)
    huge = _real_shapes(1_000_000, rng)
    huge["income"] += 0.01 * reference["income"].std()
    judged = compare(profile, huge, *DRIFT)
    assert judged["verdict"] == OK
    assert judged["columns"]["income"]["p_values"]["ks"] < judged["alarm_p_value"]  # real, tiny
