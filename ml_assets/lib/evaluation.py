"""Held-out evaluation: metrics, baselines trained on the same split, and fairness slices."""

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from ml_assets.lib.dataset import SPLIT, DatasetSpec
from ml_assets.lib.features import TEST, TRAIN
from ml_assets.lib.modeling import build_pipeline, model_inputs

Report = dict[str, Any]
PRIMARY_METRIC = {"binary": "roc_auc", "multiclass": "f1_macro"}


def classification_metrics(
    y_true: pd.Series, predicted: np.ndarray, probabilities: np.ndarray, classes: np.ndarray
) -> dict[str, float]:
    """Accuracy, precision, recall, F1, ROC AUC and log loss; macro-averaged beyond two classes."""
    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    options = {"pos_label": classes[1]} if binary else {}
    both_present = y_true.nunique() > 1
    scores = {
        "accuracy": metrics.accuracy_score(y_true, predicted),
        "precision": metrics.precision_score(
            y_true, predicted, average=average, zero_division=0, **options
        ),
        "recall": metrics.recall_score(
            y_true, predicted, average=average, zero_division=0, **options
        ),
        "f1": metrics.f1_score(y_true, predicted, average=average, zero_division=0, **options),
        "log_loss": metrics.log_loss(y_true, probabilities, labels=classes),
    }
    if not binary:
        scores["f1_macro"] = scores["f1"]
        scores["f1_weighted"] = metrics.f1_score(
            y_true, predicted, average="weighted", zero_division=0
        )
    if both_present:
        scores["roc_auc"] = (
            metrics.roc_auc_score(y_true, probabilities[:, 1])
            if binary
            else metrics.roc_auc_score(y_true, probabilities, multi_class="ovr", labels=classes)
        )
    return {name: float(value) for name, value in scores.items()}


def score_model(model: Pipeline, rows: pd.DataFrame, spec: DatasetSpec) -> dict[str, float]:
    """Metrics of a fitted classifier Pipeline on ``rows``."""
    inputs = model_inputs(rows, spec)
    return classification_metrics(
        rows[spec.target], model.predict(inputs), model.predict_proba(inputs), model.classes_
    )


def fit_baselines(train: pd.DataFrame, spec: DatasetSpec, seed: int) -> dict[str, Pipeline]:
    """A majority-class predictor and a plain logistic regression, fitted on the same train rows."""
    majority = clone(build_pipeline(spec, "logistic_regression", seed=seed)).set_params(
        estimator=DummyClassifier(strategy="most_frequent")
    )
    logistic = build_pipeline(spec, "logistic_regression", seed=seed)
    inputs, target = model_inputs(train, spec), train[spec.target]
    return {
        name: model.fit(inputs, target)
        for name, model in {"majority_class": majority, "logistic_regression": logistic}.items()
    }


def fairness_slices(
    model: Pipeline, test: pd.DataFrame, spec: DatasetSpec, column: str, min_rows: int = 1
) -> dict[str, Any]:
    """Metrics per group of a sensitive column, and the largest gap between groups per metric."""
    groups = {}
    for value, rows in test.groupby(column, dropna=False, sort=True):
        if len(rows) < min_rows:
            continue
        group_scores = score_model(model, rows, spec)
        group_scores["rows"] = float(len(rows))
        groups["(missing)" if pd.isna(value) else str(value)] = group_scores
    gaps = {}
    for metric in ("accuracy", "f1", "recall", "precision", "roc_auc"):
        values = {group: scores[metric] for group, scores in groups.items() if metric in scores}
        if len(values) >= 2:
            worst, best = min(values, key=values.get), max(values, key=values.get)
            gaps[metric] = {"gap": values[best] - values[worst], "lowest": worst, "highest": best}
    largest = max(gaps.items(), key=lambda item: item[1]["gap"], default=(None, None))
    return {
        "groups": groups,
        "gaps": gaps,
        "largest_gap": {"metric": largest[0], **(largest[1] or {})},
    }


def evaluate(model: Pipeline, features: pd.DataFrame, spec: DatasetSpec, seed: int = 42) -> Report:
    """Score the model on the held-out side against baselines and across fairness slices."""
    train, test = features[features[SPLIT] == TRAIN], features[features[SPLIT] == TEST]
    if test.empty or train.empty:
        raise ValueError(f"cannot evaluate: {len(train)} train rows and {len(test)} test rows")
    inputs = model_inputs(test, spec)
    predicted = model.predict(inputs)
    classes = model.classes_
    matrix = metrics.confusion_matrix(test[spec.target], predicted, labels=classes)
    baselines = {
        name: score_model(base, test, spec)
        for name, base in fit_baselines(train, spec, seed).items()
    }
    primary = PRIMARY_METRIC[spec.task]
    candidate = score_model(model, test, spec)
    return {
        "task": spec.task,
        "primary_metric": primary,
        "rows": {"train": len(train), "test": len(test)},
        "classes": [_plain(label) for label in classes],
        "metrics": candidate,
        "confusion_matrix": matrix.tolist(),
        "baselines": baselines,
        "lift_over_baselines": {
            name: candidate.get(primary, np.nan) - scores.get(primary, np.nan)
            for name, scores in baselines.items()
        },
        "fairness": {
            column: fairness_slices(model, test, spec, column) for column in spec.sensitive_columns
        },
    }


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
    columns = ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"]
    lines = [
        "# Evaluation report",
        "",
        f"Task: **{report['task']}**, held-out rows: **{report['rows']['test']}** "
        f"(trained on {report['rows']['train']}). Primary metric: **{report['primary_metric']}**.",
        "",
        "## Candidate against baselines (held-out side)",
        "",
        *_table({"candidate": report["metrics"], **report["baselines"]}, columns),
        "",
        "## Confusion matrix (rows: actual, columns: predicted)",
        "",
        "| actual \\ predicted | " + " | ".join(map(str, report["classes"])) + " |",
        "|---" * (len(report["classes"]) + 1) + "|",
        *(
            f"| {label} | " + " | ".join(map(str, row)) + " |"
            for label, row in zip(report["classes"], report["confusion_matrix"], strict=True)
        ),
    ]
    for column, fairness in report["fairness"].items():
        gap = fairness["largest_gap"]
        lines += [
            "",
            f"## Fairness slices by `{column}`",
            "",
            *_table(fairness["groups"], ["rows", *columns[:5]]),
        ]
        if gap["metric"]:
            lines += [
                "",
                f"Largest gap: **{gap['metric']}** differs by **{gap['gap']:.4g}** between "
                f"`{gap['lowest']}` (lowest) and `{gap['highest']}` (highest).",
            ]
    return "\n".join(lines) + "\n"
