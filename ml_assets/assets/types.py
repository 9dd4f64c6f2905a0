"""Dagster types made from the Pandera contracts, checked on structure at every output."""

import dagster as dg
import pandera.pandas as pa
from dagster_pandera import pandera_schema_to_dagster_type
from pandera.config import ValidationDepth, config_context


def contract_type(schema: pa.DataFrameSchema) -> dg.DagsterType:
    """``pandera_schema_to_dagster_type``, with its output check limited to columns and dtypes.

    The row-level rules were enforced a moment earlier (validation quarantines every breaking
    row, and the asset checks report them); running them again on each output doubled the cost
    of validation on large batches. The UI still shows the whole typed contract.
    """
    typed = pandera_schema_to_dagster_type(schema)

    def check_structure(context: dg.TypeCheckContext, value: object) -> dg.TypeCheck:
        with config_context(validation_depth=ValidationDepth.SCHEMA_ONLY):
            return typed.type_check(context, value)

    return dg.DagsterType(
        type_check_fn=check_structure,
        name=typed.unique_name,
        description=typed.description,
        metadata=typed.metadata,
        typing_type=typed.typing_type,
    )
