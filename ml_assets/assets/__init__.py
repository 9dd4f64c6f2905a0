"""Dagster assets: thin wrappers that call ``ml_assets.lib`` and describe results as metadata."""
