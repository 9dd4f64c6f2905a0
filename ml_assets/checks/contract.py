"""Checks that report the data contract on ``validated_data`` as numbers and tables in the UI."""

import json

import dagster as dg
import pandas as pd

from ml_assets.lib.contract import FAILURES, REASON, data_columns
from ml_assets.lib.dataset import SOURCE_FILE, SOURCE_LINE
from ml_assets.resources.settings import CONTRACT, PipelineSettings

QUARANTINED = {"quarantined_rows": dg.AssetIn("quarantined_rows")}
SAMPLE_ROWS = 20


def failures_by_rule(quarantined: pd.DataFrame) -> pd.DataFrame:
    """Count failed cells per column and rule from the quarantine's structured reasons."""
    records = [failure for cell in quarantined[FAILURES] for failure in json.loads(cell)]
    if not records:
        return pd.DataFrame({"column": [], "rule": [], "failures": []})
    frame = pd.DataFrame.from_records(records)
    return frame.groupby(["column", "rule"]).size().rename("failures").reset_index()


@dg.asset_check(asset="validated_data", additional_ins=QUARANTINED, blocking=False)
def contract_failures(
    validated_data: pd.DataFrame, quarantined_rows: pd.DataFrame
) -> dg.AssetCheckResult:
    """Every row-level contract failure, counted per rule, with a sample of rows (warns only)."""
    counts = failures_by_rule(quarantined_rows)
    sample = quarantined_rows[[SOURCE_FILE, SOURCE_LINE, REASON]].head(SAMPLE_ROWS)
    return dg.AssetCheckResult(
        passed=quarantined_rows.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_rows": len(quarantined_rows),
            "failures_by_rule": dg.MetadataValue.md(counts.to_markdown(index=False)),
            "sample": dg.MetadataValue.md(
                sample.to_markdown(index=False) if len(sample) else "none"
            ),
        },
    )


@dg.asset_check(asset="validated_data", additional_ins=QUARANTINED, blocking=True)
def quarantined_share(
    validated_data: pd.DataFrame, quarantined_rows: pd.DataFrame, settings: PipelineSettings
) -> dg.AssetCheckResult:
    """At most ``max_quarantined_share`` of the input rows may break the contract."""
    total = len(validated_data) + len(quarantined_rows)
    share = len(quarantined_rows) / total if total else 0.0
    return dg.AssetCheckResult(
        passed=share <= settings.max_quarantined_share,
        metadata={"share": share, "limit": settings.max_quarantined_share, "rows_in": total},
    )


@dg.asset_check(asset="validated_data", blocking=True)
def enough_rows(validated_data: pd.DataFrame, settings: PipelineSettings) -> dg.AssetCheckResult:
    """A batch needs at least ``min_rows`` valid rows to train on."""
    return dg.AssetCheckResult(
        passed=len(validated_data) >= settings.min_rows,
        metadata={"rows": len(validated_data), "minimum": settings.min_rows},
    )


@dg.asset_check(asset="validated_data", blocking=True)
def null_rates(validated_data: pd.DataFrame, settings: PipelineSettings) -> dg.AssetCheckResult:
    """The null share of each nullable column stays under its limit."""
    columns = [name for name in data_columns(CONTRACT) if CONTRACT.columns[name].nullable]
    table = pd.DataFrame(
        {
            "column": columns,
            "null_share": [
                float(validated_data[name].isna().mean()) if len(validated_data) else 0.0
                for name in columns
            ],
            "limit": [settings.null_limit(name) for name in columns],
        }
    )
    over = table[table["null_share"] > table["limit"]]
    return dg.AssetCheckResult(
        passed=over.empty,
        metadata={
            "null_rates": dg.MetadataValue.md(table.to_markdown(index=False)),
            "columns_over_limit": ", ".join(over["column"]) or "none",
        },
    )
