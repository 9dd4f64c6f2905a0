"""Drift of a batch against a reference (a model's training set), column by column.

Numeric columns: the population stability index (PSI, on the reference's deciles) and the
Kolmogorov-Smirnov statistic (binned at the reference's percentiles, so the reference is binned
once and a batch costs one ``searchsorted`` per column). Categorical columns: the Jensen-Shannon
divergence (``scipy.spatial.distance.jensenshannon``, base 2) and the L-infinity distance of the
category shares, as TFX's comparators do, and the share of categories the reference never saw.
Every column: the change in null rate. The model's scores are profiled like any numeric column.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

PROFILE_VERSION = "2"  # bump when binning changes: cached profiles are rebuilt
FINE_BINS = 100  # percentiles: the binned KS is within one reference percentile of the exact one
PSI_BINS = 10  # deciles: PSI's usual bins, few enough that sampling noise stays below 0.01
EPSILON = 1e-4  # stands in for an empty bin's share so PSI stays finite
PREDICTION = "_prediction"
OK, WARN, ERROR = "ok", "warn", "error"
SEVERITY_ORDER = {OK: 0, WARN: 1, ERROR: 2}


@dataclass(frozen=True)
class Threshold:
    """The values of one statistic from which a column warns and errs."""

    warn: float
    error: float

    def __post_init__(self) -> None:
        """Refuse an error threshold below the warning one."""
        if not 0 <= self.warn <= self.error:
            raise ValueError(f"need 0 <= warn <= error, got warn={self.warn} error={self.error}")

    def judge(self, value: float) -> str:
        """ok, warn or error for one value of the statistic."""
        return ERROR if value >= self.error else WARN if value >= self.warn else OK


DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "psi": Threshold(0.1, 0.25),
    "ks": Threshold(0.1, 0.2),
    "js_divergence": Threshold(0.05, 0.1),
    "linf": Threshold(0.1, 0.2),
    "unseen_share": Threshold(0.01, 0.05),
    "null_change": Threshold(0.05, 0.1),
}


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
    """Percentile edges of the non-null values, their counts and their deciles."""
    numbers = _floats(values)
    present = numbers[~np.isnan(numbers)]
    if len(present) == 0:
        return NumericProfile([], [0], [0], len(numbers), len(numbers))
    ordered = np.sort(present)  # one sort serves the quantiles and the counts
    quantiles = np.quantile(ordered, np.linspace(0, 1, FINE_BINS + 1)[1:-1])
    edges = np.unique(quantiles)
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
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str], key: str
) -> Profile:
    """Bin the reference's columns once."""
    return Profile(
        key=key,
        rows=len(frame),
        numeric={name: numeric_profile(frame[name]) for name in numeric},
        categorical={name: categorical_profile(frame[name]) for name in categorical},
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
    """PSI, KS, null-rate change and the means of one numeric column against its profile."""
    numbers = _floats(values)
    present = numbers[~np.isnan(numbers)]
    bins = np.searchsorted(np.asarray(profile.edges), present, side="right")
    counts = np.bincount(bins, minlength=len(profile.counts))
    reference = np.asarray(profile.counts)
    groups = np.asarray(profile.psi_groups)
    return {
        "kind": "numeric",
        "psi": population_stability_index(
            np.bincount(groups, weights=reference), np.bincount(groups, weights=counts)
        ),
        "ks": binned_ks(reference, counts),
        "null_change": _null_change(
            len(numbers) - len(present), len(numbers), profile.nulls, profile.rows
        ),
        "histogram": counts.tolist(),
    }


def categorical_drift(profile: CategoricalProfile, values: pd.Series) -> dict[str, Any]:
    """JS divergence, L-infinity, unseen share and null-rate change of one categorical column."""
    current = categorical_profile(values)
    names = sorted(set(profile.counts) | set(current.counts))
    expected = np.array([profile.counts.get(name, 0) for name in names], dtype=float)
    actual = np.array([current.counts.get(name, 0) for name in names], dtype=float)
    present = int(actual.sum())
    unseen = {name: n for name, n in current.counts.items() if name not in profile.counts}
    return {
        "kind": "categorical",
        "js_divergence": js_divergence(expected, actual),
        "linf": linf_distance(expected, actual),
        "unseen_share": sum(unseen.values()) / present if present else 0.0,
        "unseen": sorted(unseen),
        "null_change": _null_change(current.nulls, current.rows, profile.nulls, profile.rows),
        "counts": current.counts,
    }


def judge(statistics: Mapping[str, Any], thresholds: Mapping[str, Threshold]) -> dict[str, Any]:
    """The column's verdict (its worst statistic) and which statistics crossed a threshold."""
    levels = {
        name: thresholds[name].judge(abs(value))
        for name, value in statistics.items()
        if name in thresholds and isinstance(value, float)
    }
    crossed = sorted(name for name, level in levels.items() if level != OK)
    return {"verdict": worst(levels.values()), "crossed": crossed}


def compare(
    profile: Profile,
    frame: pd.DataFrame,
    thresholds: Mapping[str, Threshold] = DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    """Every profiled column of ``frame`` against the reference, with a verdict per column.

    The overall verdict is the worst column's; ``drifted`` lists the columns that err.
    """
    columns: dict[str, dict[str, Any]] = {}
    for name, numeric in profile.numeric.items():
        columns[name] = numeric_drift(numeric, frame[name])
    for name, categorical in profile.categorical.items():
        columns[name] = categorical_drift(categorical, frame[name])
    for statistics in columns.values():
        statistics.update(judge(statistics, thresholds))
    return {
        "rows": len(frame),
        "reference_rows": profile.rows,
        "verdict": worst(statistics["verdict"] for statistics in columns.values()),
        "drifted": [name for name, s in columns.items() if s["verdict"] == ERROR],
        "warned": [name for name, s in columns.items() if s["verdict"] == WARN],
        "columns": columns,
    }


def model_scores(model: Any, inputs: pd.DataFrame, positive: Any, classification: bool) -> Any:
    """What drift watches of a model's output.

    The positive class's probability (binary), the predicted label (multiclass, as text) or
    the predicted number (regression).
    """
    if not classification:
        return np.asarray(model.predict(inputs), dtype=float)
    probabilities = model.predict_proba(inputs)
    classes = model.classes_
    if len(classes) == 2:
        from ml_assets.lib.evaluation import positive_index

        return probabilities[:, positive_index(classes, positive)]
    return pd.Series(classes[probabilities.argmax(axis=1)]).astype(str)


def table_rows(comparison: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per column for a report table: its statistics and verdict."""
    names = ("psi", "ks", "js_divergence", "linf", "unseen_share", "null_change")
    return [
        {"column": column, **{n: statistics.get(n) for n in names}}
        | {"verdict": statistics["verdict"], "unseen": ", ".join(statistics.get("unseen", []))}
        for column, statistics in comparison["columns"].items()
    ]


def worst(verdicts: Iterable[str]) -> str:
    """The most severe of some verdicts."""
    return max(verdicts, key=SEVERITY_ORDER.__getitem__, default=OK)
