"""Live performance: the serving model's metric on newly labelled data beside its held-out one.

Labelled data comes three ways: each accepted batch the model was not trained on (a batch
carries its target); each file in the layout's labels folder with the model's input columns and
the target (scored by the serving model); and each file there with ``request_key`` and the
target, joined with the online service's prediction log (the layout's ``serving_log``) so
every served model version gets its live metric from what it actually answered.
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.contract.dataset import SOURCE_LINE, DatasetSpec
from ml_assets.lib.core.layout import Layout
from ml_assets.lib.data.features import derive_columns
from ml_assets.lib.model.evaluation import LOWER_IS_BETTER, PRIMARY_METRIC, score_model


class LabelsError(ValueError):
    """A labels file that cannot be scored; the message names the file, column and line."""


def _line(frame: pd.DataFrame, index: Any) -> str:
    return str(frame.at[index, SOURCE_LINE]) if SOURCE_LINE in frame.columns else "?"


def read_labels(path: Path, spec: DatasetSpec) -> pd.DataFrame:
    """A labels file as read (text), refused unless it can be scored or joined with the log."""
    from ml_assets.lib.data.ingestion import IngestionError, read_landing_file

    try:
        frame = read_landing_file(path)
    except IngestionError as error:
        raise LabelsError(str(error)) from error
    if spec.target not in frame.columns:
        raise LabelsError(f"{path.name}: no target column {spec.target!r}")
    missing = [c for c in spec.input_columns if c not in frame.columns]
    if missing and REQUEST_KEY not in frame.columns:
        raise LabelsError(
            f"{path.name}: needs {REQUEST_KEY!r} (to join the prediction log) or the model's "
            f"inputs (to score them); missing column(s) {missing}"
        )
    return frame


def has_inputs(frame: pd.DataFrame, spec: DatasetSpec) -> bool:
    """Whether a labels file carries the model's inputs (else it is joined by request key)."""
    return all(column in frame.columns for column in spec.input_columns)


def typed_labels(frame: pd.DataFrame, name: str, spec: DatasetSpec, classes: Any) -> pd.DataFrame:
    """A labels file's inputs and target typed for the model, refusing what would score wrongly."""
    frame = frame.copy()
    for column in spec.numeric_features:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = numbers.isna() & frame[column].notna() & (frame[column].astype(str) != "")
        if bad.any():
            first = bad.idxmax()
            raise LabelsError(
                f"{name}: column {column!r}, line {_line(frame, first)}: "
                f"{frame.at[first, column]!r} is not a number"
            )
        frame[column] = numbers
    frame[spec.target] = _typed_target(frame, name, spec, classes)
    return pd.concat([frame, derive_columns(frame, spec)], axis=1)


def _typed_target(frame: pd.DataFrame, name: str, spec: DatasetSpec, classes: Any) -> pd.Series:
    values = frame[spec.target]
    if not spec.is_classification:
        return pd.to_numeric(values, errors="raise")
    by_text = {str(label): label for label in classes}
    unknown = ~values.astype(str).isin(by_text)
    if unknown.any():
        first = unknown.idxmax()
        raise LabelsError(
            f"{name}: column {spec.target!r}, line {_line(frame, first)}: label "
            f"{values[first]!r} is not one of the model's classes {list(by_text)}"
        )
    return values.astype(str).map(by_text)


def performance_drop(live: float, held_out: float, metric: str) -> float:
    """How much worse the live metric is than the held-out one (positive: worse)."""
    return live - held_out if metric in LOWER_IS_BETTER else held_out - live


def live_row(
    model: Any, rows: pd.DataFrame, spec: DatasetSpec, held_out: Mapping[str, float]
) -> dict[str, Any]:
    """The model's primary metric on ``rows`` beside its held-out value and the drop."""
    metric = PRIMARY_METRIC[spec.task]
    scores = score_model(model, rows, spec)
    if metric not in scores:
        return {"rows": len(rows), "metric": metric, "live": None, "held_out": None, "drop": None}
    live, reference = float(scores[metric]), held_out.get(metric)
    drop = None if reference is None else performance_drop(live, float(reference), metric)
    return {
        "rows": len(rows),
        "metric": metric,
        "live": live,
        "held_out": None if reference is None else float(reference),
        "drop": drop,
        "metrics": {name: float(value) for name, value in scores.items()},
        "ranges": _live_coverage(model, rows, spec),
    }


def _live_coverage(model: Any, rows: pd.DataFrame, spec: DatasetSpec) -> dict[str, Any] | None:
    """How often the model's ranges held the labels, judged against its target; None without."""
    from ml_assets.lib.model.conformal import calibration_of, coverage_shortfall, range_coverage
    from ml_assets.lib.model.evaluation import predict
    from ml_assets.lib.model.modeling import model_inputs

    calibration = calibration_of(model)
    if calibration is None:
        return None
    predicted, probabilities = predict(model, model_inputs(rows, spec), spec)
    classes = getattr(model, "classes_", None)
    facts = range_coverage(rows[spec.target], predicted, probabilities, classes, calibration)
    return coverage_shortfall(facts)


def under_covered(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The sources whose ranges held the truth less often than their target beyond noise."""
    return {
        source: float(row["ranges"]["coverage"])
        for source, row in rows.items()
        if (row.get("ranges") or {}).get("below_target")
    }


def labels_files(folder: Path) -> list[Path]:
    """The labels files, in name order (dot-files and partial uploads are skipped)."""
    from ml_assets.lib.data.ingestion import file_format

    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".") and file_format(path.name)
    )


def dropped(rows: Mapping[str, Mapping[str, Any]], max_drop: float) -> dict[str, float]:
    """The sources whose drop exceeds ``max_drop``, with the drop."""
    return {
        source: float(row["drop"])
        for source, row in rows.items()
        if row.get("drop") is not None and np.isfinite(row["drop"]) and row["drop"] > max_drop
    }


REQUEST_KEY = "request_key"


def read_logged_predictions(path: Path) -> pd.DataFrame:
    """The online service's prediction log (JSON lines): request key, version and outputs.

    Unreadable lines (a torn last line) are skipped, as the service's own reader does.
    """
    import json

    columns = [REQUEST_KEY, "model_version", "prediction", "probability"]
    rows = []
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and all(column in entry for column in columns):
                rows.append([entry[column] for column in columns])
    return pd.DataFrame(rows, columns=columns)


def as_text(value: Any) -> str:
    """A label as text after number normalisation, so 1, "1" and 1.0 agree."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else str(number)


def logged_metric(joined: pd.DataFrame, target: str, spec: DatasetSpec, positive: Any) -> float:
    """The primary metric of logged predictions against their labels."""
    from sklearn import metrics

    if spec.task == "regression":
        truth = joined[target].astype(float)
        return float(metrics.r2_score(truth, joined["prediction"].astype(float)))
    truth, predicted = joined[target].map(as_text), joined["prediction"].map(as_text)
    if spec.task == "multiclass":
        return float(metrics.f1_score(truth, predicted, average="macro", zero_division=0))
    positives = truth == as_text(positive)
    if positives.all() or not positives.any() or joined["probability"].isna().any():
        return float("nan")
    return float(metrics.roc_auc_score(positives, joined["probability"].astype(float)))


def logged_rows(
    labels: pd.DataFrame,
    log: pd.DataFrame,
    spec: DatasetSpec,
    positive: Any,
    held_out: Any,
) -> dict[str, dict[str, Any]]:
    """Per model version in the log, its metric on the labelled requests and its held-out one.

    ``held_out(version)`` gives that version's held-out metrics ({} when unknown). A request
    labelled twice keeps its last label.
    """
    last = labels.drop_duplicates(REQUEST_KEY, keep="last")[[REQUEST_KEY, spec.target]]
    joined = log.merge(last, on=REQUEST_KEY, how="inner")
    metric = PRIMARY_METRIC[spec.task]
    rows = {}
    for version, served in joined.groupby("model_version", sort=True):
        live = logged_metric(served, spec.target, spec, positive)
        reference = held_out(version).get(metric)
        drop = None
        if reference is not None and np.isfinite(live):
            drop = performance_drop(live, float(reference), metric)
        rows[str(version)] = {
            "rows": len(served),
            "metric": metric,
            "live": live if np.isfinite(live) else None,
            "held_out": None if reference is None else float(reference),
            "drop": drop,
        }
    return rows


def labelled_files(
    data_dir: Path,
    model: Any,
    spec: DatasetSpec,
    held_out: Mapping[str, float],
    positive: Any,
    version_metrics: Callable[[str], Mapping[str, float]],
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Live rows of every labels file (by source), and the files that could not be used.

    A file with the model's inputs is scored by ``model`` (held-out metrics ``held_out``); a
    file keyed by request key is joined with the prediction log, one row per served version.
    """
    layout = Layout(str(data_dir))
    log = read_logged_predictions(layout.serving_log)
    rows: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for path in labels_files(layout.labels):
        source = path.relative_to(data_dir).as_posix()
        try:
            frame = read_labels(path, spec)
            if has_inputs(frame, spec):
                typed = typed_labels(frame, path.name, spec, getattr(model, "classes_", []))
                rows[source] = live_row(model, typed, spec, held_out)
                continue
        except LabelsError as error:
            errors[path.name] = str(error)
            continue
        served = logged_rows(frame, log, spec, positive, version_metrics)
        rows |= {f"{source} ({version})": row for version, row in served.items()}
    return rows, errors
