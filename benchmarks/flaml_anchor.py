"""The AutoML anchor of model_quality.py: FLAML on the pipeline's own split, in FLAML's own venv.

Run by model_quality.py with the Python of an environment that has FLAML (never the project's):

    python3 -m venv /tmp/flaml && /tmp/flaml/bin/pip install "flaml[automl]" pyarrow
    /tmp/flaml/bin/python benchmarks/flaml_anchor.py SPLIT_DIR SECONDS

SPLIT_DIR holds train.parquet, test.parquet and task.json (target, task, positive label) as
model_quality.py writes them. Prints one JSON object: the held-out primary metric, the
estimator FLAML kept, and the wall seconds of its fit.
"""

import json
import sys
import time
from pathlib import Path

import pandas as pd
from flaml import AutoML
from sklearn import metrics

FLAML_TASK = {
    "binary": "classification",
    "multiclass": "classification",
    "regression": "regression",
}
FLAML_METRIC = {"binary": "roc_auc", "multiclass": "macro_f1", "regression": "r2"}


def main(folder: Path, seconds: float) -> dict:
    """Fit FLAML for ``seconds`` on the train side, score the test side like the pipeline does."""
    task = json.loads((folder / "task.json").read_text())
    train, test = (
        pd.read_parquet(folder / "train.parquet"),
        pd.read_parquet(folder / "test.parquet"),
    )
    target = task["target"]
    inputs, truth = train.drop(columns=[target]), train[target]
    for frame in (inputs, test):
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].astype("category")
    automl = AutoML()
    began = time.perf_counter()
    automl.fit(
        inputs,
        truth,
        task=FLAML_TASK[task["task"]],
        metric=FLAML_METRIC[task["task"]],
        time_budget=seconds,
        seed=42,
        n_jobs=-1,
        verbose=0,
    )
    fit_seconds = time.perf_counter() - began
    held_out, expected = test.drop(columns=[target]), test[target]
    if task["task"] == "regression":
        score = metrics.r2_score(expected, automl.predict(held_out))
    elif task["task"] == "multiclass":
        score = metrics.f1_score(expected, automl.predict(held_out), average="macro")
    else:
        probabilities = automl.predict_proba(held_out)
        column = list(automl.classes_).index(task["positive_label"])
        score = metrics.roc_auc_score(expected == task["positive_label"], probabilities[:, column])
    return {"score": float(score), "estimator": automl.best_estimator, "seconds": fit_seconds}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), float(sys.argv[2]))))
