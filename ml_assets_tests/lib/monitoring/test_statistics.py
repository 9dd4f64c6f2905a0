"""Each statistical check flags a constructed violation and passes its clean twin."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.demo.data import DEMO_SPEC, make_demo_frame
from ml_assets.lib.core.thresholds import ERROR, OK, WARN
from ml_assets.lib.data.features import build_features
from ml_assets.lib.monitoring.statistics import (
    CLASS_BALANCE,
    CORRELATION_STABILITY,
    DISTRIBUTION_BOUNDS,
    OUTLIER_SHARE,
    distribution_bounds,
    statistical_checks,
)
from ml_assets.lib.project.project_config import StatisticsSection

LIMITS = StatisticsSection()


def batch(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    frame = frame.assign(
        _batch=name, _source_file=f"{name}.csv", _source_line=range(2, 2 + len(frame))
    )
    return build_features(frame, DEMO_SPEC)


def reference() -> list[pd.DataFrame]:
    return [batch(make_demo_frame(1500, seed=seed), f"clean{seed}") for seed in (1, 2)]


def judge(candidate: pd.DataFrame) -> dict[str, tuple[str, dict]]:
    features = pd.concat([*reference(), batch(candidate, "candidate")], ignore_index=True)
    outcomes = statistical_checks(features, DEMO_SPEC, LIMITS)
    result = {}
    for outcome in outcomes:
        rows = [row for row in outcome.table if row["batch"] == "candidate"]
        level = max((row["level"] for row in rows), key=[OK, WARN, ERROR].index, default=OK)
        result[outcome.name] = (level, outcome)
    return result


def clean() -> pd.DataFrame:
    return make_demo_frame(400, seed=7)


def test_clean_batches_pass_every_check() -> None:
    judged = judge(clean())
    assert set(judged) == {DISTRIBUTION_BOUNDS, OUTLIER_SHARE, CORRELATION_STABILITY, CLASS_BALANCE}
    assert {name: level for name, (level, _) in judged.items()} == dict.fromkeys(judged, OK)
    assert all(outcome.passed for _, outcome in judged.values())


def test_a_shifted_mean_is_an_error_and_a_smaller_shift_a_warning() -> None:
    shifted = clean().assign(numeric2=lambda f: f["numeric2"] + 15)  # 1.5 reference sd
    level, outcome = judge(shifted)[DISTRIBUTION_BOUNDS]
    assert level == ERROR and outcome.level == ERROR
    assert (
        "candidate numeric2" in outcome.description and outcome.figures["largest_mean_shift_sd"] > 1
    )
    assert (
        judge(clean().assign(numeric2=lambda f: f["numeric2"] + 7))[DISTRIBUTION_BOUNDS][0] == WARN
    )
    assert "or adjust statistics.mean_shift / statistics.quantile_shift" in outcome.description


def test_a_stretched_tail_moves_a_quantile_out_of_bounds() -> None:
    frame = clean()
    top = frame["numeric2"] > frame["numeric2"].quantile(0.9)
    frame.loc[top, "numeric2"] += 25  # the mean moves 0.25 sd, the q95 2.5 sd
    level, outcome = judge(frame)[DISTRIBUTION_BOUNDS]
    (row,) = [r for r in outcome.table if r["batch"] == "candidate" and r["column"] == "numeric2"]
    assert level == ERROR and row["quantile"] == 0.95 and row["quantile_shift_sd"] > 2
    assert row["mean_shift_sd"] < LIMITS.mean_shift.warn


def test_outliers_beyond_the_share_limit_are_flagged() -> None:
    frame = clean()
    frame.loc[frame.index[:40], "numeric1"] = 9.0  # 10% of the rows, robust z about 9
    level, outcome = judge(frame)[OUTLIER_SHARE]
    assert level == WARN and outcome.figures["largest_outlier_share"] == pytest.approx(
        40 / frame["numeric1"].notna().sum(), abs=0.01
    )
    iqr = StatisticsSection(outlier_rule="iqr")
    features = pd.concat([*reference(), batch(frame, "candidate")], ignore_index=True)
    (by_iqr,) = [o for o in statistical_checks(features, DEMO_SPEC, iqr) if o.name == OUTLIER_SHARE]
    assert by_iqr.level == WARN


def test_a_changed_correlation_is_flagged_with_its_pair() -> None:
    frame = clean()
    rng = np.random.default_rng(3)
    frame["numeric2"] = 50 + 10 * frame["numeric1"].fillna(0) + rng.normal(0, 1, len(frame))
    level, outcome = judge(frame)[CORRELATION_STABILITY]
    worst = max((r for r in outcome.table if r["batch"] == "candidate"), key=lambda r: r["change"])
    assert level == ERROR and worst["pair"] == "numeric1 ~ numeric2" and worst["change"] > 0.6


def test_two_rows_of_two_nearly_constant_columns_do_not_flag_their_correlation() -> None:
    # As Ames' Low.Qual.Fin.SF and Pool.Area: 0 in 98.6% and 99.5% of houses, unrelated. A clean
    # 500-row batch whose two pools both have a finished area gets a rank r of +0.53 from those
    # two rows alone; Fisher's z called it significant (p 5e-35) and the change passed 0.4.
    from ml_assets.lib.monitoring.statistics import correlation_stability

    rng = np.random.default_rng(11)
    reference = pd.DataFrame(
        {
            "finish": np.where(rng.random(5000) < 0.014, rng.gamma(2.0, 200.0, 5000), 0.0),
            "pool": np.where(rng.random(5000) < 0.005, rng.gamma(2.0, 200.0, 5000), 0.0),
        }
    )
    reference.loc[(reference["finish"] > 0) & (reference["pool"] > 0), "pool"] = 0.0
    clean = pd.DataFrame({"finish": 0.0, "pool": 0.0}, index=range(500))
    clean.loc[:6, "finish"] = rng.gamma(2.0, 200.0, 7)
    clean.loc[:1, "pool"] = rng.gamma(2.0, 200.0, 2)
    outcome = correlation_stability([("b", clean)], reference, ["finish", "pool"], LIMITS)
    assert outcome.figures["flagged"] == 0, outcome.description


def test_a_shifted_class_balance_is_flagged() -> None:
    frame = clean()
    positives = frame[frame["target"] == 1]
    level, outcome = judge(pd.concat([positives, positives.head(10).assign(target=0)]))[
        CLASS_BALANCE
    ]
    assert level == ERROR and "candidate class" in outcome.description


def test_a_small_batch_is_listed_as_too_small_to_judge() -> None:
    level, outcome = judge(make_demo_frame(60, seed=9).assign(numeric2=200.0))[DISTRIBUTION_BOUNDS]
    assert (
        level == OK
        and outcome.passed
        and "too small to judge (< 100 rows): candidate" in outcome.description
    )


def test_large_batches_are_judged_on_a_sample_with_the_same_verdicts(monkeypatch) -> None:
    from ml_assets.lib.monitoring import statistics

    shifted = make_demo_frame(3000, seed=9)
    shifted["numeric2"] = shifted["numeric2"] + 40
    features = pd.concat(
        [*reference(), batch(shifted, "shifted"), batch(make_demo_frame(150, seed=4), "small")],
        ignore_index=True,
    )
    whole = {o.name: o for o in statistical_checks(features, DEMO_SPEC, LIMITS)}
    monkeypatch.setattr(statistics, "SAMPLE_ROWS", 400)
    sampled = {o.name: o for o in statistical_checks(features, DEMO_SPEC, LIMITS)}
    assert {n: o.level for n, o in sampled.items()} == {n: o.level for n, o in whole.items()}
    bounds = sampled[DISTRIBUTION_BOUNDS].table, whole[DISTRIBUTION_BOUNDS].table
    for ours, theirs in zip(*bounds, strict=True):
        assert (ours["batch"], ours["column"], ours["level"]) == (
            theirs["batch"],
            theirs["column"],
            theirs["level"],
        )
        assert ours["mean_shift_sd"] == pytest.approx(theirs["mean_shift_sd"], abs=0.15)
    monkeypatch.setattr(statistics, "SAMPLE_ROWS", 50)  # below min_batch_rows: sizes still count
    judged = {o.name: o for o in statistical_checks(features, DEMO_SPEC, LIMITS)}
    assert judged[DISTRIBUTION_BOUNDS].figures["batches_judged"] == 4


def test_heavy_tailed_clean_batches_pass_and_bounds_respect_a_non_negative_column() -> None:
    from ml_assets.lib.monitoring.statistics import (
        correlation_stability,
        distribution_bounds,
        outlier_share,
    )

    rng = np.random.default_rng(5)

    def incomes(rows: int) -> pd.DataFrame:
        income = rng.lognormal(9, 1.1, rows)
        return pd.DataFrame(
            {
                "income": income,
                "lead_time": rng.poisson(rng.gamma(0.8, 100, rows)).astype(float),
                "debt": np.where(rng.random(rows) < 0.6, 0.0, income * rng.random(rows)),
            }
        )

    reference, columns = incomes(10_000), ["income", "lead_time", "debt"]
    batches = [(f"b{i}", incomes(rows)) for i, rows in enumerate([100] * 60 + [2000] * 20)]
    for check in (distribution_bounds, outlier_share, correlation_stability):
        outcome = check(batches, reference, columns, LIMITS)
        assert outcome.figures["flagged"] <= 1, outcome.description
    bounds = outlier_share(batches[:1], reference, columns, LIMITS).table
    assert all(row["low"] >= 0 for row in bounds)  # robust z would reach below zero
    assert all(row["reference_share"] > 0.02 for row in bounds if row["column"] == "income")


def test_a_value_below_the_clipped_floor_does_not_make_a_tied_quantile_significant() -> None:
    # A kitchen count as in the Ames houses: 1 in 96% of rows, q95 on that tie. The clean batch
    # has one 0 (below the reference's 0.5% clip) and 6.8% of 2s: q95 reads 2, a 5 sd move,
    # but its 2s are within chance; once the clipped reference (no 0 left) gave p = 0 here.
    reference_rows = pd.DataFrame({"kitchens": [0.0] * 2 + [1.0] * 1827 + [2.0] * 71 + [3.0]})
    candidate = pd.DataFrame({"kitchens": [0.0] + [1.0] * 465 + [2.0] * 34})
    outcome = distribution_bounds([("clean", candidate)], reference_rows, ["kitchens"], LIMITS)
    (row,) = outcome.table
    assert row["quantile"] == 0.95 and row["quantile_shift_sd"] > 5
    assert row["quantile_p_value"] > 1e-3 and row["level"] == OK
    shifted = pd.DataFrame({"kitchens": [1.0] * 440 + [2.0] * 60})  # 12% of 2s: a real move
    found = distribution_bounds([("shifted", shifted)], reference_rows, ["kitchens"], LIMITS)
    assert found.level == ERROR
