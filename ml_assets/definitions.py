"""The one place where assets, checks, resources and sensors are assembled into Definitions."""

import gc
import os

import dagster as dg

from ml_assets.assets import evaluation, features, ingestion, training, validation
from ml_assets.automation.schedules import full_refresh_job, retrain_schedule
from ml_assets.automation.sensors import automation_sensor, landing_sensor, run_failure_alerts
from ml_assets.resources.alerts import AlertSink
from ml_assets.resources.settings import PipelineSettings, data_dir, data_dir_setting
from ml_assets.resources.storage import ArtifactStorage

STORAGE_SUBDIR = "storage"
ALERTS_FILE = "alerts.jsonl"
WEBHOOK_ENV = "ML_ASSETS_ALERT_WEBHOOK"


def build_resources(base_dir: str | dg.EnvVar | None = None) -> dict[str, object]:
    """Resources for a data folder: the project's own by default, a temporary one in tests."""
    folder = data_dir() if base_dir is None else str(base_dir)
    setting = data_dir_setting() if base_dir is None else folder
    webhook = dg.EnvVar(WEBHOOK_ENV) if os.environ.get(WEBHOOK_ENV) else None
    return {
        "settings": PipelineSettings(data_dir=setting),
        "io_manager": ArtifactStorage(base_dir=f"{folder}/{STORAGE_SUBDIR}"),
        "alerts": AlertSink(path=f"{folder}/{ALERTS_FILE}", webhook_url=webhook),
    }


# What the imports above created (Dagster, the stack, the project) lives as long as the process:
# frozen, it is skipped by every later garbage collection, the full ones at interpreter exit
# included, which take 0.7 s off each CLI call, run and code-server start on 2 cores.
gc.freeze()

ASSET_MODULES = [ingestion, validation, features, training, evaluation]

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(ASSET_MODULES),
    jobs=[full_refresh_job],
    schedules=[retrain_schedule],
    sensors=[landing_sensor, automation_sensor, run_failure_alerts],
    resources=build_resources(),
    executor=dg.in_process_executor,
)
