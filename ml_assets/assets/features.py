"""The ``features`` asset: derived columns and the hashed train/test side of every valid row."""

from typing import TYPE_CHECKING

import dagster as dg

from ml_assets.assets.groups import FEATURES, write_pool
from ml_assets.assets.types import DataFrame, contract_type
from ml_assets.assets.validation import AUTOMATION
from ml_assets.checks.gates import require_upstream_checks
from ml_assets.checks.split import SPLIT_CHECK, split_is_usable
from ml_assets.lib.versioning import source_version
from ml_assets.resources.settings import CARD, DATASET, PROJECT
from ml_assets.resources.storage import STORAGE_FORMAT

if TYPE_CHECKING:
    import pandera.pandas as pa


def _features_schema() -> "pa.DataFrameSchema":
    from ml_assets.lib.features import features_schema

    return features_schema(PROJECT.contract, DATASET)


@dg.asset(
    group_name=FEATURES,
    pool=write_pool("features"),
    dagster_type=contract_type(CARD.features, _features_schema),
    code_version=source_version("ml_assets.lib.features", extra=repr(DATASET)),
    automation_condition=AUTOMATION,
    metadata={STORAGE_FORMAT: "parquet"},
    check_specs=[SPLIT_CHECK],
)
def features(context: dg.AssetExecutionContext, validated_data: DataFrame):
    """Model inputs with derived columns, the target, a row key and the row's split side."""
    from ml_assets.lib.features import build_features, split_balance

    require_upstream_checks(context)
    table = build_features(validated_data, DATASET)
    balance = split_balance(table, DATASET)
    yield dg.Output(
        table,
        metadata={
            "dagster/row_count": len(table),
            "split_balance": dg.MetadataValue.md(balance.to_markdown(index=False)),
        },
    )
    yield split_is_usable(balance)
