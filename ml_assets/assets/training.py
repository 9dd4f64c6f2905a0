"""The ``trained_model`` asset: a tuned scikit-learn Pipeline, stored with skops."""

import contextlib
import json

import dagster as dg
from pydantic import Field

from ml_assets.checks.batches import require_usable_training_set
from ml_assets.constants import AUTOMATION, MODEL, write_pool
from ml_assets.lib.core.markdown import table
from ml_assets.lib.core.versioning import source_version
from ml_assets.lib.data.batch_records import BatchTable
from ml_assets.lib.project.project_config import DecisionSection, Project, TrainingSection
from ml_assets.resources.io_manager import STORAGE_FORMAT
from ml_assets.resources.settings import PipelineSettings
from ml_assets.section_config import SectionConfig, section_config


class TrainingRun(SectionConfig):
    """Estimator and hyperparameter search, editable in the launchpad."""

    def parsed_search_space(self) -> dict[str, list] | None:
        """The search space as a dict, or None for the estimator's default."""
        text = self.search_space.strip()  # type: ignore[attr-defined]
        if not text:
            return None
        space = json.loads(text)
        if not isinstance(space, dict) or not all(isinstance(v, list) for v in space.values()):
            raise ValueError('search_space must be a JSON object of lists: {"C": [0.1, 1]}')
        return space

    def feature_selection_section(self) -> dict:
        """The selection as ``train_model`` takes it (a number as a number)."""
        selection = self.feature_selection.model_dump()  # type: ignore[attr-defined]
        threshold: float | str | None = selection["threshold"] or None
        with contextlib.suppress(TypeError, ValueError):
            threshold = float(threshold)  # type: ignore[arg-type]
        return {**selection, "threshold": threshold}


def training_config(defaults: TrainingSection, decision: DecisionSection) -> type[TrainingRun]:
    """The launchpad's training settings, from the project's ``training`` and ``decision``."""
    selection = defaults.feature_selection
    costs = decision.costs

    class DecisionConfig(dg.Config):
        """The binary cut-off, tuned on the search's folds (empty: the most probable label)."""

        false_positive_cost: float | None = Field(
            default=costs.false_positive if costs else None,
            ge=0,
            description="Cost of a false alarm; with false_negative_cost: least expected cost.",
        )
        false_negative_cost: float | None = Field(
            default=costs.false_negative if costs else None, ge=0, description="Cost of a miss."
        )
        min_precision: float | None = Field(
            default=decision.min_precision,
            gt=0,
            le=1,
            description="Instead of costs: the highest recall whose precision reaches this.",
        )

        def as_section(self) -> dict:
            """The decision as ``train_model`` takes it (the config's ``decision`` section)."""
            from ml_assets.lib.project.project_config import DecisionSection

            pair = (self.false_positive_cost, self.false_negative_cost)
            given = {
                "costs": (
                    {"false_positive": pair[0], "false_negative": pair[1]}
                    if None not in pair
                    else None
                ),
                "min_precision": self.min_precision,
            }
            return DecisionSection(**given).model_dump()

    threshold, space = selection.threshold, defaults.search_space
    return section_config(
        defaults,
        "TrainingConfig",
        base=TrainingRun,
        overrides={
            "search_space": (
                str,
                Field(
                    default="" if space is None else json.dumps(space),
                    description="JSON object of estimator parameter to candidate values, "
                    'e.g. {"max_depth": [null, 8]}; empty uses the estimator\'s default space.',
                ),
            ),
            "feature_selection.threshold": (
                str | None,
                Field(
                    default=None if threshold is None else str(threshold),
                    description="variance: a number; model: a number, mean or median; empty: "
                    "default.",
                ),
            ),
            "decision": (
                DecisionConfig,
                Field(
                    default=DecisionConfig(),
                    description="Binary tasks: the cut-off by cost or precision.",
                ),
            ),
        },
    )


def build_trained_model(project: Project) -> dg.AssetsDefinition:
    """The training asset of one project."""
    TrainingConfig = training_config(project.config.training, project.config.decision)

    @dg.asset(
        group_name=MODEL,
        pool=write_pool("trained_model"),
        code_version=source_version(__name__, extra=repr(project.spec)),
        automation_condition=AUTOMATION,
        kinds={"scikit-learn", "skops"},
        metadata={STORAGE_FORMAT: "skops"},
    )
    def trained_model(
        context: dg.AssetExecutionContext,
        config: TrainingConfig,
        features: BatchTable,
        settings: PipelineSettings,
    ):
        """The fitted Pipeline (preprocessing + estimator), refit on the training side.

        Stored as ``storage/trained_model.skops``. Its data version is a fingerprint of the fitted
        model, so identical fits compare equal; the lock file's hash names the environment to
        rebuild it in. No checks of its own: it refuses a training set that fails the blocking
        checks of features (enough_rows, null_rates, split_is_usable).
        """
        from ml_assets.lib.core.environment import MODEL_PACKAGES, drift_from_lock, lock_hash
        from ml_assets.lib.core.storage import preload_skops
        from ml_assets.lib.model.modeling import model_fingerprint, train_model
        from ml_assets.lib.model.training_sample import (
            default_max_rows,
            learning_curve,
            read_training_rows,
            sample_summary,
        )

        require_usable_training_set(features, project, settings)
        preload_skops()
        # Only the columns it needs and only the training side kept: this step sets the peak.
        max_rows = config.max_rows or default_max_rows()
        sample = read_training_rows(
            features,
            project.spec.scored_columns,
            project.spec,
            max_rows,
            config.seed,
        )
        result = train_model(
            sample.rows,
            project.spec,
            estimator=config.estimator,
            search=config.search,
            search_space=config.parsed_search_space(),
            cv_folds=config.cv_folds,
            n_iter=config.n_iter,
            seed=config.seed,
            feature_selection=config.feature_selection_section(),
            decision=config.decision.as_section(),
            budget=config.budget,
            time_limit=config.time_limit,
            n_jobs=config.n_jobs,
            coverage=config.coverage,
            ensemble=config.ensemble,
        )
        training = result.summary()
        if sample.sampled:
            curve = learning_curve(
                result.model,
                sample,
                project.spec,
                result.scoring,
                config.cv_folds,
                n_jobs=result.search_facts["n_jobs"],
                estimator=result.estimator,
            )
            training["sample"] = sample_summary(sample, curve)
            context.log.warning(
                f"trained on a sample of {len(sample.rows)} of {sample.available} training rows "
                f"(max_rows {max_rows}); the learning curve is in the evaluation report"
            )
        fingerprint = model_fingerprint(result.model)
        return dg.Output(
            result.model,
            data_version=dg.DataVersion(fingerprint),
            metadata={
                "estimator": result.estimator,
                "best_params": dg.MetadataValue.json(result.best_params),
                "candidates": dg.MetadataValue.md(table(result.candidates)),
                "features_kept": dg.MetadataValue.json(result.features_kept),
                "features_dropped": dg.MetadataValue.json(result.features_dropped),
                "training": dg.MetadataValue.json(training),
                "decision": dg.MetadataValue.json(
                    result.decision or {"rule": "the label of highest probability"}
                ),
                f"cv_{result.scoring}_mean": result.cv_mean,
                f"cv_{result.scoring}_std": result.cv_std,
                "search": dg.MetadataValue.json(result.search_facts),
                "search_cut": result.search_facts["cut"] or "no",
                "train_rows": result.rows,
                "train_rows_available": sample.available,
                "fit_seconds": result.fit_seconds,
                "fingerprint": fingerprint,
                "training_set": features.data_version,
                "batches": dg.MetadataValue.json(features.batches),
                "config_hash": project.config_hash,
                "lock_hash": lock_hash() or "none (installed without the lock file)",
                "packages_off_the_lock": ", ".join(sorted(drift_from_lock(names=MODEL_PACKAGES)))
                or "none",
            },
        )

    return trained_model
