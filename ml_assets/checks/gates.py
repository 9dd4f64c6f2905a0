"""Refusing to build on data whose blocking checks failed, even when a run selects only this asset.

Dagster stops downstream steps after a failed blocking check within one run, but a later run that
selects only the downstream asset is not stopped, so each guarded asset calls this first.
"""

import time

import dagster as dg

PENDING_CHECK_TIMEOUT_SECONDS = 600.0
POLL_SECONDS = 1.0


class UpstreamCheckFailed(dg.Failure):
    """A blocking check of an upstream asset did not pass on its latest materialization."""


def _in_progress(instance: dg.DagsterInstance, run_id: str | None) -> bool:
    run = instance.get_run_by_id(run_id) if run_id else None
    return run is not None and not run.is_finished


def _settled(
    instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, timeout: float, own_run: str | None
):
    """The check's latest record and its asset's latest materialization, once they agree.

    Another run may be between storing the asset and evaluating its check (or still evaluating
    it); wait for that run rather than judge a result it is about to replace.
    """
    deadline = time.monotonic() + timeout
    while True:
        record = instance.get_latest_asset_check_evaluation_record(check_key)
        latest = instance.fetch_materializations(check_key.asset_key, limit=1).records
        latest = latest[0] if latest else None
        evaluation = record.evaluation if record else None
        pending = record is not None and getattr(evaluation, "passed", None) is None
        target = getattr(evaluation, "target_materialization_data", None)
        stale = bool(latest and target and target.storage_id != latest.storage_id)
        waiting_on = record.run_id if pending else (latest.run_id if stale and latest else None)
        if (
            waiting_on in (None, own_run)
            or not _in_progress(instance, waiting_on)
            or time.monotonic() > deadline
        ):
            return record, latest
        time.sleep(POLL_SECONDS)


def blocking_check_problems(
    instance: dg.DagsterInstance,
    graph: object,
    upstream: set[dg.AssetKey],
    own_run: str | None = None,
    timeout: float = PENDING_CHECK_TIMEOUT_SECONDS,
) -> list[str]:
    """Describe each blocking check of ``upstream`` that failed, never ran, or is stale."""
    problems = []
    for check_key in sorted(graph.get_check_keys_for_assets(upstream), key=str):
        if not graph.get(check_key).blocking:
            continue
        name = f"{check_key.asset_key.to_user_string()}:{check_key.name}"
        record, latest = _settled(instance, check_key, timeout, own_run)
        evaluation = record.evaluation if record else None
        if getattr(evaluation, "passed", None) is None:
            problems.append(f"{name} has not been evaluated")
            continue
        if not evaluation.passed:
            problems.append(f"{name} failed")
            continue
        target = evaluation.target_materialization_data
        if latest and target and target.storage_id != latest.storage_id:
            problems.append(f"{name} passed on an older materialization, not the latest one")
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
