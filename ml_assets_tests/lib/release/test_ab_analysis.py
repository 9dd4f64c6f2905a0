"""A/B analysis: hand-computed statistics, and simulated canaries and shadows with a known truth."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_assets.lib.release.ab_analysis import (
    KEEP,
    NEED_MORE_DATA,
    PROMOTE,
    ABSettings,
    analyse,
    cs_radius,
    join_outcomes,
    label_text,
    read_labels,
    report_markdown,
    requests_for_decision,
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


def test_the_confidence_sequence_matches_hand_computed_figures() -> None:
    # V = 0.0004, tau = 0.01, alpha = 0.05: sqrt(V (V + tau^2) / tau^2 * (ln 1.25 - 2 ln 0.05))
    # = sqrt(0.002 * (0.223144 + 5.991465)) = 0.1114864.
    assert float(cs_radius(0.0004, 0.01, 0.05)) == pytest.approx(0.1114864, abs=1e-6)
    # Wider than the fixed-n 95% interval (1.96 * 0.02 = 0.0392): the price of looking at will.
    assert float(cs_radius(0.0004, 0.01, 0.05)) > 1.96 * 0.02
    assert float(cs_radius(0.0, 0.01, 0.05)) == 0.0
    # 0.1 of variance per request (a shadow whose models disagree on a tenth of the requests):
    # about 9,200 labelled requests narrow the interval to the minimum effect of 0.01.
    needed = requests_for_decision(0.1, ABSettings())
    assert 9000 < needed < 9500
    assert (
        float(cs_radius(0.1 / needed, 0.01, 0.05))
        <= 0.01
        < cs_radius(0.1 / (needed - 1), 0.01, 0.05)
    )
    assert requests_for_decision(0.0, ABSettings()) is None


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
    assert report["design"] == comparison["design"] == "split"
    assert report["model_versions"] == {"champion": "v0001", "challenger": "v0002"}
    assert comparison["labelled_requests"] == 5400 and comparison["needed_requests"] > 5400
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
    more = comparison["needed_requests"] - comparison["labelled_requests"]
    assert more > 0 and f"about {more} more labelled requests decide" in report["reason"]
    assert "typically takes" in report_markdown(report)


def test_regression_arms_are_compared_on_per_request_scores() -> None:
    rng = np.random.default_rng(11)
    truth = rng.normal(0, 1, 1200)
    arm = np.where(np.arange(1200) % 2 == 0, "champion", "challenger")
    noise = np.where(arm == "champion", 0.8, 0.4) * rng.normal(0, 1, 1200)
    outcomes = pd.DataFrame(
        {"arm": arm, "model_version": "v", "prediction": truth + noise, "label": truth.astype(str)}
    )
    # The mixture is as wide as the minimum effect: 0.05 of R² is a gain worth having here.
    report = analyse(outcomes, ABSettings(metric="r2", min_effect=0.05))
    comparison = report["comparison"]
    # R² of each arm is about 1 - noise variance: 0.36 and 0.84, a difference near 0.48.
    assert 0.38 < comparison["effect"] < 0.58 and comparison["interval_low"] > 0.3
    assert 0.2 < comparison["metric_a"] < 0.5 and 0.75 < comparison["metric_b"] < 0.9
    assert report["recommendation"] == PROMOTE
    assert comparison["test"].startswith("mSPRT confidence sequence")


def simulated_shadow(seed: int, requests: int, only_a: float, only_b: float) -> pd.DataFrame:
    """Both arms on every request: each right alone on its share, both right on 80% of them."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, requests)
    draw = rng.random(requests)
    right_a = (draw < only_a) | (draw >= only_a + only_b) & (draw < only_a + only_b + 0.8)
    right_b = (draw >= only_a) & (draw < only_a + only_b + 0.8)
    keys = [f"req-{i}" for i in range(requests)]
    start = datetime(2026, 12, 1, tzinfo=UTC)
    times = [(start + timedelta(seconds=i)).isoformat() for i in range(requests)]
    arms = []
    for arm, version, right in (("champion", "v0001", right_a), ("shadow", "v0002", right_b)):
        arms.append(
            pd.DataFrame(
                {
                    "time": times,
                    "request_key": keys,
                    "model_version": version,
                    "arm": arm,
                    "input_sha256": "0" * 64,
                    "prediction": np.where(right, label, 1 - label),
                    "probability": 0.5,
                    "latency_ms": 1.0,
                }
            )
        )
    log = pd.concat(arms, ignore_index=True)
    labels = pd.DataFrame({"request_key": keys, "target": label})
    return join_outcomes(log, labels.rename(columns={"target": "label"}))[0]


def test_a_shadow_is_compared_pairwise_and_decides_what_a_split_of_the_same_size_cannot() -> None:
    # The challenger is right alone on 4% of the requests, the champion on 2%: +2 points.
    shadow = analyse(simulated_shadow(5, 4000, only_a=0.02, only_b=0.04), ABSettings())
    comparison = shadow["comparison"]
    assert shadow["design"] == "paired (shadow)" and shadow["rows_per_arm"] == {
        "champion": 4000,
        "challenger": 4000,
    }
    assert shadow["model_versions"] == {"champion": "v0001", "challenger": "v0002"}
    assert shadow["recommendation"] == PROMOTE and 0.01 < comparison["effect"] < 0.03
    # The same accuracies, 8,000 requests split in two: the interval is far wider.
    log, labels = simulated_canary(
        seed=5, requests=8000, accuracy={"champion": 0.82, "challenger": 0.84}, challenger_share=0.5
    )
    split = analyse(outcomes_of(log, labels), ABSettings())
    assert split["design"] == "split" and split["recommendation"] == NEED_MORE_DATA
    width = split["comparison"]["interval_high"] - split["comparison"]["interval_low"]
    assert width > 2 * (comparison["interval_high"] - comparison["interval_low"])
    assert "paired (shadow) design" in report_markdown(shadow)

    same = analyse(simulated_shadow(6, 4000, only_a=0.03, only_b=0.03), ABSettings())
    assert same["recommendation"] in (KEEP, NEED_MORE_DATA)


def test_equal_arms_looked_at_every_hour_are_not_promoted() -> None:
    """The report's own path, read after every hour of a 2-day A/A canary, 12 times over.

    The rate over 1,000 experiments and 14 days is ``benchmarks/ab_validity.py``'s to measure.
    """
    promoted = 0
    for seed in range(12):
        log, labels = simulated_canary(
            seed=100 + seed,
            requests=48 * 100,
            accuracy={"champion": 0.8, "challenger": 0.8},
            challenger_share=0.5,
        )
        outcomes = outcomes_of(log, labels)
        verdicts = [
            analyse(outcomes.iloc[: hour * 100], ABSettings())["recommendation"]
            for hour in range(1, 49)
        ]
        promoted += PROMOTE in verdicts
    assert promoted <= 1
