"""What the code location needs of a data contract: column names, kinds, nullability and rules.

Read straight from a Pandera YAML schema without importing pandas or Pandera, so loading the code
location stays cheap; for a ``DataFrameModel`` it is taken from the loaded schema instead. Nothing
is cached on disk: the summary is rebuilt from the configuration on every load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ml_assets.lib.contract.dataset import BATCH, SOURCE_COLUMNS, SOURCE_FILE, SOURCE_LINE

if TYPE_CHECKING:
    import pandera.pandas as pa

# Keys of a column in Pandera's YAML that are properties, not checks.
_PROPERTIES = {
    "dtype",
    "nullable",
    "unique",
    "coerce",
    "required",
    "regex",
    "title",
    "description",
    "metadata",
    "checks",
    "name",
    "report_duplicates",
    "default",
    "drop_invalid_rows",
}

# The pipeline's own columns, added to every contract (see ``with_source_columns``).
SOURCE_SUMMARIES = {
    BATCH: ("str", "the batch the row arrived in: <file>-<8 hex of its sha256>"),
    SOURCE_FILE: ("str", "the landing file the row was read from"),
    SOURCE_LINE: ("int", "the row's line in that file (the header is line 1)"),
}


@dataclass(frozen=True)
class ColumnSummary:
    """One contract column as plain data."""

    name: str
    kind: str  # int, float, bool, datetime or str
    dtype: str
    nullable: bool
    unique: bool
    rules: tuple[str, ...]
    description: str | None = None


@dataclass(frozen=True)
class ContractColumns:
    """The contract's columns as plain data: enough to plan the pipeline without Pandera."""

    columns: tuple[ColumnSummary, ...]
    strict: bool

    @property
    def kinds(self) -> dict[str, str]:
        """Each column's kind, in contract order."""
        return {column.name: column.kind for column in self.columns}

    @property
    def nullable(self) -> tuple[str, ...]:
        """The columns that may hold missing values."""
        return tuple(column.name for column in self.columns if column.nullable)

    @property
    def data_columns(self) -> list[str]:
        """The dataset's columns, without the pipeline's source-tracking columns."""
        return [column.name for column in self.columns if column.name not in SOURCE_COLUMNS]

    def is_numeric(self, name: str) -> bool:
        """Whether the contract types ``name`` as a number (not a boolean)."""
        return self.kinds[name] in ("int", "float")

    def get(self, name: str) -> ColumnSummary:
        """The summary of column ``name``."""
        return next(column for column in self.columns if column.name == name)

    @classmethod
    def from_yaml(cls, path: Path) -> ContractColumns:
        """Summarise a Pandera YAML schema file (source columns added as the pipeline adds them)."""
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, Mapping) or not isinstance(data.get("columns"), Mapping):
            raise ValueError(f"{path}: not a Pandera YAML schema (no 'columns' mapping)")
        columns = [
            _from_yaml_column(str(name), spec or {}) for name, spec in data["columns"].items()
        ]
        return cls(tuple(with_source_summaries(columns)), strict=data.get("strict") is True)

    @classmethod
    def of(cls, contract: pa.DataFrameSchema) -> ContractColumns:
        """Summarise a loaded Pandera schema."""
        from ml_assets.lib.contract.validation import column_kind

        columns = [
            ColumnSummary(
                name=name,
                kind=column_kind(column),
                dtype=str(column.dtype),
                nullable=bool(column.nullable),
                unique=bool(column.unique),
                rules=tuple(_check_text(check) for check in column.checks),
                description=column.description,
            )
            for name, column in contract.columns.items()
        ]
        return cls(tuple(with_source_summaries(columns)), strict=contract.strict is True)


def kind_of_dtype(dtype: str) -> str:
    """How the pipeline converts text for a Pandera dtype name (as ``column_kind`` does)."""
    name = dtype.lower()
    if name.startswith("bool"):
        return "bool"
    if name.startswith(("int", "uint")):
        return "int"
    if name.startswith("float"):
        return "float"
    if name.startswith("datetime"):
        return "datetime"
    return "str"


def source_summary(name: str) -> ColumnSummary:
    """One of the pipeline's source columns (batch, file, line) as a contract column."""
    kind, text = SOURCE_SUMMARIES[name]
    return ColumnSummary(name, kind, "int64" if kind == "int" else "str", False, False, (), text)


def with_source_summaries(columns: list[ColumnSummary]) -> list[ColumnSummary]:
    """The columns plus the pipeline's source columns, where the contract does not declare them."""
    present = {column.name for column in columns}
    return [*columns, *(source_summary(n) for n in SOURCE_SUMMARIES if n not in present)]


def _from_yaml_column(name: str, spec: Mapping[str, Any]) -> ColumnSummary:
    if not spec.get("dtype"):
        raise ValueError(f"column {name!r} has no dtype (e.g. dtype: float64, int64 or str)")
    dtype = str(spec["dtype"])
    checks = dict(spec.get("checks") or {})
    checks.update({key: value for key, value in spec.items() if key not in _PROPERTIES})
    return ColumnSummary(
        name=name,
        kind=kind_of_dtype(dtype),
        dtype=dtype,
        nullable=bool(spec.get("nullable", False)),
        unique=bool(spec.get("unique", False)),
        rules=tuple(_rule_text(check, value) for check, value in checks.items()),
        description=spec.get("description"),
    )


def _rule_text(check: str, value: Any) -> str:
    if isinstance(value, Mapping):
        if "min_value" in value or "max_value" in value:
            return f"{check}({value.get('min_value')}, {value.get('max_value')})"
        arguments = ", ".join(f"{key}={item}" for key, item in value.items() if key != "options")
        return f"{check}({arguments})"
    return f"{check}({value})"


def _check_text(check: Any) -> str:
    statistics = {
        key: value for key, value in (check.statistics or {}).items() if value is not None
    }
    if len(statistics) == 1:
        return f"{check.name}({next(iter(statistics.values()))})"
    if {"min_value", "max_value"} <= set(statistics):
        return f"{check.name}({statistics['min_value']}, {statistics['max_value']})"
    return str(check.name)
