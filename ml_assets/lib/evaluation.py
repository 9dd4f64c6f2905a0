"""Held-out evaluation: metrics, baselines trained on the same split, and fairness slices."""

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from ml_assets.lib.dataset import SPLIT, DatasetSpec
from ml_assets.lib.features import TEST, TRAIN
from ml_assets.lib.markdown import provenance_markdown
from ml_assets.lib.modeling import build_pipeline, build_preprocessor, model_inputs

Report = dict[str, Any]
PRIMARY_METRIC = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "r2"}
LOWER_IS_BETTER = {"log_loss", "rmse", "mae"}
SLICE_METRICS = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "multiclass": ("accuracy", "f1_macro", "f1_weighted"),
    "regression": ("rmse", "mae", "r2"),
}


def positive_index(classes: np.ndarray, positive: Any) -> int:
    """Column of the positive label in ``predict_proba``; the larger label when none is set."""
    if positive is None:
        return len(classes) - 1
    matches = [index for index, label in enumerate(classes) if str(label) == str(positive)]
    if not matches:
        raise ValueError(f"positive label {positive!r} is not one of the classes {list(classes)}")
    return matches[0]


def classification_metrics(
    y_true: pd.Series,
    predicted: np.ndarray,
    probabilities: np.ndarray,
    classes: np.ndarray,
    positive: Any = None,
) -> dict[str, float]:
    """Accuracy, precision, recall, F1, ROC AUC, log loss; macro and weighted past two classes."""
    if len(classes) == 2:
        index = positive_index(classes, positive)
        label = classes[index]
        scores = {
            "precision": metrics.precision_score(
                y_true, predicted, pos_label=label, zero_division=0
            ),
            "recall": metrics.recall_score(y_true, predicted, pos_label=label, zero_division=0),
            "f1": metrics.f1_score(y_true, predicted, pos_label=label, zero_division=0),
        }
        if y_true.nunique() > 1:
            scores["roc_auc"] = metrics.roc_auc_score(y_true == label, probabilities[:, index])
    else:
        scores = {
            f"{name}_{average}": scorer(y_true, predicted, average=average, zero_division=0)
            for name, scorer in (
                ("precision", metrics.precision_score),
                ("recall", metrics.recall_score),
                ("f1", metrics.f1_score),
            )
            for average in ("macro", "weighted")
        }
        if set(classes) <= set(y_true):
            scores["roc_auc_ovr"] = metrics.roc_auc_score(
                y_true, probabilities, multi_class="ovr", labels=classes
            )
    scores["accuracy"] = metrics.accuracy_score(y_true, predicted)
    scores["log_loss"] = metrics.log_loss(y_true, probabilities, labels=classes)
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


def score_model(model: Pipeline, rows: pd.DataFrame, spec: DatasetSpec) -> dict[str, float]:
    """The task's metrics of a fitted Pipeline on ``rows``."""
    inputs = model_inputs(rows, spec)
    if not spec.is_classification:
        return regression_metrics(rows[spec.target], model.predict(inputs))
    return classification_metrics(
        rows[spec.target],
        model.predict(inputs),
        model.predict_proba(inputs),
        model.classes_,
        spec.positive_label,
    )


def per_class_metrics(
    y_true: pd.Series, predicted: np.ndarray, classes: np.ndarray
) -> dict[str, Any]:
    """Precision, recall, F1 and support of every class, keyed by its label."""
    table = metrics.classification_report(
        y_true, predicted, labels=classes, output_dict=True, zero_division=0
    )
    return {str(label): table[str(label)] for label in classes}


def fit_baselines(train: pd.DataFrame, spec: DatasetSpec, seed: int) -> dict[str, Pipeline]:
    """Trivial and plain linear baselines, fitted on the same train rows as the candidate."""
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


def fairness_slices(
    model: Pipeline, test: pd.DataFrame, spec: DatasetSpec, column: str
) -> dict[str, Any]:
    """The task's metrics per group of a sensitive column, and the largest gap per metric."""
    groups = {}
    for value, rows in test.groupby(column, dropna=False, sort=True):
        group_scores = score_model(model, rows, spec)
        group_scores["rows"] = float(len(rows))
        groups["(missing)" if pd.isna(value) else str(value)] = group_scores
    gaps = {}
    for metric in SLICE_METRICS[spec.task]:
        values = {group: scores[metric] for group, scores in groups.items() if metric in scores}
        if len(values) >= 2:
            ordered = sorted(values, key=values.get)
            worst, best = (
                (ordered[-1], ordered[0])
                if metric in LOWER_IS_BETTER
                else (ordered[0], ordered[-1])
            )
            gaps[metric] = {"gap": abs(values[best] - values[worst]), "worst": worst, "best": best}
    largest = max(gaps.items(), key=lambda item: item[1]["gap"], default=(None, {}))
    return {"groups": groups, "gaps": gaps, "largest_gap": {"metric": largest[0], **largest[1]}}


def lift(candidate: Mapping[str, float], baseline: Mapping[str, float], metric: str) -> float:
    """How much better the candidate is on ``metric`` (positive means better)."""
    difference = candidate.get(metric, np.nan) - baseline.get(metric, np.nan)
    return float(-difference if metric in LOWER_IS_BETTER else difference)


def evaluate(model: Pipeline, features: pd.DataFrame, spec: DatasetSpec, seed: int = 42) -> Report:
    """Score the model on the held-out side against baselines and across fairness slices."""
    train, test = features[features[SPLIT] == TRAIN], features[features[SPLIT] == TEST]
    if test.empty or train.empty:
        raise ValueError(f"cannot evaluate: {len(train)} train rows and {len(test)} test rows")
    primary = PRIMARY_METRIC[spec.task]
    candidate = score_model(model, test, spec)
    baselines = {
        name: score_model(base, test, spec)
        for name, base in fit_baselines(train, spec, seed).items()
    }
    report: Report = {
        "task": spec.task,
        "target": spec.target,
        "primary_metric": primary,
        "rows": {"train": len(train), "test": len(test)},
        "metrics": candidate,
        "baselines": baselines,
        "lift_over_baselines": {
            name: lift(candidate, scores, primary) for name, scores in baselines.items()
        },
        "fairness": {
            column: fairness_slices(model, test, spec, column) for column in spec.sensitive_columns
        },
    }
    if spec.is_classification:
        predicted = model.predict(model_inputs(test, spec))
        classes = model.classes_
        report["classes"] = [_plain(label) for label in classes]
        report["positive_label"] = (
            _plain(classes[positive_index(classes, spec.positive_label)])
            if spec.task == "binary"
            else None
        )
        report["confusion_matrix"] = metrics.confusion_matrix(
            test[spec.target], predicted, labels=classes
        ).tolist()
        report["per_class"] = per_class_metrics(test[spec.target], predicted, classes)
    return report


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _table(rows: Mapping[str, Mapping[str, float]], columns: list[str]) -> list[str]:
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, scores in rows.items():
        cells = [f"{scores[column]:.4g}" if column in scores else "–" for column in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def report_markdown(report: Report) -> str:
    """The report as Markdown, for the Dagster UI and the file written beside the model."""
    columns = list(report["metrics"])
    lines = [
        "# Evaluation report",
        "",
        *([provenance_markdown(report["provenance"]), ""] if "provenance" in report else []),
        f"Task: **{report['task']}** (target `{report['target']}`), held-out rows: "
        f"**{report['rows']['test']}** (trained on {report['rows']['train']}). "
        f"Primary metric: **{report['primary_metric']}**.",
        "",
        "## Candidate against baselines (held-out side)",
        "",
        *_table({"candidate": report["metrics"], **report["baselines"]}, columns),
    ]
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
    for column, fairness in report["fairness"].items():
        gap = fairness["largest_gap"]
        slice_columns = [
            "rows",
            *[c for c in columns if any(c in g for g in fairness["groups"].values())],
        ]
        lines += [
            "",
            f"## Fairness slices by `{column}`",
            "",
            *_table(fairness["groups"], slice_columns),
        ]
        if gap["metric"]:
            lines += [
                "",
                f"Largest gap: **{gap['metric']}** differs by **{gap['gap']:.4g}** between "
                f"`{gap['worst']}` (worst) and `{gap['best']}` (best).",
            ]
    return "\n".join(lines) + "\n"
