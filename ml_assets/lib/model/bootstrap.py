"""Paired bootstrap of the primary metric, vectorised: every resample scored at once.

A resample is a row of counts (how often each test row was drawn), so a metric becomes a few
matrix products over all resamples instead of one scikit-learn call per resample: 500 rounds of
ROC AUC on 2,000 test rows took 3.7 s through ``roc_auc_score`` and take milliseconds here. The
results equal scikit-learn's on the same resamples (a test checks each metric).
"""

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

# Counts held at once, at most (resamples x test rows): about 16 MB per matrix of floats.
CELL_BUDGET = 2_000_000


def resample_counts(rng: np.random.Generator, rows: int, rounds: int) -> Iterator[np.ndarray]:
    """Bootstrap resamples of ``rows`` rows as count matrices, a memory-bounded chunk at a time."""
    chunk = max(1, CELL_BUDGET // max(rows, 1))
    for start in range(0, rounds, chunk):
        draws = min(chunk, rounds - start)
        picks = rng.integers(0, rows, size=(draws, rows))
        offsets = (np.arange(draws) * rows)[:, None]
        yield np.bincount((picks + offsets).ravel(), minlength=draws * rows).reshape(draws, rows)


Scorer = Callable[[np.ndarray], np.ndarray]


def roc_auc_scorer(truth: np.ndarray, scores: np.ndarray) -> Scorer:
    """ROC AUC of each resample (NaN where it holds one class only); ties count a half.

    The rows are grouped by score once (ties share a group, groups in score order), as two sparse
    indicator matrices, positives' and negatives'; each chunk of resamples then costs two sparse
    products and sums over the groups. Gathering the counts into score order and summing the
    ties with ``reduceat`` took twice as long (0.70 s against 0.36 s for the evaluation's 500
    rounds of two models on 20,000 rows).
    """
    from scipy import sparse

    groups, group = np.unique(scores, return_inverse=True)
    positive = np.asarray(truth, dtype=bool)
    rows = np.arange(len(positive))

    def indicator(chosen: np.ndarray) -> Any:
        ones = np.ones(int(chosen.sum()))
        return sparse.csr_array((ones, (group[chosen], rows[chosen])), (len(groups), len(rows)))

    is_positive, is_negative = indicator(positive), indicator(~positive)

    def score(counts: np.ndarray) -> np.ndarray:
        weights = np.ascontiguousarray(counts.T, dtype="float64")  # rows x resamples
        positives, negatives = is_positive @ weights, is_negative @ weights
        below = np.cumsum(negatives, axis=0) - negatives
        pairs = positives.sum(axis=0) * negatives.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (positives * (below + 0.5 * negatives)).sum(axis=0) / pairs

    return score


def f1_macro_scorer(truth: np.ndarray, predicted: np.ndarray) -> Scorer:
    """Macro F1 of each resample over the labels it holds (in truth or prediction)."""
    labels = np.unique(np.concatenate([truth, predicted]))
    masks = [(truth == label, predicted == label) for label in labels]

    def score(counts: np.ndarray) -> np.ndarray:
        weights = counts.astype("float64")
        total, present = np.zeros(len(weights)), np.zeros(len(weights))
        for actual, guessed in masks:
            hits = weights @ (actual & guessed)
            support = weights @ actual + weights @ guessed
            with np.errstate(invalid="ignore", divide="ignore"):
                total += np.where(support > 0, 2 * hits / support, 0.0)
            present += support > 0
        return total / present

    return score


def r2_scorer(truth: np.ndarray, predicted: np.ndarray) -> Scorer:
    """R² of each resample (1 for a perfect fit of a constant, 0 for an imperfect one)."""
    values = truth.astype("float64")
    squares, errors = values**2, (values - predicted.astype("float64")) ** 2

    def score(counts: np.ndarray) -> np.ndarray:
        weights = counts.astype("float64")
        drawn = weights.sum(axis=1)
        mean = weights @ values / drawn
        spread = weights @ squares - drawn * mean**2
        error = weights @ errors
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = 1 - error / spread
        constant = np.isclose(spread, 0.0)
        return np.where(constant, np.where(np.isclose(error, 0.0), 1.0, 0.0), r2)

    return score
