"""The batches step: every landing file becomes a batch, read, validated and featurized once.

One step stores four assets, each a table made of per-batch Parquet files: ``raw_data`` (values
as text), ``validated_data`` (typed rows that meet the contract), ``quarantined_rows`` (rows that
break it, with reasons) and ``features`` (model inputs and split side of the training set). A
refresh processes only batches it has not seen; a rejected batch warns and alerts, and the
others go on.
"""

import dagster as dg

from ml_assets.assets.schemas import (
    column_schema,
    feature_columns,
    quarantined_columns,
    raw_columns,
    table_type,
)
from ml_assets.checks.batches import (
    BATCH_CHECKS,
    batch_list,
    batches_accepted,
    contract_failures,
    gate_result,
    rejection_message,
    training_set_gates,
)
from ml_assets.constants import DATA, write_pool
from ml_assets.lib.core.layout import Layout
from ml_assets.lib.core.versioning import source_version
from ml_assets.lib.project.project_config import Project
from ml_assets.resources.alerts import AlertSink
from ml_assets.resources.io_manager import STORAGE_FORMAT
from ml_assets.resources.settings import PipelineSettings, batch_store

STORED = f"Stored per batch as {Layout('<data_dir>').batches}/<version>/<batch>/"
DESCRIPTIONS = {
    "raw_data": "Every landing file's rows as text, each tagged with its batch, file and line. "
    f"{STORED}raw_data.parquet. A file that cannot be read is a rejected batch, reported by "
    "validated_data's batches_accepted check.",
    "validated_data": "Rows of accepted batches that meet the data contract, in its types. "
    f"{STORED}validated_data.parquet. Its checks warn: batches_accepted names each rejected "
    "batch and why; contract_failures counts failures per batch, column and rule, with rows "
    "(file, line).",
    "quarantined_rows": "Rows that break the contract (every row of a rejected batch), as read, "
    f"with _reason and _failures (column, rule, value). {STORED}quarantined_rows.parquet, "
    "with a spreadsheet-safe CSV beside it.",
    "features": "The training set: model inputs, derived columns, target, row key and hashed "
    f"train/test side of every accepted batch. {STORED}features.parquet. Its blocking checks "
    "(enough_rows, null_rates, split_is_usable) stop training on a set that cannot be trusted.",
}


def build_batches(project: Project) -> dg.AssetsDefinition:
    """The multi-asset that turns the landing folder into batches, for one project."""
    from ml_assets.lib.core.environment import BATCH_PACKAGES, installed_versions

    # What shapes a batch's tables: the contract, the dataset spec, the code, the libraries that
    # read, parse and check rows; the limits join in at run time (BatchRules.version). Training
    # settings and every other package (dev tools among them) do not.
    packages = installed_versions(BATCH_PACKAGES)
    version = source_version(__name__, extra=f"{project.contract_hash}|{project.spec!r}|{packages}")
    schemas = {
        "raw_data": raw_columns(project),
        "validated_data": list(project.columns.columns),
        "quarantined_rows": quarantined_columns(project),
        "features": feature_columns(project),
    }
    outs = {
        name: dg.AssetOut(
            dagster_type=table_type(project, name, columns),
            group_name=DATA,
            code_version=version,
            description=DESCRIPTIONS[name],
            kinds={"pandas", "parquet"},
            metadata={
                STORAGE_FORMAT: "batch_table",
                "dagster/column_schema": column_schema(columns),
            },
        )
        for name, columns in schemas.items()
    }

    @dg.multi_asset(
        name="batches",
        outs=outs,
        internal_asset_deps={
            "validated_data": {dg.AssetKey("raw_data")},
            "quarantined_rows": {dg.AssetKey("raw_data")},
            "features": {dg.AssetKey("validated_data")},
        },
        check_specs=BATCH_CHECKS,
        pool=write_pool("batches"),
        retry_policy=dg.RetryPolicy(max_retries=2, delay=1.0),
    )
    def batches(context: dg.AssetExecutionContext, settings: PipelineSettings, alerts: AlertSink):
        """Every landing file as a batch; new ones are processed, known ones reused."""
        from ml_assets.lib.data.batches import BatchRules, refresh_batches, write_ingestion_records

        landing = _landing_dir(context, settings)
        rules = BatchRules(
            project.contract,
            project.spec,
            settings.max_quarantined_share,
            settings.max_file_bytes,
            version,
        )
        store = batch_store(settings)
        # Held until the outputs are stored: one refresh of the landing folder at a time.
        with store.lock():
            refresh = refresh_batches(landing, store, rules)
            write_ingestion_records(settings.layout, refresh)
            for record in refresh.newly_rejected:
                message = rejection_message(
                    record.batch, record.stage, record.reason, record.failures_by_rule
                )
                context.log.warning(message)
                alerts.send(
                    "batch_rejected",
                    message,
                    batch=record.batch,
                    run_id=context.run_id,
                    asset="validated_data",
                    check="batches_accepted",
                    figures={"rows_in": record.rows_in, "rows_breaking": record.rows_breaking},
                )
            new = len(refresh.new)
            for name in schemas:
                table = refresh.table(name)
                yield dg.Output(
                    table,
                    output_name=name,
                    data_version=dg.DataVersion(table.data_version),
                    metadata={
                        "dagster/row_count": table.rows,
                        "batch_count": len(table.records),
                        "new_batches": new,
                        "batches": dg.MetadataValue.md(batch_list(table)),
                        "landing_dir": dg.MetadataValue.path(str(landing)),
                    },
                )
            yield batches_accepted(refresh)
            yield contract_failures(refresh)
            for gate in training_set_gates(refresh.records, project, settings):
                yield gate_result(gate)

    return batches


def _landing_dir(context: dg.AssetExecutionContext, settings: PipelineSettings):
    """The landing folder, seeded with the demo data when empty and the settings ask for it."""
    try:
        landing = settings.landing_dir
    except ValueError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    landing.mkdir(parents=True, exist_ok=True)
    if settings.seed_demo_when_empty and not any(landing.iterdir()):
        from ml_assets.demo.data import write_demo_csv

        context.log.info(f"landing folder {landing} is empty: writing the demo dataset")
        write_demo_csv(landing, rows=settings.demo_rows, seed=settings.seed)
    return landing
