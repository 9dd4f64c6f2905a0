"""The ``raw_data`` asset: every landing file read as text, tagged with its file and line."""

import dagster as dg

from ml_assets.assets.groups import INGESTION, write_pool
from ml_assets.lib.versioning import source_version
from ml_assets.resources.contract_card import assert_card_current
from ml_assets.resources.settings import CARD, PROJECT, PipelineSettings
from ml_assets.resources.storage import STORAGE_FORMAT

FILES_HAVE_ROWS = "every_file_has_rows"


@dg.asset(
    group_name=INGESTION,
    pool=write_pool("raw_data"),
    code_version=source_version("ml_assets.lib.ingestion", extra=str(CARD.columns.data_columns)),
    metadata={STORAGE_FORMAT: "parquet"},
    retry_policy=dg.RetryPolicy(max_retries=2, delay=1.0),
    check_specs=[
        dg.AssetCheckSpec(
            FILES_HAVE_ROWS,
            asset="raw_data",
            blocking=True,
            description="Every landing file has at least one data row (no header-only files).",
        )
    ],
)
def raw_data(context: dg.AssetExecutionContext, settings: PipelineSettings):
    """All rows of all files in the landing folder; its data version is a hash of their content.

    Landing files are only read. Each batch's manifest (file, sha256, bytes, rows) and the reason
    of every file left out are written under ``<data_dir>/ingestion/``.
    """
    import pandas as pd

    from ml_assets.lib.demo_data import write_demo_csv
    from ml_assets.lib.ingestion import (
        IngestionError,
        Rejection,
        content_hash,
        landing_paths,
        read_landing_folder,
        write_manifest,
        write_rejection,
    )

    assert_card_current(PROJECT, CARD)
    try:
        folder = settings.landing_dir
    except ValueError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    try:
        if settings.seed_demo_when_empty and not landing_paths(folder):
            context.log.info(f"landing folder {folder} is empty: writing the demo dataset")
            write_demo_csv(folder, rows=settings.demo_rows, seed=settings.seed)
        columns = CARD.columns
        batch = read_landing_folder(
            folder, columns.data_columns, columns.strict, settings.max_file_bytes
        )
    except IngestionError as error:
        if error.file:
            rejection = Rejection(error.file, error.sha256, "ingestion", str(error))
            write_rejection(settings.rejected_dir, rejection)
        raise dg.Failure(description=f"{folder}/{error}", allow_retries=False) from error
    manifest = pd.DataFrame(
        write_manifest(settings.ingestion_dir / "manifest.json", batch)["accepted"]
    )
    for rejection in batch.rejections:
        write_rejection(settings.rejected_dir, rejection)
        context.log.warning(f"{rejection.file}: left out: {rejection.reason}")
    empty = manifest.loc[manifest["rows"] == 0, "file"].tolist()
    yield dg.Output(
        batch.frame,
        data_version=dg.DataVersion(content_hash(batch.files)),
        metadata={
            "dagster/row_count": len(batch.frame),
            "files": dg.MetadataValue.md(manifest.to_markdown(index=False)),
            "files_left_out": ", ".join(r.file for r in batch.rejections) or "none",
            "landing_dir": dg.MetadataValue.path(str(folder)),
        },
    )
    yield dg.AssetCheckResult(
        check_name=FILES_HAVE_ROWS,
        passed=not empty,
        metadata={"files_without_rows": ", ".join(empty) or "none", "files": len(batch.files)},
        description=f"header-only or empty files: {empty}" if empty else "every file has rows",
    )
