"""Runs whose process is gone are marked failed, and the concurrency slots they hold are freed.

A run killed with SIGKILL (or lost with its machine) cannot report its own end: it stays STARTED
forever, which keeps its assets "in progress" for automation conditions, and any pool slot it
claimed stays claimed. Dagster's run monitoring cannot tell, for runs of the default launcher or
of the CLI, whether the process lives; this module can, from the pid the run logged at its start.
``python -m ml_assets.run_recovery`` does it for the instance in $DAGSTER_HOME.
"""

import sys

import dagster as dg

# Dagster 1.13 has no public way to ask whether runs are stored on this machine, nor to free a
# dead run's pool slots: both go through the storage classes, kept to this one module.
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage

from ml_assets.lib.core.processes import process_is_alive

STOPPED_BY = "ml_assets.run_recovery"
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def run_process(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """Pid of the process that executes ``run_id`` and when it logged it, if it did yet."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        pid = event.engine_event_data.metadata.get("pid") if event else None
        if pid is not None and str(pid.value).isdigit():
            return int(pid.value), record.timestamp
    return None


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark STARTED runs whose process is gone as failed; return their ids.

    Only for an instance stored in local SQLite files, whose runs all execute on this machine: a
    pid means nothing on a shared database that runs from other machines write to.
    """
    if not isinstance(instance.run_storage, SqliteRunStorage):
        return []
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        run = record.dagster_run
        process = run_process(instance, run.run_id)
        if process is None or process_is_alive(*process):
            continue
        pid, _logged_at = process
        instance.report_run_failed(
            run, f"{STOPPED_BY}: the run's process (pid {pid}) is gone; it was killed or crashed."
        )
        failed.append(run.run_id)
    return failed


def free_slots_of_finished_runs(instance: dg.DagsterInstance) -> list[str]:
    """Free the pool slots still claimed by runs that have ended; return those runs' ids."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    holders = storage.get_concurrency_run_ids()
    if not holders:
        return []
    finished = [
        record.dagster_run.run_id
        for record in instance.get_run_records(
            dg.RunsFilter(run_ids=list(holders), statuses=FINISHED)
        )
    ]
    for run_id in finished:
        storage.free_concurrency_slots_for_run(run_id)
    return finished


def recover(instance: dg.DagsterInstance) -> tuple[list[str], list[str]]:
    """Fail the dead runs, then free the slots of every ended run: (failed ids, freed ids)."""
    return fail_dead_runs(instance), free_slots_of_finished_runs(instance)


def main() -> None:
    """Recover the instance in $DAGSTER_HOME and say what was done."""
    with dg.DagsterInstance.get() as instance:
        failed, freed = recover(instance)
    lines = [f"run {run_id}: its process is gone; marked failed" for run_id in failed]
    lines += [f"run {run_id}: ended; its concurrency slots freed" for run_id in freed]
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
