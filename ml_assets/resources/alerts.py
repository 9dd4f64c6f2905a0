"""The one alert sink: rejected batches and failed runs (later checks, drift) alert through it."""

import json
import os
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import Field

from ml_assets.resources.settings import PipelineSettings


class AlertSink(dg.ConfigurableResource):
    """Appends alerts as JSON lines to ``<data_dir>/alerts.jsonl``; also POSTs them to a webhook."""

    settings: PipelineSettings
    webhook_url: str | None = Field(
        default=None, description="Optional URL that receives each alert as a JSON POST."
    )
    timeout_seconds: float = Field(default=5.0, description="Webhook request timeout.")

    def send(self, kind: str, message: str, **details: Any) -> dict[str, Any]:
        """Record one alert; returns what was written."""
        alert = {"time": datetime.now(UTC).isoformat(), "kind": kind, "message": message, **details}
        line = (json.dumps(alert, sort_keys=True, default=str) + "\n").encode()
        target = self.settings.alerts_path
        target.parent.mkdir(parents=True, exist_ok=True)
        # One write() on an O_APPEND descriptor: lines from concurrent writers never interleave.
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        if self.webhook_url:
            self._post(line, target)
        return alert

    def send_once(
        self, condition: str, state: str, kind: str, message: str, **details: Any
    ) -> dict[str, Any] | None:
        """Alert unless ``condition`` was last seen in this same ``state`` (persisted).

        ``state`` fingerprints what is wrong (the batch and the columns, say): the same condition
        twice in a row alerts once, a changed one alerts again, and ``resolve`` re-arms it.
        """
        from ml_assets.lib.monitoring.alert_state import remember_state

        if not remember_state(self.settings.alert_state_path, condition, state):
            return None
        return self.send(kind, message, condition=condition, **details)

    def resolve(self, condition: str) -> None:
        """Forget ``condition``'s state: it is healthy again, so its next failure alerts."""
        from ml_assets.lib.monitoring.alert_state import remember_state

        remember_state(self.settings.alert_state_path, condition, None)

    def _post(self, line: bytes, target: object) -> None:
        """POST one alert; a webhook that is down must not fail the step that alerts."""
        import urllib.request

        request = urllib.request.Request(
            self.webhook_url or "", data=line, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds):
                pass
        except OSError as error:
            dg.get_dagster_logger().warning(
                f"alert webhook {self.webhook_url} failed ({error}); the alert is in {target}"
            )
