"""Periodic retraining: the whole graph on a cron, for data that drifts without new files."""

import os

import dagster as dg

RETRAIN_CRON = os.environ.get("ML_ASSETS_RETRAIN_CRON", "0 3 * * 1")

full_refresh_job = dg.define_asset_job(
    "full_refresh",
    selection=dg.AssetSelection.all(),
    description="Every asset and check, from the landing folder to the evaluation report.",
)

retrain_schedule = dg.ScheduleDefinition(
    name="retrain_schedule",
    job=full_refresh_job,
    cron_schedule=RETRAIN_CRON,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Retrains on the landing data ($ML_ASSETS_RETRAIN_CRON; default Mondays 03:00).",
)
