"""Sensors that keep the asset graph fresh and report failures without anyone clicking."""

import os

import dagster as dg

from ml_assets.lib.landing import LandingCursor, scan_landing
from ml_assets.resources.alerts import AlertSink
from ml_assets.resources.settings import PipelineSettings

RAW_DATA = dg.AssetKey("raw_data")
SENSOR_INTERVAL = int(os.environ.get("ML_ASSETS_SENSOR_INTERVAL", "10"))
TRIGGER_TAG = "ml_assets/trigger"
FILES_TAG = "ml_assets/files"
MAX_TAG_LENGTH = 200


@dg.sensor(
    name="landing_sensor",
    target=dg.AssetSelection.assets(RAW_DATA),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=SENSOR_INTERVAL,
    description="Requests raw_data when files with new content have settled in the landing folder.",
)
def landing_sensor(context: dg.SensorEvaluationContext, settings: PipelineSettings):
    """One run per batch of new content; repeats, partial or unchanged files start nothing."""
    scan = scan_landing(settings.landing_dir, LandingCursor.from_json(context.cursor))
    for error in scan.errors:
        context.log.error(error)
    context.update_cursor(scan.cursor.to_json())
    if not scan.new:
        reasons = [f"{len(scan.waiting)} file(s) still settling"] if scan.waiting else []
        reasons += scan.errors
        return dg.SkipReason("no new content" + (": " + "; ".join(reasons) if reasons else ""))
    names = ", ".join(file.name for file in scan.new)
    return dg.RunRequest(
        run_key=scan.run_key,
        asset_selection=[RAW_DATA],
        tags={TRIGGER_TAG: "landing_sensor", FILES_TAG: names[:MAX_TAG_LENGTH]},
    )


# Dagster's default automation sensor starts stopped; this one is on from the first `dagster dev`.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "ml_assets_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=SENSOR_INTERVAL,
    run_tags={TRIGGER_TAG: "automation"},
    description="Refreshes assets whose upstream changed and whose blocking checks passed.",
)


@dg.run_failure_sensor(
    name="run_failure_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes an alert through the alert sink for every failed run.",
)
def run_failure_alerts(context: dg.RunFailureSensorContext, alerts: AlertSink) -> None:
    """Alert with the run, its trigger and the failure message."""
    run = context.dagster_run
    alerts.send(
        "run_failure",
        context.failure_event.message or "run failed",
        run_id=run.run_id,
        job=run.job_name,
        trigger=run.tags.get(TRIGGER_TAG, "manual"),
        files=run.tags.get(FILES_TAG),
    )
