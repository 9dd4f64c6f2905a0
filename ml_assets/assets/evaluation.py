"""The ``evaluation_report`` asset: held-out metrics, baselines, a verdict and fairness slices."""

import dagster as dg

from ml_assets.checks.batches import require_usable_training_set
from ml_assets.constants import AUTOMATION, EVALUATION_REPORT, MODEL, TRAINED_MODEL, write_pool
from ml_assets.lib.core.versioning import source_version
from ml_assets.lib.data.batch_records import BatchTable
from ml_assets.lib.project.project_config import Project
from ml_assets.resources.io_manager import STORAGE_FORMAT
from ml_assets.resources.settings import PipelineSettings

BEATS_BASELINES = dg.AssetCheckSpec(
    "beats_baselines",
    asset=EVALUATION_REPORT,
    description="The model is not worse than its strongest baseline on the held-out side (a "
    "paired bootstrap interval of the primary metric's difference; warns).",
)


def build_evaluation_report(project: Project) -> dg.AssetsDefinition:
    """The evaluation asset of one project."""

    @dg.asset(
        group_name=MODEL,
        pool=write_pool("evaluation_report"),
        code_version=source_version(__name__, extra=repr(project.spec)),
        automation_condition=AUTOMATION,
        kinds={"scikit-learn"},
        metadata={STORAGE_FORMAT: "report"},
        check_specs=[BEATS_BASELINES],
    )
    def evaluation_report(
        context: dg.AssetExecutionContext,
        trained_model,
        features: BatchTable,
        settings: PipelineSettings,
    ):
        """The model scored on the held-out side, beside the baselines and per sensitive group.

        Stored as ``storage/evaluation_report.json`` and ``.md``; both name the model version,
        the training set's data version and batches, the configuration hash and the time.
        """
        from ml_assets.lib.core.threads import one_thread
        from ml_assets.lib.model.evaluation import evaluate_table, provenance, report_markdown
        from ml_assets.lib.model.modeling import model_fingerprint
        from ml_assets.lib.model.plots import report_html

        require_usable_training_set(features, project, settings)
        fingerprint = model_fingerprint(trained_model)
        trained = _model_metadata(context, fingerprint)
        if "training_set" in trained and trained["training_set"].value != features.data_version:
            raise dg.Failure(
                description=f"trained_model was fitted on training set "
                f"{trained['training_set'].value}, but features now holds "
                f"{features.data_version}: rematerialize trained_model first",
                allow_retries=False,
            )
        with one_thread():
            # Held-out rows are streamed a chunk at a time: the table may not fit in memory.
            report, held_out = evaluate_table(
                trained_model,
                features.chunks,
                project.spec,
                seed=settings.seed,
                training=trained["training"].value if "training" in trained else None,
                min_slice_rows=settings.min_slice_rows,
            )
            pictures, importances = _plots(trained_model, held_out, project, report, settings)
        report["provenance"] = provenance(fingerprint, features, project.config_hash)
        report["permutation_importance"] = importances
        markdown = report_markdown(report) + pictures
        html = report_html("Evaluation report", markdown)
        importance = {f"importance_{name}": round(value, 4) for name, value in importances.items()}
        yield dg.Output(
            {**report, "markdown": markdown, "html": html},
            metadata={**_metadata(report, markdown), **importance},
        )
        verdict = report["verdict"]
        yield dg.AssetCheckResult(
            check_name=BEATS_BASELINES.name,
            passed=verdict["verdict"] != "worse",
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{verdict['verdict']} than {verdict['against']}: {verdict['metric']} "
            f"difference {verdict['difference']:+.4f}, 95% interval "
            f"[{verdict['interval'][0]:+.4f}, {verdict['interval'][1]:+.4f}]",
            metadata={"difference": verdict["difference"], "against": verdict["against"]},
        )

    return evaluation_report


def _plots(model, held_out, project: Project, report: dict, settings: PipelineSettings):
    """The report's pictures (a Markdown section of inline PNGs) and the importances.

    An importance is the drop of the primary metric when one input column is shuffled.
    """
    from ml_assets.lib.model.plots import evaluation_images, images_markdown

    images, importances = evaluation_images(model, held_out, project.spec, report, settings.seed)
    return images_markdown(images), importances


def _model_metadata(context: dg.AssetExecutionContext, fingerprint: str) -> dict:
    """The metadata of the very model being evaluated (empty if the latest is another one)."""
    event = context.instance.get_latest_materialization_event(TRAINED_MODEL)
    materialization = event.asset_materialization if event else None
    metadata = dict(materialization.metadata) if materialization else {}
    found = metadata.get("fingerprint")
    return metadata if found is not None and found.value == fingerprint else {}


def _metadata(report: dict, markdown: str) -> dict:
    """The report, then metrics rounded to 4 places: numbers the UI plots and a reader reads."""
    scores = {f"test_{name}": value for name, value in report["metrics"].items()}
    lifts = {f"lift_over_{name}": v for name, v in report["lift_over_baselines"].items()}
    gaps = {
        f"largest_gap_{column}": fairness["largest_gap"].get("gap", 0.0)
        for column, fairness in report["fairness"].items()
    }
    return {
        "report": dg.MetadataValue.md(markdown),
        "model_version": report["provenance"]["model_version"],
        "training_set": report["provenance"]["data_version"],
        "verdict": report["verdict"]["verdict"],
        **{
            name: round(value, 4) if isinstance(value, float) else value
            for name, value in {**scores, **lifts, **gaps}.items()
        },
    }
