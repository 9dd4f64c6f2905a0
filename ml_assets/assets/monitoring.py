"""Monitoring assets: drift of each new batch, and the serving model's live performance.

``drift_report`` compares each batch with the training set of the model serving when it
landed; ``live_performance`` scores that model on newly labelled data.
"""

import json

import dagster as dg

from ml_assets.constants import (
    AUTOMATION,
    DRIFT_REPORT,
    LIVE_PERFORMANCE,
    MODEL,
    TRAINED_MODEL,
    write_pool,
)
from ml_assets.lib.core.versioning import source_version
from ml_assets.lib.data.batch_records import BatchTable
from ml_assets.lib.project.project_config import Project
from ml_assets.resources.alerts import AlertSink
from ml_assets.resources.io_manager import STORAGE_FORMAT
from ml_assets.resources.registry import ModelRegistryResource
from ml_assets.resources.settings import PipelineSettings, batch_store
from ml_assets.section_config import section_config

DRIFT_WARNING = dg.AssetCheckSpec(
    "drift_below_warning",
    asset=DRIFT_REPORT,
    description="No column of a compared batch reaches a warning threshold of drift (warns).",
)
DRIFT_ERROR = dg.AssetCheckSpec(
    "drift_below_error",
    asset=DRIFT_REPORT,
    description="No column of a compared batch reaches an error threshold of drift (errs, "
    "alerts once naming the columns and marks the model as due for retraining).",
)
DRIFT_CONDITION = "drift:drift_report"
ESTIMATE_CONDITION = "performance:estimated"
HISTORY_LIMIT = 50  # trained_model materializations searched for a batch's reference


def _history(context: dg.AssetExecutionContext) -> list:
    """The trained models' lineage, newest first, from their materializations."""
    from ml_assets.lib.monitoring.drift_report import trained_on

    records = context.instance.fetch_materializations(TRAINED_MODEL, limit=HISTORY_LIMIT).records
    found = []
    for record in records:
        materialization = record.asset_materialization
        metadata = {
            k: v.value for k, v in (materialization.metadata if materialization else {}).items()
        }
        trained = trained_on(metadata, f"trained_model (run {record.run_id[:8]})")
        if trained is not None:
            found.append(trained)
    return found


def build_drift_report(project: Project) -> dg.AssetsDefinition:
    """The drift asset of one project."""
    DriftConfig = section_config(project.config.drift, "DriftConfig")

    @dg.asset(
        group_name=MODEL,
        pool=write_pool("drift_report"),
        code_version=source_version(__name__, extra=repr(project.spec)),
        automation_condition=AUTOMATION,
        kinds={"scipy"},
        metadata={STORAGE_FORMAT: "report"},
        check_specs=[DRIFT_WARNING, DRIFT_ERROR],
    )
    def drift_report(
        context: dg.AssetExecutionContext,
        config: DriftConfig,
        trained_model,
        features: BatchTable,
        raw_data: BatchTable,
        evaluation_report: dict,
        settings: PipelineSettings,
        alerts: AlertSink,
        registry: ModelRegistryResource,
    ):
        """Each batch against the training set of the model that was serving when it arrived.

        Every arriving batch, the rejected ones on their rows that convert (``raw_data``), each
        with what the contract made of it; drifted columns ranked by the evaluation's
        permutation importance (``evaluation_report``).

        That model is the newest champion (current, then former) not trained on the batch, or
        without a registered champion the newest trained_model not trained on it.

        PSI and KS per numeric column, Jensen-Shannon and L-infinity per categorical one, the
        share of unseen categories, the change in null rate and the drift of the model's scores.
        Stored as ``storage/drift_report.json`` and ``.md``; the verdict never promotes a model.
        """
        from ml_assets.lib.model.modeling import model_fingerprint
        from ml_assets.lib.model.plots import report_html
        from ml_assets.lib.monitoring.drift_report import champions, drift_markdown, drift_report

        store = batch_store(settings)
        models = registry.registry()
        current = (trained_model, model_fingerprint(trained_model))
        loaded: dict[str, tuple] = {}

        def scorer(reference):
            """The registered model of a champion; the current trained_model otherwise."""
            version = reference.registry_version
            if version is None:
                return current
            if version not in loaded:
                loaded[version] = (models.load(version)[0], reference.model_version)
            return loaded[version]

        limits = config.section()
        report = drift_report(
            store,
            features,
            project.spec,
            candidates=champions(models) or _history(context),
            scorer=scorer,
            thresholds=limits.thresholds(),
            min_batch_rows=limits.min_batch_rows,
            false_alarm_rate=limits.false_alarm_rate,
            arrived=raw_data.records,
            contract=project.contract,
            importance=evaluation_report.get("permutation_importance", {}),
        )
        markdown = drift_markdown(report, _images(store, report))
        _mark_retraining(settings, report)
        _alert(context, alerts, report)
        _alert_estimated_drops(context, alerts, report, config.max_drop)
        html = report_html("Drift report", markdown)
        output = {**report, "markdown": markdown, "html": html}
        yield dg.Output(output, metadata=_metadata(report, markdown))
        yield from _checks(report)

    return drift_report


def _images(store, report: dict) -> dict[str, str]:
    """Per compared batch, its columns' reference and current distributions as an inline PNG."""
    from ml_assets.lib.model.plots import drift_panels, image_markdown
    from ml_assets.lib.monitoring.drift_report import load_profile

    return {
        batch: image_markdown(
            f"drift of {batch}",
            drift_panels(comparison, load_profile(store, comparison["reference"]["profile"])),
        )
        for batch, comparison in report["batches"].items()
    }


def _worst_statistic(report: dict) -> float:
    """The largest drift statistic of any compared column, for the UI's plot over time."""
    values = [
        abs(value)
        for comparison in report["batches"].values()
        for statistics in comparison["columns"].values()
        for name, value in statistics.items()
        if name in report["thresholds"] and isinstance(value, float)
    ]
    return max(values, default=0.0)


def _metadata(report: dict, markdown: str) -> dict:
    """The report on the asset page and the figures the UI plots across materializations."""
    return {
        "report": dg.MetadataValue.md(markdown),
        "verdict": report["verdict"],
        "headline": report["headline"],
        "batches_compared": len(report["batches"]),
        "drifted_columns": dg.MetadataValue.json(report["drifted"]),
        "largest_statistic": _worst_statistic(report),
        "retraining_due": report["retraining_due"],
        "scored_with": ", ".join(report["scored_with"]) or "no batch compared",
    }


def _checks(report: dict):
    """One check at each severity, naming the batches and columns that crossed it."""
    from ml_assets.lib.monitoring.drift import ERROR, WARN
    from ml_assets.lib.monitoring.drift_report import drifted_columns

    for spec, level, severity in (
        (DRIFT_WARNING, WARN, dg.AssetCheckSeverity.WARN),
        (DRIFT_ERROR, ERROR, dg.AssetCheckSeverity.ERROR),
    ):
        failing = drifted_columns(report, level)
        named = "; ".join(f"{batch}: {', '.join(columns)}" for batch, columns in failing.items())
        yield dg.AssetCheckResult(
            check_name=spec.name,
            passed=not failing,
            severity=severity,
            description=(
                f"drift at {level} level or above in {named}"
                if failing
                else f"{len(report['batches'])} batch(es) compared, none at {level} level"
            ),
            metadata={
                "batches": dg.MetadataValue.json(failing),
                "columns": sum(len(columns) for columns in failing.values()),
                "largest_statistic": _worst_statistic(report),
            },
        )


def _alert(context: dg.AssetExecutionContext, alerts: AlertSink, report: dict) -> None:
    """One alert per drifted batch with what to do; the same finding again stays silent."""
    from ml_assets.lib.monitoring.drift_report import drift_alerts

    findings = {
        batch: (alert["state"], alert["message"], alert["figures"])
        for batch, alert in drift_alerts(report).items()
    }
    _alert_per_batch(
        context, alerts, report, DRIFT_CONDITION, "drift", findings, check=DRIFT_ERROR.name
    )


def _alert_estimated_drops(
    context: dg.AssetExecutionContext, alerts: AlertSink, report: dict, max_drop: float
) -> None:
    """One alert per batch whose estimated metric fell beyond max_drop, silent while it stands."""
    from ml_assets.lib.monitoring.drift_report import drop_message, estimated_drops

    findings = {
        batch: ("dropped", drop_message(batch, drop), {batch: drop})
        for batch, drop in estimated_drops(report, max_drop).items()
    }
    _alert_per_batch(context, alerts, report, ESTIMATE_CONDITION, "performance_drop", findings)


def _alert_per_batch(
    context: dg.AssetExecutionContext,
    alerts: AlertSink,
    report: dict,
    condition: str,
    kind: str,
    findings: dict[str, tuple[str, str, dict]],
    **details: str,
) -> None:
    """Alert once per batch with a finding (state, message, figures); re-arm the others."""
    for batch in report["batches"]:
        if batch not in findings:
            alerts.resolve(f"{condition}:{batch}")
    for batch, (state, message, figures) in findings.items():
        alerts.send_once(
            f"{condition}:{batch}",
            state,
            kind,
            message,
            asset=DRIFT_REPORT.to_user_string(),
            batch=[batch],
            figures=figures,
            run_id=context.run_id,
            **details,
        )


def _mark_retraining(settings: PipelineSettings, report: dict) -> None:
    """Write (or clear) ``storage/drift/retraining_due.json``, which the retraining sensor reads."""
    from ml_assets.lib.monitoring.drift_report import (
        retraining_marker_path,
        write_retraining_marker,
    )

    write_retraining_marker(retraining_marker_path(settings.storage_dir), report)


LIVE_PERFORMANCE_HOLDS = dg.AssetCheckSpec(
    "live_performance_holds",
    asset=LIVE_PERFORMANCE,
    description="On newly labelled data the serving model's primary metric is within "
    "max_drop of its held-out value, and its prediction ranges hold the truth as often as "
    "their coverage target beyond noise (warns, and alerts once per drop or shortfall).",
)
PERFORMANCE_CONDITION = "performance:live_performance"
COVERAGE_CONDITION = "coverage:live_performance"


def _serving(registry: ModelRegistryResource, trained_model, evaluation_report: dict):
    """The champion (loaded, with its held-out metrics and batches), else the trained model."""
    models = registry.registry()
    version = models.alias("champion")
    if version is not None:
        model, record = models.load(version)
        return model, f"champion {version}", record.metrics, set(record.batches)
    provenance = evaluation_report.get("provenance", {})
    return (
        trained_model,
        "trained_model",
        evaluation_report.get("metrics", {}),
        set(provenance.get("batches", [])),
    )


def build_live_performance(project: Project) -> dg.AssetsDefinition:
    """The live-performance asset of one project."""
    LivePerformanceConfig = section_config(project.config.live_performance, "LivePerformanceConfig")

    @dg.asset(
        group_name=MODEL,
        pool=write_pool("live_performance"),
        code_version=source_version(__name__, extra=repr(project.spec)),
        automation_condition=AUTOMATION,
        kinds={"scikit-learn"},
        metadata={STORAGE_FORMAT: "report"},
        check_specs=[LIVE_PERFORMANCE_HOLDS],
    )
    def live_performance(
        context: dg.AssetExecutionContext,
        config: LivePerformanceConfig,
        trained_model,
        features: BatchTable,
        evaluation_report: dict,
        settings: PipelineSettings,
        alerts: AlertSink,
        registry: ModelRegistryResource,
    ):
        """The serving model's metric on each newly labelled batch or labels file.

        Batches it was not trained on, files in the labels folder with the model's inputs,
        and files there keyed by ``request_key`` (joined with the prediction log, per served
        version), each beside the held-out metric; a drop beyond ``max_drop`` warns and alerts.
        Stored as ``storage/live_performance.json`` and ``.md``.
        """
        from pathlib import Path

        from ml_assets.lib.monitoring.drift_report import batch_rows
        from ml_assets.lib.monitoring.live_performance import (
            dropped,
            labelled_files,
            live_row,
            under_covered,
        )

        positive = evaluation_report.get("positive_label", project.spec.positive_label)
        model, name, held_out, learned = _serving(registry, trained_model, evaluation_report)
        store, spec = batch_store(settings), project.spec
        rows = {}
        for batch in [b for b in features.batches if b not in learned]:
            rows[batch] = live_row(
                model, batch_rows(store, features.version, batch), spec, held_out
            )
        files, errors = labelled_files(
            Path(settings.data_dir), model, spec, held_out, positive, registry.registry().metrics_of
        )
        rows |= files
        drops, short = dropped(rows, config.max_drop), under_covered(rows)
        report = {"model": name, "rows": rows, "errors": errors, "dropped": drops}
        report["max_drop"] = config.max_drop
        report["under_covered"] = short
        _alert_drop(context, alerts, report)
        _alert_coverage(context, alerts, report)
        markdown = _live_markdown(report)
        yield dg.Output({**report, "markdown": markdown}, metadata=_live_metadata(report, markdown))
        yield dg.AssetCheckResult(
            check_name=LIVE_PERFORMANCE_HOLDS.name,
            passed=not drops and not errors and not short,
            severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(
                [f"{source}: {name} dropped {drop:.3f}" for source, drop in drops.items()]
                + [_shortfall(source, rows[source]["ranges"]) for source in short]
                + list(errors.values())
            )
            or f"{len(rows)} labelled source(s) within {config.max_drop} of the held-out metric",
            metadata={
                "dropped": dg.MetadataValue.json(drops),
                "under_covered": dg.MetadataValue.json(short),
                "labelled_sources": len(rows),
            },
        )

    return live_performance


def _shortfall(source: str, ranges: dict) -> str:
    return (
        f"{source}: prediction ranges held the truth in {ranges['covered']} of {ranges['rows']} "
        f"rows ({ranges['coverage']:.3f}), below their {ranges['coverage_target']:.0%} target "
        f"beyond noise (one-sided binomial p = {ranges['p_value']:.2g})"
    )


def _alert_coverage(context: dg.AssetExecutionContext, alerts: AlertSink, report: dict) -> None:
    """One alert per set of under-covered sources; silence while it stays the same."""
    short = report["under_covered"]
    if not short:
        alerts.resolve(COVERAGE_CONDITION)
        return
    alerts.send_once(
        COVERAGE_CONDITION,
        json.dumps(sorted(short)),
        "coverage_shortfall",
        f"{report['model']}: "
        + "; ".join(_shortfall(source, report["rows"][source]["ranges"]) for source in short),
        asset=LIVE_PERFORMANCE.to_user_string(),
        check=LIVE_PERFORMANCE_HOLDS.name,
        batch=sorted(short),
        figures={source: report["rows"][source]["ranges"] for source in short},
        run_id=context.run_id,
    )


def _live_markdown(report: dict) -> str:
    """The live metrics as a table, with the files that could not be scored."""
    from ml_assets.lib.core.markdown import table

    lines = [f"# Live performance of {report['model']}", ""]
    rows = [
        {
            "source": s,
            **{k: v for k, v in r.items() if k not in ("metrics", "ranges")},
            "range coverage": (r.get("ranges") or {}).get("coverage"),
        }
        for s, r in report["rows"].items()
    ]
    lines += [table(rows) if rows else "No newly labelled data yet.", ""]
    lines += [f"- {file} not scored: {error}" for file, error in report["errors"].items()]
    return "\n".join(lines) + "\n"


def _live_metadata(report: dict, markdown: str) -> dict:
    """The latest live figures the UI plots across materializations."""
    drops = [r["drop"] for r in report["rows"].values() if r.get("drop") is not None]
    return {
        "report": dg.MetadataValue.md(markdown),
        "serving_model": report["model"],
        "labelled_sources": len(report["rows"]),
        "largest_drop": max(drops, default=0.0),
    }


def _alert_drop(context: dg.AssetExecutionContext, alerts: AlertSink, report: dict) -> None:
    """One alert per set of dropped sources; silence while it stays the same."""
    drops = report["dropped"]
    if not drops:
        alerts.resolve(PERFORMANCE_CONDITION)
        return
    named = ", ".join(f"{source} ({drop:.3f})" for source, drop in drops.items())
    alerts.send_once(
        PERFORMANCE_CONDITION,
        json.dumps(sorted(drops)),
        "performance_drop",
        f"{report['model']}: live metric dropped more than {report['max_drop']} in {named}",
        asset=LIVE_PERFORMANCE.to_user_string(),
        check=LIVE_PERFORMANCE_HOLDS.name,
        batch=sorted(drops),
        figures={source: report["rows"][source] for source in drops},
        run_id=context.run_id,
    )
