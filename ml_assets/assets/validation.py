"""``validated_data`` (Pandera-typed) and ``quarantined_rows``: one validation pass, two outputs."""

import dagster as dg

from ml_assets.assets.groups import VALIDATION, write_pool
from ml_assets.assets.types import DataFrame, contract_type
from ml_assets.checks.contract import CONTRACT_CHECKS, contract_check_results
from ml_assets.checks.gates import require_upstream_checks
from ml_assets.lib.versioning import source_version
from ml_assets.resources.contract_card import assert_card_current
from ml_assets.resources.settings import CARD, PROJECT, PipelineSettings
from ml_assets.resources.storage import STORAGE_FORMAT

AUTOMATION = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
)
VERSION = source_version("ml_assets.lib.contract", extra=CARD.key)
ValidatedData = contract_type(CARD.validated, lambda: PROJECT.contract)


@dg.multi_asset(
    outs={
        "validated_data": dg.AssetOut(
            dagster_type=ValidatedData,
            group_name=VALIDATION,
            code_version=VERSION,
            automation_condition=AUTOMATION,
            metadata={STORAGE_FORMAT: "parquet"},
            description="Rows that meet the data contract, converted to its types.",
        ),
        "quarantined_rows": dg.AssetOut(
            group_name=VALIDATION,
            code_version=VERSION,
            automation_condition=AUTOMATION,
            metadata={STORAGE_FORMAT: "table"},
            description="Rows that break a row-level rule, as read, with every failed rule.",
        ),
    },
    ins={"raw_data": dg.AssetIn()},
    pool=write_pool("validation"),
    check_specs=CONTRACT_CHECKS,
)
def validation(context: dg.AssetExecutionContext, raw_data: DataFrame, settings: PipelineSettings):
    """Validate every raw row against the contract; each row lands in exactly one output."""
    from ml_assets.lib.contract import ContractError, reject_mostly_bad_files, validate_rows
    from ml_assets.lib.ingestion import Rejection, write_rejection

    require_upstream_checks(context)
    assert_card_current(PROJECT, CARD)
    try:
        result = validate_rows(raw_data, PROJECT.contract)
    except ContractError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    result, rejected = reject_mostly_bad_files(raw_data, result, settings.max_file_bad_share)
    for name, share in rejected.items():
        reason = (
            f"{share:.0%} of its rows break the contract (limit {settings.max_file_bad_share:.0%})"
        )
        write_rejection(settings.rejected_dir, Rejection(name, None, "validation", reason))
        context.log.warning(f"{name}: quarantined whole: {reason}")
    valid, quarantined = len(result.valid), len(result.quarantined)
    if valid + quarantined != len(raw_data):
        raise dg.Failure(
            f"row accounting broken: {len(raw_data)} in, {valid} valid, {quarantined} quarantined"
        )
    counts = {
        "rows_in": len(raw_data),
        "rows_valid": valid,
        "rows_quarantined": quarantined,
        "files_quarantined_whole": ", ".join(rejected) or "none",
    }
    yield dg.Output(
        result.valid, output_name="validated_data", metadata={"dagster/row_count": valid, **counts}
    )
    yield dg.Output(
        result.quarantined,
        output_name="quarantined_rows",
        metadata={"dagster/row_count": quarantined, **counts},
    )
    yield from contract_check_results(result.valid, result.quarantined, settings)
