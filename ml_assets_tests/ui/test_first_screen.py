"""What the UI's first screens are made of, checked in process (the browser test shows them).

Dagster's asset graph draws groups only when there are two or more, collapsed for a new visitor:
every asset must be in the one group, its stage a tag, or the first screen shows boxes again.
"""

import dagster as dg

from ml_assets.constants import PIPELINE_GROUP, STAGE_TAG
from ml_assets_tests.conftest import DEFS

STAGES = {"data", "model"}


def test_every_asset_is_in_the_one_group_with_a_known_stage_kinds_and_storage() -> None:
    graph = DEFS.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name == PIPELINE_GROUP, key
        assert node.tags[STAGE_TAG] in STAGES, key
        assert node.kinds, key
        assert "storage/" in node.description, key


def test_each_stage_has_a_job_and_every_job_selects_assets() -> None:
    graph = DEFS.resolve_asset_graph()
    stages = {graph.get(key).tags[STAGE_TAG] for key in graph.get_all_asset_keys()}
    assert stages == STAGES
    for job in DEFS.jobs:
        assert job.description, job.name
        assert job.selection.resolve(graph), job.name
    staged = {
        job.name: {graph.get(key).tags[STAGE_TAG] for key in job.selection.resolve(graph)}
        for job in DEFS.jobs
    }
    assert staged == {"full_refresh": STAGES, "refresh_data": {"data"}, "retrain": {"model"}}


def test_sensors_and_schedules_say_what_they_do() -> None:
    automations: list[dg.SensorDefinition | dg.ScheduleDefinition] = [
        *DEFS.sensors,
        *DEFS.schedules,
    ]
    assert automations
    for automation in automations:
        assert automation.description, automation.name
