"""Prediction ranges by split conformal prediction: an interval per number, a set of classes.

A model is fitted on the training side less a seeded calibration part; the calibration rows'
scores (absolute residual; one minus the true class's probability) give one quantile, and every
later prediction's range follows from it, covering the truth at ``coverage`` on average over
rows like these (Angelopoulos & Bates, "A Gentle Introduction to Conformal Prediction", §1-2).
The served model is the same settings fitted on every row, so the ranges cost no accuracy; its
errors are no larger than the calibrated model's, so its coverage is approximate and measured
on the held-out side by the evaluation.
A set holds every class whose probability clears the quantile (MAPIE's "lac" score), and may be
empty: forcing the top class in would hold the truth on every row a very accurate model gets
right, whatever the target (0.988 at a 0.9 target on a 98.8%-accurate model, measured). An
empty set says no class is credible at this coverage; the evaluation reports how often.
A few lines on NumPy rather than MAPIE, which is not in the lock: split conformal is a quantile.
"""

from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.core.values import plain

# The fitted Pipeline carries its calibration as this attribute, so the model file, its
# fingerprint, batch scoring and the service all hold the same ranges without another artifact.
ATTRIBUTE = "conformal_"
CALIBRATION_SHARE = 0.2
# Live coverage is "below target beyond noise" when an exact one-sided binomial test puts the
# chance of so few covered rows, were the ranges holding their target, under this level.
SHORTFALL_ALPHA = 0.01


def calibrate(
    truth: Any,
    predicted: Any,
    probabilities: np.ndarray | None,
    classes: Any,
    coverage: float,
) -> dict[str, Any]:
    """The calibration of a model from its outputs on calibration rows it was not fitted on.

    ``quantile`` is the ``k``-th smallest of the ``n`` scores, ``k = ceil((n + 1) * coverage)``,
    so a new row is covered with chance ``k / (n + 1)``: at least ``coverage``, by under
    ``1 / (n + 1)`` more. (``np.quantile(scores, k / n, method="higher")``, the usual recipe,
    takes the next score up: 0.929 instead of 0.911 on 55 rows.) A calibration part too small
    for ``k`` is refused, naming the fix.
    """
    scores = _scores(truth, predicted, probabilities, classes)
    rows = len(scores)
    k = int(np.ceil((rows + 1) * coverage))
    if k > rows:
        needed = int(np.ceil(coverage / (1 - coverage)))
        raise ValueError(
            f"{rows} calibration rows cannot give ranges at coverage {coverage}: at least "
            f"{needed} are needed ({CALIBRATION_SHARE:.0%} of the training rows); land more "
            "data or lower training.coverage"
        )
    return {
        "kind": "interval" if probabilities is None else "set",
        "coverage": float(coverage),
        "quantile": float(np.sort(scores)[k - 1]),
        "rows": rows,
    }


def _scores(truth: Any, predicted: Any, probabilities: np.ndarray | None, classes: Any) -> Any:
    if probabilities is None:
        return np.abs(np.asarray(truth, dtype=float) - np.asarray(predicted, dtype=float))
    column = {label: index for index, label in enumerate(np.asarray(classes).tolist())}
    true_columns = [column[label] for label in np.asarray(truth).tolist()]
    return 1 - probabilities[np.arange(len(true_columns)), true_columns]


def calibration_of(model: Any) -> dict[str, Any] | None:
    """A model's calibration, or None for a model fitted without ranges."""
    return getattr(model, ATTRIBUTE, None)


def intervals(predicted: Any, calibration: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper ends of each number's interval."""
    values = np.asarray(predicted, dtype=float)
    return values - calibration["quantile"], values + calibration["quantile"]


def set_members(probabilities: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
    """A boolean row per prediction: which classes its set holds (none when no class clears it)."""
    return probabilities >= 1 - calibration["quantile"]


def prediction_sets(probabilities: np.ndarray, classes: Any, calibration: dict[str, Any]) -> list:
    """Each prediction's set of plausible classes, in the model's class order."""
    labels = [plain(label) for label in classes]
    return [
        [label for label, member in zip(labels, row, strict=True) if member]
        for row in set_members(probabilities, calibration)
    ]


def range_coverage(
    truth: Any,
    predicted: Any,
    probabilities: np.ndarray | None,
    classes: Any,
    calibration: dict[str, Any],
) -> dict[str, Any]:
    """How often the ranges held the truth on labelled rows, and how wide they were."""
    facts: dict[str, Any] = {"coverage_target": calibration["coverage"], "rows": len(truth)}
    if probabilities is None:
        lower, upper = intervals(predicted, calibration)
        values = np.asarray(truth, dtype=float)
        facts["covered"] = int(((values >= lower) & (values <= upper)).sum())
        facts["mean_width"] = float(np.mean(upper - lower)) if len(values) else None
    else:
        members = set_members(probabilities, calibration)
        columns = pd.Index(np.asarray(classes)).get_indexer(np.asarray(truth))
        rows = np.flatnonzero(columns >= 0)  # a label the model never learned is not covered
        facts["covered"] = int(members[rows, columns[rows]].sum())
        sizes = members.sum(axis=1)
        facts["mean_set_size"] = float(sizes.mean()) if len(members) else None
        facts["empty_sets"] = int((sizes == 0).sum())
    facts["coverage"] = facts["covered"] / len(truth) if len(truth) else None
    return facts


def coverage_shortfall(facts: dict[str, Any], alpha: float = SHORTFALL_ALPHA) -> dict[str, Any]:
    """``facts`` with the one-sided binomial p-value of its coverage and whether it falls short.

    A few uncovered rows in a small batch are noise: the verdict needs the p-value under
    ``alpha``, so it says "below" only when the shortfall is unlikely by chance.
    """
    from scipy.stats import binomtest

    if not facts["rows"]:
        return {**facts, "p_value": None, "below_target": False}
    test = binomtest(facts["covered"], facts["rows"], facts["coverage_target"], alternative="less")
    return {**facts, "p_value": float(test.pvalue), "below_target": bool(test.pvalue < alpha)}
