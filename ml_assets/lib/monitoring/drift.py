"""Drift of a batch against a reference (a model's training set), column by column.

Numeric columns: the population stability index (PSI, on the reference's deciles) and the
Kolmogorov-Smirnov statistic (binned at the reference's percentiles, so the reference is binned
once and a batch costs one ``searchsorted`` per column). Categorical columns: the Jensen-Shannon
divergence (``scipy.spatial.distance.jensenshannon``, base 2) and the L-infinity distance of the
category shares, as TFX's comparators do, and the share of categories the reference never saw.
Every column: the change in null rate. The model's scores are profiled like any numeric column.

A statistic flags a column only when it is both significant and large: its p-value (what a batch of
this size drawn from the reference would show, ``ml_assets.lib.monitoring.significance``) is below
the false-alarm rate shared out over every test of the batch, and its value reaches the warning (or
error) level, the practical minimum that keeps a huge batch from alarming on a negligible shift.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.core.thresholds import ERROR, OK, WARN, Threshold, worst

PROFILE_VERSION = "3"  # bump when binning changes: cached profiles are rebuilt
FINE_BINS = 100  # percentiles: the binned KS is within one reference percentile of the exact one
PSI_BINS = 10  # deciles: PSI's usual bins, few enough that sampling noise stays below 0.01
EPSILON = 1e-4  # stands in for an empty bin's share so PSI stays finite
PREDICTION = "_prediction"


@dataclass(frozen=True)
class NumericProfile:
    """A numeric column of the reference: its percentile edges and the counts between them."""

    edges: list[float]
    counts: list[int]
    psi_groups: list[int]  # the decile each percentile bin falls in
    nulls: int
    rows: int


@dataclass(frozen=True)
class CategoricalProfile:
    """A categorical column of the reference: the count of each category."""

    counts: dict[str, int]
    nulls: int
    rows: int


@dataclass(frozen=True)
class Profile:
    """The reference, binned once: what every batch is compared with."""

    key: str
    rows: int
    numeric: dict[str, NumericProfile] = field(default_factory=dict)
    categorical: dict[str, CategoricalProfile] = field(default_factory=dict)

    def to_json(self) -> str:
        """The profile as JSON text (for the cache), its columns in their order."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Profile":
        """Read a cached profile back."""
        data = json.loads(text)
        return cls(
            key=data["key"],
            rows=data["rows"],
            numeric={name: NumericProfile(**p) for name, p in data["numeric"].items()},
            categorical={name: CategoricalProfile(**p) for name, p in data["categorical"].items()},
        )


def profile_key(*parts: str) -> str:
    """A cache key of a reference: the model and training set it stands for, and this code."""
    return hashlib.sha256("|".join((PROFILE_VERSION, *parts)).encode()).hexdigest()[:16]


def _floats(values: pd.Series | np.ndarray) -> np.ndarray:
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def numeric_profile(values: pd.Series | np.ndarray) -> NumericProfile:
    """Percentile edges of the non-null values (and just past tied ones), counts and deciles."""
    numbers = _floats(values)
    present = numbers[~np.isnan(numbers)]
    if len(present) == 0:
        return NumericProfile([], [0], [0], len(numbers), len(numbers))
    ordered = np.sort(present)  # one sort serves the quantiles and the counts
    quantiles = np.quantile(ordered, np.linspace(0, 1, FINE_BINS + 1)[1:-1])
    edges = np.unique(quantiles)
    # A value many rows share (counts, zeros) gets a bin of its own, so a batch whose values
    # moved off it (0 to 0.7) is seen even though the reference has nothing in between.
    tied = np.searchsorted(ordered, edges, "right") - np.searchsorted(ordered, edges, "left") > 1
    edges = np.unique(np.concatenate([edges, np.nextafter(edges[tied], np.inf)]))
    # Bin i holds edges[i-1] <= v < edges[i], as numeric_drift bins a batch: count v < edge.
    below = np.searchsorted(ordered, edges, side="left")
    counts = np.diff(np.concatenate([[0], below, [len(ordered)]]))
    step = FINE_BINS // PSI_BINS
    deciles = np.unique(quantiles[step - 1 :: step])  # the 10th, 20th, … percentiles
    # A value in percentile bin i (i >= 1) lies at or above edges[i-1]; every decile edge is one
    # of the percentile edges, so the bin's decile is the count of decile edges <= edges[i-1].
    groups = np.concatenate([[0], np.searchsorted(deciles, edges, side="right")])
    return NumericProfile(
        edges.tolist(), counts.tolist(), groups.tolist(), len(numbers) - len(present), len(numbers)
    )


def categorical_profile(values: pd.Series) -> CategoricalProfile:
    """The count of each category (as text) and of the nulls.

    Counted on the values as they are, then merged by their text (1 and "1" are one category),
    so the cost is one hash pass, not a conversion of every row to text.
    """
    series = pd.Series(values)
    counts: dict[str, int] = {}
    nulls = 0
    for key, count in series.value_counts(sort=False, dropna=False).items():
        if pd.isna(key):
            nulls += int(count)
        else:
            counts[str(key)] = counts.get(str(key), 0) + int(count)
    return CategoricalProfile(counts, nulls, len(series))


def build_profile(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    key: str,
    scores: pd.Series | None = None,
) -> Profile:
    """Bin the reference's columns once, and the model's ``scores`` (``PREDICTION``) if given.

    Scores are numbers (probabilities, predicted values) or labels as text (multiclass).
    """
    numeric_profiles = {name: numeric_profile(frame[name]) for name in numeric}
    categorical_profiles = {name: categorical_profile(frame[name]) for name in categorical}
    if scores is not None:
        if pd.api.types.is_numeric_dtype(scores):
            numeric_profiles[PREDICTION] = numeric_profile(scores)
        else:
            categorical_profiles[PREDICTION] = categorical_profile(scores)
    return Profile(
        key=key, rows=len(frame), numeric=numeric_profiles, categorical=categorical_profiles
    )


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.zeros_like(counts, dtype=float)


def population_stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two histograms on the same bins: sum of (a - e) * ln(a / e) over the shares."""
    e = np.clip(_shares(np.asarray(expected, dtype=float)), EPSILON, None)
    a = np.clip(_shares(np.asarray(actual, dtype=float)), EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def binned_ks(expected: np.ndarray, actual: np.ndarray) -> float:
    """Largest gap between the two cumulative shares, read at the bins' edges."""
    gaps = np.cumsum(_shares(np.asarray(expected, float))) - np.cumsum(
        _shares(np.asarray(actual, float))
    )
    return float(np.max(np.abs(gaps))) if len(gaps) else 0.0


def js_divergence(expected: np.ndarray, actual: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2, so in [0, 1]) of two count vectors."""
    from scipy.spatial.distance import jensenshannon

    if not np.sum(expected) or not np.sum(actual):
        return 0.0
    return float(jensenshannon(expected, actual, base=2) ** 2)


def linf_distance(expected: np.ndarray, actual: np.ndarray) -> float:
    """Largest difference of the share of any one category."""
    gaps = _shares(np.asarray(expected, float)) - _shares(np.asarray(actual, float))
    return float(np.max(np.abs(gaps))) if len(gaps) else 0.0


def _null_change(nulls: int, rows: int, reference_nulls: int, reference_rows: int) -> float:
    return (nulls / rows if rows else 0.0) - (
        reference_nulls / reference_rows if reference_rows else 0.0
    )


def numeric_drift(profile: NumericProfile, values: pd.Series | np.ndarray) -> dict[str, Any]:
    """PSI, KS and null-rate change of one numeric column against its profile, with p-values.

    PSI's is a chi-square test of the batch's counts per reference decile, KS's the two-sample
    KS distribution, the null change's a binomial test of the null count.
    """
    from ml_assets.lib.monitoring.significance import chi_square_pvalue, ks_pvalue

    numbers = _floats(values)
    present = numbers[~np.isnan(numbers)]
    bins = np.searchsorted(np.asarray(profile.edges), present, side="right")
    counts = np.bincount(bins, minlength=len(profile.counts))
    reference = np.asarray(profile.counts)
    groups = np.asarray(profile.psi_groups)
    expected_deciles = np.bincount(groups, weights=reference)
    actual_deciles = np.bincount(groups, weights=counts, minlength=len(expected_deciles))
    reference_present = int(reference.sum())
    ks = binned_ks(reference, counts)
    nulls = len(numbers) - len(present)
    seen = expected_deciles > 0
    return {
        "kind": "numeric",
        "psi": population_stability_index(expected_deciles, actual_deciles),
        "ks": ks,
        "null_change": _null_change(nulls, len(numbers), profile.nulls, profile.rows),
        "p_values": {
            "psi": chi_square_pvalue(
                actual_deciles[seen], expected_deciles[seen], reference_present, ordered=True
            ),
            "ks": ks_pvalue(ks, len(present), reference_present) if len(present) else 1.0,
            "null_change": _null_pvalue(nulls, len(numbers), profile.nulls, profile.rows),
        },
        "histogram": counts.tolist(),
    }


def _null_pvalue(nulls: int, rows: int, reference_nulls: int, reference_rows: int) -> float:
    from ml_assets.lib.monitoring.significance import share_pvalue

    if not rows or not reference_rows:
        return 1.0
    # A reference without nulls still allows them at the rate one more would show.
    share = max(reference_nulls, 1) / (reference_rows + 1)
    return share_pvalue(nulls, rows, share, reference_rows)


def categorical_drift(profile: CategoricalProfile, values: pd.Series) -> dict[str, Any]:
    """JS divergence, L-infinity, unseen share and null-rate change of one categorical column.

    JS divergence and L-infinity share a chi-square test of the batch's counts of the
    reference's categories; the unseen share is tested against the reference's own rate of
    values seen once (Good-Turing: how often the reference itself met something new).
    """
    from ml_assets.lib.monitoring.significance import chi_square_pvalue, share_pvalue

    current = categorical_profile(values)
    names = sorted(set(profile.counts) | set(current.counts))
    expected = np.array([profile.counts.get(name, 0) for name in names], dtype=float)
    actual = np.array([current.counts.get(name, 0) for name in names], dtype=float)
    present = int(actual.sum())
    unseen = {name: n for name, n in current.counts.items() if name not in profile.counts}
    reference_present = int(expected.sum())
    seen = expected > 0
    shares_p = chi_square_pvalue(actual[seen], expected[seen], reference_present)
    once = sum(1 for count in profile.counts.values() if count == 1)
    new_rate = (once + 1) / (reference_present + 1)
    return {
        "kind": "categorical",
        "js_divergence": js_divergence(expected, actual),
        "linf": linf_distance(expected, actual),
        "unseen_share": sum(unseen.values()) / present if present else 0.0,
        "unseen": sorted(unseen),
        "null_change": _null_change(current.nulls, current.rows, profile.nulls, profile.rows),
        "p_values": {
            "js_divergence": shares_p,
            "linf": shares_p,
            "unseen_share": share_pvalue(
                sum(unseen.values()), present, new_rate, reference_present
            ),
            "null_change": _null_pvalue(current.nulls, current.rows, profile.nulls, profile.rows),
        },
        "counts": current.counts,
    }


def judge(
    statistics: Mapping[str, Any], thresholds: Mapping[str, Threshold], level: float = 1.0
) -> dict[str, Any]:
    """The column's verdict (its worst statistic) and which statistics crossed a threshold.

    A statistic counts only when its p-value is below ``level``: a change a batch of this size
    drawn from the reference would show as often is not a finding, however large.
    """
    p_values = statistics.get("p_values", {})
    levels = {
        name: thresholds[name].level(abs(value)) if p_values.get(name, 0.0) < level else OK
        for name, value in statistics.items()
        if name in thresholds and isinstance(value, float)
    }
    crossed = sorted(name for name, verdict in levels.items() if verdict != OK)
    return {"verdict": worst(levels.values()), "crossed": crossed}


def tests_of(columns: Mapping[str, Mapping[str, Any]], thresholds: Mapping[str, Any]) -> int:
    """How many distinct tests a batch's verdict rests on (a p-value two statistics share, once)."""
    return sum(
        len({p for name, p in statistics.get("p_values", {}).items() if name in thresholds})
        for statistics in columns.values()
    )


def compare(
    profile: Profile,
    frame: pd.DataFrame,
    thresholds: Mapping[str, Threshold],
    false_alarm_rate: float,
) -> dict[str, Any]:
    """Every profiled column of ``frame`` against the reference, with a verdict per column.

    The overall verdict is the worst column's; ``drifted`` lists the columns that err. The
    false-alarm rate is shared out (Bonferroni) over every test of every column.
    """
    from ml_assets.lib.monitoring.significance import alarm_level

    columns: dict[str, dict[str, Any]] = {}
    for name, numeric in profile.numeric.items():
        columns[name] = numeric_drift(numeric, frame[name])
    for name, categorical in profile.categorical.items():
        columns[name] = categorical_drift(categorical, frame[name])
    level = alarm_level(false_alarm_rate, tests_of(columns, thresholds))
    for statistics in columns.values():
        statistics.update(judge(statistics, thresholds, level))
    return {
        "rows": len(frame),
        "reference_rows": profile.rows,
        "alarm_p_value": level,
        "verdict": worst(statistics["verdict"] for statistics in columns.values()),
        "drifted": [name for name, s in columns.items() if s["verdict"] == ERROR],
        "warned": [name for name, s in columns.items() if s["verdict"] == WARN],
        "columns": columns,
    }


def model_scores(outputs: tuple[Any, Any], classes: Any, positive: Any) -> Any:
    """What drift watches of a model's outputs (predictions and probabilities, or None).

    The positive class's probability (binary), the predicted label (multiclass, as text) or
    the predicted number (regression).
    """
    predicted, probabilities = outputs
    if probabilities is None:
        return np.asarray(predicted, dtype=float)
    if len(classes) == 2:
        from ml_assets.lib.model.evaluation import positive_index

        return probabilities[:, positive_index(classes, positive)]
    return pd.Series(classes[probabilities.argmax(axis=1)]).astype(str)


def table_rows(comparison: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per column for a report table: its statistics and verdict."""
    names = ("psi", "ks", "js_divergence", "linf", "unseen_share", "null_change")
    return [
        {"column": column, "importance": statistics.get("importance")}
        | {n: statistics.get(n) for n in names}
        | {"verdict": statistics["verdict"], "unseen": ", ".join(statistics.get("unseen", []))}
        for column, statistics in comparison["columns"].items()
    ]
