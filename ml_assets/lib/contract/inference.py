"""Inferring a reviewable data contract from a sample file, in the spirit of TFX's SchemaGen.

Each column gets the rule a careful person would write, with a one-line reason: two-valued and
few-valued integer codes as categories, bounds only where the data's nature gives them (0 for
quantities, [0, 1] for shares; never the sample's minimum or maximum, which the next batch's
ordinary rows cross), dates parsed as dates, identifiers detected and kept out of the features.
The result is a Pandera schema written as YAML for review, the reasons as comments.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import yaml

from ml_assets.lib.contract.dataset import SOURCE_COLUMNS, Task

MAX_CATEGORIES = 50
MAX_CLASSES = 20
MAX_CODES = 10  # integer columns with at most this many distinct values, not one even run...
MIN_ROWS_PER_CODE = 5  # ... each seen at least this often: codes, not a sparse quantity
MIN_IDENTIFIER_ROWS = 20  # uniqueness in fewer rows says nothing
# A category set is closed only when its rarest value was seen this often: values seen fewer
# times mean a tail of rare ones, some of which the sample missed (on the Ames houses, over 20
# shuffles, a held-out fifth lost 0.27% of rows to values unseen in the rest when sets with a
# value seen once were open; 0.15% at 5; 0.08% at 10).
MIN_ROWS_PER_CATEGORY = 10
MOSTLY_EMPTY = 0.9  # a column emptier than this in the sample is left out of the features
IDENTIFIER_LIKE = re.compile(r"(^|[^a-z])(id|key|uuid|guid)$|^(id|key)([^a-z]|$)", re.IGNORECASE)
CAMEL_IDENTIFIER = re.compile(r"(ID|Id)$")
DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?")
UTC_DATETIME = pd.DatetimeTZDtype(tz="UTC")


@dataclass
class Inference:
    """A contract and what the pipeline should know about its columns.

    ``reasons`` explains each column's rule in one line; ``identifiers`` are unique columns
    (the first is offered as the key); ``dates`` and ``free_text`` cannot be model inputs;
    ``categorical`` are the columns to one-hot (text categories and integer codes);
    ``null_shares`` are the empty shares of the columns with gaps in the sample.
    """

    schema: pa.DataFrameSchema
    reasons: dict[str, str] = field(default_factory=dict)
    identifiers: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    free_text: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    null_shares: dict[str, float] = field(default_factory=dict)

    def mostly_empty(self) -> list[str]:
        """Columns too empty in the sample to learn from."""
        return [name for name, share in self.null_shares.items() if share > MOSTLY_EMPTY]


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


def minority_label(values: pd.Series) -> Any:
    """The rarer of two labels (the usual label of interest); on a tie, the larger label."""
    counts = values.dropna().value_counts()
    rarest = counts[counts == counts.min()].index
    return sorted(rarest, key=str)[-1]


def _range_rule(numbers: pd.Series, integral: bool) -> tuple[pa.Check | None, str]:
    """Bounds only where the data's nature gives them: 0 for quantities, [0, 1] for shares.

    The sample's minimum and maximum are not limits: next month's cheapest and dearest ordinary
    rows fall outside them, and drift monitoring, not the contract, watches the distribution.
    """
    low, high = float(numbers.min()), float(numbers.max())
    seen = f"the sample's range [{low:g}, {high:g}] is not a limit"
    if low < 0:
        return None, f"negatives in the sample: no bound ({seen})"
    if not integral and high <= 1:
        return pa.Check.in_range(0, 1), "a share: within [0, 1] by its nature"
    return pa.Check.ge(0), f"no negatives in the sample: a quantity, never below 0 ({seen})"


def _is_identifier(values: pd.Series, numbers: pd.Series | None, column: str) -> bool:
    """Unique, complete, and either text, named like an id, or rising near-consecutive integers."""
    present = values.dropna()
    if len(values) < MIN_IDENTIFIER_ROWS or len(present) < len(values) or not present.is_unique:
        return False
    if numbers is None:
        return True
    if (numbers % 1 != 0).any():
        return False
    span = numbers.max() - numbers.min() + 1
    named = IDENTIFIER_LIKE.search(column) or CAMEL_IDENTIFIER.search(column)
    row_numbers = numbers.is_monotonic_increasing and span <= 2 * len(numbers)
    return bool(named) or row_numbers


def _is_code(numbers: pd.Series) -> bool:
    """Few distinct integers, each common: two values, or several that are not one even run.

    An even run (0 1 2, or a loan's 6 12 ... 60 months) is a count on a step, whose next
    step will come: on the credit table a held-out row's 72 months was quarantined as an
    unknown code.
    """
    counts = numbers.value_counts()
    distinct = np.sort(counts.index.to_numpy().astype("int64"))
    if len(distinct) <= 2:
        return len(distinct) == 2  # one value is a constant, not a code
    step = int(np.gcd.reduce(np.diff(distinct)))
    even_run = (distinct[-1] - distinct[0]) // step + 1 == len(distinct)
    common = counts.min() >= MIN_ROWS_PER_CODE
    return len(distinct) <= MAX_CODES and not even_run and common


def _numeric_column(
    column: str, numbers: pd.Series, nullable: bool, inference: Inference
) -> pa.Column:
    integral = bool((numbers % 1 == 0).all())
    dtype = "int64" if integral else "float64"
    if integral and _is_code(numbers):
        codes = sorted(int(value) for value in numbers.unique())
        inference.categorical.append(column)
        inference.reasons[column] = (
            f"{len(codes)} integer values {codes}: a code, checked and one-hot encoded as a "
            "category"
        )
        return pa.Column(dtype, pa.Check.isin(codes), nullable=nullable)
    check, reason = _range_rule(numbers, integral)
    inference.reasons[column] = ("whole numbers: " if integral else "numbers: ") + reason
    return pa.Column(dtype, check, nullable=nullable)


def _dates(values: pd.Series) -> pd.Series | None:
    """The values as UTC timestamps when every present one is written as a date, else None."""
    present = values.dropna().astype("object").astype(str).str.strip()
    if present.empty or not present.str.match(DATE_LIKE).all():
        return None
    parsed = pd.to_datetime(present, errors="coerce", utc=True, format="mixed")
    return None if parsed.isna().any() else parsed


def _text_column(
    column: str, values: pd.Series, nullable: bool, max_categories: int, inference: Inference
) -> pa.Column:
    dates = _dates(values)
    if dates is not None:
        inference.dates.append(column)
        inference.reasons[column] = (
            f"dates ({dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d} in the sample): parsed "
            "as dates, no upper bound; not a model input"
        )
        return pa.Column(UTC_DATETIME, nullable=nullable)
    counts = values.dropna().astype("object").value_counts()
    labels = sorted(counts.index.tolist())
    rare = int((counts < MIN_ROWS_PER_CATEGORY).sum())
    if len(labels) <= max_categories and rare and len(values) >= MIN_IDENTIFIER_ROWS:
        inference.categorical.append(column)
        inference.reasons[column] = (
            f"{len(labels)} distinct values, {rare} of them seen fewer than "
            f"{MIN_ROWS_PER_CATEGORY} times (the rarest {int(counts.min())}): an open set (rare "
            "values the sample missed will come), so values are not restricted; a category, "
            "and the model ignores values it never learned"
        )
        return pa.Column(str, nullable=nullable)
    if len(labels) <= max_categories:
        inference.categorical.append(column)
        inference.reasons[column] = (
            f"{len(labels)} distinct values: a category; a value outside them is one the model "
            "never learned, so its row is quarantined (add it here when it is real)"
        )
        return pa.Column(str, pa.Check.isin(labels), nullable=nullable)
    inference.free_text.append(column)
    inference.reasons[column] = (
        f"{len(labels)} distinct values (over {max_categories}): free text, not a model input"
    )
    return pa.Column(str, nullable=nullable)


def _target_column(values: pd.Series, task: Task) -> tuple[pa.Column, str]:
    numbers = _numeric(values)
    if task == "regression":
        if numbers is None:
            raise ValueError("a regression target must be numbers; pass --task for labels")
        integral = numbers is not None and bool((numbers % 1 == 0).all())
        check, reason = _range_rule(numbers, integral)
        return pa.Column("int64" if integral else "float64", check), "the target: " + reason
    labels = sorted(values.dropna().astype("object").unique().tolist())
    if numbers is not None and (numbers % 1 == 0).all():
        allowed: list[Any] = sorted({int(float(label)) for label in labels})
        return pa.Column("int64", pa.Check.isin(allowed)), f"the target: labels {allowed}"
    return pa.Column("str", pa.Check.isin(labels)), f"the target: labels {labels}"


def infer_columns(
    sample: pd.DataFrame,
    target: str,
    task: Task,
    key: str | None = None,
    max_categories: int = MAX_CATEGORIES,
    name: str = "contract",
) -> Inference:
    """A strict Pandera schema for ``sample`` (text columns, as the pipeline reads them).

    Each column's rule comes with its reason (see the module docstring for the rules).
    """
    if target not in sample.columns:
        raise ValueError(
            f"target column {target!r} is not in the sample; it has {list(sample.columns)}"
        )
    if key is not None and key not in sample.columns:
        raise ValueError(f"key column {key!r} is not in the sample; it has {list(sample.columns)}")
    inference = Inference(pa.DataFrameSchema())
    columns = {}
    for column in (c for c in sample.columns if c not in SOURCE_COLUMNS):
        values = sample[column]
        # Any column but the target and the key may be empty: a sample without gaps does not
        # make a gap wrong (the null-rate limits and drift's null change watch how many).
        nullable = column not in (target, key)
        if values.isna().any() and nullable:
            inference.null_shares[column] = float(values.isna().mean())
        numbers = _numeric(values)
        if column == target:
            columns[column], inference.reasons[column] = _target_column(values, task)
        elif column == key or (_is_identifier(values, numbers, column) and _dates(values) is None):
            inference.identifiers.append(column)
            kind = "text" if numbers is None else "integers"
            inference.reasons[column] = (
                f"identifier: unique {kind} in all {len(values)} rows; not a model input"
            )
            columns[column] = pa.Column(str if numbers is None else "int64", unique=True)
        elif values.isna().all():
            inference.reasons[column] = "empty in the sample: text, not a model input"
            inference.free_text.append(column)
            columns[column] = pa.Column(str, nullable=True)
        elif numbers is not None:
            columns[column] = _numeric_column(column, numbers, nullable, inference)
        else:
            columns[column] = _text_column(column, values, nullable, max_categories, inference)
    inference.schema = pa.DataFrameSchema(columns, strict=True, name=name)
    return inference


def contract_yaml(schema: pa.DataFrameSchema, reasons: Mapping[str, str]) -> str:
    """The schema as Pandera YAML with each column's reason as a comment above it."""
    lines = schema.to_yaml().splitlines()
    headers = {
        yaml.safe_dump({name: None}, width=1000).split(": null")[0]: reason
        for name, reason in reasons.items()
    }
    out, in_columns = [], False
    for line in lines:
        if not line.startswith(" "):
            in_columns = line == "columns:"
        elif in_columns and line.startswith("  ") and not line.startswith("   "):
            reason = headers.get(line.strip().removesuffix(":"))
            if reason:
                out.append(f"  # {reason}")
        out.append(line)
    return "\n".join(out) + "\n"
