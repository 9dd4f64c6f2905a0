"""The one place where assets, checks, resources and sensors are assembled into Definitions."""

import dagster as dg

from ml_assets.assets import evaluation, features, ingestion, training, validation
from ml_assets.automation.sensors import automation_sensor
from ml_assets.checks import contract, split
from ml_assets.resources.io_manager import ArtifactStorage
from ml_assets.resources.settings import PipelineSettings, data_dir, data_dir_setting

STORAGE_SUBDIR = "storage"


def build_resources(base_dir: str | dg.EnvVar | None = None) -> dict[str, object]:
    """Resources for a data folder: the project's own by default, a temporary one in tests."""
    if base_dir is None:
        settings = PipelineSettings(data_dir=data_dir_setting())
        storage = f"{data_dir()}/{STORAGE_SUBDIR}"
    else:
        settings = PipelineSettings(data_dir=str(base_dir))
        storage = f"{base_dir}/{STORAGE_SUBDIR}"
    return {"settings": settings, "io_manager": ArtifactStorage(base_dir=storage)}


ASSET_MODULES = [ingestion, validation, features, training, evaluation]
CHECK_MODULES = [contract, split]

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(ASSET_MODULES),
    asset_checks=dg.load_asset_checks_from_modules(CHECK_MODULES),
    sensors=[automation_sensor],
    resources=build_resources(),
    executor=dg.in_process_executor,
)
