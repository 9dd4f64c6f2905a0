"""Dagster resources: project settings and the artifact IO manager."""
