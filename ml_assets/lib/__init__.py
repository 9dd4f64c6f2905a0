"""Plain, typed functions of the ML workflow; nothing here imports Dagster."""
