"""One asset group for the whole pipeline, with each asset's stage kept as its ``stage`` tag.

Dagster's asset graph draws group boxes only when it shows two groups or more, and draws them
collapsed until the visitor expands them (the UI remembers that in the URL and the browser's local
storage): with a group per stage, a new user's first screen was boxes, not assets. So an asset
declares its stage as its ``group_name`` (``data``, ``model``, ...), and ``in_one_group`` moves it
into the group ``ml_pipeline`` with that stage as a tag: the first screen shows every asset and
edge, and jobs and selections name a stage as ``tag:stage=data``.
"""

from collections.abc import Sequence

import dagster as dg

from ml_assets.constants import PIPELINE_GROUP, STAGE_TAG


def in_one_group(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The assets in the pipeline's one group, each tagged with the stage it declared."""
    return list(
        dg.map_asset_specs(
            lambda spec: spec.replace_attributes(group_name=PIPELINE_GROUP).merge_attributes(
                tags={STAGE_TAG: spec.group_name or PIPELINE_GROUP}
            ),
            assets,
        )
    )
