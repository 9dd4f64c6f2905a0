"""Checks that report the data contract on ``validated_data`` as numbers and tables in the UI.

They are evaluated inside the validation step, on the frames it just built, so a batch is not
read back from storage once per check.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import dagster as dg

from ml_assets.lib.dataset import FAILURES, REASON, SOURCE_FILE, SOURCE_LINE
from ml_assets.resources.settings import CARD, PipelineSettings

if TYPE_CHECKING:
    import pandas as pd

VALIDATED = dg.AssetKey("validated_data")
SAMPLE_ROWS = 20

CONTRACT_CHECKS = [
    dg.AssetCheckSpec(
        "contract_failures",
        asset=VALIDATED,
        description="Every row-level contract failure, counted per rule, with a sample (warns).",
    ),
    dg.AssetCheckSpec(
        "quarantined_share",
        asset=VALIDATED,
        blocking=True,
        description="At most max_quarantined_share of the input rows break the contract.",
    ),
    dg.AssetCheckSpec(
        "enough_rows",
        asset=VALIDATED,
        blocking=True,
        description="At least min_rows valid rows to train on.",
    ),
    dg.AssetCheckSpec(
        "null_rates",
        asset=VALIDATED,
        blocking=True,
        description="The null share of each nullable column stays under its limit.",
    ),
]


def failures_by_rule(quarantined: pd.DataFrame) -> pd.DataFrame:
    """Count failed cells per column and rule from the quarantine's structured reasons."""
    import pandas as pd

    records = [failure for cell in quarantined[FAILURES] for failure in json.loads(cell)]
    if not records:
        return pd.DataFrame({"column": [], "rule": [], "failures": []})
    frame = pd.DataFrame.from_records(records)
    return frame.groupby(["column", "rule"], dropna=False).size().rename("failures").reset_index()


def contract_failures(quarantined: pd.DataFrame) -> dg.AssetCheckResult:
    """Failures per rule and a sample of quarantined rows with file and line (warns only)."""
    sample = quarantined[[SOURCE_FILE, SOURCE_LINE, REASON]].head(SAMPLE_ROWS)
    return dg.AssetCheckResult(
        asset_key=VALIDATED,
        check_name="contract_failures",
        passed=quarantined.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_rows": len(quarantined),
            "failures_by_rule": dg.MetadataValue.md(
                failures_by_rule(quarantined).to_markdown(index=False)
            ),
            "sample": dg.MetadataValue.md(
                sample.to_markdown(index=False) if len(sample) else "none"
            ),
        },
    )


def quarantined_share(
    valid: pd.DataFrame, quarantined: pd.DataFrame, settings: PipelineSettings
) -> dg.AssetCheckResult:
    """The quarantined share of the input rows against ``max_quarantined_share``."""
    total = len(valid) + len(quarantined)
    share = len(quarantined) / total if total else 0.0
    return dg.AssetCheckResult(
        asset_key=VALIDATED,
        check_name="quarantined_share",
        passed=share <= settings.max_quarantined_share,
        metadata={"share": share, "limit": settings.max_quarantined_share, "rows_in": total},
    )


def enough_rows(valid: pd.DataFrame, settings: PipelineSettings) -> dg.AssetCheckResult:
    """Validated rows against ``min_rows``."""
    return dg.AssetCheckResult(
        asset_key=VALIDATED,
        check_name="enough_rows",
        passed=len(valid) >= settings.min_rows,
        metadata={"rows": len(valid), "minimum": settings.min_rows},
    )


def null_rates(valid: pd.DataFrame, settings: PipelineSettings) -> dg.AssetCheckResult:
    """Null share of each nullable contract column against its limit."""
    import pandas as pd

    columns = [name for name in CARD.columns.data_columns if name in CARD.columns.nullable]
    shares = [float(valid[name].isna().mean()) if len(valid) else 0.0 for name in columns]
    table = pd.DataFrame(
        {
            "column": columns,
            "null_share": shares,
            "limit": [settings.null_limit(name) for name in columns],
        }
    )
    over = table[table["null_share"] > table["limit"]]
    return dg.AssetCheckResult(
        asset_key=VALIDATED,
        check_name="null_rates",
        passed=over.empty,
        metadata={
            "null_rates": dg.MetadataValue.md(table.to_markdown(index=False)),
            "columns_over_limit": ", ".join(over["column"]) or "none",
        },
    )


def contract_check_results(
    valid: pd.DataFrame, quarantined: pd.DataFrame, settings: PipelineSettings
) -> list[dg.AssetCheckResult]:
    """Every contract check, in the order of ``CONTRACT_CHECKS``."""
    return [
        contract_failures(quarantined),
        quarantined_share(valid, quarantined, settings),
        enough_rows(valid, settings),
        null_rates(valid, settings),
    ]
