"""Column schemas of the batch tables, from the contract summary: the typed contract in the UI."""

from collections.abc import Iterable

import dagster as dg

from ml_assets.lib.contract_summary import SOURCE_SUMMARIES, ColumnSummary, source_summary
from ml_assets.lib.dataset import FAILURES, REASON, ROW_KEY, SPLIT, TEST, TRAIN
from ml_assets.lib.project_config import Project


def column_schema(columns: Iterable[ColumnSummary]) -> dg.TableSchema:
    """A Dagster table schema listing each column's type, rules and nullability."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=column.dtype,
                description=column.description,
                constraints=dg.TableColumnConstraints(
                    nullable=column.nullable, unique=column.unique, other=list(column.rules)
                ),
            )
            for column in columns
        ]
    )


def raw_columns(project: Project) -> list[ColumnSummary]:
    """Every contract column as the text it was read as, plus where each row came from."""
    data = [
        ColumnSummary(c.name, "str", "str", True, False, (), c.description)
        for c in project.columns.columns
        if c.name not in SOURCE_SUMMARIES
    ]
    return [*data, *(source_summary(name) for name in SOURCE_SUMMARIES)]


def quarantined_columns(project: Project) -> list[ColumnSummary]:
    """The raw columns, the reason in words, and every failure as JSON (column, rule, value)."""
    reason = ColumnSummary(REASON, "str", "str", False, False, (), "every rule the row broke")
    failures = ColumnSummary(
        FAILURES, "str", "str", False, False, (), "JSON list of {column, rule, value}"
    )
    return [*raw_columns(project), reason, failures]


def feature_columns(project: Project) -> list[ColumnSummary]:
    """The model's inputs, derived columns, target, row key, split side and source."""
    spec, contract = project.spec, project.columns
    derived = [
        ColumnSummary(name, "float", "float64", True, False, (), f"derived: {expression}")
        for name, expression in spec.derived_features.items()
    ]
    key = ColumnSummary(ROW_KEY, "int", "int64", False, False, (), "hash of the row's key")
    split = ColumnSummary(
        SPLIT, "str", "str", False, False, (f"isin([{TRAIN}, {TEST}])",), "side, by row key"
    )
    return [
        *(contract.get(name) for name in spec.input_columns),
        *derived,
        contract.get(spec.target),
        key,
        split,
        *(source_summary(name) for name in SOURCE_SUMMARIES),
    ]
