"""The batch tables' types and column schemas, from the contract: the typed contract in the UI.

Each data asset's DagsterType shows its columns (types, rules, nullability) in the UI's type
view and checks, with dagster-pandera, the rows the run added against the table's Pandera
schema. The schema is built, and Pandera imported, on the type's first check, not when the code
location loads: importing dagster-pandera there costs 0.5 s of CPU and 85 MiB on every CLI call
and UI reload (docs/own_data.md, "Typed tables").
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import dagster as dg

from ml_assets.lib.contract.dataset import (
    FAILURES,
    REASON,
    ROW_KEY,
    SOURCE_FILE,
    SOURCE_LINE,
    SPLIT,
    TEST,
    TRAIN,
)
from ml_assets.lib.contract.summary import SOURCE_SUMMARIES, ColumnSummary, source_summary
from ml_assets.lib.data.batch_records import BatchTable
from ml_assets.lib.project.project_config import Project


def column_schema(
    columns: Iterable[ColumnSummary], owners: Mapping[str, str] | None = None
) -> dg.TableSchema:
    """A Dagster table schema listing each column's type, rules and nullability (and owner)."""
    owners = owners or {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=column.dtype,
                description=column.description,
                constraints=dg.TableColumnConstraints(
                    nullable=column.nullable, unique=column.unique, other=list(column.rules)
                ),
                tags={"owner": owners[column.name]} if column.name in owners else None,
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


def feature_store_columns(project: Project) -> tuple[list[ColumnSummary], dict[str, str]]:
    """The feature store's columns, each feature described and owned as the configuration says.

    A feature's description is the configuration's, else the contract's; its owner the
    configuration's, else the store's default owner.
    """
    from ml_assets.lib.data.feature_store import ARRIVAL_TIMESTAMP, EVENT_TIMESTAMP, PARTITION

    section, spec = project.config.feature_store, project.spec
    features = {column.name: column for column in feature_columns(project)}
    if spec.key:
        key = replace(project.columns.get(spec.key), description="entity key (the dataset's key)")
    else:
        key = replace(features[ROW_KEY], description="entity key: hash of the row's content")
    event_text = "event time" + ("" if section.event_timestamp else ": the batch's arrival")
    event = (
        replace(project.columns.get(section.event_timestamp), description=event_text)
        if section.event_timestamp
        else ColumnSummary(
            EVENT_TIMESTAMP, "datetime", "timestamp[us, UTC]", False, False, (), event_text
        )
    )
    arrival = ColumnSummary(
        ARRIVAL_TIMESTAMP,
        "datetime",
        "timestamp[us, UTC]",
        False,
        False,
        (),
        "when the row's batch first reached the store (a correction is visible from then on)",
    )
    stored, owners = [], {}
    for name in (*spec.model_columns, spec.target):
        doc = section.columns.get(name)
        description = (doc and doc.description) or features[name].description
        owners[name] = (doc and doc.owner) or section.owner
        stored.append(
            replace(features[name], description=f"{description or name} (owner: {owners[name]})")
        )
    partition = ColumnSummary(
        PARTITION, "str", "str", False, False, (), "hive partition: the batch"
    )
    rest = [features[name] for name in (SPLIT, SOURCE_FILE, SOURCE_LINE)]
    return [key, event, arrival, *stored, *rest, partition], owners


def table_type(project: Project, table: str, columns: list[ColumnSummary]) -> dg.DagsterType:
    """A batch table's DagsterType: its columns for the UI, its Pandera schema for the check.

    The value is the table as batches (``BatchTable``); the check reads only the rows of the
    batches this run added, so its cost follows what arrived, not the history.
    """

    def check(context: dg.TypeCheckContext, value: object) -> dg.TypeCheck:
        if not isinstance(value, BatchTable):
            return dg.TypeCheck(False, f"{table}: expected a BatchTable, got {type(value)}")
        if not value.added_batches or value.store is None:
            return dg.TypeCheck(True, metadata={"rows_checked": 0, "batches_checked": 0})
        return _check_added_rows(project, table, context, value)

    name = re.sub(r"\W", "_", f"{project.spec.name}_{table}")
    return dg.DagsterType(
        type_check_fn=check,
        name=name,
        description=f"The {table} table of {project.spec.name}: Pandera schema from its contract.",
        metadata={"schema": dg.MetadataValue.table_schema(column_schema(columns))},
        typing_type=BatchTable,
    )


# Rows read back and checked at once: reading a 1e6-row batch whole for its check raised the
# step's peak by about 160 MB; in chunks of 1e5 by about 20 MB, for the same CPU. A rule over a
# whole table (uniqueness) is judged per chunk here; the step judged each batch whole before.
CHECK_ROWS = 100_000

_PANDERA_TYPES: dict[tuple[str, str, str], tuple[Any, dg.DagsterType]] = {}


def _pandera_type(project: Project, table: str) -> tuple[Any, dg.DagsterType]:
    """The table's Pandera schema and the DagsterType dagster-pandera makes of it, once."""
    key = (project.contract_hash, repr(project.spec), table)
    if key not in _PANDERA_TYPES:
        from dagster_pandera import pandera_schema_to_dagster_type

        from ml_assets.lib.data.batches import table_schemas

        schema = table_schemas(project.contract, project.spec)[table]
        _PANDERA_TYPES[key] = (schema, pandera_schema_to_dagster_type(schema))
    return _PANDERA_TYPES[key]


def _check_added_rows(
    project: Project, table: str, context: dg.TypeCheckContext, value: BatchTable
) -> dg.TypeCheck:
    """dagster-pandera's check on the added rows; a failure named by batch, column and rule."""
    import pandera.errors

    from ml_assets.lib.data.batches import schema_failures

    schema, pandera_type = _pandera_type(project, table)
    checked = {"rows_checked": 0, "batches_checked": len(value.added_batches)}
    for rows in value.added_chunks(CHECK_ROWS):
        checked["rows_checked"] += len(rows)
        if pandera_type.type_check(context, rows).success:
            continue
        try:
            schema.validate(rows, lazy=True)
        except pandera.errors.SchemaErrors as errors:
            failures = schema_failures(errors.failure_cases, rows)
            return dg.TypeCheck(False, f"{table} breaks its schema:\n{failures}", metadata=checked)
        return dg.TypeCheck(False, f"{table}: rows that break its schema", metadata=checked)
    return dg.TypeCheck(True, metadata=checked)
