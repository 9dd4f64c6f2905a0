"""Held-out evaluation: metrics, baselines trained on the same split, a verdict, fairness slices."""

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from ml_assets.lib.contract.dataset import SPLIT, DatasetSpec
from ml_assets.lib.contract.inference import minority_label
from ml_assets.lib.core.values import plain
from ml_assets.lib.data.batch_records import CHUNK_ROWS, BatchTable, now_iso
from ml_assets.lib.data.features import TEST, TRAIN
from ml_assets.lib.model.bootstrap import (
    f1_macro_scorer,
    r2_scorer,
    resample_counts,
    roc_auc_scorer,
)
from ml_assets.lib.model.conformal import calibration_of, range_coverage
from ml_assets.lib.model.modeling import (
    ENSEMBLE_STEPS,
    build_pipeline,
    build_preprocessor,
    model_inputs,
)
from ml_assets.lib.project.project_config import ChecksSection

Report = dict[str, Any]
IMPORTANCE_ROWS = 500  # held-out rows permutation importance shuffles, at most
PRIMARY_METRIC = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "r2"}
LOWER_IS_BETTER = {"log_loss", "rmse", "mae"}
SLICE_METRICS = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "multiclass": ("accuracy", "f1_macro", "f1_weighted"),
    "regression": ("rmse", "mae", "r2"),
}
MIN_SLICE_ROWS = ChecksSection().min_slice_rows  # the checks section's default
BOOTSTRAP_ROUNDS = 500
BOOTSTRAP_MAX_ROWS = 20_000
BOOTSTRAP_SCORERS = {
    "binary": roc_auc_scorer,
    "multiclass": f1_macro_scorer,
    "regression": r2_scorer,
}
CONFIDENCE = 0.95
PRF = ("precision", "recall", "f1")
# Rows the baselines are fitted on, at most: beyond this a trivial or linear model's held-out
# score moves less than the bootstrap's noise, and fitting on every row cost 1.4 s per 1e6.
BASELINE_MAX_ROWS = 100_000


def importance_positions(rows: int, seed: int) -> np.ndarray:
    """Which of ``rows`` held-out rows permutation importance shuffles (seeded), in order.

    At most ``IMPORTANCE_ROWS``: every shuffle costs a prediction, and 500 rows rank the inputs
    as well as all of them for a picture.
    """
    if rows <= IMPORTANCE_ROWS:
        return np.arange(rows)
    return np.random.default_rng(seed).choice(rows, IMPORTANCE_ROWS, replace=False)


def positive_index(classes: np.ndarray, positive: Any) -> int:
    """Column of the positive label in ``predict_proba``; the larger label when none is set."""
    if positive is None:
        return len(classes) - 1
    matches = [index for index, label in enumerate(classes) if str(label) == str(positive)]
    if not matches:
        raise ValueError(f"positive label {positive!r} is not one of the classes {list(classes)}")
    return matches[0]


def label_codes(classes: np.ndarray, y_true: Any, predicted: Any) -> tuple[pd.Series, np.ndarray]:
    """Labels as their positions in ``classes`` (labels the model never saw after them).

    scikit-learn's metrics sort and compare the labels on every call: on 200,000 text labels
    one call of ``classification_metrics`` took 0.89 s, and 0.13 s on the same labels coded.
    """
    labels, known = np.asarray(y_true), pd.Index(classes)
    index = known.append(pd.Index(pd.unique(labels)).difference(known, sort=False))
    truth = pd.Series(index.get_indexer(labels), index=getattr(y_true, "index", None))
    return truth, index.get_indexer(np.asarray(predicted))


def classification_metrics(
    y_true: pd.Series,
    predicted: np.ndarray,
    probabilities: np.ndarray,
    classes: np.ndarray,
    positive: Any = None,
) -> dict[str, float]:
    """Accuracy, precision, recall, F1, ROC AUC, log loss; macro and weighted past two classes."""
    index = positive_index(classes, positive) if len(classes) == 2 else None
    y_true, predicted = label_codes(classes, y_true, predicted)
    codes = np.arange(len(classes))
    if index is not None:
        precision, recall, f1, _ = metrics.precision_recall_fscore_support(
            y_true, predicted, pos_label=index, average="binary", zero_division=0
        )
        scores = {"precision": precision, "recall": recall, "f1": f1}
        if y_true.nunique() > 1:
            scores["roc_auc"] = metrics.roc_auc_score(y_true == index, probabilities[:, index])
    else:
        scores = {}
        for average in ("macro", "weighted"):
            found = metrics.precision_recall_fscore_support(
                y_true, predicted, average=average, zero_division=0
            )
            scores |= {f"{name}_{average}": v for name, v in zip(PRF, found[:3], strict=True)}
        if set(codes) <= set(y_true.unique()):
            scores["roc_auc_ovr"] = metrics.roc_auc_score(
                y_true, probabilities, multi_class="ovr", labels=codes
            )
    scores["accuracy"] = metrics.accuracy_score(y_true, predicted)
    scores["log_loss"] = metrics.log_loss(y_true, probabilities, labels=codes)
    return {name: float(value) for name, value in scores.items()}


def regression_metrics(y_true: pd.Series, predicted: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² (R² only where there are at least two rows)."""
    scores = {
        "rmse": float(np.sqrt(metrics.mean_squared_error(y_true, predicted))),
        "mae": float(metrics.mean_absolute_error(y_true, predicted)),
    }
    if len(y_true) > 1:
        scores["r2"] = float(metrics.r2_score(y_true, predicted))
    return scores


Outputs = tuple[np.ndarray, np.ndarray | None]  # predicted labels or numbers, probabilities


def predict(model: Pipeline, inputs: pd.DataFrame, spec: DatasetSpec) -> Outputs:
    """A fitted Pipeline's outputs on ``inputs``, computed once and reused by every metric.

    For classifiers the labels are ``decide``'s, so one pass through the Pipeline serves labels
    and probabilities.
    """
    if not spec.is_classification:
        return model.predict(inputs), None
    probabilities = model.predict_proba(inputs)
    return decide(model, probabilities), probabilities


def decide(model: Any, probabilities: np.ndarray) -> np.ndarray:
    """Labels from class probabilities: a binary model's tuned cut-off, else the most probable.

    The one rule for the evaluation, the gate, batch scoring and the online service alike; a
    probability at the cut-off decides positive, as scikit-learn's threshold classifiers do.
    """
    from ml_assets.lib.model.modeling import decision_of

    classes = np.asarray(model.classes_)
    decision = decision_of(model)
    if decision is None or len(classes) != 2:
        return classes[probabilities.argmax(axis=1)]
    index = positive_index(classes, decision["positive_label"])
    chosen = np.where(probabilities[:, index] >= decision["threshold"], index, 1 - index)
    return classes[chosen]


def score_outputs(
    truth: pd.Series, outputs: Outputs, classes: np.ndarray | None, spec: DatasetSpec, positive: Any
) -> dict[str, float]:
    """The task's metrics of outputs against ``truth``."""
    predicted, probabilities = outputs
    if not spec.is_classification:
        return regression_metrics(truth, predicted)
    return classification_metrics(truth, predicted, probabilities, classes, positive)


def score_model(
    model: Pipeline,
    rows: pd.DataFrame,
    spec: DatasetSpec,
    positive: Any = None,
    outputs: Outputs | None = None,
) -> dict[str, float]:
    """The task's metrics of a fitted Pipeline on ``rows`` (``positive`` overrides the spec's).

    ``outputs`` are the model's outputs on ``rows`` when already computed.
    """
    outputs = outputs or predict(model, model_inputs(rows, spec), spec)
    positive = spec.positive_label if positive is None else positive
    return score_outputs(
        rows[spec.target], outputs, getattr(model, "classes_", None), spec, positive
    )


def per_class_metrics(
    y_true: pd.Series, predicted: np.ndarray, classes: np.ndarray
) -> dict[str, Any]:
    """Precision, recall, F1 and support (a row count) of every class, keyed by its label."""
    codes, guessed = label_codes(classes, y_true, predicted)
    table = metrics.classification_report(
        codes, guessed, labels=np.arange(len(classes)), output_dict=True, zero_division=0
    )
    return {
        str(label): {**table[str(code)], "support": int(table[str(code)]["support"])}
        for code, label in enumerate(classes)
    }


def fit_baselines(train: pd.DataFrame, spec: DatasetSpec, seed: int) -> dict[str, Pipeline]:
    """Trivial and plain linear baselines, fitted on ``train`` (the ``baseline_rows``)."""
    if spec.is_classification:
        trivial, trivial_name = DummyClassifier(strategy="most_frequent"), "majority_class"
        linear, linear_name = build_pipeline(spec, "linear", seed=seed), "logistic_regression"
    else:
        trivial, trivial_name = DummyRegressor(strategy="mean"), "mean_predictor"
        linear = Pipeline(
            [("preprocessor", build_preprocessor(spec)), ("estimator", LinearRegression())]
        )
        linear_name = "linear_regression"
    baselines = {
        trivial_name: Pipeline(
            [("preprocessor", build_preprocessor(spec)), ("estimator", trivial)]
        ),
        linear_name: linear,
    }
    inputs, target = model_inputs(train, spec), train[spec.target]
    return {name: model.fit(inputs, target) for name, model in baselines.items()}


def baseline_rows(train: pd.DataFrame, spec: DatasetSpec, seed: int) -> pd.DataFrame:
    """All train rows, or a seeded sample of ``BASELINE_MAX_ROWS`` (per class, for classifiers).

    Each class keeps its share and at least one row, so a baseline knows every class the
    candidate knows and their outputs line up column for column.
    """
    if len(train) <= BASELINE_MAX_ROWS:
        return train
    if not spec.is_classification:
        return train.sample(n=BASELINE_MAX_ROWS, random_state=seed)
    share = BASELINE_MAX_ROWS / len(train)
    return pd.concat(
        rows.sample(n=max(1, round(len(rows) * share)), random_state=seed)
        for _, rows in train.groupby(spec.target, sort=True)
    )


def fairness_slices(
    model: Pipeline,
    test: pd.DataFrame,
    spec: DatasetSpec,
    column: str,
    min_rows: int = MIN_SLICE_ROWS,
    positive: Any = None,
    outputs: Outputs | None = None,
) -> dict[str, Any]:
    """The task's metrics per group of a sensitive column, and the largest gap per metric.

    ``outputs`` are the model's outputs on ``test`` when already computed (sliced per group).

    Gaps compare only groups of at least ``min_rows`` rows: a handful of rows decides nothing,
    so smaller groups are listed under ``too_small`` (group: rows) and left out of the gaps.
    """
    groups: dict[str, dict[str, Any]] = {}
    predicted, probabilities = outputs or predict(model, model_inputs(test, spec), spec)
    positive = spec.positive_label if positive is None else positive
    classes = getattr(model, "classes_", None)
    for value, rows in test.groupby(column, dropna=False, sort=True):
        at = test.index.get_indexer(rows.index)
        part = (predicted[at], None if probabilities is None else probabilities[at])
        group_scores: dict[str, Any] = score_outputs(
            rows[spec.target], part, classes, spec, positive
        )
        group_scores["rows"] = len(rows)
        groups["(missing)" if pd.isna(value) else str(value)] = group_scores
    judged = {group: scores for group, scores in groups.items() if scores["rows"] >= min_rows}
    gaps = {}
    for metric in SLICE_METRICS[spec.task]:
        values = {group: scores[metric] for group, scores in judged.items() if metric in scores}
        if len(values) >= 2:
            ordered = sorted(values, key=values.get)
            worst, best = (
                (ordered[-1], ordered[0])
                if metric in LOWER_IS_BETTER
                else (ordered[0], ordered[-1])
            )
            gaps[metric] = {"gap": abs(values[best] - values[worst]), "worst": worst, "best": best}
    largest = max(gaps.items(), key=lambda item: item[1]["gap"], default=(None, {}))
    return {
        "groups": groups,
        "min_rows": min_rows,
        "too_small": {group: s["rows"] for group, s in groups.items() if group not in judged},
        "gaps": gaps,
        "largest_gap": {"metric": largest[0], **largest[1]},
    }


def lift(candidate: Mapping[str, float], baseline: Mapping[str, float], metric: str) -> float:
    """How much better the candidate is on ``metric`` (positive means better)."""
    difference = candidate.get(metric, np.nan) - baseline.get(metric, np.nan)
    return float(-difference if metric in LOWER_IS_BETTER else difference)


def _primary(outputs: Outputs, spec: DatasetSpec, index: int) -> np.ndarray:
    """What the primary metric reads: P(positive), predicted labels, or predicted numbers."""
    predicted, probabilities = outputs
    return probabilities[:, index] if spec.task == "binary" else predicted


def _primary_scores(
    candidate: Mapping[str, float], baselines: Mapping[str, Mapping[str, float]], primary: str
) -> dict[str, float]:
    """Each model's primary metric, NaN where it is undefined (held-out rows of one class)."""
    found = {"candidate": candidate, **baselines}
    return {name: scores.get(primary, float("nan")) for name, scores in found.items()}


def _bootstrap_rows(rng: np.random.Generator, rows: int) -> np.ndarray:
    """The held-out rows the interval is resampled from: all, or a seeded subsample of them.

    Beyond ``BOOTSTRAP_MAX_ROWS`` rows the interval is already narrow, and resampling every row
    500 times would cost seconds per million rows; a subsample only widens the interval, so the
    verdict errs toward "within noise", never toward "better" or "worse".
    """
    if rows <= BOOTSTRAP_MAX_ROWS:
        return np.arange(rows)
    return np.sort(rng.choice(rows, BOOTSTRAP_MAX_ROWS, replace=False))


def baseline_verdict(
    model: Pipeline,
    truth: pd.Series,
    outputs: Mapping[str, Outputs],
    scores: Mapping[str, float],
    spec: DatasetSpec,
    positive: Any,
    seed: int = 42,
    rounds: int = BOOTSTRAP_ROUNDS,
) -> dict[str, Any]:
    """The candidate against the strongest baseline on the primary metric, with a paired bootstrap.

    ``outputs`` are each model's outputs on the held-out rows and ``scores`` its primary metric on
    all of them (as ``score_outputs`` gave it), the candidate's under ``candidate``. Test rows
    are resampled with replacement ``rounds`` times and both models scored on each resample; the
    verdict is "better" or "worse" when the 95% interval of the difference excludes zero, else
    "within noise".
    """
    index = positive_index(model.classes_, positive) if spec.task == "binary" else 0
    truth = truth.to_numpy()
    if spec.task == "binary":
        truth = np.array([str(label) for label in truth]) == str(model.classes_[index])
    ours = _primary(outputs["candidate"], spec, index)
    theirs = {
        name: _primary(found, spec, index) for name, found in outputs.items() if name != "candidate"
    }
    against = max(theirs, key=lambda name: scores[name])
    difference = scores["candidate"] - scores[against]
    rng = np.random.default_rng(seed)
    rows = _bootstrap_rows(rng, len(truth))
    truth, ours, best = truth[rows], ours[rows], theirs[against][rows]
    ours_on, theirs_on = (BOOTSTRAP_SCORERS[spec.task](truth, o) for o in (ours, best))
    samples = np.concatenate(
        [ours_on(counts) - theirs_on(counts) for counts in resample_counts(rng, len(truth), rounds)]
    )
    samples = samples[~np.isnan(samples)]  # resamples of one class only: ROC AUC is undefined
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = (
        (float(np.percentile(samples, tail)), float(np.percentile(samples, 100 - tail)))
        if len(samples)
        else (float("nan"), float("nan"))
    )
    verdict = "better" if low > 0 else "worse" if high < 0 else "within noise"
    return {
        "against": against,
        "metric": PRIMARY_METRIC[spec.task],
        "difference": float(difference),
        "interval": [low, high],
        "confidence": CONFIDENCE,
        "verdict": verdict,
    }


RowReader = Callable[[list[str]], Iterable[pd.DataFrame]]
"""A table's rows in order, a chunk at a time, only the named columns (``BatchTable.chunks``)."""


def frame_reader(frame: pd.DataFrame, chunk_rows: int = CHUNK_ROWS) -> RowReader:
    """Rows already in memory, read as a table is: in chunks of at most ``chunk_rows``."""

    def read(columns: list[str]) -> Iterator[pd.DataFrame]:
        for start in range(0, len(frame), chunk_rows):
            yield frame[columns].iloc[start : start + chunk_rows]

    return read


@dataclass(frozen=True)
class HeldOut:
    """What the report needs of every held-out row, without its features.

    ``rows``: the target and sensitive columns of each held-out row (in table order, numbered
    from 0); ``outputs``: each model's outputs on them, the candidate's under ``candidate``;
    ``sample``: the few whole rows permutation importance shuffles (``importance_positions``).
    """

    rows: pd.DataFrame
    outputs: dict[str, Outputs]
    sample: pd.DataFrame

    @property
    def truth(self) -> pd.Series:
        """The target of every held-out row."""
        return self.rows.iloc[:, 0]


def evaluate(
    model: Pipeline,
    features: pd.DataFrame,
    spec: DatasetSpec,
    seed: int = 42,
    training: Mapping[str, Any] | None = None,
    min_slice_rows: int = MIN_SLICE_ROWS,
) -> Report:
    """``evaluate_table``'s report for rows already in memory."""
    return evaluate_table(model, frame_reader(features), spec, seed, training, min_slice_rows)[0]


def evaluate_table(
    model: Pipeline,
    read: RowReader,
    spec: DatasetSpec,
    seed: int = 42,
    training: Mapping[str, Any] | None = None,
    min_slice_rows: int = MIN_SLICE_ROWS,
) -> tuple[Report, HeldOut]:
    """Score the model on the held-out side against baselines and across fairness slices.

    The rows are read chunk by chunk, three times (the train side's target; the rows the
    baselines fit on; the held-out rows, scored by every model), so memory holds one chunk and a
    compact record of each held-out row (``HeldOut``), never the whole table: every held-out row
    is still scored, and the report is the same whatever the chunk size.

    ``training`` (copied into ``report["training"]``) is what training found, as
    ``TrainingResult.summary()`` gives it: ``estimator`` (the family kept), ``best_params``,
    ``cv_metric``, ``cv_mean``, ``cv_std``, ``candidates`` (one dict per family searched:
    ``estimator``, ``search``, ``best_params``, ``cv_mean``, ``cv_std``, ``settings_tried``,
    ``seconds``), ``features_kept`` and ``features_dropped`` (``{"feature", "score"}`` each), and
    optionally ``feature_selection``, ``train_rows`` and ``fit_seconds``. The caller may add
    ``report["provenance"]`` (``model_version``, ``data_version``, ``batches``, ``config_hash``,
    ``created_at``); ``report_markdown`` shows both at the top.

    For binary tasks without a configured positive label, the positive label is the minority
    class of the training rows.
    """
    train_truth, test_rows = _side_targets(read, spec)
    if not test_rows or train_truth.empty:
        raise ValueError(
            f"cannot evaluate: {len(train_truth)} train rows and {test_rows} test rows"
        )
    primary = PRIMARY_METRIC[spec.task]
    positive = spec.positive_label
    if spec.task == "binary" and positive is None:
        positive = minority_label(train_truth)
    chosen = baseline_rows(train_truth.to_frame(), spec, seed).index.to_numpy()
    fitted_baselines = fit_baselines(_rows_at(read, spec, TRAIN, chosen), spec, seed)
    held = _held_out(read, spec, {"candidate": model, **fitted_baselines}, test_rows, seed)
    outputs, truth = held.outputs, held.truth
    classes = getattr(model, "classes_", None)
    candidate = score_outputs(truth, outputs["candidate"], classes, spec, positive)
    baselines = {
        name: score_outputs(
            truth, outputs[name], base.classes_ if classes is not None else None, spec, positive
        )
        for name, base in fitted_baselines.items()
    }
    primaries = _primary_scores(candidate, baselines, primary)
    report: Report = {
        "task": spec.task,
        "target": spec.target,
        "primary_metric": primary,
        "rows": {"train": len(train_truth), "test": test_rows},
        "metrics": candidate,
        "baselines": baselines,
        "lift_over_baselines": {
            name: lift(candidate, scores, primary) for name, scores in baselines.items()
        },
        "verdict": baseline_verdict(model, truth, outputs, primaries, spec, positive, seed),
        "fairness": {
            column: fairness_slices(
                model, held.rows, spec, column, min_slice_rows, positive, outputs["candidate"]
            )
            for column in spec.sensitive_columns
        },
    }
    if training is not None:
        report["training"] = dict(training)
    conformal = calibration_of(model)  # the ranges' calibration, not the probabilities'
    if conformal is not None:
        report["ranges"] = range_coverage(truth, *outputs["candidate"], classes, conformal)
    if spec.is_classification:
        predicted = outputs["candidate"][0]
        report["classes"] = [plain(label) for label in classes]
        report["positive_label"] = (
            plain(classes[positive_index(classes, positive)]) if spec.task == "binary" else None
        )
        codes, guessed = label_codes(classes, truth, predicted)
        report["confusion_matrix"] = metrics.confusion_matrix(
            codes, guessed, labels=np.arange(len(classes))
        ).tolist()
        report["per_class"] = per_class_metrics(truth, predicted, classes)
    if spec.task == "binary":
        probabilities = outputs["candidate"][1]
        index = positive_index(classes, report["positive_label"])
        is_positive = codes.to_numpy() == index  # the confusion matrix's codes, above
        report["calibration"] = calibration(is_positive, probabilities[:, index])
        report["decision"] = decision_report(model, truth, predicted)
    return report, held


def _side_targets(read: RowReader, spec: DatasetSpec) -> tuple[pd.Series, int]:
    """The target of every train row (numbered from 0), and how many rows are held out."""
    train, test_rows = [], 0
    for chunk in read([SPLIT, spec.target]):
        train.append(chunk.loc[chunk[SPLIT] == TRAIN, spec.target])
        test_rows += int((chunk[SPLIT] == TEST).sum())
    found = pd.concat(train, ignore_index=True) if train else pd.Series(dtype=object)
    return found, test_rows


def _side_chunks(
    read: RowReader, spec: DatasetSpec, side: str
) -> Iterator[tuple[int, pd.DataFrame]]:
    """Each chunk's rows of one side, with the position of its first among that side's rows."""
    seen = 0
    for chunk in read(spec.scored_columns):
        rows = chunk[chunk[SPLIT] == side]
        if len(rows):
            yield seen, rows
        seen += len(rows)


def _pick(rows: pd.DataFrame, first: int, positions: np.ndarray) -> pd.DataFrame:
    """The rows of a chunk whose side positions (``first`` onward) are in sorted ``positions``."""
    inside = positions[(positions >= first) & (positions < first + len(rows))]
    return rows.iloc[inside - first]


def _in_order(pieces: list[pd.DataFrame], positions: np.ndarray) -> pd.DataFrame:
    """Picked rows (by sorted position) put in the order of ``positions``."""
    found = pd.concat(pieces).set_axis(np.sort(positions))
    return found.loc[positions]


def _rows_at(read: RowReader, spec: DatasetSpec, side: str, positions: np.ndarray) -> pd.DataFrame:
    """The rows of one side at ``positions`` among that side's rows, in that order."""
    ordered = np.sort(positions)
    pieces = [_pick(rows, first, ordered) for first, rows in _side_chunks(read, spec, side)]
    return _in_order(pieces, positions)


def _held_out(
    read: RowReader, spec: DatasetSpec, models: Mapping[str, Pipeline], test_rows: int, seed: int
) -> HeldOut:
    """Every model's outputs on every held-out row, read a chunk at a time (``HeldOut``)."""
    picked = importance_positions(test_rows, seed)
    ordered = np.sort(picked)
    kept, sample = [], []
    found: dict[str, list[Outputs]] = {name: [] for name in models}
    for first, rows in _side_chunks(read, spec, TEST):
        inputs = model_inputs(rows, spec)
        for name, each in models.items():
            found[name].append(predict(each, inputs, spec))
        kept.append(rows[[spec.target, *spec.sensitive_columns]])
        sample.append(_pick(rows, first, ordered))
    outputs = {
        name: (
            np.concatenate([predicted for predicted, _ in parts]),
            None if parts[0][1] is None else np.concatenate([p for _, p in parts]),
        )
        for name, parts in found.items()
    }
    record = pd.concat(kept, ignore_index=True)
    return HeldOut(record, outputs, _in_order(sample, picked).reset_index(drop=True))


CALIBRATION_BINS = 10


def calibration(is_positive: np.ndarray, probability: np.ndarray) -> dict[str, Any]:
    """How far the positive label's probabilities are from the observed rates.

    Brier score (mean squared error of the probability), expected calibration error (the
    row-weighted gap between mean probability and observed rate over ten equal-width bins), and
    the reliability curve (those bins: mean probability, observed rate, rows).
    """
    bins = np.minimum((probability * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    curve, gap = [], 0.0
    for number_ in range(CALIBRATION_BINS):
        inside = bins == number_
        if not inside.any():
            continue
        predicted, observed = float(probability[inside].mean()), float(is_positive[inside].mean())
        curve.append({"predicted": predicted, "observed": observed, "rows": int(inside.sum())})
        gap += inside.sum() * abs(predicted - observed)
    return {
        "brier": float(np.mean((probability - is_positive) ** 2)),
        "ece": float(gap / max(len(probability), 1)),
        "curve": curve,
    }


def decision_report(model: Any, truth: pd.Series, predicted: np.ndarray) -> dict[str, Any]:
    """The cut-off the model decides by, and what its decisions cost on these rows."""
    from ml_assets.lib.model.modeling import decision_of

    decision = decision_of(model)
    if decision is None:
        return {"rule": "the label of highest probability", "threshold": 0.5}
    found = dict(decision)
    if decision.get("costs"):
        found["expected_cost"] = cost_of(truth, predicted, decision)
    return found


def cost_of(truth: Any, predicted: Any, decision: Mapping[str, Any]) -> float:
    """Mean cost per row of ``predicted`` against ``truth`` at the decision's costs."""
    from ml_assets.lib.model.modeling import expected_cost

    return expected_cost(
        [str(value) for value in truth],
        [str(value) for value in predicted],
        pos_label=str(decision["positive_label"]),
        **decision["costs"],
    )


def provenance(fingerprint: str, features: BatchTable, config_hash: str) -> dict[str, Any]:
    """What a report judged: the model, the training set and its batches, the config, when."""
    return {
        "model_version": fingerprint,
        "data_version": features.data_version,
        "batches": features.batches,
        "config_hash": config_hash,
        "created_at": now_iso(),
    }


def number(value: Any) -> str:
    """A figure as a person reads it: integers whole, scores to 3 decimals, large values rounded."""
    if isinstance(value, bool | np.bool_) or value is None:
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    value = float(value)
    if np.isnan(value):
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def _table(rows: Mapping[str, Mapping[str, Any]], columns: list[str]) -> list[str]:
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, scores in rows.items():
        cells = [number(scores[column]) if column in scores else "–" for column in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _decision_lines(decision: Mapping[str, Any], calibration: Mapping[str, Any]) -> list[str]:
    """The cut-off (the confusion matrix above is at it), its cost, and the calibration."""
    cut = f"probability of `{decision.get('positive_label')}` ≥ {number(decision['threshold'])}"
    lines = ["", "## Decision and calibration", "", f"- Decision: {decision['rule']}"]
    if "cv_score" in decision:
        lines[-1] += (
            f", tuned on the training folds: {cut} (cross-validated {decision['cv_score']:.4g})"
        )
    if "expected_cost" in decision:
        lines.append(f"- Expected cost per held-out row: {decision['expected_cost']:.4g}")
    lines += [
        f"- Brier score {calibration['brier']:.4f}, expected calibration error "
        f"{calibration['ece']:.4f} (ten bins)",
        "",
        "| mean probability | observed rate | rows |",
        "|---|---|---|",
        *(
            f"| {number(b['predicted'])} | {number(b['observed'])} | {b['rows']} |"
            for b in calibration["curve"]
        ),
    ]
    return lines


def _params(params: Mapping[str, Any]) -> str:
    """Settings as ``name=value``; a blend's members as ``family ×weight/steps (settings)``."""
    parts = []
    for name, value in sorted(params.items(), key=lambda item: -_weight(item[1])):
        if _weight(value):
            settings = {key: setting for key, setting in value.items() if key != "weight"}
            parts.append(f"{name} ×{value['weight']}/{ENSEMBLE_STEPS} ({_params(settings)})")
        else:
            parts.append(f"{name}={value}")
    return ", ".join(parts) or "defaults"


def _weight(value: Any) -> int:
    return value.get("weight", 0) if isinstance(value, Mapping) else 0


def _summary_lines(report: Report) -> list[str]:
    """The facts at the top: what was predicted, by which model, from which data, when."""
    lines = [
        f"- Task: **{report['task']}**, target `{report['target']}`"
        + (
            f", positive label `{report['positive_label']}`"
            if report.get("positive_label") is not None
            else ""
        ),
        f"- Rows: {report['rows']['train']} trained on, {report['rows']['test']} held out; "
        f"primary metric **{report['primary_metric']}**",
    ]
    training = report.get("training")
    if training:
        lines += [
            f"- Estimator: **{training['estimator']}** ({_params(training['best_params'])})",
            f"- Cross-validated {training['cv_metric']}: {number(training['cv_mean'])} "
            f"± {number(training['cv_std'])} (training rows only)",
        ]
    provenance = report.get("provenance")
    if provenance:
        lines += [
            f"- Model version `{provenance['model_version']}`, data version "
            f"`{provenance['data_version']}`, config `{provenance['config_hash']}`",
            f"- Batches: {', '.join(provenance['batches']) or '(none)'}",
            f"- Created: {provenance['created_at']}",
        ]
    return lines


def _training_lines(training: Mapping[str, Any]) -> list[str]:
    lines = [
        "",
        "## Model selection (cross-validated on the training rows)",
        "",
        f"| family | search | settings tried | {training['cv_metric']} mean | spread (std) "
        "| parameters |",
        "|---|---|---|---|---|---|",
    ]
    for candidate in training["candidates"]:
        chosen = " (chosen)" if candidate["estimator"] == training["estimator"] else ""
        lines.append(
            f"| {candidate['estimator']}{chosen} | {candidate['search']} | "
            f"{candidate['settings_tried']} | {number(candidate['cv_mean'])} | "
            f"{number(candidate['cv_std'])} | {_params(candidate['best_params'])} |"
        )
    lines += _sample_lines(training.get("sample"), training["cv_metric"])
    search = training.get("search") or {}
    if search.get("budget") is not None:
        lines += ["", f"Budget: {search['budget']} trials, {search['trials']} settings tried."]
    if search.get("cut"):
        lines += ["", f"**Search cut short**: {search['cut']}; a rerun may find another model."]
    method = training.get("feature_selection", "none")
    kept, dropped = training.get("features_kept", []), training.get("features_dropped", [])
    if method == "none" or not method:
        return [*lines, "", f"Feature selection: none ({len(kept)} model inputs)."]
    lines += ["", f"## Feature selection ({method}): {len(kept)} kept, {len(dropped)} dropped", ""]
    lines += ["| feature | score | kept |", "|---|---|---|"]
    for rows, flag in ((kept, "yes"), (dropped, "no")):
        lines += [f"| {row['feature']} | {number(row['score'])} | {flag} |" for row in rows]
    return lines


def _sample_lines(sample: Mapping[str, Any] | None, metric: str) -> list[str]:
    """The capped training set (training.max_rows) and its learning curve, when it was capped."""
    if not sample:
        return []
    lines = [
        "",
        f"## Training sample: {sample['rows_used']} of {sample['rows_available']} training rows",
        "",
        "The training rows passed `training.max_rows`: the model was trained on a stratified "
        f"sample (seed {sample['seed']}); evaluation still scores every held-out row. Learning "
        "curve (cross-validated on the sample; still rising at 100%: more rows would help, so "
        "raise `training.max_rows` on a machine with more memory):",
        "",
        f"| share of the sample | rows fitted | {metric} |",
        "|---|---|---|",
    ]
    for point in sample["learning_curve"]:
        lines.append(f"| {point['fraction']:.0%} | {point['rows']} | {number(point[metric])} |")
    return lines


def _verdict_lines(verdict: Mapping[str, Any]) -> list[str]:
    low, high = verdict["interval"]
    return [
        "",
        f"Verdict against `{verdict['against']}` (the strongest baseline): "
        f"**{verdict['verdict']}**; {verdict['metric']} difference {verdict['difference']:+.3f} "
        f"({int(verdict['confidence'] * 100)}% bootstrap interval {low:+.3f} to {high:+.3f}).",
    ]


def _fairness_lines(column: str, fairness: Mapping[str, Any], columns: list[str]) -> list[str]:
    slice_columns = [
        "rows",
        *[c for c in columns if any(c in g for g in fairness["groups"].values())],
    ]
    lines = [
        "",
        f"## Fairness slices by `{column}`",
        "",
        *_table(fairness["groups"], slice_columns),
    ]
    too_small = fairness.get("too_small", {})
    if too_small:
        listed = ", ".join(f"`{group}` ({rows} rows)" for group, rows in too_small.items())
        lines += [
            "",
            f"Too small to judge (under {fairness['min_rows']} rows, left out of the gaps): "
            f"{listed}.",
        ]
    gap = fairness["largest_gap"]
    if not gap["metric"]:
        lines += ["", "No gap to judge: fewer than two slices have enough rows."]
    elif gap["gap"] == 0:
        lines += ["", "No gap: every slice large enough to judge scores the same."]
    else:
        lines += [
            "",
            f"Largest gap: **{gap['metric']}** differs by **{number(gap['gap'])}** between "
            f"`{gap['worst']}` (worst) and `{gap['best']}` (best).",
        ]
    return lines


def _range_lines(ranges: Mapping[str, Any]) -> list[str]:
    size = (
        f"mean interval width {number(ranges['mean_width'])}"
        if "mean_width" in ranges
        else f"mean set size {number(ranges['mean_set_size'])} classes, "
        f"{ranges['empty_sets']} empty (no class credible at this coverage)"
    )
    return [
        "",
        "## Prediction ranges (split conformal, held-out side)",
        "",
        f"Target coverage {ranges['coverage_target']:.0%}: the ranges held the truth on "
        f"{ranges['covered']} of {ranges['rows']} held-out rows "
        f"(**{number(ranges['coverage'])}**); {size}.",
    ]


def report_markdown(report: Report) -> str:
    """The report as Markdown, for the Dagster UI and the file written beside the model."""
    columns = list(report["metrics"])
    lines = [
        "# Evaluation report",
        "",
        *_summary_lines(report),
        "",
        "## Candidate against baselines (held-out side)",
        "",
        *_table({"candidate": report["metrics"], **report["baselines"]}, columns),
    ]
    if "verdict" in report:
        lines += _verdict_lines(report["verdict"])
    if report.get("training"):
        lines += _training_lines(report["training"])
    if report.get("ranges"):
        lines += _range_lines(report["ranges"])
    if "classes" in report:
        labels = [str(label) for label in report["classes"]]
        lines += [
            "",
            "## Per class",
            "",
            *_table(report["per_class"], ["precision", "recall", "f1-score", "support"]),
            "",
            "## Confusion matrix (rows: actual, columns: predicted)",
            "",
            "| actual \\ predicted | " + " | ".join(labels) + " |",
            "|---" * (len(labels) + 1) + "|",
            *(
                f"| {label} | " + " | ".join(map(str, row)) + " |"
                for label, row in zip(labels, report["confusion_matrix"], strict=True)
            ),
        ]
    if "decision" in report:
        lines += _decision_lines(report["decision"], report["calibration"])
    for column, fairness in report["fairness"].items():
        lines += _fairness_lines(column, fairness, columns)
    return "\n".join(lines) + "\n"
