"""Building, tuning, choosing and fingerprinting the scikit-learn Pipeline holding all fitted state.

``estimator="auto"`` cross-validates one compact search per model family (regularised linear,
random forest, histogram gradient boosting) on the training rows and keeps the family with the
best mean score; successive halving trims the tree families' searches, whose fits cost the most.
A ``budget`` of trials instead spends that many on each family's wide space (``BUDGET_SPACES``)
with Optuna's seeded TPE sampler, every trial cross-validated on every row: the same seed, rows
and budget give the same model, whatever ``n_jobs`` is. ``auto`` then blends the families' best
models when their weighted average scores higher on the same folds (``ENSEMBLE``).
"""

import hashlib
import time
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import joblib
import numpy as np
import optuna
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.experimental import enable_halving_search_cv  # noqa: F401 - enables the import below
from sklearn.feature_selection import (
    SelectFromModel,
    SelectKBest,
    VarianceThreshold,
    f_classif,
    f_regression,
    mutual_info_classif,
    mutual_info_regression,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import f1_score, r2_score, roc_auc_score
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    KFold,
    RandomizedSearchCV,
    StratifiedKFold,
    cross_val_predict,
    cross_val_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from ml_assets.lib.contract.dataset import DatasetSpec
from ml_assets.lib.core.values import plain
from ml_assets.lib.model import conformal

SearchKind = Literal["grid", "random", "none"]
SelectionMethod = Literal["none", "variance", "univariate", "model"]
AUTO = "auto"
PREPROCESSOR_STEP = "preprocessor"
SELECTOR_STEP = "selector"
ESTIMATOR_STEP = "estimator"

# Each estimator name maps to its classifier and its regressor; the task picks one.
ESTIMATORS: dict[str, dict[bool, type[BaseEstimator]]] = {
    "random_forest": {True: RandomForestClassifier, False: RandomForestRegressor},
    "hist_gradient_boosting": {
        True: HistGradientBoostingClassifier,
        False: HistGradientBoostingRegressor,
    },
    "linear": {True: LogisticRegression, False: Ridge},
}

# A forest's n_jobs stays None (one thread unless a joblib context says otherwise), so the fitted
# model, and its fingerprint, are the same whatever the training step's n_jobs was.
DEFAULT_PARAMS: dict[str, dict[bool, dict[str, Any]]] = {
    "random_forest": {True: {"n_estimators": 100}, False: {"n_estimators": 100}},
    "hist_gradient_boosting": {True: {}, False: {}},
    "linear": {True: {"max_iter": 1000}, False: {}},
}

# The space searched when one estimator is named and no search_space is given.
DEFAULT_SEARCH_SPACES: dict[str, dict[bool, dict[str, list[Any]]]] = {
    "random_forest": {
        True: {"max_depth": [None, 8], "min_samples_leaf": [1, 5]},
        False: {"max_depth": [None, 8], "min_samples_leaf": [1, 5]},
    },
    "hist_gradient_boosting": {
        True: {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31]},
        False: {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31]},
    },
    "linear": {True: {"C": [0.1, 1.0, 10.0]}, False: {"alpha": [0.1, 1.0, 10.0]}},
}

# ``auto``: the families compared, simplest first (a tie keeps the simpler), and their spaces.
AUTO_FAMILIES = ("linear", "random_forest", "hist_gradient_boosting")
_BOOSTING_SPACE = {
    "learning_rate": [0.05, 0.1],
    "max_leaf_nodes": [15, 31],
    "l2_regularization": [1.0],
}
AUTO_SEARCH_SPACES: dict[str, dict[bool, dict[str, list[Any]]]] = {
    "linear": {True: {"C": [0.1, 1.0, 10.0]}, False: {"alpha": [0.1, 1.0, 10.0, 100.0]}},
    "random_forest": {
        True: {"min_samples_leaf": [1, 3, 8]},
        # A third of the inputs per split: the regressor's default (all) costs three times more.
        False: {"max_features": [0.3], "min_samples_leaf": [1, 3, 8]},
    },
    "hist_gradient_boosting": {True: _BOOSTING_SPACE, False: _BOOSTING_SPACE},
}
# The budgeted search's wide spaces, from which Optuna's TPE sampler draws each family's trials.
# Leaf sizes and leaves on a log scale: small leaves on all the rows were what boosting lacked.
_BOOSTING_WIDE = {
    "learning_rate": FloatDistribution(0.01, 0.3, log=True),
    "max_leaf_nodes": IntDistribution(4, 64, log=True),
    "min_samples_leaf": IntDistribution(2, 80, log=True),
    "l2_regularization": FloatDistribution(1e-3, 10.0, log=True),
    "max_features": FloatDistribution(0.3, 1.0),  # share of inputs each split considers
}
_FOREST_WIDE = {
    "max_features": CategoricalDistribution(["sqrt", 0.2, 0.33, 0.5, 0.7, 1.0]),
    "min_samples_leaf": IntDistribution(1, 15),
}
BUDGET_SPACES: dict[str, dict[bool, dict[str, BaseDistribution]]] = {
    "linear": {
        True: {"C": FloatDistribution(1e-3, 1e2, log=True)},
        False: {"alpha": FloatDistribution(1e-2, 1e3, log=True)},
    },
    "random_forest": {True: _FOREST_WIDE, False: _FOREST_WIDE},
    "hist_gradient_boosting": {True: _BOOSTING_WIDE, False: _BOOSTING_WIDE},
}
# Boosting in the budgeted search stops on an inner validation split of the rows it is fitted on,
# so a small learning rate gets the iterations it needs and a large one stops early.
EARLY_STOPPING = {"early_stopping": True, "max_iter": 500, "validation_fraction": 0.1}
# Early stopping holds out a share of a fold's training rows, stratified for a classifier: it
# must leave the rarest class this many rows there, and any task this many in all, or boosting
# is searched without early stopping (a small table).
EARLY_STOPPING_MIN_CLASS_ROWS = 4
EARLY_STOPPING_MIN_ROWS = 20
# How a budget is shared between auto's families: boosting's space is the widest and paid most
# on the benchmark's tables; a forest's candidates cost the most and gained the least.
BUDGET_WEIGHTS = {"linear": 1, "random_forest": 1, "hist_gradient_boosting": 3}
# ``ml-assets init``'s budget: the most trials up to TABLE_ROWS rows, fewer (by the square root
# of the size) on larger tables, whose every trial costs more, never under the least.
INIT_BUDGET = {"most": 15, "least": 9, "table_rows": 5000}

# Families whose fits cost enough that successive halving (on rows) pays for itself.
HALVING_FAMILIES = frozenset({"random_forest", "hist_gradient_boosting"})
# A search of these families alone fits side by side on threads, not worker processes: a forest
# builds its trees outside the GIL, and threads skip the workers' start-up and the copies of the
# rows (a 10-tree forest, 3 folds, 2 cores: 8,000 rows 0.45 s instead of 1.6-1.9 s, 80,000 rows
# 1.8 s instead of 3.2 s). Linear models and boosting hold the GIL more: on threads the default
# search of two real tables took three times longer.
THREADED_FAMILIES = frozenset({"random_forest"})
HALVING_FACTOR = 3
SELECTOR_TREES = 50
# ``auto``'s blend: greedy ensemble selection with replacement (Caruana et al., 2004) over the
# families' best models, on their out-of-fold predictions; the weights are counts of this many.
ENSEMBLE = "ensemble"
ENSEMBLE_STEPS = 20


def mutual_information_classif(features: Any, target: Any) -> np.ndarray:
    """Mutual information with the label, seeded so that a refit keeps the same features."""
    return mutual_info_classif(features, target, random_state=0)


def mutual_information_regression(features: Any, target: Any) -> np.ndarray:
    """Mutual information with the target, seeded so that a refit keeps the same features."""
    return mutual_info_regression(features, target, random_state=0)


UNIVARIATE_SCORES = {
    ("mutual_info", True): mutual_information_classif,
    ("mutual_info", False): mutual_information_regression,
    ("f_test", True): f_classif,
    ("f_test", False): f_regression,
}


@dataclass(frozen=True)
class FeatureSelection:
    """Which preprocessed inputs the estimator sees; a Pipeline step, so fitted on train rows only.

    ``method``: none; variance (drop inputs whose variance is at most ``threshold``, default 0);
    univariate (keep the ``k`` best by ``score``: mutual_info or f_test); model (keep inputs
    whose importance in a small random forest reaches ``threshold``, default "mean").
    """

    method: SelectionMethod = "none"
    k: int = 20
    score: Literal["mutual_info", "f_test"] = "mutual_info"
    threshold: float | str | None = None

    def __post_init__(self) -> None:
        """Refuse unknown methods and scores by name, as the config does."""
        if self.method not in ("none", "variance", "univariate", "model"):
            raise ValueError(f"unknown feature selection method {self.method!r}")
        if self.score not in ("mutual_info", "f_test"):
            raise ValueError(f"unknown univariate score {self.score!r}")
        if self.k < 1:
            raise ValueError(f"feature selection k must be at least 1, got {self.k}")

    @classmethod
    def of(cls, value: "FeatureSelection | Mapping[str, Any] | None") -> "FeatureSelection":
        """A selection from a config mapping (``training.feature_selection``), or none."""
        if value is None:
            return cls()
        return value if isinstance(value, cls) else cls(**value)


@dataclass(frozen=True)
class Candidate:
    """One model family's cross-validated search: its best parameters and their fold scores."""

    estimator: str
    search: str
    best_params: dict[str, Any]
    cv_scores: list[float]
    tried: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the report and the asset's metadata."""
        return {
            "estimator": self.estimator,
            "search": self.search,
            "best_params": self.best_params,
            "cv_mean": float(np.mean(self.cv_scores)),
            "cv_std": float(np.std(self.cv_scores)),
            "settings_tried": self.tried,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class TrainingResult:
    """A fitted Pipeline, what its search found, and what the selection kept.

    ``candidates`` has one entry per family searched (``Candidate.as_dict``); ``features_kept``
    and ``features_dropped`` hold ``{"feature", "score"}`` per preprocessed input (``score`` is
    None without a selector). ``search_facts``: the ``budget``, distinct settings ``trials``
    tried, the ``time_limit``, ``cut`` (why the cap cut the search, or None) and ``n_jobs``.
    """

    model: BaseEstimator
    best_params: dict[str, Any]
    cv_scores: list[float]
    scoring: str
    rows: int
    fit_seconds: float
    estimator: str = ""
    candidates: list[dict[str, Any]] = field(default_factory=list)
    feature_selection: str = "none"
    features_kept: list[dict[str, Any]] = field(default_factory=list)
    features_dropped: list[dict[str, Any]] = field(default_factory=list)
    decision: dict[str, Any] | None = None
    search_facts: dict[str, Any] = field(default_factory=dict)

    @property
    def cv_mean(self) -> float:
        """Mean cross-validated score of the chosen parameters."""
        return float(np.mean(self.cv_scores))

    @property
    def cv_std(self) -> float:
        """Spread (standard deviation) of the cross-validated score across folds."""
        return float(np.std(self.cv_scores))

    def summary(self) -> dict[str, Any]:
        """The training facts for ``evaluate(training=...)``; the shape is documented there."""
        return {
            "estimator": self.estimator,
            "best_params": self.best_params,
            "cv_metric": self.scoring,
            "cv_mean": self.cv_mean,
            "cv_std": self.cv_std,
            "candidates": self.candidates,
            "feature_selection": self.feature_selection,
            "features_kept": self.features_kept,
            "features_dropped": self.features_dropped,
            "decision": self.decision,
            "train_rows": self.rows,
            "fit_seconds": self.fit_seconds,
            "search": self.search_facts,
            "ranges": conformal.calibration_of(self.model),
        }


def model_inputs(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The Pipeline's columns: numbers as float64, categories as text, missing values as NaN.

    Categories become text so that integer codes and booleans one-hot encode beside the
    imputer's "missing" fill (the encoder refuses a column mixing numbers and text).
    """
    # Arrays assembled into one frame: copying the frame and setting each column cost more.
    columns = {
        name: frame[name].to_numpy(dtype="float64", na_value=np.nan)
        for name in spec.model_numeric_columns
    }
    for name in spec.categorical_features:
        values = frame[name].astype("object")
        present = values.notna()
        # A column of text (the contract's usual case) skips the per-value str().
        if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
            values = values.where(~present, values[present].map(str))
        if not present.all():
            values = values.where(present, np.nan)
        columns[name] = values.to_numpy()
    return pd.DataFrame(columns, index=frame.index, copy=False)


def build_preprocessor(spec: DatasetSpec, native_categories: bool = False) -> ColumnTransformer:
    """Median-impute and scale numbers, impute and one-hot categories; dense for every estimator.

    ``native_categories`` codes each category as one integer column instead (unseen values as
    -1, which boosting reads as missing), for an estimator that splits on categories itself:
    one-hot columns multiply the cost of every boosting iteration.
    """
    numeric = Pipeline(
        [("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]
    )
    encoder = (
        (
            "ordinal",
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, dtype=np.float64),
        )
        if native_categories
        else ("onehot", OneHotEncoder(handle_unknown="ignore"))
    )
    categorical = Pipeline(
        [("imputer", SimpleImputer(strategy="constant", fill_value="missing")), encoder]
    )
    return ColumnTransformer(
        [
            ("num", numeric, spec.model_numeric_columns),
            ("cat", categorical, list(spec.categorical_features)),
        ],
        sparse_threshold=0.0,
    )


def build_selector(selection: FeatureSelection, classification: bool, seed: int) -> Any:
    """The Pipeline step that drops inputs, or None when the selection keeps them all."""
    if selection.method == "none":
        return None
    if selection.method == "variance":
        threshold = 0.0 if selection.threshold is None else float(selection.threshold)
        return VarianceThreshold(threshold=threshold)
    if selection.method == "univariate":
        return SelectKBest(UNIVARIATE_SCORES[selection.score, classification], k=selection.k)
    forest = ESTIMATORS["random_forest"][classification](
        n_estimators=SELECTOR_TREES, n_jobs=1, random_state=seed
    )
    threshold = "mean" if selection.threshold is None else selection.threshold
    return SelectFromModel(forest, threshold=threshold)


def build_pipeline(
    spec: DatasetSpec,
    estimator: str,
    params: Mapping[str, Any] | None = None,
    seed: int = 42,
    feature_selection: FeatureSelection | Mapping[str, Any] | None = None,
) -> Pipeline:
    """Preprocessing, the optional selector and the named estimator, seeded where they take one."""
    if estimator not in ESTIMATORS:
        choices = sorted([*ESTIMATORS, AUTO])
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {choices}")
    kind = spec.is_classification
    model = ESTIMATORS[estimator][kind](**{**DEFAULT_PARAMS[estimator][kind], **(params or {})})
    if "random_state" in model.get_params():
        model.set_params(random_state=seed)
    selector = build_selector(FeatureSelection.of(feature_selection), kind, seed)
    # Boosting splits on category codes itself, unless a selector may drop or reorder columns.
    native = estimator == "hist_gradient_boosting" and selector is None
    if native and spec.categorical_features:
        first = len(spec.model_numeric_columns)
        model.set_params(
            categorical_features=list(range(first, first + len(spec.categorical_features)))
        )
    steps = [(PREPROCESSOR_STEP, build_preprocessor(spec, native_categories=native))]
    if selector is not None:
        steps.append((SELECTOR_STEP, selector))
    return Pipeline([*steps, (ESTIMATOR_STEP, model)])


def build_model(
    spec: DatasetSpec,
    estimator: str,
    params: Mapping[str, Any] | None = None,
    seed: int = 42,
    feature_selection: FeatureSelection | Mapping[str, Any] | None = None,
) -> BaseEstimator:
    """The named family's Pipeline, or for ``ENSEMBLE`` the weighted average of its members'.

    An ensemble's ``params`` map each member family to its settings and its ``weight``; a
    classifier averages the members' probabilities, a regressor their predictions.
    """
    if estimator != ENSEMBLE:
        return build_pipeline(spec, estimator, params, seed, feature_selection)
    members = {name: dict(settings) for name, settings in (params or {}).items()}
    weights = [members[name].pop("weight") for name in members]
    pipelines = [
        (name, build_pipeline(spec, name, settings, seed, feature_selection))
        for name, settings in members.items()
    ]
    # Members one after another (n_jobs=1): a worker thread would fit boosting on every core.
    if spec.is_classification:
        return VotingClassifier(pipelines, voting="soft", weights=weights, n_jobs=1)
    return VotingRegressor(pipelines, weights=weights, n_jobs=1)


def default_scoring(spec: DatasetSpec) -> str:
    """The cross-validation metric of the task."""
    return {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "r2"}[spec.task]


@dataclass(frozen=True)
class _SearchPlan:
    """What every family's search shares: the rows, folds, metric, seed, selection and cores."""

    spec: DatasetSpec
    inputs: pd.DataFrame
    target: pd.Series
    search: SearchKind
    folds: Any
    scoring: str
    n_iter: int
    seed: int
    selection: FeatureSelection
    n_jobs: int = 1


def _searcher(
    plan: _SearchPlan, pipeline: Pipeline, space: dict, family: "_Family"
) -> tuple[Any, str]:
    halving = family.halving
    shared = {"cv": plan.folds, "scoring": plan.scoring, "refit": False, "n_jobs": plan.n_jobs}
    if plan.search == "none" or not space:
        return GridSearchCV(pipeline, {}, **shared), "none"
    if plan.search == "grid" and halving:
        searcher = HalvingGridSearchCV(
            pipeline, space, factor=HALVING_FACTOR, random_state=plan.seed, **shared
        )
        return searcher, "halving grid"
    if plan.search == "grid":
        return GridSearchCV(pipeline, space, **shared), "grid"
    if halving:
        searcher = HalvingRandomSearchCV(
            pipeline,
            space,
            n_candidates=plan.n_iter,
            factor=HALVING_FACTOR,
            random_state=plan.seed,
            **shared,
        )
        return searcher, "halving random"
    searcher = RandomizedSearchCV(
        pipeline, space, n_iter=plan.n_iter, random_state=plan.seed, **shared
    )
    return searcher, "random"


@dataclass(frozen=True)
class _Family:
    """One family to search: its space, whether halving trims it, and its trials (or None)."""

    estimator: str
    space: Mapping[str, Any]
    halving: bool
    trials: int | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)


def _distribution(values: Any) -> BaseDistribution:
    """An Optuna distribution as is; a config's list of values as a choice between them."""
    return values if isinstance(values, BaseDistribution) else CategoricalDistribution(values)


def _tpe_search(
    plan: _SearchPlan, pipeline: Pipeline, family: _Family
) -> tuple[dict[str, Any], list[float], int]:
    """The best of ``family.trials`` drawn by Optuna's seeded TPE sampler: settings, fold scores.

    Every trial is cross-validated on every row (halving's small first rounds ranked leaf sizes,
    which count rows, wrongly). Trials run one after another, so the sampler's draws do not
    depend on the workers, which fit the folds side by side; settings drawn again are not refit.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=plan.seed, multivariate=True)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    space = {name: _distribution(values) for name, values in family.space.items()}
    scored: dict[str, list[float]] = {}
    best: tuple[dict[str, Any], list[float]] | None = None
    for _ in range(family.trials or 0):
        trial = study.ask(space)
        key = repr(sorted(trial.params.items()))
        if key not in scored:
            settings = {f"{ESTIMATOR_STEP}__{name}": v for name, v in trial.params.items()}
            scored[key] = cross_val_score(
                clone(pipeline).set_params(**settings),
                plan.inputs,
                plan.target,
                cv=plan.folds,
                scoring=plan.scoring,
                n_jobs=plan.n_jobs,
            ).tolist()
        mean = float(np.mean(scored[key]))  # NaN if a fold's fit failed (scikit-learn warned)
        study.tell(trial, mean)  # a NaN marks the trial failed
        if np.isfinite(mean) and (best is None or mean > np.mean(best[1])):
            best = (trial.params, scored[key])
    if best is None:
        raise ValueError(f"every {family.estimator} trial failed to fit on some fold")
    return best[0], best[1], len(scored)


def _search_family(plan: _SearchPlan, family: _Family) -> Candidate:
    started = time.perf_counter()
    pipeline = build_pipeline(
        plan.spec, family.estimator, family.fixed, seed=plan.seed, feature_selection=plan.selection
    )
    if family.trials is not None:
        params, cv_scores, tried = _tpe_search(plan, pipeline, family)
        kind = "tpe (budget)"
    else:
        space = {f"{ESTIMATOR_STEP}__{name}": list(values) for name, values in family.space.items()}
        searcher, kind = _searcher(plan, pipeline, space, family)
        searcher.fit(plan.inputs, plan.target)
        results, best = searcher.cv_results_, searcher.best_index_
        params = {
            key.removeprefix(f"{ESTIMATOR_STEP}__"): value
            for key, value in results["params"][best].items()
        }
        cv_scores = [
            float(results[f"split{fold}_test_score"][best])
            for fold in range(plan.folds.get_n_splits())
        ]
        tried = int(getattr(searcher, "n_candidates_", [len(results["params"])])[0])
    return Candidate(
        estimator=family.estimator,
        search=kind,
        best_params={**family.fixed, **{key: plain(value) for key, value in params.items()}},
        cv_scores=cv_scores,
        tried=tried,
        seconds=time.perf_counter() - started,
    )


def _out_of_fold_metric(scoring: str, classes: np.ndarray | None) -> Any:
    """``scoring`` from predictions (probabilities for a classifier), as its scorer computes it."""
    if scoring == "roc_auc":
        return lambda truth, predicted: float(roc_auc_score(truth, predicted[:, 1]))
    if scoring == "f1_macro":
        return lambda truth, predicted: float(
            f1_score(truth, classes[predicted.argmax(axis=1)], average="macro")
        )
    return lambda truth, predicted: float(r2_score(truth, predicted))


def _weighted_average(predictions: Mapping[str, np.ndarray], counts: Mapping[str, int]) -> Any:
    return sum(counts[name] * predictions[name] for name in counts) / sum(counts.values())


def greedy_weights(predictions: Mapping[str, np.ndarray], score: Any) -> dict[str, int]:
    """Ensemble selection with replacement: step by step, add the member that helps most.

    Runs ``ENSEMBLE_STEPS`` steps and keeps the counts of the best-scoring step; ties go to the
    member listed first (the simpler family), so the weights are fixed for given predictions.
    """
    counts = dict.fromkeys(predictions, 0)
    best, kept = -np.inf, counts
    for _ in range(ENSEMBLE_STEPS):
        trials = {}
        for name in predictions:
            trials[name] = score(_weighted_average(predictions, {**counts, name: counts[name] + 1}))
        pick = max(trials, key=trials.__getitem__)
        counts = {**counts, pick: counts[pick] + 1}
        if trials[pick] > best + 1e-9:  # a gain, not the float noise of re-weighting equals
            best, kept = trials[pick], counts
    return {name: count for name, count in kept.items() if count}


def _blend(plan: _SearchPlan, candidates: Sequence[Candidate]) -> Candidate | None:
    """The families' best blended by ``greedy_weights``, if that beats each alone on the folds.

    Each family's best is cross-validated once more on the search's folds to get its
    out-of-fold predictions; the blend and the families are then scored on the same rows.
    """
    started = time.perf_counter()
    classification = plan.spec.is_classification
    method = "predict_proba" if classification else "predict"
    predictions = {
        candidate.estimator: cross_val_predict(
            build_pipeline(
                plan.spec, candidate.estimator, candidate.best_params, plan.seed, plan.selection
            ),
            plan.inputs,
            plan.target,
            cv=plan.folds,
            method=method,
            n_jobs=plan.n_jobs,
        )
        for candidate in candidates
    }
    metric = _out_of_fold_metric(plan.scoring, np.unique(plan.target) if classification else None)
    weights = greedy_weights(predictions, lambda predicted: metric(plan.target, predicted))
    if len(weights) < 2:
        return None
    blended = _weighted_average(predictions, weights)
    tests = [test for _, test in plan.folds.split(plan.inputs, plan.target)]

    def fold_scores(predicted: np.ndarray) -> list[float]:
        return [metric(plan.target.iloc[test], predicted[test]) for test in tests]

    scores = fold_scores(blended)
    # It must beat each family's out-of-fold score and the score its search reported (halving's
    # last round may fit on a subsample), so the candidates' table never shows a better one.
    alone = [np.mean(fold_scores(each)) for each in predictions.values()]
    if np.mean(scores) <= max(*alone, *(np.mean(c.cv_scores) for c in candidates)):
        return None
    return Candidate(
        estimator=ENSEMBLE,
        search=f"greedy selection over out-of-fold predictions ({ENSEMBLE_STEPS} steps)",
        best_params={
            candidate.estimator: {"weight": weights[candidate.estimator], **candidate.best_params}
            for candidate in candidates
            if candidate.estimator in weights
        },
        cv_scores=scores,
        tried=len(predictions),
        seconds=time.perf_counter() - started,
    )


def budget_shares(budget: int, families: Sequence[str]) -> dict[str, int]:
    """Trials per family: the budget split by ``BUDGET_WEIGHTS``, at least one each, summing to it.

    Largest remainders get the trials rounding leaves over, so the split is exact and fixed.
    """
    if budget < len(families):
        raise ValueError(f"a budget of {budget} trial(s) cannot search {len(families)} families")
    weights = {name: BUDGET_WEIGHTS[name] for name in families}
    total = sum(weights.values())
    spare = budget - len(families)
    exact = {name: spare * weight / total for name, weight in weights.items()}
    shares = {name: 1 + int(value) for name, value in exact.items()}
    leftover = budget - sum(shares.values())
    for name in sorted(families, key=lambda name: int(exact[name]) - exact[name])[:leftover]:
        shares[name] += 1
    return shares


def budget_for(rows: int) -> int:
    """The trials ``ml-assets init`` writes for a table of ``rows`` rows (``INIT_BUDGET``)."""
    scaled = INIT_BUDGET["most"] * np.sqrt(INIT_BUDGET["table_rows"] / max(rows, 1))
    return int(np.clip(round(scaled), INIT_BUDGET["least"], INIT_BUDGET["most"]))


def _early_stopping(
    estimator: str, target: pd.Series, classification: bool, folds: int
) -> dict[str, Any]:
    """Boosting's early stopping, if a fold's inner split holds enough rows of every class."""
    if estimator != "hist_gradient_boosting":
        return {}
    share = float(target.value_counts(normalize=True).min()) if classification else 1.0
    held_out = (1 - 1 / folds) * EARLY_STOPPING["validation_fraction"]
    needed = max(EARLY_STOPPING_MIN_CLASS_ROWS / share, EARLY_STOPPING_MIN_ROWS) / held_out
    return dict(EARLY_STOPPING) if needed <= len(target) else {}


def _families(
    estimator: str,
    search_space: Mapping[str, Sequence[Any]] | None,
    target: pd.Series,
    classification: bool,
    budget: int | None,
    folds: int,
) -> list[_Family]:
    """The families to search: every family for ``auto``, else the named one."""
    if estimator == AUTO and search_space:
        raise ValueError(
            "search_space names one estimator's parameters; with estimator 'auto' each "
            "family searches its own compact space (name an estimator to set a space)"
        )
    if estimator != AUTO and estimator not in ESTIMATORS:
        choices = sorted([*ESTIMATORS, AUTO])
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {choices}")
    names = list(AUTO_FAMILIES) if estimator == AUTO else [estimator]
    if budget is not None:
        shares = budget_shares(budget, names)
        families = []
        for name in names:
            fixed = _early_stopping(name, target, classification, folds)
            space = search_space or BUDGET_SPACES[name][classification]
            families.append(_Family(name, space, False, shares[name], fixed))
        return families
    if estimator == AUTO:
        return [
            _Family(name, AUTO_SEARCH_SPACES[name][classification], name in HALVING_FAMILIES)
            for name in AUTO_FAMILIES
        ]
    if search_space is None:
        search_space = DEFAULT_SEARCH_SPACES[estimator][classification]
    return [_Family(estimator, search_space, False)]


def parallel_fits(estimators: Collection[str]) -> Any:
    """The joblib context that fits the candidates and folds of ``estimators`` side by side.

    Threads when every family is in ``THREADED_FAMILIES``; else worker processes, each with one
    OpenMP thread, so boosting's threads never fight the workers (started once, they serve
    every family: a forest's halving rounds after the linear search ran slower on threads).
    """
    if estimators and set(estimators) <= THREADED_FAMILIES:
        return joblib.parallel_config(backend="threading")
    return joblib.parallel_config(backend="loky", inner_max_num_threads=1)


def resolve_n_jobs(n_jobs: int) -> int:
    """Workers for ``n_jobs``: -1 (or more than there are) means every core this process may use."""
    if n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be -1 (every core) or at least 1, got {n_jobs}")
    cores = joblib.cpu_count()
    return cores if n_jobs == -1 else min(n_jobs, cores)


def _fit_final(model: BaseEstimator, plan: _SearchPlan) -> None:
    """Refit on every training row: a forest's trees on the plan's cores, boosting on one thread.

    A forest seeds each tree before sharing them out, so its threads leave the model as it
    is. It asks joblib for threads, and joblib gives a context's ``n_jobs`` only to the backend
    the context names (unnamed, the trees were fitted one at a time). Boosting's OpenMP threads
    sum gradients in an order that depends on how many there are (measured: another model with 2
    threads than with 1), so it keeps one thread; a blend fits its members in this thread
    (``build_model``), whose OpenMP limit a worker thread would not share.
    """
    with joblib.parallel_config(backend="threading", n_jobs=plan.n_jobs):
        model.fit(plan.inputs, plan.target)


def _fit_chosen(
    model: BaseEstimator, plan: _SearchPlan, decision: Mapping[str, Any] | None
) -> tuple[BaseEstimator, dict[str, Any] | None]:
    """The final fit on the plan's rows, its binary cut-off tuned when ``decision`` asks."""
    spec = plan.spec
    if not (
        spec.task == "binary"
        and decision
        and (decision.get("costs") or decision.get("min_precision"))
    ):
        _fit_final(model, plan)
        return model, None
    from ml_assets.lib.contract.inference import minority_label

    # The evaluation's positive label: the configured one, else the minority class.
    label = spec.positive_label
    label = minority_label(plan.target) if label is None else label
    matches = [value for value in np.unique(plan.target) if str(value) == str(label)]
    if not matches:
        raise ValueError(f"positive label {label!r} is not a label of the training rows")
    with joblib.parallel_config(n_jobs=plan.n_jobs):
        return tune_decision(
            model, plan.inputs, plan.target, matches[0], {**decision, "cv": plan.folds}
        )


def _calibration_split(
    train: pd.DataFrame, spec: DatasetSpec, coverage: float | None, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The rows to fit on and the calibration part (None without ranges), seeded, by class."""
    if coverage is None:
        return train, None
    from sklearn.model_selection import train_test_split

    target = train[spec.target]
    stratify = target if spec.is_classification and target.value_counts().min() >= 2 else None
    fit_rows, calibration_rows = train_test_split(
        train, test_size=conformal.CALIBRATION_SHARE, random_state=seed, stratify=stratify
    )
    return fit_rows, calibration_rows


def _calibrate(
    model: BaseEstimator, rows: pd.DataFrame, spec: DatasetSpec, coverage: float
) -> dict[str, Any]:
    inputs = model_inputs(rows, spec)
    if spec.is_classification:
        probabilities = model.predict_proba(inputs)
        predicted = model.classes_[probabilities.argmax(axis=1)]
    else:
        probabilities, predicted = None, model.predict(inputs)
    return conformal.calibrate(
        rows[spec.target], predicted, probabilities, getattr(model, "classes_", None), coverage
    )


def _fit_with_ranges(
    estimator: str,
    params: Mapping[str, Any],
    plan: _SearchPlan,
    fit_rows: pd.DataFrame,
    calibration_rows: pd.DataFrame | None,
    coverage: float | None,
    decision: Mapping[str, Any] | None,
) -> tuple[BaseEstimator, dict[str, Any] | None]:
    """The chosen settings fitted, calibrated for ranges on ``calibration_rows`` if any, and refit.

    The plan holds ``fit_rows``' inputs. With a calibration part, a first fit scores it, and the
    settings are fitted again on every row, so the ranges cost no accuracy; the quantile of the
    model that never saw the calibration rows stays.
    """
    spec, seed, selection = plan.spec, plan.seed, plan.selection
    model = build_model(spec, estimator, params, seed, selection)
    if calibration_rows is not None and coverage is not None:
        _fit_final(model, plan)
        calibration = _calibrate(model, calibration_rows, spec, coverage)
        every_row = pd.concat([fit_rows, calibration_rows])
        plan = replace(plan, inputs=model_inputs(every_row, spec), target=every_row[spec.target])
        model = build_model(spec, estimator, params, seed, selection)
    model, tuned = _fit_chosen(model, plan, decision)
    if calibration_rows is not None and coverage is not None:
        setattr(model, conformal.ATTRIBUTE, calibration)
    return model, tuned


def refit(
    train: pd.DataFrame,
    spec: DatasetSpec,
    estimator: str,
    params: Mapping[str, Any],
    seed: int = 42,
    coverage: float | None = None,
    n_jobs: int = -1,
    feature_selection: FeatureSelection | Mapping[str, Any] | None = None,
) -> BaseEstimator:
    """A search's choice fitted on other rows as ``train_model`` fits it, without the search.

    ``estimator`` and ``params`` are a ``TrainingResult``'s (an ensemble's too); ranges included,
    and the selection the search ran with.
    """
    fit_rows, calibration_rows = _calibration_split(train, spec, coverage, seed)
    plan = _SearchPlan(
        spec=spec,
        inputs=model_inputs(fit_rows, spec),
        target=fit_rows[spec.target],
        search="none",
        folds=None,
        scoring=default_scoring(spec),
        n_iter=1,
        seed=seed,
        selection=FeatureSelection.of(feature_selection),
        n_jobs=resolve_n_jobs(n_jobs),
    )
    with threadpool_limits(limits=1, user_api="openmp"):
        model, _ = _fit_with_ranges(
            estimator, params, plan, fit_rows, calibration_rows, coverage, None
        )
    return model


def train_model(
    train: pd.DataFrame,
    spec: DatasetSpec,
    estimator: str = "random_forest",
    search: SearchKind = "grid",
    search_space: Mapping[str, Sequence[Any]] | None = None,
    cv_folds: int = 5,
    n_iter: int = 10,
    seed: int = 42,
    feature_selection: FeatureSelection | Mapping[str, Any] | None = None,
    decision: Mapping[str, Any] | None = None,
    budget: int | None = None,
    time_limit: float | None = None,
    n_jobs: int = -1,
    coverage: float | None = None,
    ensemble: bool = True,
) -> TrainingResult:
    """Cross-validate seeded searches on the train rows; refit the best Pipeline on all of them.

    ``estimator="auto"`` searches every family in ``AUTO_FAMILIES`` on the same folds and keeps
    the one with the best mean score of the task's primary metric. ``budget`` (trials) replaces
    ``search`` and ``n_iter`` with that many trials, shared by ``budget_shares`` and drawn by the
    seeded TPE sampler from the wide spaces (``search_space`` for a named estimator).
    ``time_limit`` (seconds) is looked at before each family: a family not started in time is
    not searched, and ``search_facts["cut"]`` says so. ``n_jobs`` workers fit candidates and
    folds side by side. With ``ensemble`` (and no feature selection, whose report names one
    model's inputs), ``auto`` then keeps ``_blend``'s weighted average of the families' best
    when it scores higher.
    ``coverage`` sets a seeded calibration part of the rows aside (``conformal``): the search and
    a first fit use the rest, the calibration rows score that fit, and the chosen settings are
    fitted again on every row; the model carries the ranges' calibration. ``decision`` (binary:
    ``costs`` or ``min_precision``, as the config's section) tunes the cut-off of that last fit
    on the search's folds.
    """
    started = time.perf_counter()
    selection = FeatureSelection.of(feature_selection)
    rows = len(train)
    train, calibration_rows = _calibration_split(train, spec, coverage, seed)
    target = train[spec.target]
    families = _families(estimator, search_space, target, spec.is_classification, budget, cv_folds)
    splitter = StratifiedKFold if spec.is_classification else KFold
    plan = _SearchPlan(
        spec=spec,
        inputs=model_inputs(train, spec),
        target=target,
        search=search,
        folds=splitter(n_splits=cv_folds, shuffle=True, random_state=seed),
        scoring=default_scoring(spec),
        n_iter=n_iter,
        seed=seed,
        selection=selection,
        n_jobs=resolve_n_jobs(n_jobs),
    )
    candidates: list[Candidate] = []
    skipped: list[str] = []

    def out_of_time() -> bool:
        return time_limit is not None and time.perf_counter() - started >= time_limit

    # One OpenMP thread per fit, here and in the search's workers: the cores go to fits side by
    # side, boosting's threads would change its sums (see _fit_final), and on a shared 2-core
    # machine boosting with a thread per core measured eight times slower than with one.
    with threadpool_limits(limits=1, user_api="openmp"):
        with parallel_fits([family.estimator for family in families]):
            for family in families:
                if candidates and out_of_time():
                    skipped.append(family.estimator)
                    continue
                candidates.append(_search_family(plan, family))
            chosen = max(candidates, key=lambda candidate: np.mean(candidate.cv_scores))
            if ensemble and len(candidates) > 1 and selection.method == "none":
                if out_of_time():
                    skipped.append(ENSEMBLE)
                elif (blend := _blend(plan, candidates)) is not None:
                    candidates.append(blend)
                    chosen = blend
        model, tuned = _fit_with_ranges(
            chosen.estimator, chosen.best_params, plan, train, calibration_rows, coverage, decision
        )
    kept, dropped = feature_report(model, spec)
    cut = (
        f"the wall-clock cap of {time_limit:g} s was reached after "
        f"{sum(c.seconds for c in candidates):.1f} s of search: {', '.join(skipped)} not searched"
        if skipped
        else None
    )
    return TrainingResult(
        model=model,
        best_params=chosen.best_params,
        cv_scores=chosen.cv_scores,
        scoring=plan.scoring,
        rows=rows,
        fit_seconds=time.perf_counter() - started,
        estimator=chosen.estimator,
        candidates=[candidate.as_dict() for candidate in candidates],
        feature_selection=selection.method,
        features_kept=kept,
        features_dropped=dropped,
        decision=tuned,
        search_facts={
            "budget": budget,
            "trials": sum(c.tried for c in candidates if c.estimator != ENSEMBLE),
            "time_limit": time_limit,
            "cut": cut,
            "n_jobs": plan.n_jobs,
        },
    )


def transformed_feature_names(model: Pipeline, spec: DatasetSpec) -> list[str]:
    """The preprocessed inputs' names: numeric columns, then ``column=value`` per one-hot column."""
    names = list(spec.model_numeric_columns)
    encoders = model.named_steps[PREPROCESSOR_STEP].named_transformers_.get("cat")
    if encoders is not None and "onehot" not in encoders.named_steps:
        names += list(spec.categorical_features)
    elif spec.categorical_features:
        onehot = encoders.named_steps["onehot"]
        names += [
            f"{column}={value}"
            for column, values in zip(spec.categorical_features, onehot.categories_, strict=True)
            for value in values
        ]
    return names


def _selector_scores(selector: Any) -> np.ndarray:
    if isinstance(selector, VarianceThreshold):
        return selector.variances_
    if isinstance(selector, SelectKBest):
        return selector.scores_
    return selector.estimator_.feature_importances_


def feature_report(
    model: BaseEstimator, spec: DatasetSpec
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Inputs kept and dropped by the fitted selector, best score first, with their scores.

    An ensemble (never given a selector) keeps every input column; its members encode them
    each their own way.
    """
    if not isinstance(model, Pipeline):
        return [{"feature": name, "score": None} for name in spec.model_columns], []
    names = transformed_feature_names(model, spec)
    selector = model.named_steps.get(SELECTOR_STEP)
    if selector is None:
        return [{"feature": name, "score": None} for name in names], []
    support, scores = selector.get_support(), _selector_scores(selector)
    rows = [
        ({"feature": name, "score": None if np.isnan(score) else float(score)}, kept)
        for name, score, kept in zip(names, scores, support, strict=True)
    ]
    rows.sort(key=lambda row: -np.inf if row[0]["score"] is None else -row[0]["score"])
    return [row for row, kept in rows if kept], [row for row, kept in rows if not kept]


# A fitted binary Pipeline carries its tuned cut-off as this attribute, so the skops file, the
# registry version and everything that scores with it (evaluation, gate, batch scoring, serving)
# share one cut-off: {"threshold", "positive_label", "rule", "costs", "min_precision", "cv_score"}.
DECISION = "decision_"


def expected_cost(
    y_true: Any, y_pred: Any, *, pos_label: Any, false_positive: float, false_negative: float
) -> float:
    """Mean cost per row of decisions ``y_pred``: the costs of the false alarms and misses."""
    truth, decided = np.asarray(y_true) == pos_label, np.asarray(y_pred) == pos_label
    wrong = false_positive * np.sum(decided & ~truth) + false_negative * np.sum(~decided & truth)
    return float(wrong / max(len(truth), 1))


def recall_at_precision(y_true: Any, y_pred: Any, *, pos_label: Any, min_precision: float) -> float:
    """Recall when precision reaches ``min_precision``; else below any such recall (precision - 1).

    So the cut-off search keeps the highest recall among cut-offs that meet the precision, and
    the most precise cut-off when none does.
    """
    truth, decided = np.asarray(y_true) == pos_label, np.asarray(y_pred) == pos_label
    hits = float(np.sum(decided & truth))
    precision = hits / max(float(np.sum(decided)), 1.0)
    recall = hits / max(float(np.sum(truth)), 1.0)
    return recall if precision >= min_precision else precision - 1.0


def tune_decision(
    model: Pipeline, inputs: pd.DataFrame, target: pd.Series, positive: Any, decision: Mapping
) -> tuple[Pipeline, dict[str, Any]]:
    """Fit ``model`` on all rows and tune its binary cut-off on cross-validation folds.

    scikit-learn's ``TunedThresholdClassifierCV`` fits a copy on each fold's training part and
    scores every cut-off on its held-out part: least expected cost (``costs``) or highest recall
    at ``min_precision``. Its final refit on all rows is the model returned, with the cut-off
    attached as ``DECISION``. ``decision["cv"]`` is the folds (the search's own).
    """
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import TunedThresholdClassifierCV

    costs = decision.get("costs")
    if costs:
        scorer = make_scorer(expected_cost, greater_is_better=False, pos_label=positive, **costs)
        rule = (
            f"least expected cost (false positive {costs['false_positive']:g}, false negative "
            f"{costs['false_negative']:g})"
        )
    else:
        minimum = decision["min_precision"]
        scorer = make_scorer(recall_at_precision, pos_label=positive, min_precision=minimum)
        rule = f"highest recall at precision >= {minimum:g}"
    tuner = TunedThresholdClassifierCV(
        model, scoring=scorer, response_method="predict_proba", cv=decision["cv"], refit=True
    )
    tuner.fit(inputs, target)
    fitted = tuner.estimator_
    setattr(
        fitted,
        DECISION,
        {
            "threshold": float(tuner.best_threshold_),
            "positive_label": plain(positive),
            "rule": rule,
            "costs": dict(costs) if costs else None,
            "min_precision": decision.get("min_precision"),
            "cv_score": abs(float(tuner.best_score_)) if costs else float(tuner.best_score_),
        },
    )
    return fitted, getattr(fitted, DECISION)


def decision_of(model: Any) -> dict[str, Any] | None:
    """The tuned cut-off a model carries, or None (the label of highest probability decides)."""
    return getattr(model, DECISION, None)


def model_fingerprint(model: Any) -> str:
    """A content hash of a fitted model: its parameters and fitted arrays, in a canonical order.

    skops archives are not byte-stable, so reproducibility is judged on this instead.
    """
    digest = hashlib.sha256()
    _feed(model, digest)
    return digest.hexdigest()


def _feed(value: Any, digest: Any) -> None:  # noqa: C901 - one branch per kind of value
    if isinstance(value, np.ndarray):
        digest.update(f"ndarray{value.dtype.str}{value.shape}".encode())
        if value.dtype.names:  # structured: hash field by field, never the padding bytes
            for name in value.dtype.names:
                _feed(value[name], digest)
        elif value.dtype == object:
            for item in value.ravel():
                _feed(item, digest)
        else:
            digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        digest.update(b"dict")
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            _feed(value[key], digest)
    elif isinstance(value, list | tuple):
        digest.update(type(value).__name__.encode())
        for item in value:
            _feed(item, digest)
    elif value is None or isinstance(value, str | bytes | int | float | bool | np.generic):
        digest.update(f"{type(value).__name__}:{value!r}".encode())
    elif isinstance(value, type) or (callable(value) and not hasattr(value, "__dict__")):
        name = f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
        digest.update(f"callable:{name}".encode())
    else:
        state = value.__getstate__() if hasattr(value, "__getstate__") else vars(value)
        digest.update(f"object:{type(value).__module__}.{type(value).__qualname__}".encode())
        _feed(state if isinstance(state, dict) else {"state": state}, digest)
