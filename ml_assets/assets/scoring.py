"""The champion at work: ``batch_predictions`` scores files, ``ab_test_report`` judges the canary.

Both read files the pipeline does not produce (scoring files, the serving log, labels), so both
succeed with nothing to do and say so. Batch scoring keeps the batch identity and validation of
the landing folder; the A/B report joins the serving log with labels that arrive later.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from ml_assets.constants import SERVING, write_pool
from ml_assets.lib.core.layout import LABELS, SCORING, SERVING_LOG, LayoutError
from ml_assets.lib.core.versioning import source_version
from ml_assets.lib.project.project_config import Project
from ml_assets.resources.alerts import AlertSink
from ml_assets.resources.io_manager import STORAGE_FORMAT
from ml_assets.resources.registry import ModelRegistryResource
from ml_assets.resources.settings import PipelineSettings
from ml_assets.section_config import SectionConfig, section_config

PRODUCTION_MODEL = dg.AssetKey("production_model")
HOURLY = "0 * * * *"
# Rescore when the champion moves; look for new files (their stats only) every hour.
REFRESH = (
    dg.AutomationCondition.eager() | dg.AutomationCondition.cron_tick_passed(HOURLY)
) & ~dg.AutomationCondition.in_progress()


class BatchScoringConfig(dg.Config):
    """Where the files to score are."""

    scoring_subdir: str = Field(
        default=SCORING,
        description="Folder of files to score (CSV, Parquet, JSON lines; the contract's columns, "
        "the target optional), inside data_dir.",
    )


class ABTestPaths(SectionConfig):
    """Where the canary's evidence is (how much of it a decision needs: the ``ab_test`` section)."""

    prediction_log: str = Field(
        default=SERVING_LOG,
        description="The serving prediction log (JSON lines), inside data_dir.",
    )
    labels_subdir: str = Field(
        default=LABELS,
        description="Folder of label files (request_key and the target column), inside data_dir.",
    )


def inside(settings: PipelineSettings, subpath: str, setting: str) -> Path:
    """``subpath`` under the data folder, refused (as a run failure) if it would leave it."""
    try:
        return settings.layout.inside(subpath, setting)
    except LayoutError as error:
        raise dg.Failure(description=str(error)) from None


def build_batch_predictions(project: Project) -> dg.AssetsDefinition:
    """The batch scoring asset of one project."""
    from ml_assets.lib.core.environment import BATCH_PACKAGES, MODEL_PACKAGES, installed_versions

    version = source_version(
        __name__,
        # A stored model's predictions change with the libraries that read rows and run it.
        extra=f"{project.contract_hash}|{project.spec!r}|"
        + installed_versions(BATCH_PACKAGES + MODEL_PACKAGES),
    )

    @dg.asset(
        group_name=SERVING,
        deps=[PRODUCTION_MODEL],
        pool=write_pool("batch_predictions"),
        code_version=version,
        automation_condition=REFRESH,
        kinds={"scikit-learn", "parquet"},
        metadata={STORAGE_FORMAT: "batch_table"},
    )
    def batch_predictions(
        context: dg.AssetExecutionContext,
        config: BatchScoringConfig,
        settings: PipelineSettings,
        registry: ModelRegistryResource,
        alerts: AlertSink,
    ):
        """The champion's predictions for every file of the scoring folder, once per champion.

        Each file is a batch validated against the contract without its target; its valid rows
        get the prediction, class probabilities, model version, source file and line (Parquet
        and a spreadsheet-safe CSV), its bad rows are quarantined with their reasons. Stored
        under ``storage/predictions/<model version>/<rules hash>/<batch>/``.
        """
        from upath import UPath

        from ml_assets.lib.core.storage import preload_skops
        from ml_assets.lib.data.batch_records import BatchTable
        from ml_assets.lib.model.scoring import (
            PREDICTIONS,
            ChampionUnavailable,
            registry_champion,
            score_folder,
            scoring_rules,
        )

        folder = inside(settings, config.scoring_subdir, "scoring_subdir")
        files = folder.is_dir() and any(folder.iterdir())
        champion = registry_champion(registry.registry()) if files else None
        if champion is None:
            why = f"no files in {folder}" if not files else "no champion yet: promote a model first"
            context.log.info(f"nothing to score: {why}")
            return dg.Output(
                BatchTable(PREDICTIONS, "", ()),
                metadata={"status": f"nothing to score: {why}", "dagster/row_count": 0},
            )
        preload_skops()
        rules = scoring_rules(
            project.contract,
            project.spec,
            settings.max_quarantined_share,
            settings.max_file_bytes,
            version,
            champion,
        )
        root = UPath(settings.layout.predictions)
        try:
            run = score_folder(folder, root, rules, champion)
        except ChampionUnavailable as error:
            description = f"{error}; no batch was marked scored"
            raise dg.Failure(description=description, allow_retries=False) from error
        for rejected in run.refresh.newly_rejected:
            message = f"{rejected.batch} not scored: {rejected.reason}"
            context.log.warning(message)
            alerts.send(
                "scoring_batch_rejected", message, batch=rejected.batch, run_id=context.run_id
            )
        return dg.Output(
            run.predictions,
            data_version=dg.DataVersion(run.predictions.data_version),
            metadata=_scoring_metadata(run, root),
        )

    return batch_predictions


def _scoring_metadata(run, root) -> dict:
    from ml_assets.lib.core.markdown import table

    files = [
        {
            "file": record.file,
            "batch": record.batch,
            "status": record.status,
            "scored": record.rows_valid,
            "quarantined": record.rows_quarantined,
            "reason": record.reason,
        }
        for record in run.refresh.records
    ] + [{"file": o.file, "status": o.status, "reason": o.reason} for o in run.refresh.others]
    return {
        "status": f"{len(run.refresh.new)} batch(es) scored or rejected now, "
        f"{len(run.refresh.records) - len(run.refresh.new)} already done",
        "model_version": run.model_version,
        "dagster/row_count": run.rows_scored,
        "rows_quarantined": sum(r.rows_quarantined for r in run.refresh.records),
        "batches_rejected": len(run.refresh.rejected),
        "new_batches": len(run.refresh.new),
        "files": dg.MetadataValue.md(table(files)),
        "predictions": dg.MetadataValue.path(str(root / run.predictions.version)),
    }


def build_ab_test_report(project: Project) -> dg.AssetsDefinition:
    """The A/B analysis asset of one project."""
    ABTestConfig = section_config(project.config.ab_test, "ABTestConfig", base=ABTestPaths)

    @dg.asset(
        group_name=SERVING,
        pool=write_pool("ab_test_report"),
        code_version=source_version(__name__),
        automation_condition=dg.AutomationCondition.cron_tick_passed(HOURLY)
        & ~dg.AutomationCondition.in_progress(),
        kinds={"scipy"},
        metadata={STORAGE_FORMAT: "report"},
    )
    def ab_test_report(
        context: dg.AssetExecutionContext, config: ABTestConfig, settings: PipelineSettings
    ):
        """Champion against challenger on the requests whose labels have arrived.

        An always-valid (mSPRT) interval of the difference, paired when a shadow scored the
        same requests, and a recommendation: promote, keep or need more data with the labelled
        requests a verdict typically needs. It runs hourly, and reading it every hour is valid.
        Stored as ``storage/ab_test_report.json`` and ``.md``.
        """
        from ml_assets.lib.data.batch_records import now_iso
        from ml_assets.lib.release.ab_analysis import (
            ABSettings,
            analyse,
            join_outcomes,
            read_labels,
            report_markdown,
        )

        log_path = inside(settings, config.prediction_log, "prediction_log")
        labels_dir = inside(settings, config.labels_subdir, "labels_subdir")
        metric = config.metric
        if metric == "auto":
            metric = "accuracy" if project.spec.is_classification else "r2"
        if (metric == "r2") == project.spec.is_classification:
            raise dg.Failure(
                description=f"metric {metric!r} does not fit a {project.spec.task} task",
                allow_retries=False,
            )
        options = config.model_dump(exclude={"prediction_log", "labels_subdir"})
        ab_settings = ABSettings(**{**options, "metric": metric})
        base = {"created_at": now_iso(), "log": str(log_path), "labels": str(labels_dir)}
        if not log_path.exists():
            return _nothing(context, base, f"nothing logged yet at {log_path}")
        from ml_assets.lib.release.prediction_log import read_prediction_log

        log, skipped = read_prediction_log(log_path)
        labels = read_labels(labels_dir, project.spec.target)
        base["skipped_log_lines"] = skipped
        base["label_files"], base["label_problems"] = labels.files, labels.problems
        for problem in labels.problems:
            context.log.warning(f"labels file left out: {problem}")
        if labels.frame.empty:
            return _nothing(context, base, f"no labels yet in {labels_dir}")
        outcomes, counts = join_outcomes(log, labels.frame)
        report = {**base, "counts": counts, **analyse(outcomes, ab_settings)}
        report["conflicting_labels"] = labels.conflicting_keys
        markdown = report_markdown(report)
        return dg.Output({**report, "markdown": markdown}, metadata=_ab_metadata(report, markdown))

    return ab_test_report


def _nothing(context: dg.AssetExecutionContext, base: dict, why: str) -> dg.Output:
    context.log.info(why)
    report = {**base, "recommendation": None, "reason": why, "markdown": f"{why}\n"}
    return dg.Output(report, metadata={"status": why})


def _ab_metadata(report: dict, markdown: str) -> dict:
    comparison = report.get("comparison") or {}
    rows = report["rows_per_arm"]
    return {
        "status": report["reason"],
        "recommendation": report["recommendation"],
        "report": dg.MetadataValue.md(markdown),
        "champion_rows": rows["champion"],
        "challenger_rows": rows["challenger"],
        "design": report.get("design", "none"),
        **{
            key: comparison[key]
            for key in ("effect", "interval_low", "interval_high", "needed_requests")
            if comparison.get(key) is not None
        },
    }
