"""Dagster types made from the Pandera contracts, checked on structure at every output.

They show the typed contract in the UI from the contract card (no pandas at load) and build
``pandera_schema_to_dagster_type`` from the real schema the first time a step checks a value.
"""

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dagster as dg

from ml_assets.resources.contract_card import TypeCard

if TYPE_CHECKING:
    import pandera.pandas as pa
    from pandas import DataFrame
else:
    DataFrame = Any  # what asset parameters hold, without importing pandas to say so


def contract_type(card: TypeCard, schema: "Callable[[], pa.DataFrameSchema]") -> dg.DagsterType:
    """The card's type, checking columns and dtypes against ``schema()`` when a value arrives.

    The row-level rules were enforced a moment earlier (validation quarantines every breaking
    row, and the asset checks report them); running them again on each output doubled the cost
    of validation on large batches. The UI shows the whole typed contract, with text columns as
    the Arrow-backed strings the pipeline holds them in.
    """

    @functools.cache
    def pandera_type() -> dg.DagsterType:
        from dagster_pandera import pandera_schema_to_dagster_type

        from ml_assets.lib.contract import stored_schema

        return pandera_schema_to_dagster_type(stored_schema(schema()))

    def check_structure(context: dg.TypeCheckContext, value: object) -> dg.TypeCheck:
        from pandera.config import ValidationDepth, config_context

        with config_context(validation_depth=ValidationDepth.SCHEMA_ONLY):
            return pandera_type().type_check(context, value)

    return dg.DagsterType(
        type_check_fn=check_structure,
        name=card.name,
        description=card.description,
        metadata={"schema": dg.MetadataValue.table_schema(card.table_schema)},
    )
