"""Paired bootstrap of the primary metric, vectorised: every resample scored at once.

A resample is a row of counts (how often each test row was drawn), so a metric becomes a few
matrix products over all resamples instead of one scikit-learn call per resample: 500 rounds of
ROC AUC on 2,000 test rows took 3.7 s through ``roc_auc_score`` and take milliseconds here. The
results equal scikit-learn's on the same resamples (a test checks each metric).
"""

from collections.abc import Iterator

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


def weighted_roc_auc(truth: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """ROC AUC of each resample (NaN where it holds one class only); ties count a half."""
    order = np.argsort(scores, kind="mergesort")
    ordered, positive = scores[order], truth[order].astype(bool)
    weights = counts[:, order].astype("float64")
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    positives = np.add.reduceat(weights * positive, starts, axis=1)
    negatives = np.add.reduceat(weights * ~positive, starts, axis=1)
    below = np.cumsum(negatives, axis=1) - negatives
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (positives * (below + 0.5 * negatives)).sum(axis=1) / pairs


def weighted_f1_macro(truth: np.ndarray, predicted: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Macro F1 of each resample over the labels it holds (in truth or prediction)."""
    weights = counts.astype("float64")
    total, present = np.zeros(len(weights)), np.zeros(len(weights))
    for label in np.unique(np.concatenate([truth, predicted])):
        actual, guessed = truth == label, predicted == label
        hits = weights @ (actual & guessed)
        support = weights @ actual + weights @ guessed
        with np.errstate(invalid="ignore", divide="ignore"):
            total += np.where(support > 0, 2 * hits / support, 0.0)
        present += support > 0
    return total / present


def weighted_r2(truth: np.ndarray, predicted: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """R² of each resample (1 for a perfect fit of a constant, 0 for an imperfect one)."""
    weights = counts.astype("float64")
    values = truth.astype("float64")
    drawn = weights.sum(axis=1)
    mean = weights @ values / drawn
    spread = weights @ values**2 - drawn * mean**2
    errors = weights @ (values - predicted.astype("float64")) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = 1 - errors / spread
    constant = np.isclose(spread, 0.0)
    return np.where(constant, np.where(np.isclose(errors, 0.0), 1.0, 0.0), r2)
