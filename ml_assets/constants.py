"""Names the Dagster layer shares: stages, pools, tags, environment variables, automation."""

import os

import dagster as dg

# Stages: the data a model learns from, and the model with its evaluation. Each asset declares
# its stage as its group_name; the definitions put every asset in PIPELINE_GROUP with its stage
# as the STAGE_TAG tag, so the asset graph's first screen shows the assets (assets/stages.py).
DATA = "data"
MODEL = "model"
PIPELINE_GROUP = "ml_pipeline"
STAGE_TAG = "stage"

RAW_DATA = dg.AssetKey("raw_data")
VALIDATED_DATA = dg.AssetKey("validated_data")
QUARANTINED_ROWS = dg.AssetKey("quarantined_rows")
FEATURES = dg.AssetKey("features")
TRAINED_MODEL = dg.AssetKey("trained_model")
EVALUATION_REPORT = dg.AssetKey("evaluation_report")
DRIFT_REPORT = dg.AssetKey("drift_report")
LIVE_PERFORMANCE = dg.AssetKey("live_performance")

TRIGGER_TAG = "ml_assets/trigger"
FILES_TAG = "ml_assets/files"

WEBHOOK_ENV = "ML_ASSETS_ALERT_WEBHOOK"
SENSOR_INTERVAL_ENV = "ML_ASSETS_SENSOR_INTERVAL"


def sensor_interval() -> int:
    """Seconds between sensor ticks (``$ML_ASSETS_SENSOR_INTERVAL``, 10 by default)."""
    return int(os.environ.get(SENSOR_INTERVAL_ENV, "10"))


LANDING_QUIET_ENV = "ML_ASSETS_LANDING_QUIET"


def landing_quiet_seconds() -> float:
    """Seconds a landed file must be left alone to be taken at once (``$ML_ASSETS_LANDING_QUIET``).

    ``landing.QUIET_SECONDS`` by default. A writer pausing longer between writes would be read
    half-way: for such writers set it to the sensor interval or more (or land ``.part`` files).
    """
    from ml_assets.lib.data.landing import QUIET_SECONDS

    return float(os.environ.get(LANDING_QUIET_ENV, QUIET_SECONDS))


def write_pool(step: str) -> str:
    """Concurrency pool of one slot per step (see dagster.yaml): one writer at a time."""
    return f"ml_assets.write.{step}"


# Refresh when an upstream asset changed, never past a failed blocking check.
AUTOMATION = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
)

# The champion at work: batch predictions and the A/B analysis of the canary.
SERVING = "serving"
