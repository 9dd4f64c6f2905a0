"""P-values of the monitoring rules against scipy's reference tests, and their false-alarm rates."""

import numpy as np
import pytest
from scipy.stats import binomtest, chisquare, ks_2samp

from ml_assets.lib.monitoring.significance import (
    alarm_level,
    chi_square_pvalue,
    ks_pvalue,
    mean_null,
    resampled_pvalue,
    share_pvalue,
)


def test_share_pvalue_is_the_binomial_test_when_the_reference_is_large() -> None:
    for count, rows, share in ((3, 50, 0.02), (30, 200, 0.1), (0, 100, 0.05)):
        exact = binomtest(count, rows, share).pvalue
        ours = share_pvalue(count, rows, share, reference_rows=10**9)
        # Twice the smaller tail: never below the exact two-sided p-value, at most twice it.
        assert exact * (1 - 1e-6) <= ours <= min(1.0, 2 * exact * (1 + 1e-6))
    # A small reference widens the test: the same count is less surprising.
    assert share_pvalue(30, 200, 0.1, 200) > share_pvalue(30, 200, 0.1, 10**9)


def test_ks_pvalue_follows_scipy_two_sample_test() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 3000), rng.normal(0.1, 1, 500)
    found = ks_2samp(a, b)
    assert ks_pvalue(found.statistic, 500, 3000) == pytest.approx(found.pvalue, rel=0.3)


def test_chi_square_pools_rare_categories() -> None:
    counts, shares = np.array([48, 50, 1, 1]), np.array([0.49, 0.49, 0.01, 0.01])
    pooled = chi_square_pvalue(counts, shares, reference_rows=10**9)
    assert pooled == pytest.approx(chisquare([48, 50, 2], [49, 49, 2]).pvalue)
    assert chi_square_pvalue([90, 10], [0.5, 0.5], reference_rows=10**9) < 1e-10


def test_ordered_bins_merge_until_each_cell_is_expected_ten_times() -> None:
    # A rare first bin (a column's lowest value, 0.4% of the reference) before a common one: it
    # joins its neighbour, so one such row in 50 is not a p-value of about 1e-5.
    shares = np.array([0.004, 0.44, 0.52, 0.03, 0.006])
    counts = np.array([1, 21, 26, 2, 0])
    merged = chi_square_pvalue(counts, shares, reference_rows=10**9, ordered=True)
    assert merged == pytest.approx(chisquare([22, 28], [22.2, 27.8]).pvalue)
    # Equal deciles at 50 rows (5 expected each): five cells of 10, none of 5.
    even = chi_square_pvalue([5] * 9 + [5], [0.1] * 10, reference_rows=10**9, ordered=True)
    assert even == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    level = alarm_level(0.01, 1)
    alarms = sum(
        chi_square_pvalue(rng.multinomial(50, shares), shares, 10**9, ordered=True) < level
        for _ in range(2000)
    )
    assert alarms / 2000 <= 0.015


def test_a_resampled_mean_null_keeps_false_alarms_below_the_level_on_a_skewed_column() -> None:
    rng = np.random.default_rng(1)
    reference = rng.lognormal(0, 1.5, 20_000)
    level = alarm_level(0.05, 1)
    null = mean_null(reference, 200, draws=2000)
    alarms = sum(
        resampled_pvalue(abs(rng.choice(reference, 200).mean() - reference.mean()), null) < level
        for _ in range(400)
    )
    assert alarms / 400 <= 0.06


def test_a_share_the_reference_never_showed_is_not_impossible() -> None:
    # One value of a kind 1,900 reference rows never had, in 500 batch rows: plausible, not p 0.
    assert share_pvalue(1, 500, 0.0, 1900) > 0.1
    assert share_pvalue(499, 500, 1.0, 1900) > 0.1
    assert share_pvalue(50, 500, 0.0, 1900) < 1e-6
