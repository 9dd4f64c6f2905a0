"""The ``evaluation_report`` asset: held-out metrics, baselines and fairness slices."""

import dagster as dg

from ml_assets.assets.groups import EVALUATION, write_pool
from ml_assets.assets.types import DataFrame
from ml_assets.assets.validation import AUTOMATION
from ml_assets.checks.gates import require_upstream_checks
from ml_assets.lib.versioning import source_version
from ml_assets.resources.settings import DATASET, PipelineSettings
from ml_assets.resources.storage import STORAGE_FORMAT


@dg.asset(
    group_name=EVALUATION,
    pool=write_pool("evaluation_report"),
    code_version=source_version("ml_assets.lib.evaluation", extra=repr(DATASET)),
    automation_condition=AUTOMATION,
    metadata={STORAGE_FORMAT: "report"},
)
def evaluation_report(
    context: dg.AssetExecutionContext,
    trained_model,
    features: DataFrame,
    settings: PipelineSettings,
) -> dg.Output[dict]:
    """The model scored on the held-out side, beside the baselines and per sensitive group."""
    from ml_assets.lib.evaluation import evaluate, report_markdown

    require_upstream_checks(context)
    report = evaluate(trained_model, features, DATASET, seed=settings.seed)
    markdown = report_markdown(report)
    scores = {f"test_{name}": value for name, value in report["metrics"].items()}
    lifts = {f"lift_over_{name}": value for name, value in report["lift_over_baselines"].items()}
    gaps = {
        f"largest_gap_{column}": fairness["largest_gap"].get("gap", 0.0)
        for column, fairness in report["fairness"].items()
    }
    return dg.Output(
        {**report, "markdown": markdown},
        metadata={"report": dg.MetadataValue.md(markdown), **scores, **lifts, **gaps},
    )
