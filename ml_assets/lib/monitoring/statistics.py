"""Statistical validation of batches against the training set, beyond the row-level contract.

A batch can meet every rule of the contract and still not look like the data the model learned
from: its means or quantiles moved, it carries more outliers, its columns relate differently, or
its classes are balanced otherwise. Each check compares every batch with the reference (the
training side of the training set) and grades each figure ``ok``, ``warn`` or ``error``: a figure
counts only when it is significant (beyond what a batch of that size drawn from the reference
would show, with the false-alarm rate shared out over the check's tests in the batch) and at
least the configured threshold (the practical minimum). Batches with fewer than
``min_batch_rows`` rows are listed as too small to judge. No Dagster here.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.contract.dataset import BATCH, SPLIT, TRAIN, DatasetSpec
from ml_assets.lib.core.thresholds import OK, SEVERITY_ORDER, worst
from ml_assets.lib.project.project_config import StatisticsSection

DISTRIBUTION_BOUNDS = "distribution_bounds"
OUTLIER_SHARE = "outlier_share"
CORRELATION_STABILITY = "correlation_stability"
CLASS_BALANCE = "class_balance"
# The configuration keys that set each check's thresholds, named in its advice.
_SETTINGS = {
    DISTRIBUTION_BOUNDS: "statistics.mean_shift / statistics.quantile_shift",
    OUTLIER_SHARE: "statistics.outlier_share",
    CORRELATION_STABILITY: "statistics.correlation_change",
    CLASS_BALANCE: "statistics.class_share_change",
}
SAMPLE_ROWS, SAMPLE_SEED = 100_000, 0  # rows each batch and the reference are judged on, at most
# A rank correlation moves only with the rows off a column's most common value: with fewer of
# them in a batch (a column that is 0 in 99% of 500 rows), one row swings it and Fisher's z, which
# assumes every row carries information, calls the swing significant. Such pairs are not judged.
MIN_VARIED_ROWS = 10
WINSOR_SHARE = 0.005  # means are taken of values clipped to the reference's 0.5%-99.5% range
_MAD_TO_SIGMA = 1.4826  # a normal distribution's standard deviation per median absolute deviation


@dataclass(frozen=True)
class CheckOutcome:
    """One check over every batch: its worst grade, what it found, a row per batch and column."""

    name: str
    level: str
    description: str
    figures: dict[str, Any]
    table: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether no batch crossed a threshold."""
        return self.level == OK


def judged_columns(spec: DatasetSpec) -> list[str]:
    """The columns of ``features`` the checks read."""
    return list(dict.fromkeys([BATCH, SPLIT, spec.target, *spec.model_numeric_columns]))


def statistical_checks(
    features: pd.DataFrame, spec: DatasetSpec, limits: StatisticsSection
) -> list[CheckOutcome]:
    """Every check, each batch of ``features`` judged against its training side."""
    if features.empty:  # no accepted batch yet: nothing to judge
        features = pd.DataFrame(columns=judged_columns(spec))
    training_side = np.flatnonzero((features[SPLIT] == TRAIN).to_numpy())
    reference = features.iloc[_sample_positions(training_side)]
    numeric = [name for name in spec.model_numeric_columns if name in features]
    positions = features.groupby(BATCH, sort=False).indices.items()
    groups = [
        (str(batch), len(at), features.iloc[_sample_positions(at)]) for batch, at in positions
    ]
    judged = [(batch, rows) for batch, size, rows in groups if size >= limits.min_batch_rows]
    small = [batch for batch, size, _ in groups if size < limits.min_batch_rows]
    outcomes = [
        distribution_bounds(judged, reference, numeric, limits),
        outlier_share(judged, reference, numeric, limits),
        correlation_stability(judged, reference, numeric, limits),
    ]
    if spec.is_classification:
        outcomes.append(class_balance(judged, reference, spec.target, limits))
    return [_with_small(outcome, small, limits.min_batch_rows) for outcome in outcomes]


Batches = Sequence[tuple[str, pd.DataFrame]]


def _sample_positions(positions: np.ndarray) -> np.ndarray:
    """``positions``, or a seeded ``SAMPLE_ROWS`` of them in their order.

    Every figure here is a mean, share, quantile or correlation, whose estimate from 100k rows
    is within a few thousandths of a standard deviation (or share) of the whole: far inside
    the thresholds, at a fixed cost per batch instead of 0.5 s per 1e6 rows.
    """
    if len(positions) <= SAMPLE_ROWS:
        return positions
    picked = np.random.default_rng(SAMPLE_SEED).choice(len(positions), SAMPLE_ROWS, replace=False)
    return positions[np.sort(picked)]


def distribution_bounds(
    batches: Batches,
    reference: pd.DataFrame,
    columns: Sequence[str],
    limits: StatisticsSection,
    nulls: dict[tuple[str, int], np.ndarray] | None = None,
) -> CheckOutcome:
    """Each numeric column's mean and quantiles against the reference's, in its std deviations.

    Scale-free, so one threshold serves every column. Means and the standard deviation are
    of values clipped to the reference's 0.5% and 99.5% quantiles. The mean's p-value comes
    from batch means resampled from the reference (skewed columns have skewed means); a
    quantile's from the binomial count of the batch's values below the reference's quantile,
    which holds for any shape and for ties. ``nulls`` keeps the resampled means per column
    and size for the next call on the same reference.
    """
    from ml_assets.lib.monitoring.significance import (
        alarm_level,
        draws_for,
        mean_null,
        null_size,
        resampled_pvalue,
    )

    level_p = alarm_level(limits.false_alarm_rate, len(columns) * (1 + len(limits.quantiles)))
    nulls = {} if nulls is None else nulls
    table = []
    for column in columns:
        ref = _numbers(reference[column])
        if len(ref) < 2:
            continue
        # Means are of values clipped to the reference's ordinary range, so one value from a
        # heavy tail (an income of 1e7 in 100 rows) cannot make a clean batch look shifted.
        # Quantiles and the shares below them are of the values as they are: the batch's are,
        # and a clipped reference has no value beyond its clip (a share of 0 to test against).
        clip = tuple(np.quantile(ref, [WINSOR_SHARE, 1 - WINSOR_SHARE]))
        ref_quantiles = dict(zip(limits.quantiles, np.quantile(ref, limits.quantiles), strict=True))
        below = {q: _shares_below(ref, value) for q, value in ref_quantiles.items()}
        ref = np.clip(ref, *clip)
        ref_mean, ref_std = float(ref.mean()), float(ref.std(ddof=1))
        for batch, rows in batches:
            values = _numbers(rows[column])
            if not len(values) or ref_std <= 0:
                continue
            n, clipped = len(values), np.clip(values, *clip)
            drawn = null_size(n)
            if (column, drawn) not in nulls:
                nulls[column, drawn] = mean_null(ref, drawn, draws_for(level_p))
            deviation = abs(float(clipped.mean()) - ref_mean)
            inflation = np.sqrt(drawn / n * (1 + n / len(ref)))
            mean_p = resampled_pvalue(deviation, nulls[column, drawn], inflation)
            shift = deviation / ref_std
            quantiles = dict(
                zip(limits.quantiles, np.quantile(values, limits.quantiles), strict=True)
            )
            moved = {q: abs(quantiles[q] - ref_quantiles[q]) / ref_std for q in limits.quantiles}
            quantile_p = {
                q: _quantile_pvalue(
                    values, ref_quantiles[q], below[q], len(ref), quantiles[q] > ref_quantiles[q]
                )
                if _crossed(values, ref_quantiles[q], below[q]) >= limits.quantile_min_share
                else 1.0
                for q in limits.quantiles
            }
            worst_q = max(moved, key=moved.__getitem__)
            shifts = [limits.quantile_shift.level(moved[q], quantile_p[q] < level_p) for q in moved]
            level = worst([limits.mean_shift.level(shift, mean_p < level_p), *shifts])
            table.append(
                {
                    "batch": batch,
                    "column": column,
                    "mean": round(float(clipped.mean()), 6),
                    "reference_mean": round(ref_mean, 6),
                    "mean_shift_sd": round(shift, 4),
                    "mean_p_value": float(f"{mean_p:.3g}"),
                    "quantile": worst_q,
                    "value": round(float(quantiles[worst_q]), 6),
                    "reference_value": round(float(ref_quantiles[worst_q]), 6),
                    "quantile_shift_sd": round(float(moved[worst_q]), 4),
                    "quantile_p_value": float(f"{quantile_p[worst_q]:.3g}"),
                    "level": level,
                }
            )
    top = _worst_row(table, "mean_shift_sd")
    figures = {
        "largest_mean_shift_sd": top["mean_shift_sd"] if top else 0.0,
        "largest_quantile_shift_sd": float(
            max((row["quantile_shift_sd"] for row in table), default=0.0)
        ),
        "alarm_p_value": level_p,
    }
    return _outcome(
        DISTRIBUTION_BOUNDS,
        table,
        figures,
        lambda row: (
            f"{row['batch']} {row['column']}: mean {row['mean']:.4g} is "
            f"{row['mean_shift_sd']:.2f} sd from the reference's {row['reference_mean']:.4g} "
            f"(p {row['mean_p_value']:.2g}); its q{row['quantile']:g} {row['value']:.4g} is "
            f"{row['quantile_shift_sd']:.2f} sd from {row['reference_value']:.4g} "
            f"(p {row['quantile_p_value']:.2g})"
        ),
        f"shift limits in reference sd (warn/error): mean {limits.mean_shift.warn}/"
        f"{limits.mean_shift.error}, quantiles {limits.quantile_shift.warn}/"
        f"{limits.quantile_shift.error}, when p < {level_p:.2g}",
    )


def _shares_below(ref: np.ndarray, value: float) -> tuple[float, float]:
    """The reference's share of values below ``value`` and at or below it (they differ on ties)."""
    return float(np.mean(ref < value)), float(np.mean(ref <= value))


def _crossed(values: np.ndarray, quantile: float, below: tuple[float, float]) -> float:
    """The share of the batch's rows on the other side of the reference's quantile than its own."""
    under, at_most = below
    return max(
        0.0, at_most - float(np.mean(values <= quantile)), float(np.mean(values < quantile)) - under
    )


def _quantile_pvalue(
    values: np.ndarray,
    quantile: float,
    below: tuple[float, float],
    reference_rows: int,
    moved_up: bool,
) -> float:
    """Whether the batch's share of values below the reference's quantile moved (binomial).

    Tested in the direction the batch's quantile moved: a significant shift the other way
    (one value below the reference's floor) says nothing about the move being graded.
    """
    from ml_assets.lib.monitoring.significance import share_pvalue

    under, at_most = below
    if moved_up:  # even the batch's values at or below the quantile are too few
        count, share = float(np.sum(values <= quantile)), at_most
        beyond = np.mean(values <= quantile) < at_most
    else:  # the batch's values strictly below it are too many
        count, share = float(np.sum(values < quantile)), under
        beyond = np.mean(values < quantile) > under
    return share_pvalue(count, len(values), share, reference_rows) if beyond else 1.0


def outlier_share(
    batches: Batches, reference: pd.DataFrame, columns: Sequence[str], limits: StatisticsSection
) -> CheckOutcome:
    """Share of each numeric column's values outside the reference's robust range.

    Judged against the share the reference itself has outside that range (heavy-tailed columns
    have many): a batch flags when its share exceeds the reference's significantly and by at
    least the configured threshold.
    """
    from ml_assets.lib.monitoring.significance import alarm_level, share_pvalue

    level_p = alarm_level(limits.false_alarm_rate, len(columns))
    table = []
    for column in columns:
        ref = _numbers(reference[column])
        bounds = _outlier_bounds(ref, limits)
        if bounds is None:
            continue
        low, high = bounds
        expected = float(((ref < low) | (ref > high)).mean())
        for batch, rows in batches:
            values = _numbers(rows[column])
            if not len(values):
                continue
            outside = float(((values < low) | (values > high)).sum())
            share = outside / len(values)
            p_value = share_pvalue(outside, len(values), expected, len(ref))
            significant = share > expected and p_value < level_p
            table.append(
                {
                    "batch": batch,
                    "column": column,
                    "outlier_share": round(share, 4),
                    "reference_share": round(expected, 4),
                    "p_value": float(f"{p_value:.3g}"),
                    "low": round(low, 6),
                    "high": round(high, 6),
                    "level": limits.outlier_share.level(share - expected, significant),
                }
            )
    top = _worst_row(table, "outlier_share")
    return _outcome(
        OUTLIER_SHARE,
        table,
        {"largest_outlier_share": top["outlier_share"] if top else 0.0},
        lambda row: (
            f"{row['batch']} {row['column']}: {row['outlier_share']:.1%} of values "
            f"outside [{row['low']:.4g}, {row['high']:.4g}] against "
            f"{row['reference_share']:.1%} of the reference's (p {row['p_value']:.2g})"
        ),
        f"{limits.outlier_rule} rule, excess share over the reference's limit "
        f"{limits.outlier_share.warn:.0%}/{limits.outlier_share.error:.0%} (warn/error), "
        f"when p < {level_p:.2g}",
    )


def correlation_stability(
    batches: Batches, reference: pd.DataFrame, columns: Sequence[str], limits: StatisticsSection
) -> CheckOutcome:
    """The largest change of a pairwise rank (Spearman) correlation against the reference.

    Ranks keep heavy tails from swinging the figure; each pair's change is tested on Fisher's z
    (variance 1.06 / (n - 3) for Spearman's coefficient) with both samples' errors.
    """
    from scipy.stats import norm

    from ml_assets.lib.monitoring.significance import alarm_level

    table = []
    pairs_count = len(columns) * (len(columns) - 1) // 2
    level_p = alarm_level(limits.false_alarm_rate, pairs_count)
    if len(columns) >= 2:
        ref_frame = reference[list(columns)].astype("float64")
        ref_corr = ref_frame.corr(method="spearman")
        ref_n = ref_frame.notna().astype(int).T @ ref_frame.notna().astype(int)
        ref_varied = _varied_rows(ref_frame)
        for batch, rows in batches:
            frame = rows[list(columns)].astype("float64")
            corr = frame.corr(method="spearman")
            n = frame.notna().astype(int).T @ frame.notna().astype(int)
            varied = np.minimum(_varied_rows(frame), ref_varied) >= MIN_VARIED_ROWS
            found = []
            for i in range(len(columns)):
                for j in range(i + 1, len(columns)):
                    r, r_ref = corr.iloc[i, j], ref_corr.iloc[i, j]
                    if np.isnan(r) or np.isnan(r_ref) or min(n.iloc[i, j], ref_n.iloc[i, j]) < 4:
                        continue
                    if not (varied[i] and varied[j]):  # one row would swing the correlation
                        continue
                    z = (np.arctanh(np.clip(r, -0.9999, 0.9999))) - np.arctanh(
                        np.clip(r_ref, -0.9999, 0.9999)
                    )
                    se = np.sqrt(1.06 / (n.iloc[i, j] - 3) + 1.06 / (ref_n.iloc[i, j] - 3))
                    p_value = float(2 * norm.sf(abs(z) / se))
                    change = abs(float(r - r_ref))
                    level = limits.correlation_change.level(change, p_value < level_p)
                    order = SEVERITY_ORDER[level]
                    found.append((order, change, columns[i], columns[j], p_value, level))
            if not found:
                continue
            _, delta, first, second, p_value, level = max(found)
            table.append(
                {
                    "batch": batch,
                    "pair": f"{first} ~ {second}",
                    "correlation": round(float(corr.loc[first, second]), 4),
                    "reference_correlation": round(float(ref_corr.loc[first, second]), 4),
                    "change": round(delta, 4),
                    "p_value": float(f"{p_value:.3g}"),
                    "level": level,
                }
            )
    top = _worst_row(table, "change")
    return _outcome(
        CORRELATION_STABILITY,
        table,
        {"largest_correlation_change": top["change"] if top else 0.0},
        lambda row: (
            f"{row['batch']} {row['pair']}: rank r {row['correlation']:+.2f} against "
            f"{row['reference_correlation']:+.2f} in the reference (p {row['p_value']:.2g})"
        ),
        f"change limit {limits.correlation_change.warn}/{limits.correlation_change.error} "
        f"(warn/error), when p < {level_p:.2g}",
    )


def _varied_rows(frame: pd.DataFrame) -> np.ndarray:
    """Per column, the non-null rows off its most common value."""
    counts = [column.value_counts() for _, column in frame.items()]  # nulls left out
    return np.array([int(count.sum() - count.max()) if len(count) else 0 for count in counts])


def class_balance(
    batches: Batches, reference: pd.DataFrame, target: str, limits: StatisticsSection
) -> CheckOutcome:
    """The largest change of a class's share between a batch and the reference.

    Significant when a chi-square test of the batch's class counts against the reference's
    shares says so (one test per batch).
    """
    from ml_assets.lib.monitoring.significance import chi_square_pvalue

    ref_shares = reference[target].value_counts(normalize=True)
    table = []
    for batch, rows in batches:
        counts = rows[target].value_counts()
        shares = rows[target].value_counts(normalize=True)
        labels = ref_shares.index.union(shares.index)
        change = (
            shares.reindex(labels, fill_value=0) - ref_shares.reindex(labels, fill_value=0)
        ).abs()
        known = ref_shares.index
        p_value = chi_square_pvalue(
            counts.reindex(known, fill_value=0).to_numpy(),
            ref_shares.to_numpy(),
            int(reference[target].notna().sum()),
        )
        if counts.drop(known, errors="ignore").sum() > 0:
            p_value = 0.0  # a class the training side never had
        label = change.idxmax()
        table.append(
            {
                "batch": batch,
                "class": str(label),
                "share": round(float(shares.get(label, 0.0)), 4),
                "reference_share": round(float(ref_shares.get(label, 0.0)), 4),
                "change": round(float(change[label]), 4),
                "p_value": float(f"{p_value:.3g}"),
                "level": limits.class_share_change.level(
                    float(change[label]), p_value < limits.false_alarm_rate
                ),
            }
        )
    top = _worst_row(table, "change")
    return _outcome(
        CLASS_BALANCE,
        table,
        {"largest_class_share_change": top["change"] if top else 0.0},
        lambda row: (
            f"{row['batch']} class {row['class']}: {row['share']:.1%} of rows against "
            f"{row['reference_share']:.1%} in the reference (p {row['p_value']:.2g})"
        ),
        f"change limit {limits.class_share_change.warn:.0%}/{limits.class_share_change.error:.0%}"
        f" (warn/error), when p < {limits.false_alarm_rate:.2g}",
    )


def _numbers(column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return values[np.isfinite(values)]


def _outlier_bounds(ref: np.ndarray, limits: StatisticsSection) -> tuple[float, float] | None:
    """The reference's range of ordinary values, or None when it has no spread to judge by.

    The range never reaches past what the column's nature allows: no negative bound for a
    column that is never negative, none above 1 for a share.
    """
    if len(ref) < 2:
        return None
    if limits.outlier_rule == "iqr":
        q1, q3 = np.quantile(ref, [0.25, 0.75])
        spread = (q3 - q1) * limits.iqr_factor
        if spread <= 0:
            return None
        low, high = float(q1 - spread), float(q3 + spread)
    else:
        median = float(np.median(ref))
        scale = _MAD_TO_SIGMA * float(np.median(np.abs(ref - median)))
        if scale <= 0:
            return None
        low, high = median - limits.outlier_z * scale, median + limits.outlier_z * scale
    if ref.min() >= 0:
        low = max(low, 0.0)
        if ref.max() <= 1:
            high = min(high, 1.0)
    return low, high


def _worst_row(table: list[dict[str, Any]], figure: str) -> dict[str, Any] | None:
    return max(table, key=lambda row: (SEVERITY_ORDER[row["level"]], row[figure]), default=None)


def _outcome(
    name: str,
    table: list[dict[str, Any]],
    figures: dict[str, Any],
    describe: Callable[[dict[str, Any]], str],
    limits_text: str,
) -> CheckOutcome:
    level = worst(row["level"] for row in table)
    flagged = [row for row in table if row["level"] != OK]
    flagged.sort(key=lambda row: -SEVERITY_ORDER[row["level"]])
    if flagged:
        listed = "; ".join(f"{row['level'].upper()} {describe(row)}" for row in flagged[:5])
        more = f" (and {len(flagged) - 5} more)" if len(flagged) > 5 else ""
        description = (
            f"{listed}{more} ({limits_text}): look at those batches, or adjust "
            f"{_SETTINGS[name]} in the configuration"
        )
    else:
        judged = len({row["batch"] for row in table})
        description = f"{judged} batch(es) within limits ({limits_text})"
    figures = {
        **figures,
        "batches_judged": len({row["batch"] for row in table}),
        "flagged": len(flagged),
    }
    return CheckOutcome(name, level, description, figures, table)


def _with_small(outcome: CheckOutcome, small: list[str], minimum: int) -> CheckOutcome:
    if not small:
        return outcome
    note = f"; too small to judge (< {minimum} rows): {', '.join(small)}"
    figures = {**outcome.figures, "too_small": len(small)}
    return CheckOutcome(
        outcome.name, outcome.level, outcome.description + note, figures, outcome.table
    )
