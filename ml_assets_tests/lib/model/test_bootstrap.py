"""The vectorised bootstrap metrics equal scikit-learn's on the same resamples."""

import numpy as np
import pytest
from sklearn import metrics

from ml_assets.lib.model.bootstrap import (
    f1_macro_scorer,
    r2_scorer,
    resample_counts,
    roc_auc_scorer,
)


def resamples(rows: int, rounds: int, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Count matrices and, for each resample, the row indices they stand for."""
    counts = np.concatenate(list(resample_counts(np.random.default_rng(seed), rows, rounds)))
    return counts, [np.repeat(np.arange(rows), row) for row in counts]


def test_counts_are_resamples_of_every_row_count() -> None:
    counts = np.concatenate(list(resample_counts(np.random.default_rng(1), 7, 1000)))
    assert counts.shape == (1000, 7) and (counts.sum(axis=1) == 7).all()
    assert 0.9 < counts.mean() / 1.0 < 1.1
    chunks = list(resample_counts(np.random.default_rng(1), 1_000_000, 5))
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]


def test_roc_auc_matches_scikit_learn_with_ties_and_one_class_resamples() -> None:
    rng = np.random.default_rng(2)
    truth = rng.random(40) < 0.3
    scores = np.round(rng.random(40) + truth * 0.3, 1)  # coarse: many ties
    counts, indices = resamples(40, 200)
    fast = roc_auc_scorer(truth, scores)(counts)
    for value, rows in zip(fast, indices, strict=True):
        if truth[rows].all() or not truth[rows].any():
            assert np.isnan(value)
        else:
            assert value == pytest.approx(metrics.roc_auc_score(truth[rows], scores[rows]))


def test_macro_f1_matches_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    truth = rng.choice(np.array(["a", "b", "c"]), 30)
    predicted = np.where(rng.random(30) < 0.7, truth, rng.choice(np.array(["a", "b", "d"]), 30))
    counts, indices = resamples(30, 200)
    fast = f1_macro_scorer(truth, predicted)(counts)
    slow = [
        metrics.f1_score(truth[rows], predicted[rows], average="macro", zero_division=0)
        for rows in indices
    ]
    np.testing.assert_allclose(fast, slow)


def test_r2_matches_scikit_learn() -> None:
    rng = np.random.default_rng(4)
    truth = rng.normal(size=25)
    predicted = truth + rng.normal(scale=0.5, size=25)
    counts, indices = resamples(25, 200)
    slow = [metrics.r2_score(truth[rows], predicted[rows]) for rows in indices]
    np.testing.assert_allclose(r2_scorer(truth, predicted)(counts), slow)
    constant = np.ones(25)
    assert r2_scorer(constant, constant)(counts[:3]).tolist() == [1.0, 1.0, 1.0]
