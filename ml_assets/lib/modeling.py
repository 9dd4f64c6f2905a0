"""Building, tuning and fingerprinting the scikit-learn Pipeline that carries all fitted state."""

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ml_assets.lib.dataset import DatasetSpec

SearchKind = Literal["grid", "random", "none"]
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

DEFAULT_PARAMS: dict[str, dict[bool, dict[str, Any]]] = {
    "random_forest": {
        True: {"n_estimators": 100, "n_jobs": 1},
        False: {"n_estimators": 100, "n_jobs": 1},
    },
    "hist_gradient_boosting": {True: {}, False: {}},
    "linear": {True: {"max_iter": 1000}, False: {}},
}

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


@dataclass(frozen=True)
class TrainingResult:
    """A fitted Pipeline and what its search found."""

    model: Pipeline
    best_params: dict[str, Any]
    cv_scores: list[float]
    scoring: str
    rows: int
    fit_seconds: float

    @property
    def cv_mean(self) -> float:
        """Mean cross-validated score of the chosen parameters."""
        return float(np.mean(self.cv_scores))

    @property
    def cv_std(self) -> float:
        """Spread (standard deviation) of the cross-validated score across folds."""
        return float(np.std(self.cv_scores))


def model_inputs(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The Pipeline's columns: numbers as float64, missing values as NaN (imputers skip None)."""
    inputs = frame[spec.model_columns].copy()
    for column in spec.model_numeric_columns:
        inputs[column] = inputs[column].astype("float64")
    for column in spec.categorical_features:
        inputs[column] = inputs[column].astype("object").where(inputs[column].notna(), np.nan)
    return inputs


def build_preprocessor(spec: DatasetSpec) -> ColumnTransformer:
    """The seed's preprocessing: median-impute and scale numbers, impute and one-hot categories."""
    numeric = Pipeline(
        [("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]
    )
    categorical = Pipeline(
        [
            ("imputer", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    return ColumnTransformer(
        [
            ("num", numeric, spec.model_numeric_columns),
            ("cat", categorical, list(spec.categorical_features)),
        ]
    )


def build_pipeline(
    spec: DatasetSpec, estimator: str, params: Mapping[str, Any] | None = None, seed: int = 42
) -> Pipeline:
    """Preprocessing plus the named estimator for the task, seeded wherever it takes a seed."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {sorted(ESTIMATORS)}")
    kind = spec.is_classification
    model = ESTIMATORS[estimator][kind](**{**DEFAULT_PARAMS[estimator][kind], **(params or {})})
    if "random_state" in model.get_params():
        model.set_params(random_state=seed)
    return Pipeline([("preprocessor", build_preprocessor(spec)), (ESTIMATOR_STEP, model)])


def default_scoring(spec: DatasetSpec) -> str:
    """The cross-validation metric of the task."""
    return {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "r2"}[spec.task]


def train_model(
    train: pd.DataFrame,
    spec: DatasetSpec,
    estimator: str = "random_forest",
    search: SearchKind = "grid",
    search_space: Mapping[str, Sequence[Any]] | None = None,
    cv_folds: int = 5,
    n_iter: int = 10,
    seed: int = 42,
) -> TrainingResult:
    """Cross-validate a seeded search over ``search_space``; refit the best Pipeline on all rows."""
    started = time.perf_counter()
    pipeline = build_pipeline(spec, estimator, seed=seed)
    inputs, target = model_inputs(train, spec), train[spec.target]
    scoring = default_scoring(spec)
    splitter = StratifiedKFold if spec.is_classification else KFold
    folds = splitter(n_splits=cv_folds, shuffle=True, random_state=seed)
    if search_space is None:
        search_space = DEFAULT_SEARCH_SPACES[estimator][spec.is_classification]
    space = {f"{ESTIMATOR_STEP}__{name}": list(values) for name, values in search_space.items()}
    if search == "none" or not space:
        searcher: Any = GridSearchCV(pipeline, {}, cv=folds, scoring=scoring)
    elif search == "grid":
        searcher = GridSearchCV(pipeline, space, cv=folds, scoring=scoring)
    else:
        searcher = RandomizedSearchCV(
            pipeline, space, n_iter=n_iter, cv=folds, scoring=scoring, random_state=seed
        )
    searcher.fit(inputs, target)
    best = searcher.best_index_
    scores = [
        float(searcher.cv_results_[f"split{fold}_test_score"][best]) for fold in range(cv_folds)
    ]
    return TrainingResult(
        model=searcher.best_estimator_,
        best_params={
            key.removeprefix(f"{ESTIMATOR_STEP}__"): _plain(value)
            for key, value in searcher.best_params_.items()
        },
        cv_scores=scores,
        scoring=scoring,
        rows=len(train),
        fit_seconds=time.perf_counter() - started,
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


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
