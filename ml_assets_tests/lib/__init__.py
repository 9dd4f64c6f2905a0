"""Pure functions of ml_assets.lib and the demo: no Dagster, no subprocess."""
