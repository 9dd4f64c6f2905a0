"""The plain script a user would write instead of the pipeline: no ml_assets, no Dagster.

    python benchmarks/plain_script.py LANDING_DIR OUT_DIR [--training JSON] [--summary out.json]

It reads every CSV in ``LANDING_DIR`` (pandas with the pyarrow engine), validates the rows with a
Pandera schema equal to the demo contract and drops the invalid ones, adds ``numeric_ratio``,
splits 80/20 (stratified, seed 42), grid-searches and fits the project's scikit-learn Pipeline,
scores it on the test side and saves it with skops to ``OUT_DIR/model.skops`` (metrics beside it
in ``metrics.json``). No provenance, no Parquet, no hashing: this is the comparison the issue asks
the whole pipeline to stay close to.

Training settings: ``--training`` takes the same JSON as ``bare_reference.py`` (the keyword
arguments of ``ml_assets.lib.model.modeling.train_model``: ``estimator``, ``search``,
``search_space``, ``cv_folds``, ``seed``). ``benchmarks/run.py`` passes exactly the settings it
gives the pipeline's ``trained_model`` run config, so both fit the same models; without it the demo
config's defaults apply (100 trees, max_depth [None, 8] x min_samples_leaf [1, 5], 5 folds). As in
the project, a search space replaces the default grid rather than adding to it. ``n_jobs`` (1
unless given, as people write it) goes to both the grid search (folds side by side) and the
forest (trees of the refit side by side): with -1 the script uses the whole machine."""

# ruff: noqa: E402 - the clock starts before the heavy imports, so their cost is measured too
import time

STARTED = time.perf_counter()

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import skops.io
from sklearn import metrics
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

TARGET = "target"
NUMERIC = ["numeric1", "numeric2", "numeric_ratio"]
CATEGORICAL = ["category"]
DEMO_TRAINING = {
    "estimator": "random_forest",
    "search": "grid",
    "search_space": {"max_depth": [None, 8], "min_samples_leaf": [1, 5]},
    "cv_folds": 5,
    "seed": 42,
}

CONTRACT = pa.DataFrameSchema(
    {
        "numeric1": pa.Column(float, pa.Check.in_range(-10.0, 10.0), nullable=True),
        "numeric2": pa.Column(float, pa.Check.in_range(0.0, 100.0)),
        "category": pa.Column(str, pa.Check.isin(["A", "B", "C"])),
        TARGET: pa.Column(int, pa.Check.isin([0, 1])),
    },
    coerce=True,
)


def read_landing(landing: Path) -> pd.DataFrame:
    """Every CSV of the folder, in name order, as one frame."""
    paths = sorted(landing.glob("*.csv"))
    if not paths:
        raise SystemExit(f"no CSV files in {landing}")
    frames = [pd.read_csv(path, engine="pyarrow") for path in paths]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def drop_invalid(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Validate lazily; drop the rows named in the failure cases and validate what is left."""
    try:
        return CONTRACT.validate(frame, lazy=True), 0
    except pa.errors.SchemaErrors as errors:
        rows = errors.failure_cases["index"]
        if rows.isna().any():  # a failure of a whole column (missing, wrong type): not row-level
            raise
        bad = pd.unique(rows.astype("int64"))
        return CONTRACT.validate(frame.drop(index=bad)), len(bad)


def add_ratio(frame: pd.DataFrame) -> pd.DataFrame:
    """``numeric_ratio = numeric1 / numeric2``, with division by zero as NaN for the imputer."""
    ratio = frame["numeric1"] / frame["numeric2"]
    return frame.assign(numeric_ratio=ratio.replace([np.inf, -np.inf], np.nan))


def build_search(training: dict[str, Any]) -> GridSearchCV:
    """The project's Pipeline (preprocessing + random forest) in its seeded grid search."""
    if training.get("estimator", "random_forest") != "random_forest":
        raise SystemExit("the plain script mirrors the random_forest estimator only")
    if training.get("search", "grid") != "grid":
        raise SystemExit("the plain script mirrors the grid search only")
    seed = training.get("seed", 42)
    numeric = Pipeline(
        [("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]
    )
    categorical = Pipeline(
        [
            ("imputer", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    pipeline = Pipeline(
        [
            (
                "preprocessor",
                ColumnTransformer([("num", numeric, NUMERIC), ("cat", categorical, CATEGORICAL)]),
            ),
            (
                "estimator",
                RandomForestClassifier(
                    n_estimators=100, n_jobs=training.get("n_jobs", 1), random_state=seed
                ),
            ),
        ]
    )
    space = training.get("search_space", DEMO_TRAINING["search_space"])
    folds = StratifiedKFold(n_splits=training.get("cv_folds", 5), shuffle=True, random_state=seed)
    grid = {f"estimator__{name}": list(values) for name, values in space.items()}
    return GridSearchCV(
        pipeline, grid, cv=folds, scoring="roc_auc", n_jobs=training.get("n_jobs", 1)
    )


def test_metrics(model: Pipeline, inputs: pd.DataFrame, target: pd.Series) -> dict[str, float]:
    """Accuracy, precision, recall, F1, ROC AUC and log loss on the held-out rows."""
    predicted = model.predict(inputs)
    probability = model.predict_proba(inputs)
    positive = list(model.classes_).index(1)
    return {
        "accuracy": metrics.accuracy_score(target, predicted),
        "precision": metrics.precision_score(target, predicted, zero_division=0),
        "recall": metrics.recall_score(target, predicted, zero_division=0),
        "f1": metrics.f1_score(target, predicted, zero_division=0),
        "roc_auc": metrics.roc_auc_score(target, probability[:, positive]),
        "log_loss": metrics.log_loss(target, probability, labels=model.classes_),
    }


def write_atomically(path: Path, write: Any) -> None:
    """Call ``write(temporary path)`` in the target's folder, then rename it into place."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run(landing: Path, out: Path, training: dict[str, Any]) -> dict[str, Any]:
    """Read, validate, derive, split, search and fit, evaluate, save; what happened and how long."""
    seconds: dict[str, float] = {"import": time.perf_counter() - STARTED}
    lap = time.perf_counter()

    def done(stage: str) -> None:
        nonlocal lap
        now = time.perf_counter()
        seconds[stage], lap = now - lap, now

    raw = read_landing(landing)
    done("read")
    valid, dropped = drop_invalid(raw)
    del raw
    done("validation")
    table = add_ratio(valid)
    del valid
    done("features")
    train_x, test_x, train_y, test_y = train_test_split(
        table[NUMERIC + CATEGORICAL],
        table[TARGET],
        test_size=0.2,
        random_state=42,
        stratify=table[TARGET],
    )
    search = build_search(training).fit(train_x, train_y)
    done("training")
    scores = test_metrics(search.best_estimator_, test_x, test_y)
    done("evaluation")
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / "model.skops", lambda path: skops.io.dump(search.best_estimator_, path))
    summary = {
        "rows": len(table),
        "dropped_rows": dropped,
        "best_params": {
            key.removeprefix("estimator__"): _plain(value)
            for key, value in search.best_params_.items()
        },
        "cv_roc_auc": float(search.best_score_),
        "test": {name: float(value) for name, value in scores.items()},
    }
    write_atomically(out / "metrics.json", lambda path: Path(path).write_text(json.dumps(summary)))
    done("save")
    return {**summary, "stages": seconds}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path, help="folder of landing CSV files")
    parser.add_argument("out", type=Path, help="folder for model.skops and metrics.json")
    parser.add_argument(
        "--training",
        default=json.dumps(DEMO_TRAINING),
        help="JSON: estimator, search, search_space, cv_folds, seed (as bare_reference.py), n_jobs",
    )
    parser.add_argument("--summary", type=Path, help="also write the summary and timings here")
    args = parser.parse_args(argv)
    summary = run(args.landing, args.out, json.loads(args.training))
    summary["stages"]["total_in_process"] = time.perf_counter() - STARTED
    text = json.dumps(summary, indent=2)
    if args.summary:
        args.summary.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
