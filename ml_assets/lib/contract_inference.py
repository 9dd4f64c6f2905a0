"""Inferring a reviewable data contract from a sample file, in the spirit of TFX's SchemaGen.

Types, nullability, ranges widened by a margin, and allowed values for low-cardinality text
columns and classification targets. The result is a Pandera schema written as YAML for review.
"""

import math

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ml_assets.lib.dataset import SOURCE_COLUMNS, Task

MAX_CATEGORIES = 50
RANGE_MARGIN = 0.1
MAX_CLASSES = 20


def _numeric(values: pd.Series) -> pd.Series | None:
    """The values as numbers when every present value is a finite number, else None."""
    present = values.dropna()
    if present.empty:
        return None
    numbers = pd.to_numeric(present.astype("object"), errors="coerce").astype("float64")
    if numbers.isna().any() or not np.isfinite(numbers.to_numpy(dtype="float64")).all():
        return None
    return numbers


def infer_task(values: pd.Series) -> Task:
    """Binary for two labels, multiclass for a few, regression for many numbers."""
    numbers = _numeric(values)
    labels = values.dropna().nunique()
    if numbers is not None and (labels > MAX_CLASSES or (numbers % 1 != 0).any()):
        return "regression"
    return "binary" if labels == 2 else "multiclass"


def _numeric_column(numbers: pd.Series, nullable: bool, margin: float) -> pa.Column:
    integral = bool((numbers % 1 == 0).all())
    low, high = float(numbers.min()), float(numbers.max())
    pad = margin * ((high - low) or abs(high) or 1.0)
    low, high = low - pad, high + pad
    if integral:
        low, high = math.floor(low), math.ceil(high)
    return pa.Column(
        "int64" if integral else "float64", pa.Check.in_range(low, high), nullable=nullable
    )


def infer_contract(
    sample: pd.DataFrame,
    target: str,
    task: Task,
    key: str | None = None,
    max_categories: int = MAX_CATEGORIES,
    range_margin: float = RANGE_MARGIN,
    name: str = "contract",
) -> pa.DataFrameSchema:
    """A strict Pandera schema for ``sample`` (text columns, as the pipeline reads them)."""
    if target not in sample.columns:
        raise ValueError(
            f"target column {target!r} is not in the sample; it has {list(sample.columns)}"
        )
    if key is not None and key not in sample.columns:
        raise ValueError(f"key column {key!r} is not in the sample; it has {list(sample.columns)}")
    columns = {}
    for column in (c for c in sample.columns if c not in SOURCE_COLUMNS):
        values = sample[column]
        nullable = bool(values.isna().any()) and column not in (target, key)
        numbers = _numeric(values)
        labels = sorted(values.dropna().astype("object").unique().tolist())
        if column == target and task != "regression":
            dtype = "int64" if numbers is not None and (numbers % 1 == 0).all() else "str"
            allowed = (
                sorted({int(float(label)) for label in labels}) if dtype == "int64" else labels
            )
            columns[column] = pa.Column(dtype, pa.Check.isin(allowed))
        elif numbers is not None:
            columns[column] = _numeric_column(numbers, nullable, range_margin)
        elif len(labels) <= max_categories and column != key:
            columns[column] = pa.Column(str, pa.Check.isin(labels), nullable=nullable)
        else:
            columns[column] = pa.Column(str, nullable=nullable)
        if column == key:
            columns[column].unique = True
    return pa.DataFrameSchema(columns, strict=True, name=name)


def free_text_columns(contract: pa.DataFrameSchema, exclude: set[str]) -> list[str]:
    """Text columns with no allowed-value list: too many distinct values to one-hot encode."""
    return [
        name
        for name, column in contract.columns.items()
        if name not in exclude and str(column.dtype) == "str" and not column.checks
    ]
