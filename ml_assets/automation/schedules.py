"""Periodic retraining: the whole graph on a cron, for data that drifts without new files."""

import dagster as dg

from ml_assets.resources.settings import PROJECT

full_refresh_job = dg.define_asset_job(
    "full_refresh",
    selection=dg.AssetSelection.all(),
    description="Every asset and check, from the landing folder to the evaluation report.",
)

retrain_schedule = dg.ScheduleDefinition(
    name="retrain_schedule",
    job=full_refresh_job,
    cron_schedule=PROJECT.config.schedule.retrain_cron,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Retrains on the landing data (schedule.retrain_cron in the project config).",
)
