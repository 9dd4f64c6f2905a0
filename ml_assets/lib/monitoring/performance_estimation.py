"""The champion's expected metric on a batch before its labels arrive (classification).

Confidence-based performance estimation (CBPE, as NannyML describes it): when the model's
probabilities are calibrated, each row is a positive with its probability, so the expected
confusion matrix, and from it the expected metric, follows from the probabilities alone. The
probabilities are first calibrated on the reference's held-out side and the training side's
out-of-fold probabilities (Platt scaling per class), as a model's raw scores seldom are. The
interval is that of the realised metric if the calibrated probabilities hold: labels drawn from
them, the metric computed on each draw.

For regression nothing is estimated: a predicted number carries no probability of being wrong,
so an estimate needs a second model of the loss (NannyML's DLE) trained on the reference, which
is left for when regression models are monitored this way. No Dagster here.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# The calibration is also fitted on the training side's out-of-fold probabilities (the model's
# pipeline refitted on this many folds of at most CROSS_FIT_ROWS rows): a held-out side of a
# few hundred rows is luckier or unluckier than the batches to come, and Platt scaling fitted on
# it alone carries that luck into every estimate.
CROSS_FIT_FOLDS = 5
CROSS_FIT_ROWS = 20_000
INTERVAL = 0.95
DRAWS = 200  # label draws for the interval
MAX_ROWS = 5_000  # rows an interval is drawn on, at most (its width then scaled)
SEED = 0


@dataclass(frozen=True)
class Calibration:
    """Per class, a logistic map (Platt scaling) of the model's log-odds to the observed rate.

    Two numbers per class: unlike isotonic regression, it does not learn the held-out side's
    noise, which would make the estimates of every later batch as good as that side was.
    """

    classes: list[str]
    maps: list[tuple[float, float] | None]  # (slope, intercept) on the log-odds, None: as is

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, each row summing to one."""
        columns = [
            probabilities[:, i] if mapping is None else _platt(probabilities[:, i], *mapping)
            for i, mapping in enumerate(self.maps)
        ]
        calibrated = np.clip(np.column_stack(columns), 1e-9, None)
        return calibrated / calibrated.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a JSON cache."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Calibration":
        """Read a cached calibration back."""
        maps = [None if m is None else (float(m[0]), float(m[1])) for m in data["maps"]]
        return cls(list(data["classes"]), maps)


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _platt(p: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(slope * _log_odds(p) + intercept)))


def calibrate(
    probabilities: np.ndarray, truth: Sequence[Any], classes: Sequence[Any]
) -> Calibration:
    """Fit the per-class maps on held-out rows (a class absent there is left as is)."""
    from sklearn.linear_model import LogisticRegression

    truth = np.asarray([str(label) for label in truth])
    maps: list[tuple[float, float] | None] = []
    for i, label in enumerate(classes):
        hit = (truth == str(label)).astype(int)
        if 0 < hit.sum() < len(hit):
            fit = LogisticRegression(C=1e6).fit(_log_odds(probabilities[:, i])[:, None], hit)
            maps.append((float(fit.coef_[0, 0]), float(fit.intercept_[0])))
        else:
            maps.append(None)
    return Calibration([str(label) for label in classes], maps)


def out_of_fold_probabilities(
    model: Any, inputs: Any, truth: Sequence[Any]
) -> tuple[np.ndarray, list[Any]] | None:
    """Training rows' probabilities from copies of the model fitted without them, and labels.

    At most ``CROSS_FIT_ROWS`` rows; None when a class is too rare to fold. A little less
    confident than the model fitted on every row, they are how it behaves on rows it never
    saw, as the batches to come are.
    """
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_predict

    truth = np.asarray(truth, dtype=object)
    if len(truth) > CROSS_FIT_ROWS:
        picked = np.sort(np.random.default_rng(SEED).choice(len(truth), CROSS_FIT_ROWS, False))
        inputs, truth = inputs.iloc[picked], truth[picked]
    _, counts = np.unique(truth.astype(str), return_counts=True)
    if len(counts) < 2 or counts.min() < CROSS_FIT_FOLDS:
        return None
    fitted = cross_val_predict(
        clone(model), inputs, truth, cv=CROSS_FIT_FOLDS, method="predict_proba"
    )
    return fitted, list(truth)


def expected_roc_auc(positive: np.ndarray) -> float:
    """ROC AUC of the expected ROC curve when each row is positive with its probability.

    Rows ranked by the score, tied scores as one step: the expected true and false positives
    above each step give the curve, integrated by trapezoids (as NannyML's CBPE does).
    """
    scores, group = np.unique(-positive, return_inverse=True)  # best score first
    true = np.bincount(group, weights=positive, minlength=len(scores))
    false = np.bincount(group, weights=1 - positive, minlength=len(scores))
    if true.sum() <= 0 or false.sum() <= 0:
        return float("nan")
    tpr = np.concatenate([[0.0], np.cumsum(true)]) / true.sum()
    fpr_steps = false / false.sum()
    return float(np.sum(fpr_steps * (tpr[:-1] + tpr[1:]) / 2))


def expected_f1_macro(probabilities: np.ndarray, predicted: np.ndarray) -> float:
    """Macro F1 from the expected confusion matrix (rows' probabilities, the model's labels)."""
    scores = []
    for c in range(probabilities.shape[1]):
        chosen = predicted == c
        tp = probabilities[chosen, c].sum()
        fp = chosen.sum() - tp
        fn = probabilities[~chosen, c].sum()
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 0.0)
    return float(np.mean(scores))


def _drawn_labels(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """DRAWS label vectors (class indices) drawn from each row's probabilities."""
    cumulative = np.cumsum(probabilities, axis=1)
    uniform = rng.random((DRAWS, len(probabilities), 1))
    return (uniform > cumulative[None, :, :-1]).sum(axis=2)


def _realised_roc_auc(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each drawn label vector (1: positive) by the rank-sum formula."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    positives = labels.sum(axis=1)
    negatives = labels.shape[1] - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        return (labels @ ranks - positives * (positives + 1) / 2) / (positives * negatives)


def _realised_f1_macro(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    scores = []
    for c in range(classes):
        chosen = predicted == c
        actual = labels == c
        tp = actual[:, chosen].sum(axis=1)
        fp, fn = chosen.sum() - tp, actual.sum(axis=1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            scores.append(np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0))
    return np.mean(scores, axis=0)


def estimate(
    raw: np.ndarray,
    calibration: Calibration,
    metric: str,
    positive: int | None = None,
) -> dict[str, float]:
    """The expected ``metric`` (roc_auc or f1_macro) of a batch, with its interval.

    ``raw`` are the model's probabilities (columns in ``calibration.classes`` order); the model's
    labels are their argmax, as the model predicts; ``positive`` is the positive class's column
    for roc_auc.
    """
    calibrated = calibration.apply(raw)
    predicted = raw.argmax(axis=1)
    if metric == "roc_auc":
        value = expected_roc_auc(calibrated[:, positive])
    elif metric == "f1_macro":
        value = expected_f1_macro(calibrated, predicted)
    else:
        raise ValueError(f"no confidence-based estimate of {metric!r} (roc_auc, f1_macro)")
    rng = np.random.default_rng(SEED)
    rows = len(raw)
    picked = rng.choice(rows, MAX_ROWS, replace=False) if rows > MAX_ROWS else np.arange(rows)
    labels = _drawn_labels(calibrated[picked], rng)
    if metric == "roc_auc":
        realised = _realised_roc_auc((labels == positive).astype(float), raw[picked, positive])
    else:
        realised = _realised_f1_macro(labels, predicted[picked], raw.shape[1])
    realised = realised[np.isfinite(realised)]
    if not len(realised):
        return {"estimate": value, "low": float("nan"), "high": float("nan")}
    half = (1 - INTERVAL) / 2
    low, high = np.quantile(realised, [half, 1 - half])
    shrink = np.sqrt(len(picked) / rows)  # an interval drawn on a sample, scaled to the batch
    return {
        "estimate": value,
        "low": float(value - (value - low) * shrink),
        "high": float(value + (high - value) * shrink),
    }
