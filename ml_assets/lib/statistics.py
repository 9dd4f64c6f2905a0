"""Statistical validation of batches against the training set, beyond the row-level contract.

A batch can meet every rule of the contract and still not look like the data the model learned
from: its means or quantiles moved, it carries more outliers, its columns relate differently, or
its classes are balanced otherwise. Each check compares every batch with the reference (the
training side of the training set) and grades the largest figure: ``ok``, ``warn`` or ``error``
against two configured thresholds. Batches with fewer than ``min_batch_rows`` rows are listed as
too small to judge. No Dagster here.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ml_assets.lib.dataset import BATCH, SPLIT, TRAIN, DatasetSpec
from ml_assets.lib.project_config import StatisticsSection

OK, WARN, ERROR = "ok", "warn", "error"
_ORDER = {OK: 0, WARN: 1, ERROR: 2}
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
_MAD_TO_SIGMA = 1.4826  # a normal distribution's standard deviation per median absolute deviation


@dataclass(frozen=True)
class Threshold:
    """A figure above ``warn`` warns, above ``error`` is an error."""

    warn: float
    error: float

    def level(self, figure: float) -> str:
        """The grade of one figure (NaN, nothing to judge, is ok)."""
        if figure > self.error:
            return ERROR
        return WARN if figure > self.warn else OK


@dataclass(frozen=True)
class StatisticsLimits:
    """Thresholds of the statistical checks; the defaults stay quiet on clean batches."""

    min_batch_rows: int = 100
    mean_shift: Threshold = Threshold(0.5, 1.0)  # |batch mean - reference mean| / reference std
    quantiles: tuple[float, ...] = (0.05, 0.5, 0.95)
    quantile_shift: Threshold = Threshold(
        1.0, 2.0
    )  # |batch quantile - reference's| / reference std
    outlier_rule: Literal["robust_z", "iqr"] = "robust_z"
    outlier_z: float = 3.5  # robust z-score beyond which a value is an outlier
    iqr_factor: float = 3.0  # IQR multiples beyond the quartiles for the iqr rule
    outlier_share: Threshold = Threshold(0.05, 0.2)  # share of a column's values
    correlation_change: Threshold = Threshold(0.4, 0.7)  # largest |batch r - reference r|
    class_share_change: Threshold = Threshold(0.2, 0.35)  # largest |batch share - reference share|


def limits_of(section: StatisticsSection) -> StatisticsLimits:
    """The configuration's ``statistics`` section as the checks take it."""
    values = section.model_dump()
    for name, value in values.items():
        if isinstance(value, dict):
            values[name] = Threshold(**value)
    return StatisticsLimits(**{**values, "quantiles": tuple(section.quantiles)})


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
    features: pd.DataFrame, spec: DatasetSpec, limits: StatisticsLimits
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
    batches: Batches, reference: pd.DataFrame, columns: Sequence[str], limits: StatisticsLimits
) -> CheckOutcome:
    """Each numeric column's mean and quantiles against the reference's, in its std deviations.

    Scale-free, so one threshold serves every column.
    """
    table = []
    for column in columns:
        ref = _numbers(reference[column])
        if len(ref) < 2:
            continue
        ref_mean, ref_std = float(ref.mean()), float(ref.std(ddof=1))
        ref_quantiles = dict(zip(limits.quantiles, np.quantile(ref, limits.quantiles), strict=True))
        for batch, rows in batches:
            values = _numbers(rows[column])
            if not len(values) or ref_std <= 0:
                continue
            shift = abs(float(values.mean()) - ref_mean) / ref_std
            quantiles = dict(
                zip(limits.quantiles, np.quantile(values, limits.quantiles), strict=True)
            )
            moved = {q: abs(quantiles[q] - ref_quantiles[q]) / ref_std for q in limits.quantiles}
            worst_q = max(moved, key=moved.__getitem__)
            level = _worst(
                limits.mean_shift.level(shift), limits.quantile_shift.level(moved[worst_q])
            )
            table.append(
                {
                    "batch": batch,
                    "column": column,
                    "mean": round(float(values.mean()), 6),
                    "reference_mean": round(ref_mean, 6),
                    "mean_shift_sd": round(shift, 4),
                    "quantile": worst_q,
                    "value": round(float(quantiles[worst_q]), 6),
                    "reference_value": round(float(ref_quantiles[worst_q]), 6),
                    "quantile_shift_sd": round(float(moved[worst_q]), 4),
                    "level": level,
                }
            )
    worst = _worst_row(table, "mean_shift_sd")
    figures = {
        "largest_mean_shift_sd": worst["mean_shift_sd"] if worst else 0.0,
        "largest_quantile_shift_sd": float(
            max((row["quantile_shift_sd"] for row in table), default=0.0)
        ),
    }
    return _outcome(
        DISTRIBUTION_BOUNDS,
        table,
        figures,
        lambda row: (
            f"{row['batch']} {row['column']}: mean {row['mean']:.4g} is "
            f"{row['mean_shift_sd']:.2f} sd from the reference's {row['reference_mean']:.4g}; its "
            f"q{row['quantile']:g} {row['value']:.4g} is {row['quantile_shift_sd']:.2f} sd from "
            f"{row['reference_value']:.4g}"
        ),
        f"shift limits in reference sd (warn/error): mean {limits.mean_shift.warn}/"
        f"{limits.mean_shift.error}, quantiles {limits.quantile_shift.warn}/"
        f"{limits.quantile_shift.error}",
    )


def outlier_share(
    batches: Batches, reference: pd.DataFrame, columns: Sequence[str], limits: StatisticsLimits
) -> CheckOutcome:
    """Share of each numeric column's values outside the reference's robust range."""
    table = []
    for column in columns:
        bounds = _outlier_bounds(_numbers(reference[column]), limits)
        if bounds is None:
            continue
        low, high = bounds
        for batch, rows in batches:
            values = _numbers(rows[column])
            if not len(values):
                continue
            share = float(((values < low) | (values > high)).mean())
            table.append(
                {
                    "batch": batch,
                    "column": column,
                    "outlier_share": round(share, 4),
                    "low": round(low, 6),
                    "high": round(high, 6),
                    "level": limits.outlier_share.level(share),
                }
            )
    worst = _worst_row(table, "outlier_share")
    return _outcome(
        OUTLIER_SHARE,
        table,
        {"largest_outlier_share": worst["outlier_share"] if worst else 0.0},
        lambda row: (
            f"{row['batch']} {row['column']}: {row['outlier_share']:.1%} of values "
            f"outside [{row['low']:.4g}, {row['high']:.4g}]"
        ),
        f"{limits.outlier_rule} rule, share limit "
        f"{limits.outlier_share.warn:.0%}/{limits.outlier_share.error:.0%} (warn/error)",
    )


def correlation_stability(
    batches: Batches, reference: pd.DataFrame, columns: Sequence[str], limits: StatisticsLimits
) -> CheckOutcome:
    """The largest change of a pairwise (Pearson) correlation between a batch and the reference."""
    table = []
    if len(columns) >= 2:
        ref_corr = reference[list(columns)].astype("float64").corr()
        for batch, rows in batches:
            change = (rows[list(columns)].astype("float64").corr() - ref_corr).abs()
            pairs = [
                (float(change.iloc[i, j]), columns[i], columns[j])
                for i in range(len(columns))
                for j in range(i + 1, len(columns))
                if not np.isnan(change.iloc[i, j])
            ]
            if not pairs:
                continue
            delta, first, second = max(pairs)
            table.append(
                {
                    "batch": batch,
                    "pair": f"{first} ~ {second}",
                    "correlation": round(float(rows[first].corr(rows[second])), 4),
                    "reference_correlation": round(float(ref_corr.loc[first, second]), 4),
                    "change": round(delta, 4),
                    "level": limits.correlation_change.level(delta),
                }
            )
    worst = _worst_row(table, "change")
    return _outcome(
        CORRELATION_STABILITY,
        table,
        {"largest_correlation_change": worst["change"] if worst else 0.0},
        lambda row: (
            f"{row['batch']} {row['pair']}: r {row['correlation']:+.2f} against "
            f"{row['reference_correlation']:+.2f} in the reference"
        ),
        f"change limit {limits.correlation_change.warn}/{limits.correlation_change.error} "
        "(warn/error)",
    )


def class_balance(
    batches: Batches, reference: pd.DataFrame, target: str, limits: StatisticsLimits
) -> CheckOutcome:
    """The largest change of a class's share between a batch and the reference."""
    ref_shares = reference[target].value_counts(normalize=True)
    table = []
    for batch, rows in batches:
        shares = rows[target].value_counts(normalize=True)
        labels = ref_shares.index.union(shares.index)
        change = (
            shares.reindex(labels, fill_value=0) - ref_shares.reindex(labels, fill_value=0)
        ).abs()
        label = change.idxmax()
        table.append(
            {
                "batch": batch,
                "class": str(label),
                "share": round(float(shares.get(label, 0.0)), 4),
                "reference_share": round(float(ref_shares.get(label, 0.0)), 4),
                "change": round(float(change[label]), 4),
                "level": limits.class_share_change.level(float(change[label])),
            }
        )
    worst = _worst_row(table, "change")
    return _outcome(
        CLASS_BALANCE,
        table,
        {"largest_class_share_change": worst["change"] if worst else 0.0},
        lambda row: (
            f"{row['batch']} class {row['class']}: {row['share']:.1%} of rows against "
            f"{row['reference_share']:.1%} in the reference"
        ),
        f"change limit {limits.class_share_change.warn:.0%}/{limits.class_share_change.error:.0%}"
        " (warn/error)",
    )


def _numbers(column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return values[np.isfinite(values)]


def _outlier_bounds(ref: np.ndarray, limits: StatisticsLimits) -> tuple[float, float] | None:
    """The reference's range of ordinary values, or None when it has no spread to judge by."""
    if len(ref) < 2:
        return None
    if limits.outlier_rule == "iqr":
        q1, q3 = np.quantile(ref, [0.25, 0.75])
        spread = (q3 - q1) * limits.iqr_factor
        return (float(q1 - spread), float(q3 + spread)) if spread > 0 else None
    median = float(np.median(ref))
    scale = _MAD_TO_SIGMA * float(np.median(np.abs(ref - median)))
    if scale <= 0:
        return None
    return median - limits.outlier_z * scale, median + limits.outlier_z * scale


def _worst(*levels: str) -> str:
    return max(levels, key=_ORDER.__getitem__, default=OK)


def _worst_row(table: list[dict[str, Any]], figure: str) -> dict[str, Any] | None:
    return max(table, key=lambda row: (_ORDER[row["level"]], row[figure]), default=None)


def _outcome(
    name: str,
    table: list[dict[str, Any]],
    figures: dict[str, Any],
    describe: Callable[[dict[str, Any]], str],
    limits_text: str,
) -> CheckOutcome:
    level = _worst(*(row["level"] for row in table))
    flagged = [row for row in table if row["level"] != OK]
    flagged.sort(key=lambda row: -_ORDER[row["level"]])
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
