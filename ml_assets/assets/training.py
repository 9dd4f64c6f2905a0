"""The ``trained_model`` asset: a tuned scikit-learn Pipeline, stored with skops."""

import json
from typing import Literal

import dagster as dg
from pydantic import Field

from ml_assets.assets.groups import TRAINING, write_pool
from ml_assets.assets.types import DataFrame
from ml_assets.assets.validation import AUTOMATION
from ml_assets.checks.gates import require_upstream_checks
from ml_assets.lib.dataset import SPLIT
from ml_assets.lib.versioning import source_version
from ml_assets.resources.settings import DATASET, PROJECT
from ml_assets.resources.storage import STORAGE_FORMAT

DEFAULTS = PROJECT.config.training


class TrainingConfig(dg.Config):
    """Estimator and hyperparameter search, editable in the launchpad."""

    estimator: Literal["random_forest", "hist_gradient_boosting", "linear"] = Field(
        default=DEFAULTS.estimator,
        description="The model's final step (linear: logistic regression or ridge, by task).",
    )
    search: Literal["grid", "random", "none"] = Field(
        default=DEFAULTS.search, description="Cross-validated grid or randomized search, or none."
    )
    search_space: str = Field(
        default=json.dumps(DEFAULTS.search_space) if DEFAULTS.search_space is not None else "",
        description="JSON object of estimator parameter to candidate values, "
        'e.g. {"max_depth": [null, 8]}; '
        "empty uses the estimator's default space.",
    )
    cv_folds: int = Field(default=DEFAULTS.cv_folds, ge=2, description="Cross-validation folds.")
    n_iter: int = Field(
        default=DEFAULTS.n_iter, ge=1, description="Candidates of a randomized search."
    )
    seed: int = Field(default=DEFAULTS.seed, description="Seed of the folds, search and estimator.")

    def parsed_search_space(self) -> dict[str, list] | None:
        """The search space as a dict, or None for the estimator's default."""
        if not self.search_space.strip():
            return None
        space = json.loads(self.search_space)
        if not isinstance(space, dict) or not all(isinstance(v, list) for v in space.values()):
            raise ValueError('search_space must be a JSON object of lists, e.g. {"C": [0.1, 1]}')
        return space


@dg.asset(
    group_name=TRAINING,
    pool=write_pool("trained_model"),
    code_version=source_version("ml_assets.lib.modeling", extra=repr(DATASET)),
    automation_condition=AUTOMATION,
    metadata={STORAGE_FORMAT: "skops"},
)
def trained_model(context: dg.AssetExecutionContext, config: TrainingConfig, features: DataFrame):
    """The Pipeline (fitted preprocessing + estimator) refit on all training rows after the search.

    Its data version is a fingerprint of the fitted model, so identical fits compare equal.
    """
    from ml_assets.lib.modeling import model_fingerprint, train_model
    from ml_assets.lib.storage import preload_skops

    require_upstream_checks(context)
    preload_skops()
    result = train_model(
        features[features[SPLIT] == "train"],
        DATASET,
        estimator=config.estimator,
        search=config.search,
        search_space=config.parsed_search_space(),
        cv_folds=config.cv_folds,
        n_iter=config.n_iter,
        seed=config.seed,
    )
    fingerprint = model_fingerprint(result.model)
    return dg.Output(
        result.model,
        data_version=dg.DataVersion(fingerprint),
        metadata={
            "estimator": config.estimator,
            "best_params": dg.MetadataValue.json(result.best_params),
            f"cv_{result.scoring}_mean": result.cv_mean,
            f"cv_{result.scoring}_std": result.cv_std,
            "train_rows": result.rows,
            "fit_seconds": result.fit_seconds,
            "fingerprint": fingerprint,
        },
    )
