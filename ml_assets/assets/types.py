"""Dagster types made from the Pandera contracts, checked on structure at every output.

They show the typed contract in the UI from the contract card (no pandas at load) and check
values against the real schema, built the first time a step checks a value.
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
    def stored() -> "pa.DataFrameSchema":
        from ml_assets.lib.contract import stored_schema

        return stored_schema(schema())

    def check_structure(context: dg.TypeCheckContext, value: object) -> dg.TypeCheck:
        import pandas as pd
        import pandera.errors
        from pandera.config import ValidationDepth, config_context

        if not isinstance(value, pd.DataFrame):
            return dg.TypeCheck(False, f"expected a pandas DataFrame, not {type(value).__name__}")
        try:  # in place: a structural check must not copy a table of millions of rows
            with config_context(validation_depth=ValidationDepth.SCHEMA_ONLY):
                stored().validate(value, lazy=True, inplace=True)
        except pandera.errors.SchemaErrors as errors:
            cases = errors.failure_cases
            return dg.TypeCheck(
                False,
                f"{card.name} breaks its schema: {errors}",
                metadata={
                    "num_violations": len(cases),
                    "violations": dg.MetadataValue.md(
                        cases[["column", "check", "failure_case"]].head(20).to_markdown()
                    ),
                },
            )
        return dg.TypeCheck(True)

    return dg.DagsterType(
        type_check_fn=check_structure,
        name=card.name,
        description=card.description,
        metadata={"schema": dg.MetadataValue.table_schema(card.table_schema)},
    )
