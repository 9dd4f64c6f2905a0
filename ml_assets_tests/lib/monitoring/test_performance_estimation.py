"""Confidence-based performance estimation against the metric realised on drawn labels."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from ml_assets.lib.monitoring.performance_estimation import (
    Calibration,
    calibrate,
    estimate,
    out_of_fold_probabilities,
)


def binary(rows: int, rng: np.random.Generator, shift: float = 0.0):
    """Scores of a calibrated model, labels drawn from them, and a covariate-shifted variant."""
    logit = rng.normal(shift, 1.5, rows)
    probability = 1 / (1 + np.exp(-logit))
    labels = (rng.random(rows) < probability).astype(int)
    return np.column_stack([1 - probability, probability]), labels


IDENTITY = Calibration(["0", "1"], [None, None])


def test_the_expected_auc_and_its_interval_cover_the_realised_one() -> None:
    rng = np.random.default_rng(0)
    misses, errors = 0, []
    for _ in range(40):
        probabilities, labels = binary(500, rng)
        found = estimate(probabilities, IDENTITY, "roc_auc", positive=1)
        realised = roc_auc_score(labels, probabilities[:, 1])
        errors.append(abs(found["estimate"] - realised))
        misses += not found["low"] <= realised <= found["high"]
    assert np.mean(errors) < 0.02 and misses <= 6  # a 95% interval: about 2 of 40 outside


def test_a_shift_to_harder_rows_lowers_the_estimate() -> None:
    rng = np.random.default_rng(1)
    easy, _ = binary(2000, rng)
    hard = 1 / (1 + np.exp(-rng.normal(0, 0.4, 2000)))  # scores bunched near 0.5
    hard = np.column_stack([1 - hard, hard])
    assert (
        estimate(hard, IDENTITY, "roc_auc", 1)["estimate"]
        < estimate(easy, IDENTITY, "roc_auc", 1)["estimate"] - 0.1
    )


def test_macro_f1_is_estimated_from_the_expected_confusion_matrix() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 2, (3000, 3))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = (rng.random((3000, 1)) > np.cumsum(probabilities, axis=1)[:, :-1]).sum(axis=1)
    identity = Calibration(["a", "b", "c"], [None] * 3)
    found = estimate(probabilities, identity, "f1_macro")
    realised = f1_score(labels, probabilities.argmax(axis=1), average="macro")
    assert found["estimate"] == pytest.approx(realised, abs=0.02)
    assert found["low"] < found["estimate"] < found["high"]


def test_an_overconfident_model_is_calibrated_on_held_out_rows_first() -> None:
    rng = np.random.default_rng(3)
    probabilities, labels = binary(4000, rng)
    squeezed = probabilities[:, 1] ** 3 / (probabilities[:, 1] ** 3 + probabilities[:, 0] ** 3)
    raw = np.column_stack([1 - squeezed, squeezed])  # overconfident, same ranking
    calibration = calibrate(raw[:2000], labels[:2000], [0, 1])
    again = Calibration.from_dict(calibration.to_dict())
    realised = roc_auc_score(labels[2000:], raw[2000:, 1])
    calibrated = estimate(raw[2000:], again, "roc_auc", 1)["estimate"]
    naive = estimate(raw[2000:], IDENTITY, "roc_auc", 1)["estimate"]
    assert abs(calibrated - realised) < 0.02 < abs(naive - realised)


def test_out_of_fold_probabilities_come_from_models_that_never_saw_the_row() -> None:
    import pandas as pd
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(4)
    inputs = pd.DataFrame({"x": rng.normal(size=400)})
    labels = np.where(rng.random(400) < 1 / (1 + np.exp(-inputs["x"])), "yes", "no")
    memorising = KNeighborsClassifier(n_neighbors=1).fit(inputs, labels)  # right on every row
    in_sample = memorising.predict_proba(inputs)[:, 1]
    assert np.array_equal(in_sample == 1, labels == "yes")
    folded, truth = out_of_fold_probabilities(memorising, inputs, labels)
    assert folded.shape == (400, 2) and list(truth) == list(labels)
    assert np.mean((folded[:, 1] == 1) != (labels == "yes")) > 0.2  # its neighbour, not itself
    rare = labels.copy()
    rare[:] = "no"
    rare[:3] = "yes"  # three of a class cannot be spread over five folds
    assert out_of_fold_probabilities(memorising, inputs, rare) is None
