"""The ``feature_store`` asset: the features of every accepted batch as an offline feature store.

A hive-partitioned Parquet dataset (``batch=<name>/``) per batch version, under the layout's
``feature_store`` folder,
keyed by the row key and an event timestamp, read point-in-time by
``ml_assets.lib.data.feature_store.FeatureStore.get_training_frame``. Each refresh writes only the
batches the store does not hold yet.
"""

import dagster as dg

from ml_assets.assets.schemas import column_schema, feature_store_columns
from ml_assets.constants import AUTOMATION, DATA, write_pool
from ml_assets.lib.core.versioning import source_version
from ml_assets.lib.data.batch_records import BatchTable
from ml_assets.lib.project.project_config import Project
from ml_assets.resources.io_manager import STORAGE_FORMAT
from ml_assets.resources.settings import PipelineSettings, batch_store


def open_feature_store(project: Project, settings: PipelineSettings, version: str):
    """The project's feature store of one batch version, under the settings' storage folder."""
    from upath import UPath

    from ml_assets.lib.data.feature_store import FeatureStore, StoreLayout

    layout = StoreLayout.of(project.spec, project.config.feature_store.event_timestamp)
    return FeatureStore(UPath(settings.layout.feature_store), version, layout)


def build_feature_store(project: Project) -> dg.AssetsDefinition:
    """The feature-store asset of one project."""
    columns, owners = feature_store_columns(project)

    @dg.asset(
        name="feature_store",
        group_name=DATA,
        pool=write_pool("feature_store"),
        code_version=source_version(
            __name__,
            extra=f"{project.spec!r}|{project.config.feature_store!r}",
        ),
        automation_condition=AUTOMATION,
        kinds={"parquet", "pyarrow"},
        metadata={
            STORAGE_FORMAT: "report",
            "dagster/column_schema": column_schema(columns, owners),
        },
    )
    def feature_store(
        context: dg.AssetExecutionContext, features: BatchTable, settings: PipelineSettings
    ):
        """Offline feature store: features per batch as Parquet, read as of any time.

        Keyed by the row key and an event timestamp (the configured column, or the batch's
        arrival); ``FeatureStore.get_training_frame(as_of=..., columns=...)`` never returns a
        value from after ``as_of``. Stored under ``storage/feature_store/``; this asset's JSON
        describes it.
        """
        store = open_feature_store(project, settings, features.version)
        from ml_assets.lib.data.feature_store import store_manifest, sync_feature_store

        result = sync_feature_store(store, features, batch_store(settings))
        if not result.written and not result.removed:
            context.log.info(f"feature store already holds all {len(result.kept)} batch(es)")
        manifest = store_manifest(store, result, features.data_version)
        return dg.Output(
            manifest,
            data_version=dg.DataVersion(f"{features.data_version}-{store.version}"),
            metadata={
                "dagster/row_count": features.rows,
                "store_path": dg.MetadataValue.path(str(store.path)),
                "batches": dg.MetadataValue.json(manifest["batches"]),
                "batches_written": len(result.written),
                "batches_removed": len(result.removed),
                "key": store.layout.key,
                "event_timestamp": store.layout.event_timestamp,
                "read_with": dg.MetadataValue.md(_usage(store.path)),
            },
        )

    return feature_store


def _usage(path: object) -> str:
    """How to read the store from Python (any hive-aware Parquet reader works too)."""
    return (
        "```python\nfrom ml_assets.lib.data.feature_store import FeatureStore\n"
        f"store = FeatureStore.open({str(path)!r})\n"
        "frame = store.get_training_frame(as_of='2026-01-31T00:00:00+00:00')\n```"
    )
