"""What the UI's first screens are made of, checked in process (the browser test shows them).

Dagster's asset graph draws groups only when there are two or more, collapsed for a new visitor:
every asset must be in the one group, its stage a tag, or the first screen shows boxes again.
"""

import re

import dagster as dg

from ml_assets.constants import PIPELINE_GROUP, STAGE_TAG
from ml_assets_tests.conftest import DEFS

STAGE_JOBS = {"refresh_data": "data", "retrain": "model"}


def test_every_asset_is_in_the_one_group_with_its_stage_kinds_and_where_it_is_stored() -> None:
    graph = DEFS.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name == PIPELINE_GROUP, key
        assert node.tags[STAGE_TAG] not in ("", PIPELINE_GROUP), f"{key} declares no stage"
        assert node.kinds, key
        assert re.search(r"\b[Ss]tored\b", node.description), f"{key}: where is it stored?"


def test_stage_jobs_select_their_stage_and_every_asset_job_selects_assets() -> None:
    graph = DEFS.resolve_asset_graph()
    # Asset jobs carry a selection; op jobs (such as a rollback) select no asset.
    asset_jobs = {job.name: job for job in DEFS.jobs if hasattr(job, "selection")}
    for job in asset_jobs.values():
        assert job.description, job.name
        assert job.selection.resolve(graph), f"job {job.name} selects no asset"
    for name, stage in STAGE_JOBS.items():
        selected = asset_jobs[name].selection.resolve(graph)
        assert {graph.get(key).tags[STAGE_TAG] for key in selected} == {stage}, name
        staged = {
            key for key in graph.get_all_asset_keys() if graph.get(key).tags[STAGE_TAG] == stage
        }
        assert selected == staged, name


def test_sensors_and_schedules_say_what_they_do() -> None:
    automations: list[dg.SensorDefinition | dg.ScheduleDefinition] = [
        *DEFS.sensors,
        *DEFS.schedules,
    ]
    assert automations
    for automation in automations:
        assert automation.description, automation.name
