"""Freshness checks, and sensors that alert on failed checks and act on drift.

Every failed asset check reaches the alert sink once per condition (asset and check): it
alerts when it starts failing and again only after it has passed in between. Checks whose own
step already alerted with its figures (drift, rejected batches) are left to that step.
"""

import json
import warnings
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import dagster as dg

from ml_assets.constants import (
    DRIFT_REPORT,
    EVALUATION_REPORT,
    RAW_DATA,
    TRAINED_MODEL,
    TRIGGER_TAG,
    sensor_interval,
)
from ml_assets.lib.project.project_config import Project
from ml_assets.resources.alerts import AlertSink

ALERTED_BY_THEIR_STEP = {"drift_below_error", "batches_accepted"}
LAST_UPDATED = "dagster/last_updated_timestamp"


def build_freshness_checks(project: Project) -> list[dg.AssetChecksDefinition]:
    """Warn when no batch has landed, or the model has not been retrained, within its window."""
    checks = project.config.checks
    # Freshness checks rather than the newer FreshnessPolicy: their evaluations are check events
    # that the alert sensor reads and the UI lists with the other checks, without Dagster+.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return [
            *dg.build_last_update_freshness_checks(
                assets=[RAW_DATA], lower_bound_delta=timedelta(hours=checks.landing_window_hours)
            ),
            *dg.build_last_update_freshness_checks(
                assets=[TRAINED_MODEL],
                lower_bound_delta=timedelta(hours=checks.retraining_window_hours),
            ),
        ]


def build_freshness_sensor(checks: list[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    """Dagster's freshness sensor, on from the first start (its own default is stopped)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name="freshness_checks_sensor",
            default_status=dg.DefaultSensorStatus.RUNNING,
        )


def _figures(metadata: dict) -> dict:
    """The numbers and short texts of a check's metadata, as plain values."""
    values = {key: getattr(value, "value", value) for key, value in metadata.items()}
    return {k: v for k, v in values.items() if isinstance(v, int | float | str | list | dict)}


def _alert_evaluation(alerts: AlertSink, evaluation: Any, run_id: str) -> None:
    """Alert one failed evaluation (once per condition in a row), or re-arm a passed one."""
    asset, check = evaluation.asset_key.to_user_string(), evaluation.check_name
    condition = f"check:{asset}:{check}"
    if evaluation.passed:
        alerts.resolve(condition)
        return
    figures = _figures(dict(evaluation.metadata))
    if "freshness" in check and LAST_UPDATED not in figures:
        return  # never materialized: nothing is stale yet (the check still warns in the UI)
    alerts.send_once(
        condition,
        "failed",
        "freshness" if "freshness" in check else "check_failed",
        f"check {check} on {asset} failed: {evaluation.description or 'no description'}",
        asset=asset,
        check=check,
        severity=evaluation.severity.value,
        figures=figures,
        batch=figures.get("batch") or figures.get("batches"),
        run_id=run_id,
    )


def alert_check_evaluations(
    instance: dg.DagsterInstance,
    alerts: AlertSink,
    check_keys: Iterable[dg.AssetCheckKey],
    seen: dict[str, int],
) -> dict[str, int]:
    """Alert each check's latest evaluation when it is newer than ``seen`` (check -> record id).

    The latest one only (a failure that passed again before the next tick is not alerted), and
    not while it is still running: it is read at a later tick, once it has ended.
    """
    seen = dict(seen)
    for key in check_keys:
        if key.name in ALERTED_BY_THEIR_STEP:
            continue
        name = key.to_user_string()
        record = instance.get_latest_asset_check_evaluation_record(key)
        if record is None or record.id <= seen.get(name, 0):
            continue
        evaluation = record.event.asset_check_evaluation if record.event else None
        if evaluation is not None:
            _alert_evaluation(alerts, evaluation, record.run_id)
            seen[name] = record.id
    return seen


def build_check_alert_sensor(alerts: AlertSink) -> dg.SensorDefinition:
    """Reads new check evaluations (of any run, failed runs included) and alerts failures."""

    @dg.sensor(
        name="check_failure_alerts",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=sensor_interval(),
        description="Alerts once through the alert sink for every asset check that starts "
        "failing (freshness misses included); it never requests a run.",
    )
    def check_failure_alerts(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        """Alert on the check evaluations since the cursor."""
        keys = context.repository_def.asset_graph.asset_check_keys
        seen = alert_check_evaluations(
            context.instance, alerts, sorted(keys), json.loads(context.cursor or "{}")
        )
        context.update_cursor(json.dumps(seen, sort_keys=True))
        return dg.SkipReason(f"read the evaluations of {len(keys)} checks")

    return check_failure_alerts


def build_retraining_sensor(alerts: AlertSink) -> dg.SensorDefinition:
    """Retrains when the drift report marked retraining due and no model has learned the batch."""

    @dg.sensor(
        name="retrain_on_drift",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=sensor_interval(),
        target=dg.AssetSelection.assets(TRAINED_MODEL, EVALUATION_REPORT, DRIFT_REPORT),
        description="Requests trained_model (then evaluation and drift) when drift_report marked "
        "retraining due for batches the latest model was not trained on; never promotes.",
    )
    def retrain_on_drift(context: dg.SensorEvaluationContext):
        """One run per drift mark whose batches no trained model has learned from yet."""
        from ml_assets.lib.monitoring.drift_report import (
            read_retraining_marker,
            retraining_marker_path,
        )

        marker = read_retraining_marker(retraining_marker_path(alerts.settings.storage_dir))
        if marker is None:
            return dg.SkipReason("no drift marked retraining due")
        event = context.instance.get_latest_materialization_event(TRAINED_MODEL)
        metadata = (
            event.asset_materialization.metadata if event and event.asset_materialization else {}
        )
        learned = set(metadata["batches"].value) if "batches" in metadata else set()
        unlearned = sorted(set(marker["drifted"]) - learned)
        if not unlearned:
            return dg.SkipReason(
                f"the latest model already learned from {sorted(marker['drifted'])}"
            )
        return dg.RunRequest(
            run_key=f"retrain-on-drift:{marker['at']}:{','.join(unlearned)}",
            tags={TRIGGER_TAG: "retrain_on_drift"},
        )

    return retrain_on_drift
