"""The ``evaluation_report`` asset: held-out metrics, baselines and fairness slices."""

import dagster as dg

from ml_assets.checks.batches import require_usable_training_set
from ml_assets.constants import AUTOMATION, MODEL, write_pool
from ml_assets.lib.batch_records import BatchTable
from ml_assets.lib.project_config import Project
from ml_assets.lib.versioning import source_version
from ml_assets.resources.io_manager import STORAGE_FORMAT
from ml_assets.resources.settings import PipelineSettings, batch_store


def build_evaluation_report(project: Project) -> dg.AssetsDefinition:
    """The evaluation asset of one project."""

    @dg.asset(
        group_name=MODEL,
        pool=write_pool("evaluation_report"),
        code_version=source_version("ml_assets.lib.evaluation", extra=repr(project.spec)),
        automation_condition=AUTOMATION,
        kinds={"scikit-learn"},
        metadata={STORAGE_FORMAT: "report"},
    )
    def evaluation_report(
        trained_model, features: BatchTable, settings: PipelineSettings
    ) -> dg.Output[dict]:
        """The model scored on the held-out side, beside the baselines and per sensitive group.

        Stored as ``storage/evaluation_report.json`` and ``.md``; both name the model version,
        the training set's data version and batches, the configuration hash and the time.
        """
        from ml_assets.lib.batch_records import now_iso
        from ml_assets.lib.evaluation import evaluate, report_markdown
        from ml_assets.lib.modeling import model_fingerprint

        require_usable_training_set(features, project, settings)
        rows = batch_store(settings).read(features)
        report = evaluate(trained_model, rows, project.spec, seed=settings.seed)
        report["provenance"] = {
            "model_version": model_fingerprint(trained_model),
            "data_version": features.data_version,
            "batches": features.batches,
            "config_hash": project.config_hash,
            "created_at": now_iso(),
        }
        markdown = report_markdown(report)
        scores = {f"test_{name}": value for name, value in report["metrics"].items()}
        lifts = {f"lift_over_{name}": v for name, v in report["lift_over_baselines"].items()}
        gaps = {
            f"largest_gap_{column}": fairness["largest_gap"].get("gap", 0.0)
            for column, fairness in report["fairness"].items()
        }
        return dg.Output(
            {**report, "markdown": markdown},
            metadata={
                "report": dg.MetadataValue.md(markdown),
                "model_version": report["provenance"]["model_version"],
                "training_set": features.data_version,
                **scores,
                **lifts,
                **gaps,
            },
        )

    return evaluation_report
