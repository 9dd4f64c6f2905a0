"""The approval gate as a blocking check: each criterion with both figures, and the verdict."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

MODEL_APPROVAL = dg.AssetKey("model_approval")
PRODUCTION_MODEL = dg.AssetKey("production_model")

APPROVAL_GATE = dg.AssetCheckSpec(
    "approval_gate",
    asset=MODEL_APPROVAL,
    blocking=True,
    description="The candidate beats the trivial baseline by a margin, trails the linear "
    "baseline and the champion (re-scored on the same held-out rows) by no more than a "
    "tolerance, and keeps the fairness gaps and every slice metric within bounds. Blocks "
    "production_model: a failed candidate is kept as failed_candidate (never served), the "
    "champion untouched.",
)
CRITERIA_COLUMNS = ("name", "status", "candidate", "reference", "requirement", "description")


def criteria_table(criteria: list[Mapping[str, Any]]) -> dg.TableMetadataValue:
    """Every criterion as a table row, as the UI shows it beside the check."""
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(name, "float" if name in ("candidate", "reference") else "string")
            for name in CRITERIA_COLUMNS
        ]
    )
    records = [dg.TableRecord({name: row[name] for name in CRITERIA_COLUMNS}) for row in criteria]
    return dg.MetadataValue.table(records, schema)


def approval_gate_result(decision: Mapping[str, Any]) -> dg.AssetCheckResult:
    """The gate's verdict on one candidate (blocking: a failure stops production_model)."""
    failed = [c["name"] for c in decision["criteria"] if c["status"] == "fail"]
    return dg.AssetCheckResult(
        check_name=APPROVAL_GATE.name,
        passed=decision["passed"],
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{decision['candidate_version']} {decision['summary']}",
        metadata={
            "criteria": criteria_table(decision["criteria"]),
            "candidate_version": decision["candidate_version"],
            "champion_version": decision["champion_version"] or "none (first model)",
            "failed_criteria": ", ".join(failed) or "none",
            "failed_candidate": decision["failed_candidate"] or "none",
        },
    )
