"""Sensors that keep the asset graph fresh and report failures without anyone clicking."""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from ml_assets.constants import FEATURES as FEATURES_KEY
from ml_assets.constants import (
    FILES_TAG,
    QUARANTINED_ROWS,
    RAW_DATA,
    TRIGGER_TAG,
    VALIDATED_DATA,
    landing_quiet_seconds,
    sensor_interval,
)
from ml_assets.lib.data.landing import LandingCursor, scan_landing
from ml_assets.resources.alerts import AlertSink
from ml_assets.run_recovery import fail_dead_runs

BATCH_ASSETS = [RAW_DATA, VALIDATED_DATA, QUARANTINED_ROWS, FEATURES_KEY]
MAX_TAG_LENGTH = 200


def build_landing_sensor(
    landing_dir: Path,
    known: Callable[[], Mapping[str, Sequence[Any]]] | None = None,
    quiet_seconds: float | None = None,
) -> dg.SensorDefinition:
    """Requests the batches step when files with new content have settled in ``landing_dir``.

    ``known`` gives, for a first tick, the files the batches step already identified
    (``BatchStore.landing_hashes``); ``quiet_seconds``, how long a file must have been left
    alone to be taken at the first tick that sees it (``scan_landing``; by default
    ``landing_quiet_seconds()``).
    """
    quiet = landing_quiet_seconds() if quiet_seconds is None else quiet_seconds

    @dg.sensor(
        name="landing_sensor",
        target=dg.AssetSelection.assets(*BATCH_ASSETS),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=sensor_interval(),
        description=f"Turns new files in {landing_dir} into batches once they have settled.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext):
        """One run per batch of new content; repeats, partial or unchanged files start nothing."""
        if context.cursor or known is None:
            previous = LandingCursor.from_json(context.cursor)
        else:
            previous = LandingCursor.from_known(known())
        scan = scan_landing(landing_dir, previous, quiet)
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
            asset_selection=BATCH_ASSETS,
            tags={TRIGGER_TAG: "landing_sensor", FILES_TAG: names[:MAX_TAG_LENGTH]},
        )

    return landing_sensor


def build_run_recovery_sensor() -> dg.SensorDefinition:
    """Fails runs whose process was killed, so their assets stop counting as in progress."""

    @dg.sensor(
        name="dead_run_recovery",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description="Marks runs whose process is gone (killed, crashed) as failed, every minute.",
    )
    def dead_run_recovery(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        """Fail the dead runs of this machine's instance; it never requests a run itself."""
        failed = fail_dead_runs(context.instance)
        for run_id in failed:
            context.log.warning(f"run {run_id}: its process is gone; marked failed")
        return dg.SkipReason(f"{len(failed)} dead run(s) marked failed")

    return dead_run_recovery


def build_automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """Dagster's default automation sensor starts stopped; this one runs from the first start."""
    return dg.AutomationConditionSensorDefinition(
        "ml_assets_automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=sensor_interval(),
        run_tags={TRIGGER_TAG: "automation"},
        description="Refreshes assets whose upstream changed and whose blocking checks passed.",
    )


def build_run_failure_sensor(alerts: AlertSink) -> dg.SensorDefinition:
    """Alerts through ``alerts`` for every failed run."""

    @dg.run_failure_sensor(
        name="run_failure_alerts",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Writes an alert through the alert sink for every failed run.",
    )
    def run_failure_alerts(context: dg.RunFailureSensorContext) -> None:
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

    return run_failure_alerts
