"""Failed checks reach the alert sink (and a webhook on loopback) once per condition in a row."""

import http.server
import json
import threading
from pathlib import Path

import dagster as dg

from ml_assets.automation.monitoring import build_check_alert_sensor
from ml_assets.constants import TRAINED_MODEL
from ml_assets.resources.alerts import AlertSink
from ml_assets_tests.conftest import DEFS, settings_for


class Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def evaluation(passed: bool | None) -> dg.AssetCheckEvaluation:
    """``None``: failed because the asset was never materialized (nothing stale yet)."""
    metadata = {"dagster/overdue_seconds": 3600.0, "dagster/last_updated_timestamp": 1.0e9}
    return dg.AssetCheckEvaluation(
        asset_key=TRAINED_MODEL,
        check_name="freshness_check",
        passed=bool(passed),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={} if passed is None else metadata,
        description="overdue by an hour",
    )


def test_a_failing_check_alerts_once_until_it_passes_again(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink = AlertSink(
        settings=settings_for(tmp_path), webhook_url=f"http://127.0.0.1:{server.server_port}/"
    )
    sensor = build_check_alert_sensor(sink)
    cursor = None
    try:
        with dg.instance_for_test() as instance:
            for passed in (None, False, False, True, False):
                instance.report_runless_asset_event(evaluation(passed))
                context = dg.build_sensor_context(
                    instance=instance, cursor=cursor, definitions=DEFS
                )
                sensor(context)
                cursor = context.cursor
    finally:
        server.shutdown()
        server.server_close()
    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and Hook.received == lines
    first = lines[0]
    assert first["kind"] == "freshness" and first["asset"] == "trained_model"
    assert first["check"] == "freshness_check" and first["severity"] == "WARN"
    assert first["figures"]["dagster/overdue_seconds"] == 3600.0 and "run_id" in first
    assert "overdue by an hour" in first["message"]


def test_drift_marked_retraining_requests_a_run_until_a_model_learns_the_batch(tmp_path: Path):
    from ml_assets.automation.monitoring import build_retraining_sensor
    from ml_assets.lib.monitoring.drift_report import (
        retraining_marker_path,
        write_retraining_marker,
    )

    sink = AlertSink(settings=settings_for(tmp_path))
    sensor = build_retraining_sensor(sink)
    drifted = {"retraining_due": True, "drifted": {"b-2": ["x"]}, "scored_with": "m1"}
    with dg.instance_for_test() as instance:

        def trained_on(batches: list[str]) -> None:
            metadata = {"batches": dg.MetadataValue.json(batches)}
            instance.report_runless_asset_event(
                dg.AssetMaterialization(TRAINED_MODEL, metadata=metadata)
            )

        def tick():
            return sensor(dg.build_sensor_context(instance=instance))

        assert isinstance(tick(), dg.SkipReason)  # nothing marked
        trained_on(["b-1"])
        write_retraining_marker(retraining_marker_path(sink.settings.storage_dir), drifted)
        request = tick()
        assert isinstance(request, dg.RunRequest) and "b-2" in request.run_key
        trained_on(["b-1", "b-2"])
        assert "already learned" in tick().skip_message
