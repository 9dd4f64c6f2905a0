"""The bare reference: the project's pure functions, in the assets' order, with no Dagster at all.

It does the same work and the same I/O as ``dagster asset materialize -m ml_assets --select '*'``
(turn the landing folder into batches, train, evaluate, and store every artifact as Parquet,
skops, JSON and Markdown through ``ml_assets.lib``), so the difference between the two commands is
orchestration alone. It never imports ``dagster``.

    python benchmarks/bare_reference.py --data-dir DIR [--stop-after features] [--timings out.json]

``DIR/landing`` holds the input files; artifacts go to ``DIR/bare_storage`` (``--storage`` to
change it). Prints the seconds spent in each stage as JSON on stdout (and in ``--timings``).
"""

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()

STAGES = ("batches", "training", "evaluation")
DEFAULT_TRAINING = {
    "estimator": "random_forest",
    "search": "grid",
    "search_space": {"n_estimators": [10]},
    "cv_folds": 3,
    "n_iter": 10,
    "seed": 42,
}


class Stopwatch:
    """Seconds per named stage, in the order the stages ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, work: Callable[..., Any], *args: Any) -> Any:
        """Run ``work(*args)`` and add its wall time to stage ``name``."""
        began = time.perf_counter()
        try:
            return work(*args)
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began


def write_report(path: Path, report: dict, markdown: str) -> None:
    """Store the report as the IO manager does: JSON, with the Markdown beside it."""
    from ml_assets.lib.storage import atomic_write_text

    atomic_write_text(path.with_suffix(".md"), markdown)
    atomic_write_text(path, json.dumps(report, indent=2, sort_keys=True, default=str))


def batches(data_dir: Path, storage: Path, project: Any, limits: dict[str, Any]) -> Any:
    """The ``batches`` step: new landing files into batches, the records, the training-set gates."""
    from upath import UPath

    from ml_assets.lib.batches import (
        BatchRules,
        BatchStore,
        refresh_batches,
        write_ingestion_records,
    )
    from ml_assets.lib.storage import atomic_write_text
    from ml_assets.lib.training_set import TrainingLimits, failed_gates, training_gates

    store = BatchStore(UPath(storage) / "batches")
    rules = BatchRules(project.contract, project.spec, code_version="bare", **limits)
    refresh = refresh_batches(data_dir / "landing", store, rules)
    write_ingestion_records(storage / "ingestion", refresh)
    for name in ("raw_data", "validated_data", "quarantined_rows", "features"):
        atomic_write_text(storage / f"{name}.json", refresh.table(name).to_json())
    checks = project.config.checks
    limits = TrainingLimits(
        checks.min_rows, checks.default_max_null_share, dict(checks.max_null_share)
    )
    gates = training_gates(refresh.records, project.spec, list(project.columns.nullable), limits)
    if failed_gates(gates):
        raise SystemExit(f"training set not usable: {failed_gates(gates)}")
    return store.read(refresh.table("features"))


def train(features: Any, storage: Path, dataset: Any, training: dict) -> Any:
    """``trained_model``: the seeded search on the train side, the fingerprint, the skops file."""
    from ml_assets.lib.dataset import SPLIT
    from ml_assets.lib.modeling import model_fingerprint, train_model
    from ml_assets.lib.storage import atomic_write_bytes, dump_model, preload_skops

    preload_skops()  # as the asset does: the skops import overlaps with training
    result = train_model(features[features[SPLIT] == "train"], dataset, **training)
    model_fingerprint(result.model)
    atomic_write_bytes(storage / "trained_model.skops", dump_model(result.model))
    return result.model


def report(model: Any, features: Any, storage: Path, dataset: Any, seed: int) -> dict:
    """``evaluation_report``: metrics, baselines and fairness slices, as JSON and Markdown."""
    from ml_assets.lib.evaluation import evaluate, report_markdown

    result = evaluate(model, features, dataset, seed=seed)
    write_report(storage / "evaluation_report.json", result, report_markdown(result))
    return result


def run(
    data_dir: Path, storage: Path, stop_after: str, training: dict, seed: int = 42
) -> dict[str, float]:
    """Every stage up to ``stop_after``; returns seconds per stage."""
    watch = Stopwatch()
    project, limits = watch.run("import", _project_and_limits)
    storage.mkdir(parents=True, exist_ok=True)
    features = watch.run("batches", batches, data_dir, storage, project, limits)
    if stop_after != "features":
        model = watch.run("training", train, features, storage, project.spec, training)
        watch.run("evaluation", report, model, features, storage, project.spec, seed)
    return watch.seconds


def _project_and_limits() -> tuple[Any, dict[str, Any]]:
    """The active project and the batch limits, as the definitions' settings have them.

    The settings module imports Dagster, so this asks ``ml_assets.lib`` directly;
    ``benchmarks/probes.py consistency`` checks that they equal the settings' before measuring.
    """
    import pandas  # noqa: F401 - the frame library, imported here so its cost is "import"

    from ml_assets.lib.project_config import load_project

    project = load_project()
    project.contract  # noqa: B018 - loaded here, as the step loads it, so it counts as import
    checks = project.config.checks
    limits = {
        "max_quarantined_share": checks.max_quarantined_share,
        "max_file_bytes": checks.max_file_bytes,
    }
    return project, limits


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding landing/")
    parser.add_argument("--storage", type=Path, help="artifact folder (default DATA/bare_storage)")
    parser.add_argument("--stop-after", choices=["features", "evaluation"], default="evaluation")
    parser.add_argument(
        "--training",
        default=json.dumps(DEFAULT_TRAINING),
        help="JSON keyword arguments of train_model (estimator, search, search_space, ...)",
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the evaluation baselines")
    parser.add_argument("--timings", type=Path, help="also write the stage timings here")
    args = parser.parse_args(argv)
    training = json.loads(args.training)
    seconds = run(
        args.data_dir,
        args.storage or args.data_dir / "bare_storage",
        args.stop_after,
        training,
        seed=args.seed,
    )
    seconds["total_in_process"] = time.perf_counter() - STARTED
    text = json.dumps(seconds, indent=2)
    if args.timings:
        args.timings.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
