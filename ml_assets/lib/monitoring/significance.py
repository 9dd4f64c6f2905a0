"""P-values of a batch against a reference, for monitoring rules that must not cry wolf.

A fixed threshold on a drift figure fires on any large batch and misses shifts in small ones.
Each rule here asks instead whether the batch's figure is beyond what a batch of its size drawn
from the reference would show (its p-value), counting the reference's own sampling error too;
a monitor then alarms only when that p-value survives the correction for the number of tests
(``alarm_level``) and the figure is also larger than a practical minimum. No Dagster here.
"""

from collections.abc import Sequence

import numpy as np

NULL_DRAWS_FLOOR = 2_000  # resampled statistics per null: enough for a p-value of 1/2001
NULL_MAX_ROWS = 256  # resampled batches hold at most this many rows (scaled beyond it)
NULL_SEED = 0
# Cells expected fewer times are pooled: the chi-square's far tail, where the shared-out alarm
# level sits, is only right with about ten expected per cell (five is the textbook floor).
MIN_EXPECTED = 10


def alarm_level(false_alarm_rate: float, tests: int) -> float:
    """The p-value below which one of ``tests`` alarms (Bonferroni), so all together stay under."""
    return false_alarm_rate / max(tests, 1)


def effective_rows(rows: int, reference_rows: int) -> float:
    """The sample size of a two-sample comparison: n m / (n + m), n when the reference is large."""
    if reference_rows <= 0:
        return float(rows)
    return rows * reference_rows / (rows + reference_rows)


def share_pvalue(count: float, rows: int, share: float, reference_rows: int) -> float:
    """Two-sided p-value of ``count`` of ``rows`` having a property the reference has at ``share``.

    A binomial test at the effective size (the reference's share is itself estimated), read
    from the regularized incomplete beta so a fractional effective count is exact. A share the
    reference never showed (0 or 1) is taken as half a row of it: unseen in m rows is not
    impossible, and one such value in a clean batch must not read as p = 0.
    """
    from scipy.special import betainc

    if rows <= 0:
        return 1.0
    size = effective_rows(rows, reference_rows)
    k = count * size / rows
    floor = 0.5 / reference_rows if reference_rows > 0 else 0.0
    share = min(max(share, floor), 1.0 - floor)
    if share in (0.0, 1.0):
        return 1.0 if k == size * share else 0.0
    # P(X >= k) and P(X <= k) for X ~ Binomial(size, share), continued to real k and size.
    upper = betainc(k, size - k + 1, share) if k > 0 else 1.0
    lower = betainc(size - k, k + 1, 1 - share) if k < size else 1.0
    return float(min(1.0, 2 * min(upper, lower)))


def ks_pvalue(statistic: float, rows: int, reference_rows: int) -> float:
    """P-value of a two-sample Kolmogorov-Smirnov statistic (exact at the effective size).

    Binned or tied values can only lower the statistic, so on them the test is conservative.
    """
    from scipy.stats import kstwo

    size = max(int(effective_rows(rows, reference_rows)), 1)
    return float(kstwo.sf(statistic, size))


def chi_square_pvalue(
    counts: Sequence[float], shares: Sequence[float], reference_rows: int, ordered: bool = False
) -> float:
    """P-value of a batch's counts per category (or bin) against the reference's (positive) shares.

    Categories expected fewer than ``MIN_EXPECTED`` times in the batch are pooled (ordered bins
    with their neighbours), so rare ones cannot make a clean batch look different; the
    statistic is shrunk by the reference's own sampling error (1 + n/m).
    """
    from scipy.stats import chi2

    counts, shares = np.asarray(counts, float), np.asarray(shares, float)
    rows = counts.sum()
    if rows <= 0 or shares.sum() <= 0:
        return 1.0
    expected = rows * shares / shares.sum()
    if ordered:
        counts, expected = _merge_neighbours(counts, expected)
    elif (rare := expected < MIN_EXPECTED).any():
        counts = np.append(counts[~rare], counts[rare].sum())
        expected = np.append(expected[~rare], expected[rare].sum())
    if len(counts) < 2:
        return 1.0
    statistic = float(np.sum((counts - expected) ** 2 / expected))
    statistic /= 1 + rows / reference_rows if reference_rows > 0 else 1
    return float(chi2.sf(statistic, len(counts) - 1))


def null_size(rows: int) -> int:
    """The batch size a null is resampled at: the power of two at most ``rows`` (and the cap).

    Rounding down keeps the null at least as wide as the batch's once scaled by
    sqrt(drawn / rows), and a few sizes serve every batch of a training set.
    """
    return int(min(NULL_MAX_ROWS, 2 ** np.floor(np.log2(max(rows, 2)))))


def _merge_neighbours(counts: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adjacent bins merged left to right until each is expected ``MIN_EXPECTED`` times.

    Greedy, so a rare bin before a common one is not left alone (as binning the running total
    by tens would: 0.2 then 22 expected gave cells of 0.2 and 22, and one row in the rare bin a
    p-value of about 1e-5 on a clean batch).
    """
    group, filled, current = np.empty(len(expected), dtype=int), 0.0, 0
    for index, value in enumerate(expected):
        group[index], filled = current, filled + value
        if filled >= MIN_EXPECTED:
            current, filled = current + 1, 0.0
    if filled and current:  # a short last group joins the one before
        group[group == current] = current - 1
    return np.bincount(group, weights=counts), np.bincount(group, weights=expected)


def mean_null(reference: np.ndarray, drawn: int, draws: int = NULL_DRAWS_FLOOR) -> np.ndarray:
    """Absolute deviations from the reference's mean of ``draws`` seeded resampled batch means.

    Scaled by sqrt(drawn / rows) for a larger batch, the small batches' heavier tails (skewed
    columns have skewed means) keep the test conservative.
    """
    rng = np.random.default_rng(NULL_SEED)
    picks = rng.integers(0, len(reference), size=(draws, drawn))
    return np.abs(reference[picks].mean(axis=1) - reference.mean())


def resampled_pvalue(observed: float, null: np.ndarray, inflation: float = 1.0) -> float:
    """Monte Carlo p-value of ``observed`` against draws of its null ((1 + beyond) / (1 + B)).

    ``inflation`` widens the null for the reference's own sampling error (sqrt(1 + n/m)).
    """
    beyond = int(np.count_nonzero(null * inflation >= observed))
    return (1 + beyond) / (1 + len(null))


def draws_for(level: float) -> int:
    """Resampled draws a Monte Carlo p-value needs to reach ``level`` at all."""
    return max(NULL_DRAWS_FLOOR, int(np.ceil(2 / level)))
