"""Statistical checks of each batch in ``features`` against the training set (warn or error).

Beyond the row-level contract: distribution bounds, outlier share, correlation stability and,
for classification, class balance. Each reports its largest figure and a row per batch and
column in its metadata; the thresholds are the configuration's ``statistics`` section (the
launchpad overrides them for one run, as ``statistical_checks``' config), and a figure counts
only when significant at its batch's size. They do not block: a batch that looks unlike the
training set is for a person to judge.
"""

import dagster as dg

from ml_assets.constants import FEATURES
from ml_assets.lib.data.batch_records import BatchTable
from ml_assets.lib.project.project_config import Project
from ml_assets.section_config import section_config

TRAINING_SET = "training_set"  # the data version each result judged, read by the model card

DESCRIPTIONS = {
    "distribution_bounds": "Each batch's mean and quantiles (statistics.quantiles) of every "
    "numeric feature against the training set's, in its standard deviations.",
    "outlier_share": "Share of each batch's values outside the training set's robust range "
    "(robust z-score or IQR rule, statistics.outlier_rule), against the training set's own share "
    "there.",
    "correlation_stability": "Largest change of a pairwise rank correlation of the numeric "
    "features between each batch and the training set.",
    "class_balance": "Largest change of a class's share of rows between each batch and the "
    "training set.",
}


def statistical_findings(
    instance: dg.DagsterInstance, project: Project, data_version: str
) -> list[str]:
    """What the latest statistical checks found on training set ``data_version``.

    Each check that did not pass gives its description; one whose latest result judged other
    data (or that never ran) says so, since its verdict does not describe this training set.
    """
    findings = []
    for name in statistical_check_names(project):
        record = instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(FEATURES, name))
        evaluation = record.event.asset_check_evaluation if record and record.event else None
        judged = evaluation.metadata.get(TRAINING_SET) if evaluation else None
        if judged is None or judged.value != data_version:
            findings.append(f"{name}: not evaluated on training set {data_version}")
        elif not evaluation.passed:
            findings.append(f"{name}: {evaluation.description}")
    return findings


def statistical_check_names(project: Project) -> list[str]:
    """The checks a project's features get (class balance for classification only)."""
    names = [name for name in DESCRIPTIONS if name != "class_balance"]
    if project.spec.is_classification:
        names.append("class_balance")
    return names


def build_statistical_checks(project: Project) -> dg.AssetChecksDefinition:
    """The statistical checks of one project's features (class balance for classification)."""
    StatisticsConfig = section_config(project.config.statistics, "StatisticsConfig")
    specs = [
        dg.AssetCheckSpec(name, asset=FEATURES, description=DESCRIPTIONS[name])
        for name in statistical_check_names(project)
    ]

    @dg.multi_asset_check(specs=specs, name="statistical_checks", ins={"features": FEATURES})
    def statistical_checks(config: StatisticsConfig, features: BatchTable):
        """Every batch of the training set against its training side, graded ok, warn or error."""
        from ml_assets.lib.core.markdown import table
        from ml_assets.lib.core.thresholds import ERROR
        from ml_assets.lib.monitoring.statistics import judged_columns, statistical_checks

        rows = features.read(judged_columns(project.spec))
        for outcome in statistical_checks(rows, project.spec, config.section()):
            yield dg.AssetCheckResult(
                check_name=outcome.name,
                passed=outcome.passed,
                severity=dg.AssetCheckSeverity.ERROR
                if outcome.level == ERROR
                else dg.AssetCheckSeverity.WARN,
                description=outcome.description,
                metadata={
                    **outcome.figures,
                    "level": outcome.level,
                    TRAINING_SET: features.data_version,
                    "batches": dg.MetadataValue.md(table(outcome.table)),
                },
            )

    return statistical_checks
