"""The ``raw_data`` asset: every landing file read as text, tagged with its file and line."""

import dagster as dg
import pandas as pd

from ml_assets.assets.groups import INGESTION, write_pool
from ml_assets.lib.contract import data_columns
from ml_assets.lib.dataset import SOURCE_FILE
from ml_assets.lib.demo_data import write_demo_csv
from ml_assets.lib.ingestion import (
    IngestionError,
    content_hash,
    list_landing_files,
    read_landing_folder,
)
from ml_assets.lib.versioning import source_version
from ml_assets.resources.io_manager import STORAGE_FORMAT
from ml_assets.resources.settings import CONTRACT, PipelineSettings

FILES_HAVE_ROWS = "every_file_has_rows"


@dg.asset(
    group_name=INGESTION,
    pool=write_pool("raw_data"),
    code_version=source_version("ml_assets.lib.ingestion", extra=str(data_columns(CONTRACT))),
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
    """All rows of all files in the landing folder; its data version is a hash of their content."""
    folder = settings.landing_dir
    files = list_landing_files(folder)
    if not files and settings.seed_demo_when_empty:
        context.log.info(f"landing folder {folder} is empty: writing the demo dataset")
        write_demo_csv(folder, rows=settings.demo_rows, seed=settings.seed)
        files = list_landing_files(folder)
    try:
        frame = read_landing_folder(files, data_columns(CONTRACT), strict=CONTRACT.strict is True)
    except IngestionError as error:
        raise dg.Failure(description=f"{folder}/{error}", allow_retries=False) from error
    rows_per_file = frame[SOURCE_FILE].value_counts()
    manifest = pd.DataFrame(
        {
            "file": [file.name for file in files],
            "rows": [int(rows_per_file.get(file.name, 0)) for file in files],
            "bytes": [file.size for file in files],
            "sha256": [file.sha256 for file in files],
        }
    )
    empty = manifest.loc[manifest["rows"] == 0, "file"].tolist()
    yield dg.Output(
        frame,
        data_version=dg.DataVersion(content_hash(files)),
        metadata={
            "dagster/row_count": len(frame),
            "files": dg.MetadataValue.md(manifest.to_markdown(index=False)),
            "landing_dir": dg.MetadataValue.path(str(folder)),
        },
    )
    yield dg.AssetCheckResult(
        check_name=FILES_HAVE_ROWS,
        passed=not empty,
        metadata={"files_without_rows": ", ".join(empty) or "none", "files": len(files)},
        description=f"header-only or empty files: {empty}" if empty else "every file has rows",
    )
