"""The Dagster layer in process: definitions, assets and checks on small data, IO manager, sensors."""
