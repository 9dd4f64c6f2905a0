"""Prediction ranges by split conformal prediction: coverage, width, sets, and the model's copy."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.demo.data import DEMO_SPEC
from ml_assets.lib.contract.dataset import DatasetSpec
from ml_assets.lib.core.storage import dump_model, load_model_bytes
from ml_assets.lib.data.features import build_features
from ml_assets.lib.model import conformal
from ml_assets.lib.model.evaluation import evaluate, report_markdown
from ml_assets.lib.model.modeling import model_fingerprint, train_model
from ml_assets_tests.lib.data.test_features import validated


@pytest.mark.parametrize("coverage", [0.8, 0.9, 0.95])
def test_intervals_hold_the_truth_at_the_coverage_on_new_rows(coverage) -> None:
    rng = np.random.default_rng(0)
    calibration_noise, new_noise = rng.normal(0, 2, 2000), rng.normal(0, 2, 20000)
    calibration = conformal.calibrate(calibration_noise, np.zeros(2000), None, None, coverage)
    assert calibration["kind"] == "interval" and calibration["rows"] == 2000
    facts = conformal.range_coverage(new_noise, np.zeros(20000), None, None, calibration)
    assert abs(facts["coverage"] - coverage) < 0.02
    # The half-width is the noise's quantile: 1.645 sd at 0.9, two-sided.
    expected = 2 * 2 * {0.8: 1.2816, 0.9: 1.6449, 0.95: 1.9600}[coverage]
    assert facts["mean_width"] == pytest.approx(expected, rel=0.08)


def covered(draw, classes):
    """Calibrate at 0.9 on 3,000 drawn rows; the coverage on 10,000 new ones is within 0.02."""
    truth, probabilities = draw(3000)
    calibration = conformal.calibrate(truth, None, probabilities, classes, 0.9)
    new_truth, new_probabilities = draw(10000)
    facts = conformal.range_coverage(new_truth, None, new_probabilities, classes, calibration)
    assert abs(facts["coverage"] - 0.9) < 0.02
    return facts, calibration, new_probabilities


def test_sets_hold_the_true_class_at_the_coverage() -> None:
    rng = np.random.default_rng(1)
    classes = np.array(["a", "b", "c"])

    def draw(rows):
        probabilities = rng.dirichlet([1, 1, 1], size=rows)
        truth = [classes[rng.choice(3, p=row)] for row in probabilities]
        return truth, probabilities

    facts, calibration, new_probabilities = covered(draw, classes)
    assert 1 <= facts["mean_set_size"] < 3
    sets = conformal.prediction_sets(new_probabilities[:50], classes, calibration)
    members = conformal.set_members(new_probabilities[:50], calibration)
    assert [len(labels) for labels in sets] == members.sum(axis=1).tolist()


def test_a_very_accurate_model_still_covers_at_the_target_by_empty_sets() -> None:
    """Were the top class always in the set, a 98%-accurate model would cover 0.98, not 0.9."""
    rng = np.random.default_rng(2)
    classes = np.array(["a", "b", "c"])

    def draw(rows):
        top = rng.uniform(0.5, 1.0, rows)
        probabilities = np.column_stack([top, (1 - top) * 0.6, (1 - top) * 0.4])
        right = rng.uniform(size=rows) < 0.98
        truth = np.where(right, "a", rng.choice(["b", "c"], rows))
        return truth, probabilities

    facts, calibration, new_probabilities = covered(draw, classes)
    assert 0.05 < facts["empty_sets"] / facts["rows"] < 0.15
    least_sure = new_probabilities[:, 0].argmin()
    assert conformal.prediction_sets(new_probabilities[[least_sure]], classes, calibration) == [[]]


def test_the_quantile_is_the_kth_smallest_score_so_coverage_is_k_over_n_plus_1() -> None:
    # 55 scores 1..55 at 0.9: k = ceil(56 * 0.9) = 51, a new row's chance 51/56 = 0.911; the
    # next score up (52) would give 52/56 = 0.929 on average.
    calibration = conformal.calibrate(np.arange(1.0, 56.0), np.zeros(55), None, None, 0.9)
    assert calibration["quantile"] == 51.0


def test_a_calibration_part_too_small_for_the_coverage_is_refused() -> None:
    with pytest.raises(ValueError, match="5 calibration rows cannot give ranges at coverage 0.9"):
        conformal.calibrate(np.zeros(5), np.zeros(5), None, None, 0.9)


@pytest.fixture(scope="module")
def table():
    return build_features(validated(1500), DEMO_SPEC)


def test_the_model_carries_its_calibration_through_skops(table) -> None:
    train = table[table["_split"] == "train"]
    result = train_model(train, DEMO_SPEC, "linear", search="none", cv_folds=3, coverage=0.9)
    calibration = conformal.calibration_of(result.model)
    assert calibration["kind"] == "set" and calibration["coverage"] == 0.9
    assert calibration["rows"] == pytest.approx(0.2 * len(train), abs=1)
    assert result.rows == len(train) and result.summary()["ranges"] == calibration
    loaded = load_model_bytes(dump_model(result.model), "model.skops")
    assert conformal.calibration_of(loaded) == calibration
    assert model_fingerprint(loaded) == model_fingerprint(result.model)
    plain = train_model(train, DEMO_SPEC, "linear", search="none", cv_folds=3)
    assert conformal.calibration_of(plain.model) is None
    report = evaluate(result.model, table, DEMO_SPEC)
    empty = report["ranges"]["empty_sets"]
    assert f"{empty} empty (no class credible at this coverage)" in report_markdown(report)


def test_the_report_shows_held_out_coverage_and_width_for_regression() -> None:
    rng = np.random.default_rng(3)
    rows = 1500
    frame = pd.DataFrame({"x0": rng.normal(size=rows), "x1": rng.normal(size=rows)})
    frame["y"] = 3 * frame["x0"] - frame["x1"] + rng.normal(0, 0.5, rows)
    frame["_split"] = np.where(np.arange(rows) % 5 == 0, "test", "train")
    spec = DatasetSpec(
        name="line",
        target="y",
        task="regression",
        numeric_features=("x0", "x1"),
        categorical_features=(),
    )
    result = train_model(
        frame[frame["_split"] == "train"], spec, "linear", search="none", cv_folds=3, coverage=0.9
    )
    report = evaluate(result.model, frame, spec)
    ranges = report["ranges"]
    assert ranges["rows"] == rows // 5 and abs(ranges["coverage"] - 0.9) < 0.05
    assert ranges["mean_width"] == pytest.approx(2 * 1.645 * 0.5, rel=0.15)
    text = report_markdown(report)
    assert "## Prediction ranges (split conformal, held-out side)" in text
    assert f"{ranges['covered']} of {ranges['rows']} held-out rows" in text
    assert "mean interval width" in text
