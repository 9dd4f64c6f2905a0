"""Jobs, selected by group: the data, the model, or everything."""

import dagster as dg

from ml_assets.automation.rollback import rollback_job
from ml_assets.constants import DATA, MODEL

full_refresh_job = dg.define_asset_job(
    "full_refresh",
    selection=dg.AssetSelection.all(),
    description="Every asset and check, from the landing folder to the evaluation report.",
)
data_job = dg.define_asset_job(
    "refresh_data",
    selection=dg.AssetSelection.groups(DATA),
    description="New landing files into batches: raw, validated, quarantined rows and features.",
)
model_job = dg.define_asset_job(
    "retrain",
    selection=dg.AssetSelection.groups(MODEL),
    description="Train and evaluate on the current training set (refused if its checks fail).",
)
JOBS = [full_refresh_job, data_job, model_job, rollback_job]
