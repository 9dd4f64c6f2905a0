"""The executor the Definitions run with, chosen by configuration rather than by code.

In-process by default (one process per run, the stack imported once). ``ML_ASSETS_EXECUTOR=dask``
sends every step to the ``dask.distributed`` scheduler at ``$ML_ASSETS_DASK_SCHEDULER``: the steps
run in the workers' processes, which share only that address, the Dagster instance and the
artifact storage with the run (see docs/production.md).
"""

import functools
import os
from collections.abc import Iterator
from typing import Any

import dagster as dg

EXECUTOR_ENV = "ML_ASSETS_EXECUTOR"
DASK_SCHEDULER_ENV = "ML_ASSETS_DASK_SCHEDULER"
EXECUTORS = ("in_process", "multiprocess", "dask")


def project_executor() -> dg.ExecutorDefinition:
    """The executor ``$ML_ASSETS_EXECUTOR`` names; an unknown name or no address is an error."""
    choice = os.environ.get(EXECUTOR_ENV) or "in_process"
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor
    if choice != "dask":
        raise ValueError(f"${EXECUTOR_ENV}={choice!r}: expected one of {', '.join(EXECUTORS)}")
    if not os.environ.get(DASK_SCHEDULER_ENV):
        raise ValueError(
            f"${EXECUTOR_ENV}=dask needs ${DASK_SCHEDULER_ENV}, the scheduler's address "
            "(for example tcp://127.0.0.1:8786)"
        )
    return dask_scheduler_executor


@dg.executor(
    name="dask",
    config_schema={
        "address": dg.Field(
            dg.StringSource,
            default_value={"env": DASK_SCHEDULER_ENV},
            description="The dask.distributed scheduler every step is sent to.",
        )
    },
    requirements=dg.multiple_process_executor_requirements(),
)
def dask_scheduler_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """dagster-dask's executor against an existing scheduler (read when the run starts)."""
    return _step_dask_executor()(init_context.executor_config["address"])


def _step_dask_executor() -> type:
    try:
        from dagster_dask.executor import (
            DaskExecutor,
            get_dask_resource_requirements,
            query_on_dask_worker,
        )
    except ModuleNotFoundError as error:  # the runtime install has no production extras
        raise dg.DagsterInvariantViolationError(
            "the Dask executor needs the production extras (dagster-dask): "
            "bash scripts/setup.sh --dev"
        ) from error

    class StepDaskExecutor(DaskExecutor):
        """``DaskExecutor`` whose steps reach the worker as one opaque call.

        dask.distributed (2025+) walks every tuple among a task's arguments looking for futures;
        a ``DagsterRun`` is a named tuple holding a record that refuses iteration, so dagster-dask
        0.29 fails before its first step. Bound in a ``functools.partial``, the step's arguments
        are not walked, and the upstream steps' futures stay the one argument dask sequences on.
        """

        def __init__(self, address: str) -> None:
            super().__init__("existing", {"address": address})

        def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[Any]:
            import dask.distributed

            if not plan_context.instance.is_persistent:
                raise dg.DagsterInvariantViolationError(
                    "the Dask executor needs a persistent instance: set DAGSTER_HOME"
                )
            futures: dict[str, Any] = {}
            with dask.distributed.Client(self.cluster_configuration["address"]) as client:
                for level in execution_plan.get_steps_to_execute_by_level():
                    for step in level:
                        upstream = [
                            futures[key]
                            for step_input in step.step_inputs
                            for key in step_input.dependency_keys
                        ]
                        call = functools.partial(
                            query_on_dask_worker,
                            recon_job=plan_context.reconstructable_job,
                            dagster_run=plan_context.dagster_run,
                            run_config=plan_context.run_config,
                            step_keys=[step.key],
                            instance_ref=plan_context.instance.get_ref(),
                            known_state=execution_plan.known_state,
                        )
                        futures[step.key] = client.submit(
                            call,
                            upstream,
                            key=f"{plan_context.job_name}.{plan_context.run_id}.{step.key}",
                            resources=get_dask_resource_requirements(step.tags),
                            pure=False,
                        )
                done = dask.distributed.as_completed(list(futures.values()), with_results=True)
                for _future, events in done:
                    yield from events

    return StepDaskExecutor
