"""Dagster's own floor: one trivial asset, so materializing it costs the CLI, instance and run.

    dagster asset materialize -f benchmarks/floor_defs.py --select '*'

``benchmarks/run.py`` times it with a fresh ``DAGSTER_HOME`` (the project's ``dagster.yaml``) each
time. It uses the project's in-process executor, so the floor holds no per-step process either.
"""

import dagster as dg


@dg.asset
def floor() -> dg.MaterializeResult:
    """Nothing to compute and nothing to store."""
    return dg.MaterializeResult()


defs = dg.Definitions(assets=[floor], executor=dg.in_process_executor)
