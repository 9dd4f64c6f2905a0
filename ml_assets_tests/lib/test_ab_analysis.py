"""A/B analysis: hand-computed statistics, and simulated canaries with a known truth."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.ab_analysis import (
    KEEP,
    NEED_MORE_DATA,
    PROMOTE,
    ABSettings,
    analyse,
    join_outcomes,
    label_text,
    proportion_sample_size,
    read_labels,
    report_markdown,
    two_proportion_test,
)


def simulated_canary(
    seed: int, requests: int, accuracy: dict[str, float], challenger_share: float = 0.2
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A prediction log and its labels: each arm right with its own probability."""
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(requests) < challenger_share, "challenger", "champion")
    label = rng.integers(0, 2, requests)
    right = rng.random(requests) < np.vectorize(accuracy.get)(arm)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    log = pd.DataFrame(
        {
            "time": [(start + timedelta(seconds=i)).isoformat() for i in range(requests)],
            "request_key": [f"req-{i}" for i in range(requests)],
            "model_version": np.where(arm == "champion", "v0001", "v0002"),
            "arm": arm,
            "input_sha256": "0" * 64,
            "prediction": np.where(right, label, 1 - label),
            "probability": rng.random(requests),
            "latency_ms": 1.0,
        }
    )
    labels = pd.DataFrame({"request_key": log["request_key"], "target": label})
    return log, labels


def outcomes_of(log: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    return join_outcomes(log, labels.rename(columns={"target": "label"}))[0]


def test_the_z_test_matches_hand_computed_figures() -> None:
    # 700/1000 against 750/1000: pooled p 0.725, SE sqrt(0.725 * 0.275 * 2/1000) = 0.0199687,
    # z = 0.05 / 0.0199687 = 2.50392, two-sided p = erfc(z / sqrt 2) = 0.012283; the Wald SE
    # sqrt(0.7 * 0.3 / 1000 + 0.75 * 0.25 / 1000) = 0.0199374 gives 0.05 +- 1.95996 * it.
    result = two_proportion_test(700, 1000, 750, 1000, alpha=0.05)
    assert result["effect"] == pytest.approx(0.05)
    assert result["z"] == pytest.approx(2.503915, abs=1e-6)
    assert result["p_value"] == pytest.approx(0.0122827, abs=1e-6)
    assert result["interval_low"] == pytest.approx(0.0109234, abs=1e-6)
    assert result["interval_high"] == pytest.approx(0.0890766, abs=1e-6)


def test_the_sample_size_matches_fleiss_formula() -> None:
    # (1.95996 sqrt(2 * 0.725 * 0.275) + 0.84162 sqrt(0.21 + 0.1875))^2 / 0.05^2 = 1250.7
    assert proportion_sample_size(0.70, 0.75, alpha=0.05, power=0.8) == (1251, 1251)
    # A 90/10 canary needs far more champion rows: 6354.8, and a ninth of it for the challenger.
    assert proportion_sample_size(0.70, 0.75, 0.05, 0.8, ratio=1 / 9) == (6355, 707)
    assert proportion_sample_size(0.7, 0.7, 0.05, 0.8) is None


def test_labels_compare_across_types() -> None:
    assert label_text(1) == label_text("1") == label_text(1.0) == label_text(" 1.0 ") == "1"
    assert label_text("yes") == "yes" and label_text(0.5) != label_text(1)


def test_a_truly_better_challenger_is_promoted(tmp_path: Path) -> None:
    log, labels = simulated_canary(
        seed=7, requests=6000, accuracy={"champion": 0.75, "challenger": 0.85}
    )
    folder = tmp_path / "labels"
    folder.mkdir()
    labels.iloc[:3000].to_csv(folder / "a.csv", index=False)
    labels.iloc[3000:5400].to_parquet(folder / "b.parquet")  # the last 600 not labelled yet
    (folder / "wrong.csv").write_text("id,target\n1,0\n")
    flipped = 1 - labels.loc[0, "target"]
    (folder / "c.jsonl").write_text(f'{{"request_key": "req-0", "target": {flipped}}}\n')
    older = log.iloc[:50].assign(model_version="v0000", arm="challenger", request_key="old")
    repeated = log.iloc[[10]].assign(time="2026-12-01T00:00:10.5+00:00")

    read = read_labels(folder, "target")
    assert read.files == ["a.csv", "b.parquet", "c.jsonl"] and len(read.frame) == 5400
    assert read.conflicting_keys == 1  # the correction in c.jsonl wins
    assert read.frame.set_index("request_key").loc["req-0", "label"] == str(flipped)
    assert read.problems == [
        "wrong.csv: missing required column(s) ['request_key']; the file has ['id', 'target']"
    ]
    outcomes, counts = join_outcomes(pd.concat([older, log, repeated]), read.frame)
    assert counts == {
        "logged": 6051,
        "unknown_arm": 0,
        "earlier_versions": 50,
        "repeated_keys": 1,
        "unlabelled": 600,
        "labelled": 5400,
    }
    report = analyse(outcomes, ABSettings())

    assert report["recommendation"] == PROMOTE, report["reason"]
    rows = report["rows_per_arm"]
    assert rows["champion"] + rows["challenger"] == 5400 and 900 < rows["challenger"] < 1300
    comparison = report["comparison"]
    assert 0.05 < comparison["effect"] < 0.15 and comparison["interval_low"] > 0
    assert comparison["p_value"] < 1e-6
    assert report["model_versions"] == {"champion": "v0001", "challenger": "v0002"}
    needed = report["needed_per_arm"]
    assert needed["champion"] < rows["champion"] and needed["challenger"] < rows["challenger"]
    markdown = report_markdown(report)
    assert markdown.startswith("**promote**: the challenger is better: accuracy difference +0.")
    assert "| challenger | v0002 |" in markdown


def test_a_challenger_that_is_not_better_is_not_promoted() -> None:
    log, labels = simulated_canary(
        seed=3, requests=6000, accuracy={"champion": 0.80, "challenger": 0.80}
    )
    equal = analyse(outcomes_of(log, labels), ABSettings())
    assert equal["recommendation"] in (KEEP, NEED_MORE_DATA)
    assert equal["comparison"]["interval_low"] < 0 < equal["comparison"]["interval_high"]

    log, labels = simulated_canary(
        seed=4, requests=6000, accuracy={"champion": 0.80, "challenger": 0.72}
    )
    worse = analyse(outcomes_of(log, labels), ABSettings())
    assert worse["recommendation"] == KEEP
    assert worse["reason"].startswith(
        "the challenger is not better by 0.01 or more: accuracy difference -0."
    )

    few = analyse(outcomes_of(log.iloc[:300], labels), ABSettings())
    assert few["recommendation"] == NEED_MORE_DATA
    assert few["reason"].startswith("challenger has ") and few["reason"].endswith("(minimum 100)")


def test_an_inconclusive_canary_says_how_much_data_it_needs() -> None:
    log, labels = simulated_canary(
        seed=7, requests=1500, accuracy={"champion": 0.75, "challenger": 0.78}
    )
    report = analyse(outcomes_of(log, labels), ABSettings(min_effect=0.005))
    comparison = report["comparison"]
    assert report["recommendation"] == NEED_MORE_DATA and report["reason"].startswith(
        "not conclusive"
    )
    ratio = report["rows_per_arm"]["challenger"] / report["rows_per_arm"]["champion"]
    expected = proportion_sample_size(
        comparison["metric_a"], comparison["metric_b"], 0.05, 0.8, ratio
    )
    assert report["needed_per_arm"] == dict(zip(("champion", "challenger"), expected, strict=True))
    assert report["needed_per_arm"]["challenger"] > report["rows_per_arm"]["challenger"]


def test_regression_arms_are_compared_with_a_bootstrap_interval() -> None:
    rng = np.random.default_rng(11)
    truth = rng.normal(0, 1, 1200)
    arm = np.where(np.arange(1200) % 2 == 0, "champion", "challenger")
    noise = np.where(arm == "champion", 0.8, 0.4) * rng.normal(0, 1, 1200)
    outcomes = pd.DataFrame(
        {"arm": arm, "model_version": "v", "prediction": truth + noise, "label": truth.astype(str)}
    )
    report = analyse(outcomes, ABSettings(metric="r2", bootstrap_rounds=400, seed=1))
    comparison = report["comparison"]
    # R² of each arm is about 1 - noise variance: 0.36 and 0.84, a difference near 0.48.
    assert 0.38 < comparison["effect"] < 0.58 and comparison["interval_low"] > 0.3
    assert report["recommendation"] == PROMOTE
    assert comparison["test"] == "bootstrap percentile interval (400 rounds)"
