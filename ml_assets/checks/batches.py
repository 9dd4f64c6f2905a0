"""Checks of the batches step: each batch's fate (warns) and the training-set gates (block).

A rejected batch is the batch's problem: it warns, alerts and is left out, and the others go on.
What stops training is the training set itself (too few rows, too many nulls, a class missing).
"""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from ml_assets.constants import FEATURES, VALIDATED_DATA
from ml_assets.lib.core.layout import Layout
from ml_assets.lib.core.markdown import table
from ml_assets.lib.data.batch_records import (
    REFUSED,
    BatchRecord,
    BatchTable,
    Refresh,
    ingestion_entries,
)
from ml_assets.lib.data.training_set_gates import (
    ENOUGH_ROWS,
    NULL_RATES,
    SPLIT_IS_USABLE,
    Gate,
    failed_gates,
    training_gates,
)
from ml_assets.lib.project.project_config import Project
from ml_assets.resources.settings import PipelineSettings

BATCHES_ACCEPTED = "batches_accepted"
REASON_FILES = Layout("<data_dir>").rejected
CONTRACT_FAILURES = "contract_failures"

BATCH_CHECKS = [
    dg.AssetCheckSpec(
        BATCHES_ACCEPTED,
        asset=VALIDATED_DATA,
        description="Every batch in the landing folder was accepted; each rejected one is named "
        "with its figures and what to do (warns: the other batches go on).",
    ),
    dg.AssetCheckSpec(
        CONTRACT_FAILURES,
        asset=VALIDATED_DATA,
        description="Row-level contract failures per column and rule over the landing folder's "
        "batches, with a sample of quarantined rows and their file and line (warns).",
    ),
    dg.AssetCheckSpec(
        ENOUGH_ROWS,
        asset=FEATURES,
        blocking=True,
        description="The training set (accepted batches) has at least checks.min_rows rows.",
    ),
    dg.AssetCheckSpec(
        NULL_RATES,
        asset=FEATURES,
        blocking=True,
        description="In the training set, each nullable column's null share is within its limit.",
    ),
    dg.AssetCheckSpec(
        SPLIT_IS_USABLE,
        asset=FEATURES,
        blocking=True,
        description="The training set has train and test rows and, for classification, every "
        "class has training rows.",
    ),
]


def rejection_message(
    batch: str, stage: str, reason: str, failures: Sequence[Mapping[str, Any]] = ()
) -> str:
    """What happened to a rejected batch, which rules its rows broke, and what to do about it."""
    advice = "fix the file and drop it again (a corrected file is a new batch)"
    if stage == "validation" and "break the contract (limit" in reason:
        advice += ", or raise checks.max_quarantined_share"
    where = "see quarantined_rows" if stage == "validation" else f"see {REASON_FILES}/"
    broken = f" ({failure_summary(failures)})" if failures else ""
    return f"{batch} rejected: {reason}{broken}: {where}; {advice}"


def failure_summary(failures: Sequence[Mapping[str, Any]]) -> str:
    """Contract failures as ``column: rule in N row(s)``, the most frequent first."""
    ordered = sorted(failures, key=lambda failure: -failure["failures"])
    return ", ".join(f"{f['column']}: {f['rule']} in {f['failures']} row(s)" for f in ordered)


def batches_accepted(refresh: Refresh) -> dg.AssetCheckResult:
    """Warns with each rejected batch and file left out; lists every batch with its figures."""
    problems = [
        rejection_message(r.batch, r.stage, r.reason, r.failures_by_rule) for r in refresh.rejected
    ]
    problems += [f"{o.file} refused: {o.reason}" for o in refresh.others if o.status == REFUSED]
    columns = ["file", "batch", "status", "rows_in", "rows_valid", "rows_quarantined", "reason"]
    return dg.AssetCheckResult(
        asset_key=VALIDATED_DATA,
        check_name=BATCHES_ACCEPTED,
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or f"all {len(refresh.records)} batch(es) accepted",
        metadata={
            "batches_rejected": len(refresh.rejected),
            "batches_accepted": len(refresh.records) - len(refresh.rejected),
            "batches": dg.MetadataValue.md(table(ingestion_entries(refresh), columns)),
            "failures_by_rule": dg.MetadataValue.md(table(_failures(refresh.rejected))),
            "sample": dg.MetadataValue.md(table(_sample(refresh.rejected))),
        },
    )


def batch_list(table_of_batches: BatchTable) -> str:
    """The batches a table is made of, with their file, status and rows, as Markdown."""
    rows = [
        {
            "batch": record.batch,
            "file": record.file,
            "status": record.status,
            "rows in": record.rows_in,
            "valid": record.rows_valid,
            "quarantined": record.rows_quarantined,
            "processed at": record.processed_at,
        }
        for record in table_of_batches.records
    ]
    return table(rows)


def contract_failures(refresh: Refresh) -> dg.AssetCheckResult:
    """Failures per batch, column and rule, with a sample of quarantined rows and their line."""
    broken = [record for record in refresh.records if record.failures_by_rule]
    quarantined = sum(record.rows_quarantined for record in refresh.records)
    summary = "; ".join(
        f"{record.batch}: {failure_summary(record.failures_by_rule)}" for record in broken
    )
    return dg.AssetCheckResult(
        asset_key=VALIDATED_DATA,
        check_name=CONTRACT_FAILURES,
        passed=quarantined == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{quarantined} quarantined row(s): {summary or 'whole batches rejected'}"
        if quarantined
        else "no row breaks the contract",
        metadata={
            "quarantined_rows": quarantined,
            "failures_by_rule": dg.MetadataValue.md(table(_failures(refresh.records))),
            "sample": dg.MetadataValue.md(table(_sample(refresh.records))),
        },
    )


def _failures(records: Sequence[BatchRecord]) -> list[dict[str, Any]]:
    """One row per batch, column and rule broken, with the number of rows that broke it."""
    return [
        {"batch": record.batch, **failure}
        for record in records
        for failure in sorted(record.failures_by_rule, key=lambda f: -f["failures"])
    ]


def _sample(records: Sequence[BatchRecord]) -> list[dict[str, Any]]:
    """Up to 20 quarantined rows: batch, file, line and every rule the row broke."""
    return [{"batch": record.batch, **row} for record in records for row in record.sample][:20]


def gate_result(gate: Gate) -> dg.AssetCheckResult:
    """A training-set gate as the blocking check of ``features``."""
    metadata: dict = dict(gate.figures)
    if gate.table:
        metadata["table"] = dg.MetadataValue.md(table(gate.table))
    return dg.AssetCheckResult(
        asset_key=FEATURES,
        check_name=gate.name,
        passed=gate.passed,
        description=gate.description,
        metadata=metadata,
    )


def training_set_gates(
    records: list[BatchRecord] | tuple[BatchRecord, ...],
    project: Project,
    settings: PipelineSettings,
) -> list[Gate]:
    """The training-set gates of a project's accepted batches, under the run's limits."""
    columns = project.columns
    nullable = [name for name in columns.nullable if name in columns.data_columns]
    return training_gates(records, project.spec, nullable, settings.limits())


def require_usable_training_set(
    features: BatchTable, project: Project, settings: PipelineSettings
) -> None:
    """Refuse to build on a training set whose gates fail, even in a run that selects only this.

    Dagster stops downstream steps of the same run after a failed blocking check, but not a later
    run; the gates are judged again here from the records the upstream value carries.
    """
    failed = failed_gates(training_set_gates(features.records, project, settings))
    if failed:
        raise dg.Failure(
            description="refusing to build on a training set that fails its checks: "
            + "; ".join(f"features: {gate.name}: {gate.description}" for gate in failed),
            allow_retries=False,
        )
