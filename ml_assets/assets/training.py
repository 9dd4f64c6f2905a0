"""The ``trained_model`` asset: a tuned scikit-learn Pipeline, stored with skops."""

import contextlib
import json
from typing import Literal

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


def training_config(defaults: TrainingSection, decision: DecisionSection) -> type[dg.Config]:
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

    class FeatureSelectionConfig(dg.Config):
        """Which preprocessed inputs the estimator sees, chosen on training rows only."""

        method: Literal["none", "variance", "univariate", "model"] = Field(
            default=selection.method,
            description="none; variance (drop near-constant inputs); univariate (the k best by "
            "score); model (inputs a random forest finds important).",
        )
        k: int = Field(default=selection.k, ge=1, description="Inputs kept by univariate.")
        score: Literal["mutual_info", "f_test"] = Field(
            default=selection.score, description="The univariate score."
        )
        threshold: str | None = Field(
            default=None if selection.threshold is None else str(selection.threshold),
            description="variance: a number; model: a number, mean or median; empty: default.",
        )

        def as_section(self) -> dict:
            """The selection as ``train_model`` takes it (numbers as numbers)."""
            threshold: float | str | None = self.threshold or None
            with contextlib.suppress(TypeError, ValueError):
                threshold = float(threshold)  # type: ignore[arg-type]
            return {**self.model_dump(), "threshold": threshold}

    class TrainingConfig(dg.Config):
        """Estimator and hyperparameter search, editable in the launchpad."""

        estimator: Literal["auto", "random_forest", "hist_gradient_boosting", "linear"] = Field(
            default=defaults.estimator,
            description="The model's final step (linear: logistic regression or ridge, by "
            "task); auto cross-validates every family and keeps the best.",
        )
        search: Literal["grid", "random", "none"] = Field(
            default=defaults.search,
            description="Cross-validated grid or randomized search, or none.",
        )
        search_space: str = Field(
            default=json.dumps(defaults.search_space) if defaults.search_space is not None else "",
            description="JSON object of estimator parameter to candidate values, "
            'e.g. {"max_depth": [null, 8]}; empty uses the estimator\'s default space.',
        )
        cv_folds: int = Field(default=defaults.cv_folds, ge=2, description="Cross-validation folds")
        n_iter: int = Field(
            default=defaults.n_iter, ge=1, description="Candidates of a randomized search."
        )
        seed: int = Field(default=defaults.seed, description="Seed of folds, search and estimator.")
        budget: int | None = Field(
            default=defaults.budget,
            ge=1,
            description="Trials of the budgeted search: successive halving over this many seeded "
            "random candidates from wide spaces (replaces search and n_iter); empty: off.",
        )
        time_limit: float | None = Field(
            default=defaults.time_limit,
            gt=0,
            description="Seconds after which no further family's search starts (the report and "
            "the metadata say when it cut the search); empty: no cap.",
        )
        coverage: float | None = Field(
            default=defaults.coverage,
            gt=0,
            lt=1,
            description="Share of new rows each prediction's range should hold (split "
            "conformal on a calibration part of the training rows); empty: no ranges.",
        )
        n_jobs: int = Field(
            default=defaults.n_jobs,
            ge=-1,
            description="Workers fitting candidates, folds and the final model; -1: every core. "
            "The fitted model is the same whatever it is.",
        )
        feature_selection: FeatureSelectionConfig = Field(
            default=FeatureSelectionConfig(), description="Feature selection inside the Pipeline."
        )
        max_rows: int | None = Field(
            default=defaults.max_rows,
            ge=1,
            description="Past this many training rows, train on a seeded, stratified sample of "
            "them (reported with a learning curve); empty: sized to the training machine's memory "
            "and the search's time (lib/model/training_sample.py).",
        )
        decision: DecisionConfig = Field(
            default=DecisionConfig(), description="Binary tasks: the cut-off by cost or precision."
        )

        def parsed_search_space(self) -> dict[str, list] | None:
            """The search space as a dict, or None for the estimator's default."""
            if not self.search_space.strip():
                return None
            space = json.loads(self.search_space)
            if not isinstance(space, dict) or not all(isinstance(v, list) for v in space.values()):
                raise ValueError('search_space must be a JSON object of lists: {"C": [0.1, 1]}')
            return space

    return TrainingConfig


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
            feature_selection=config.feature_selection.as_section(),
            decision=config.decision.as_section(),
            budget=config.budget,
            time_limit=config.time_limit,
            n_jobs=config.n_jobs,
            coverage=config.coverage,
        )
        training = result.summary()
        if sample.sampled:
            curve = learning_curve(
                result.model, sample, project.spec, result.scoring, config.cv_folds
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
