"""Periodic retraining: the whole graph on a cron, for data that drifts without new files."""

import dagster as dg

from ml_assets.automation.jobs import full_refresh_job
from ml_assets.lib.project.project_config import Project


def build_retrain_schedule(project: Project) -> dg.ScheduleDefinition:
    """The project's retrain schedule (off until turned on in the UI)."""
    return dg.ScheduleDefinition(
        name="retrain_schedule",
        job=full_refresh_job,
        cron_schedule=project.config.schedule.retrain_cron,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Retrains on the landing data (schedule.retrain_cron in the project config).",
    )
