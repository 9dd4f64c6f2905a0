"""Sensors that keep the asset graph fresh without anyone clicking."""

import dagster as dg

# Dagster's default automation sensor starts stopped; this one is on from the first `dagster dev`.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "ml_assets_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="Refreshes assets whose upstream changed and whose blocking checks passed.",
)
