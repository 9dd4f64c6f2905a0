"""Live performance: the serving model's metric on newly labelled data beside its held-out one.

Labelled data comes two ways: each accepted batch the model was not trained on (a batch carries
its target), and each file in ``<data_dir>/labels/`` (CSV, Parquet or JSON lines with the model's
input columns and the target, e.g. scored requests whose outcome is now known).
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.dataset import SOURCE_LINE, DatasetSpec
from ml_assets.lib.evaluation import LOWER_IS_BETTER, PRIMARY_METRIC, score_model
from ml_assets.lib.features import derive_columns

LABELS_SUBDIR = "labels"


class LabelsError(ValueError):
    """A labels file that cannot be scored; the message names the file, column and line."""


def _line(frame: pd.DataFrame, index: Any) -> str:
    return str(frame.at[index, SOURCE_LINE]) if SOURCE_LINE in frame.columns else "?"


def read_labels(path: Path, spec: DatasetSpec, classes: Any) -> pd.DataFrame:
    """A labels file as typed model inputs and target, refusing what would score wrongly."""
    from ml_assets.lib.ingestion import read_landing_file

    frame = read_landing_file(path)
    missing = [c for c in [*spec.input_columns, spec.target] if c not in frame.columns]
    if missing:
        raise LabelsError(f"{path.name}: missing column(s) {missing}")
    for column in spec.numeric_features:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = numbers.isna() & frame[column].notna() & (frame[column].astype(str) != "")
        if bad.any():
            first = bad.idxmax()
            raise LabelsError(
                f"{path.name}: column {column!r}, line {_line(frame, first)}: "
                f"{frame.at[first, column]!r} is not a number"
            )
        frame[column] = numbers
    frame[spec.target] = _typed_target(frame, path.name, spec, classes)
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
    }


def labels_files(folder: Path) -> list[Path]:
    """The labels files, in name order (dot-files and partial uploads are skipped)."""
    from ml_assets.lib.ingestion import file_format

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
