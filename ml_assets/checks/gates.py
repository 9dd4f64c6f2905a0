"""Refusing to build on data whose blocking checks failed, even when a run selects only this asset.

Dagster stops downstream steps after a failed blocking check within one run, but a later run that
selects only the downstream asset is not stopped, so each guarded asset calls this first.
"""

import time

import dagster as dg

PENDING_CHECK_TIMEOUT_SECONDS = 600.0
POLL_SECONDS = 1.0
CHECK_HISTORY = 50  # recent evaluations searched for the one of the latest materialization


class UpstreamCheckFailed(dg.Failure):
    """A blocking check of an upstream asset did not pass on its latest materialization."""


def _in_progress(instance: dg.DagsterInstance, run_id: str | None) -> bool:
    run = instance.get_run_by_id(run_id) if run_id else None
    return run is not None and not run.is_finished


def _evaluation_of_latest(
    instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, timeout: float, own_run: str | None
) -> tuple[dg.AssetCheckEvaluation | None, bool]:
    """The check's evaluation of its asset's latest materialization, and whether one exists.

    Runs interleave: another run may have stored the asset and not yet recorded its check, and
    check records need not arrive in the order of the materializations they target. So the
    evaluation is looked up by the materialization it targets, waiting (up to ``timeout``) while
    the run that stored that materialization is still going.
    """
    deadline = time.monotonic() + timeout
    while True:
        records = instance.fetch_materializations(check_key.asset_key, limit=1).records
        if not records:
            return None, False
        latest = records[0]
        history = instance.event_log_storage.get_asset_check_execution_history(
            check_key, limit=CHECK_HISTORY
        )
        for record in history:
            evaluation = record.evaluation
            target = getattr(evaluation, "target_materialization_data", None)
            if target is not None and target.storage_id == latest.storage_id:
                return evaluation, True
        if (
            latest.run_id == own_run
            or not _in_progress(instance, latest.run_id)
            or time.monotonic() > deadline
        ):
            return None, True
        time.sleep(POLL_SECONDS)


def blocking_check_problems(
    instance: dg.DagsterInstance,
    graph: object,
    upstream: set[dg.AssetKey],
    own_run: str | None = None,
    timeout: float = PENDING_CHECK_TIMEOUT_SECONDS,
) -> list[str]:
    """Describe each blocking check of ``upstream`` that failed or missed the latest data."""
    problems = []
    for check_key in sorted(graph.get_check_keys_for_assets(upstream), key=str):
        if not graph.get(check_key).blocking:
            continue
        asset = check_key.asset_key.to_user_string()
        name = f"{asset}:{check_key.name}"
        evaluation, materialized = _evaluation_of_latest(instance, check_key, timeout, own_run)
        if not materialized:
            problems.append(f"{name} has not been evaluated ({asset} never stored)")
        elif evaluation is None:
            problems.append(f"{name} has not been evaluated on the latest materialization")
        elif not evaluation.passed:
            problems.append(f"{name} failed")
    return problems


def require_upstream_checks(context: dg.AssetExecutionContext) -> None:
    """Raise when any blocking check on this step's upstream assets has not passed."""
    # A run's own job graph omits checks that are not selected, so ask the whole project's graph.
    from ml_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    upstream = {
        parent for key in context.selected_asset_keys for parent in graph.get(key).parent_keys
    }
    problems = blocking_check_problems(context.instance, graph, upstream, context.run_id)
    if problems:
        raise UpstreamCheckFailed(
            description="refusing to build on unchecked data: "
            + "; ".join(problems)
            + ". Fix the input and rematerialize the upstream asset with its checks.",
            allow_retries=False,
        )
