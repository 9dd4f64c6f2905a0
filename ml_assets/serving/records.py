"""Records posted to the service, checked against the data contract minus the target.

Each value is read as the text a landing file would hold and converted exactly as ingestion
converts it, then the contract's own Pandera checks run on the whole request column by column,
so a record is refused for the same rule, in the same words, as a row of a batch. What judges a
column or a table as a whole (uniqueness, a check returning one verdict, table-wide checks)
judges batches, not requests, and is left to the pipeline.
"""

import math
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pandera

from ml_assets.lib.contract.dataset import SOURCE_COLUMNS, DatasetSpec
from ml_assets.lib.contract.validation import column_kind, convert_text
from ml_assets.lib.data.features import derive_columns

NOT_NULLABLE = "not_nullable"
UNKNOWN_FIELD = "column_in_schema"  # Pandera's name for a column a strict schema does not know
SCALAR = "scalar (a number, text, true/false or null)"


@dataclass(frozen=True, order=True)
class RecordError:
    """One broken rule: which record (0-based), which field, which rule, and the value sent."""

    record: int
    field: str
    rule: str
    value: Any = None

    @property
    def message(self) -> str:
        """The error as one line, worded as the pipeline's quarantine reasons."""
        value = json_safe(self.value)
        shown = value if _non_finite(self.value) else repr(value)
        return f"record {self.record}: {self.field}: {self.rule} failed for {shown}"

    def as_dict(self) -> dict[str, Any]:
        """The error as the service's 422 response lists it, the value rendered JSON-safe."""
        return {
            "record": self.record,
            "field": self.field,
            "rule": self.rule,
            "value": json_safe(self.value),
            "msg": self.message,
        }


NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
MAX_SHOWN_CHARS = 200  # a value echoed in an error: enough to recognise it, never the whole body


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxlevel, short.maxstring, short.maxother = 2, 40, 40
    return short


_SHORT = _short_repr()  # reprlib stops at a depth, so a deeply nested value is never walked


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def json_safe(value: Any) -> Any:
    """``value`` as strict JSON can carry it, so echoing it in an error cannot fail.

    Non-finite numbers become their names (``NaN``, ``Infinity``, ``-Infinity``), lists and
    objects a short text (they may nest deeply), very long text and integers a short form.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else NON_FINITE[repr(value)]
    if isinstance(value, int):
        return value if abs(value) < 10**MAX_SHOWN_CHARS else f"over {MAX_SHOWN_CHARS} digits"
    if isinstance(value, dict | list):
        return _SHORT.repr(value)
    text = str(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…"


class RecordsRejected(ValueError):
    """Some records break the contract; ``errors`` lists every broken rule, in record order."""

    def __init__(self, errors: list[RecordError]) -> None:
        self.errors = sorted(errors, key=lambda error: error.record)
        records = len({error.record for error in self.errors})
        super().__init__(
            f"{len(self.errors)} contract failure(s) in {records} record(s); "
            f"first: {self.errors[0].message}"
        )


class RecordValidator:
    """The contract's input columns, ready to check and type a request's records."""

    def __init__(self, contract: pandera.DataFrameSchema, spec: DatasetSpec) -> None:
        self.spec = spec
        excluded = {spec.target, *SOURCE_COLUMNS}
        self.columns = {
            name: column for name, column in contract.columns.items() if name not in excluded
        }
        self.kinds = {name: column_kind(column) for name, column in self.columns.items()}
        self.strict = contract.strict is True
        self.accepted = {*self.columns, spec.target}
        missing = [name for name in spec.input_columns if name not in self.columns]
        if missing:
            raise ValueError(f"the model's inputs {missing} are not contract columns")

    def model_frame(self, records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """The records as typed contract columns plus the derived features.

        Raises ``RecordsRejected`` naming every broken rule when any record breaks one; a
        missing field is a null; the target, when sent, is ignored.
        """
        errors = self._unknown_fields(records)
        typed = {}
        for name, column in self.columns.items():
            given = [record.get(name) for record in records]
            kind = self.kinds[name]
            numbers = _as_numbers(given) if kind in ("int", "float") else None
            if numbers is None:
                texts, missing, nested = _texts(given)
                errors.extend(_errors(given, name, SCALAR, nested))
                raw = pd.Series(texts, dtype="object")
                values, rules = convert_text(raw, kind)
            else:
                raw, missing = pd.Series(numbers), np.flatnonzero(np.isnan(numbers))
                # plain numbers are floats already; an int column still checks they are whole
                values, rules = (raw, []) if kind == "float" else convert_text(raw, kind)
            unchecked = raw.isna().to_numpy()  # missing, or not a single value
            for rule, broken in rules:
                mask = broken.to_numpy(dtype=bool)
                unchecked |= mask
                errors.extend(_errors(given, name, rule, np.flatnonzero(mask)))
            if not column.nullable:
                errors.extend(_errors(given, name, NOT_NULLABLE, missing))
            checked = values[~unchecked] if unchecked.any() else values
            for check in column.checks:
                output = check(checked).check_output
                if isinstance(output, pd.Series):
                    failed = output.index[~output.to_numpy(dtype=bool)]
                    errors.extend(_errors(given, name, check.error or check.name, failed))
            typed[name] = values
        if errors:
            raise RecordsRejected(errors)
        derived = derive_columns(pd.DataFrame(typed, copy=False), self.spec)
        return pd.DataFrame({**typed, **derived}, copy=False)

    def _unknown_fields(self, records: Sequence[Mapping[str, Any]]) -> list[RecordError]:
        if not self.strict or set().union(*records) <= self.accepted:
            return []
        return [
            RecordError(index, field, UNKNOWN_FIELD, record[field])
            for index, record in enumerate(records)
            for field in record
            if field not in self.accepted
        ]


def _as_numbers(given: list[Any]) -> np.ndarray | None:
    """The values as float64 (null as NaN) when each is null or a number under 2**53, else None.

    Such a number reads back from its text as exactly this float, so the conversion's verdicts
    are the same without writing and parsing thousands of texts a request; NaN, infinities,
    true/false, text and larger numbers keep the text path and its exact failures.
    """
    if not set(map(type, given)) <= _PLAIN_NUMBERS:
        return None
    try:
        numbers = np.array(given, dtype="float64")
    except OverflowError:  # an integer past float64's range
        return None
    if np.count_nonzero(np.isnan(numbers)) != given.count(None):  # some null is not a NaN
        return None
    return None if (np.abs(numbers) >= 2.0**53).any() else numbers


_PLAIN_NUMBERS = {int, float, type(None)}


def _texts(given: list[Any]) -> tuple[list[str | None], list[int], list[int]]:
    """Each value as text (None when missing or nested), and where values are missing or nested.

    One pass over the column: a 1,000-record request holds thousands of values.
    """
    texts: list[str | None] = []
    missing, nested = [], []
    for index, value in enumerate(given):
        if type(value) is str:
            texts.append(value)
            continue
        if value is None:
            missing.append(index)
        elif isinstance(value, dict | list):
            nested.append(index)
        texts.append(_as_text(value))
    return texts, missing, nested


def _errors(given: list[Any], name: str, rule: str, rows: Iterable[Any]) -> list[RecordError]:
    return [RecordError(int(row), name, rule, given[int(row)]) for row in rows]


def _as_text(value: Any) -> str | None:
    """A JSON value as a landing file would hold it: the text ingestion converts."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def example_record(validator: RecordValidator) -> dict[str, Any]:
    """A record the contract accepts, for the OpenAPI page: range midpoints, first categories."""
    example: dict[str, Any] = {}
    for name in validator.spec.input_columns:
        statistics: dict[str, Any] = {}
        for check in validator.columns[name].checks:
            statistics.update(check.statistics or {})
        kind = validator.kinds[name]
        if statistics.get("allowed_values"):
            example[name] = list(statistics["allowed_values"])[0]
        elif kind in ("int", "float"):
            low = statistics.get("min_value", statistics.get("max_value", 0))
            middle = (low + statistics.get("max_value", low)) / 2
            example[name] = round(middle) if kind == "int" else float(middle)
        else:
            example[name] = {"bool": True, "datetime": "2024-01-01T00:00:00Z"}.get(kind, "text")
    return example
