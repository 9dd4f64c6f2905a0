"""Artifacts, the batch store and the registry on S3 (moto's server): the graph runs on it, and
the model it trained is registered there and read back through the registry."""

from pathlib import Path

import dagster as dg

from ml_assets.lib.model.modeling import model_inputs
from ml_assets.lib.release.registry import ModelRegistry
from ml_assets_tests.conftest import DEMO, materialize, settings_for


def test_the_graph_stores_everything_on_s3_and_the_registry_serves_its_model(
    data_dir: Path, instance: dg.DagsterInstance, s3_bucket: str
) -> None:
    import s3fs
    from upath import UPath

    from ml_assets.resources.io_manager import ArtifactIOManager
    from ml_assets.resources.settings import batch_store

    storage_url = f"s3://{s3_bucket}/ml_assets/storage"
    result = materialize(data_dir, instance, settings={"storage_url": storage_url})
    assert result.success

    stored = s3fs.S3FileSystem(skip_instance_cache=True).find(f"{s3_bucket}/ml_assets/storage")
    names = {Path(key).name for key in stored}
    assert {"raw_data.json", "features.json", "trained_model.skops", "batch.json"} <= names
    assert {"evaluation_report.json", "evaluation_report.md", "features.parquet"} <= names
    assert not any(name.endswith(".tmp") for name in names)
    assert not (data_dir / "storage").exists(), "artifacts were written locally"
    assert (data_dir / "ingestion" / "manifest.json").exists()  # the landing side stays local

    manager = ArtifactIOManager(base_path=UPath(storage_url))

    def load(name: str, fmt: str):
        output = dg.build_output_context(
            asset_key=dg.AssetKey(name), definition_metadata={"storage_format": fmt}
        )
        return manager.load_input(
            dg.build_input_context(asset_key=dg.AssetKey(name), upstream_output=output)
        )

    model = load("trained_model", "skops")
    features = batch_store(settings_for(data_dir, storage_url=storage_url)).read(
        load("features", "batch_table")
    )
    report = load("evaluation_report", "report")
    test_rows = features[features["_split"] == "test"]
    assert len(test_rows) == report["rows"]["test"]
    predicted = model.predict(model_inputs(test_rows, DEMO.spec))
    accuracy = float((predicted == test_rows["target"].to_numpy()).mean())
    assert accuracy == report["metrics"]["accuracy"]  # the very model the report evaluated

    provenance = report["provenance"]
    registry_url = f"s3://{s3_bucket}/ml_assets/registry"
    version = ModelRegistry(registry_url).register(
        model,
        metrics=report["metrics"],
        data_version=provenance["data_version"],
        batches=provenance["batches"],
        config_hash=provenance["config_hash"],
        task=report["task"],
    )
    ModelRegistry(registry_url).set_alias("champion", version.version, reason="test", actor="ci")
    reader = ModelRegistry(registry_url)
    served, record = reader.load(reader.alias("champion"))
    assert record == version and record.fingerprint == provenance["model_version"]
    assert (served.predict(model_inputs(test_rows, DEMO.spec)) == predicted).all()
