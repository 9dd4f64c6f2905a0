"""Dagster resources: the settings every path derives from, the IO manager, the alert sink."""
