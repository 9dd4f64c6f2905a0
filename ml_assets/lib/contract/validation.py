"""Row-level validation against the data contract: typed rows kept, breaking rows quarantined.

Validation runs in two passes so no failure hides another: first every column is converted to its
contract type (a value that does not convert is a failure of that cell), then Pandera checks
nullability, ranges, categories and uniqueness on the converted values.
"""

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.compute as pc

from ml_assets.lib.contract.dataset import FAILURES, REASON, SOURCE_FILE, SOURCE_LINE
from ml_assets.lib.core.frames import TEXT, map_columns

FAILURE_COLUMNS = ["row", "column", "rule", "value", SOURCE_FILE, SOURCE_LINE]


class ContractError(ValueError):
    """The batch breaks the contract as a whole (not row by row)."""


@dataclass(frozen=True)
class ValidationResult:
    """Outcome of validating one batch: every input row is in exactly one of the two frames."""

    valid: pd.DataFrame
    quarantined: pd.DataFrame
    failures: pd.DataFrame


def stored_schema(schema: pandera.DataFrameSchema) -> pandera.DataFrameSchema:
    """The contract as the pipeline holds its data: text columns as Arrow-backed strings.

    Pandera's ``str`` type is checked value by value (a second per million rows); the Arrow string
    type is checked once per column, and the values are the same text.
    """
    text = [name for name, column in schema.columns.items() if column_kind(column) == "str"]
    return schema.update_columns({name: {"dtype": TEXT} for name in text}) if text else schema


def column_kind(column: pandera.Column) -> str:
    """How the pipeline converts a contract column's text: int, float, bool, datetime or str."""
    numpy_type = column.dtype.type
    if pd.api.types.is_bool_dtype(numpy_type):
        return "bool"
    if pd.api.types.is_integer_dtype(numpy_type):
        return "int"
    if pd.api.types.is_float_dtype(numpy_type):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(numpy_type):
        return "datetime"
    return "str"


_DECIMAL_COMMA = r"\s*[-+]?\d+,\d+\s*"
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _numbers(raw: pd.Series) -> np.ndarray:
    """Text to float64, NaN where missing or not a number.

    Arrow's strict parser goes first; pandas runs only when some value fails it, so clean
    batches stay fast and dirty ones still get a verdict per cell.
    """
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.to_numpy(dtype="float64", na_value=np.nan)
    try:
        return pc.cast(pa.array(raw, type=pa.string()), pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.to_numeric(raw.astype("object"), errors="coerce").to_numpy(dtype="float64")


def convert_text(raw: pd.Series, kind: str) -> tuple[pd.Series, list[tuple[str, pd.Series]]]:
    """Convert text to ``kind``; return the values and, per rule, the cells that broke it."""
    present = raw.notna()
    if kind in ("int", "float"):
        numbers = _numbers(raw)
        values = pd.Series(numbers, index=raw.index)
        unparsed = present & pd.Series(np.isnan(numbers), index=raw.index)
        decimal_comma = pd.Series(False, index=raw.index)
        if unparsed.any():
            matches = raw[unparsed].astype("object").astype(str).str.fullmatch(_DECIMAL_COMMA)
            decimal_comma[unparsed] = matches.to_numpy(dtype=bool)
        infinite = pd.Series(np.isinf(numbers), index=raw.index)
        rules = [
            (f"dtype('{kind}64')", unparsed & ~decimal_comma),
            ("decimal point (found a decimal comma)", decimal_comma),
            ("finite", infinite),
        ]
        failed = (unparsed | infinite).to_numpy()
        if kind == "int":
            parsed = present.to_numpy() & ~failed
            fractional = parsed & (np.trunc(numbers) != numbers)
            too_large = parsed & ~fractional & (np.abs(numbers) >= 2.0**63)
            rules.append(("integer", pd.Series(fractional, index=raw.index)))
            rules.append(("within the int64 range", pd.Series(too_large, index=raw.index)))
            return _integers(numbers, failed | fractional | too_large, raw.index), rules
        return values.where(~failed), rules
    if kind == "bool":
        values = raw.astype("object").str.strip().str.lower().map(_BOOLEANS)
        return values.astype("object"), [("dtype('bool')", present & values.isna())]
    if kind == "datetime":
        values = pd.to_datetime(raw, errors="coerce", utc=True)
        return values, [("dtype('datetime64')", present & values.isna())]
    return raw.astype(TEXT), []


def _integers(numbers: np.ndarray, failed: np.ndarray, index: pd.Index) -> pd.Series:
    """Whole numbers as int64, or nullable Int64 when some are missing or failed.

    Pandera's checks run several times faster on integers than on the same values as floats
    (``isin`` on a float column compares every value as a Python object).
    """
    missing = failed | np.isnan(numbers)
    if not missing.any():
        return pd.Series(numbers.astype("int64"), index=index)
    whole = np.where(missing, 0.0, numbers).astype("int64")
    return pd.Series(pd.arrays.IntegerArray(whole, missing), index=index)


def _as_object(raw: pd.Series) -> pd.Series:
    """Python strings with None for missing: how a failed cell's value is reported."""
    present = raw.notna()
    values = raw.astype("object")
    return values if present.all() else values.where(present, None)


def _final(
    values: pd.Series, keep: np.ndarray | None, column: pandera.Column, kind: str
) -> pd.Series:
    """The kept values (all when ``keep`` is None) in their contract type, indexed from zero."""
    array = values.array if keep is None else values.array[keep]
    kept = pd.Series(array, copy=False)
    target = _final_dtype(column, kind)
    if kind == "datetime" and getattr(pd.api.types.pandas_dtype(target), "tz", None) is None:
        kept = kept.dt.tz_convert(None)  # parsed in UTC; a naive contract type holds UTC times
    return kept.astype(target, copy=False)


def _final_dtype(column: pandera.Column, kind: str) -> object:
    if kind == "int":
        return "Int64" if column.nullable else "int64"
    if kind == "bool":
        return "boolean" if column.nullable else "bool"
    if kind == "str":
        return TEXT
    return column.dtype.type


def validate_rows(raw: pd.DataFrame, schema: pandera.DataFrameSchema) -> ValidationResult:
    """Split a text batch into typed valid rows and quarantined rows with every reason kept."""
    columns = list(schema.columns)
    kinds = {name: column_kind(schema.columns[name]) for name in columns}
    outcomes = map_columns(convert_text, [raw[name] for name in columns], kinds.values())
    converted, failures = {}, []
    for name, (values, rules) in zip(columns, outcomes, strict=True):
        converted[name] = values
        failures.extend(
            _cell_failures(raw, name, rule, failed[failed].index)
            for rule, failed in rules
            if failed.any()
        )
    failed_cells = {
        (row, column)
        for part in failures
        for row, column in part[["row", "column"]].itertuples(index=False)
    }
    typed = pd.DataFrame(converted, index=raw.index, copy=False)
    cases = _failure_cases(schema, typed)
    if cases is not None:
        failures.append(_check_failures(raw, cases, failed_cells))
    failure_frame = (
        pd.concat(failures, ignore_index=True)
        if failures
        else pd.DataFrame(columns=FAILURE_COLUMNS)
    )
    keep = np.ones(len(raw), dtype=bool)
    keep[raw.index.get_indexer(failure_frame["row"].unique())] = False
    kept = None if keep.all() else keep
    finals = map_columns(
        _final,
        [typed[name] for name in columns],
        [kept] * len(columns),
        schema.columns.values(),
        kinds.values(),
    )
    valid = dict(zip(columns, finals, strict=True))
    return ValidationResult(
        valid=pd.DataFrame(valid, copy=False),
        quarantined=_quarantine(raw, failure_frame),
        failures=failure_frame,
    )


def _failure_cases(schema: pandera.DataFrameSchema, typed: pd.DataFrame) -> pd.DataFrame | None:
    """Pandera's failure cases on the converted values, or None when every check passes.

    Each column's checks run on a thread of their own, and the table-wide ones (presence,
    strictness, order, frame-level checks) once beside them: on 2 cores that halves their time.
    Every thread sees all columns (a check may group by another), through its own shallow copy.
    """
    checks_only = schema.update_columns({name: {"dtype": None} for name in schema.columns})
    table_wide = checks_only.update_columns(
        {name: {"checks": [], "nullable": True, "unique": False} for name in schema.columns}
    )
    per_column = [
        pandera.DataFrameSchema({**table_wide.columns, name: column})
        for name, column in checks_only.columns.items()
    ]
    frames = [typed.copy(deep=False) for _ in per_column]
    outcomes = map_columns(_cases, [*per_column, table_wide], [*frames, typed])
    found = [cases for cases in outcomes if cases is not None]
    return pd.concat(found, ignore_index=True) if found else None


def _cases(schema: pandera.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame | None:
    try:
        schema.validate(frame, lazy=True, inplace=True)
    except pandera.errors.SchemaErrors as errors:
        return errors.failure_cases
    return None


def _cell_failures(raw: pd.DataFrame, column: str, rule: str, rows: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": rows,
            "column": column,
            "rule": rule,
            "value": _as_object(raw.loc[rows, column]).to_numpy(),
            SOURCE_FILE: raw.loc[rows, SOURCE_FILE].to_numpy(),
            SOURCE_LINE: raw.loc[rows, SOURCE_LINE].to_numpy(),
        }
    )


def _check_failures(
    raw: pd.DataFrame, cases: pd.DataFrame, already_failed: set[tuple[object, str]]
) -> pd.DataFrame:
    frame_level = cases[cases["index"].isna()]
    if not frame_level.empty:
        details = "; ".join(
            f"{row.column or 'table'}: {row.check} ({row.failure_case})"
            for row in frame_level.itertuples()
        )
        raise ContractError(f"the batch breaks the contract as a whole: {details}")
    parts = []
    for (column, rule), group in cases.groupby(["column", "check"], sort=False):
        rows = pd.Index(group["index"].astype("int64"))
        keep = [(row, column) not in already_failed for row in rows]
        if any(keep):
            parts.append(_cell_failures(raw, str(column), str(rule), rows[keep]))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=FAILURE_COLUMNS)


def _quarantine(raw: pd.DataFrame, failures: pd.DataFrame) -> pd.DataFrame:
    """One row per rejected input row: its original text, where it came from, and why."""
    if failures.empty:
        empty = raw.iloc[0:0].copy()
        empty[REASON] = pd.Series(dtype="object")
        empty[FAILURES] = pd.Series(dtype="object")
        return empty.reset_index(drop=True)
    ordered = failures.sort_values(["row", "column"], kind="stable")
    grouped = ordered.groupby("row", sort=True)
    reasons = grouped.apply(
        lambda rows: "; ".join(
            f"{column}: {rule} failed for {value!r}"
            for column, rule, value in zip(rows["column"], rows["rule"], rows["value"], strict=True)
        ),
        include_groups=False,
    )
    details = grouped.apply(
        lambda rows: json.dumps(
            [
                {"column": column, "rule": rule, "value": None if pd.isna(value) else str(value)}
                for column, rule, value in zip(
                    rows["column"], rows["rule"], rows["value"], strict=True
                )
            ]
        ),
        include_groups=False,
    )
    quarantined = raw.loc[reasons.index].copy()
    quarantined[REASON] = reasons.to_numpy()
    quarantined[FAILURES] = details.to_numpy()
    return quarantined.reset_index(drop=True)


def check_structure(frame: pd.DataFrame, schema: pandera.DataFrameSchema, table: str) -> None:
    """Refuse a table whose columns or dtypes differ from its schema (rules are not re-run).

    The row-level rules were enforced a moment earlier by ``validate_rows``; this guards what is
    stored against a bug in the conversion, in place and without visiting every value.
    """
    from pandera.config import ValidationDepth, config_context

    try:
        with config_context(validation_depth=ValidationDepth.SCHEMA_ONLY):
            schema.validate(frame, lazy=True, inplace=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases[["column", "check", "failure_case"]].head(5)
        details = "; ".join(f"{c.column}: {c.check} ({c.failure_case})" for c in cases.itertuples())
        raise ContractError(f"{table} breaks its schema: {details}") from errors
