"""The bare reference: the project's pure functions, in the assets' order, with no Dagster at all.

It does the same work and the same I/O as ``dagster asset materialize -m ml_assets --select '*'``
(read the landing folder, validate, build features, train, evaluate, and store every artifact as
Parquet, skops, JSON and Markdown through ``ml_assets.lib.storage``), so the difference between
the two commands is orchestration alone. It never imports ``dagster``.

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

STAGES = ("ingestion", "validation", "checks", "features", "training", "evaluation")
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


def write_parquet(path: Path, frame: Any) -> None:
    """Store a frame exactly as the project's IO manager does."""
    from ml_assets.lib.frames import write_frame

    write_frame(path, frame)


def write_report(path: Path, report: dict, markdown: str) -> None:
    """Store the report as the IO manager does: JSON, with the Markdown beside it."""
    from ml_assets.lib.storage import atomic_write_text

    atomic_write_text(path.with_suffix(".md"), markdown)
    atomic_write_text(path, json.dumps(report, indent=2, sort_keys=True, default=str))


def ingest(landing: Path, storage: Path, contract: Any, limits: dict[str, Any]) -> Any:
    """``raw_data``: list, read and hash the files as text, per-file row counts, manifest, store."""
    from ml_assets.lib import ingestion
    from ml_assets.lib.project_config import ContractColumns

    columns = ContractColumns.of(contract)  # what the asset reads from the contract card
    ingestion.landing_paths(landing)  # the asset's "is the folder empty" look
    batch = ingestion.read_landing_folder(
        landing, columns.data_columns, columns.strict, limits["max_file_bytes"]
    )
    manifest = ingestion.write_manifest(storage / "ingestion" / "manifest.json", batch)
    empty = [entry["file"] for entry in manifest["accepted"] if entry["rows"] == 0]
    ingestion.content_hash(batch.files)
    write_parquet(storage / "raw_data.parquet", batch.frame)
    if empty:
        raise SystemExit(f"files without rows: {empty}")
    return batch.frame


def validate(raw: Any, storage: Path, contract: Any, limits: dict[str, Any]) -> Any:
    """``validated_data`` and ``quarantined_rows``: one validation pass, two stored outputs."""
    from ml_assets.lib.contract import reject_mostly_bad_files, validate_rows
    from ml_assets.lib.safe_csv import safe_csv
    from ml_assets.lib.storage import atomic_write_text

    result = validate_rows(raw, contract)
    result, _ = reject_mostly_bad_files(raw, result, limits["max_file_bad_share"])
    if len(result.valid) + len(result.quarantined) != len(raw):
        raise SystemExit("row accounting broken")
    write_parquet(storage / "validated_data.parquet", result.valid)
    write_parquet(storage / "quarantined_rows.parquet", result.quarantined)
    atomic_write_text(storage / "quarantined_rows.csv", safe_csv(result.quarantined))
    return result


def check(result: Any, contract: Any) -> dict[str, float]:
    """What the blocking checks on ``validated_data`` compute, on the frames in memory."""
    from ml_assets.lib.dataset import FAILURES

    valid, quarantined = result.valid, result.quarantined
    failed_cells = sum(len(json.loads(cell)) for cell in quarantined[FAILURES])
    total = len(valid) + len(quarantined)
    nullable = [name for name, column in contract.columns.items() if column.nullable]
    nulls = {name: float(valid[name].isna().mean()) for name in nullable}
    return {"quarantined_share": len(quarantined) / total, "failed_cells": failed_cells, **nulls}


def featurize(valid: Any, storage: Path, dataset: Any) -> Any:
    """``features``: derived columns and the hashed split, its balance, and the split check."""
    from ml_assets.lib.dataset import SPLIT
    from ml_assets.lib.features import TEST, TRAIN, build_features, split_balance

    table = build_features(valid, dataset)
    balance = split_balance(table, dataset)  # the check reads the balance, as the asset's does
    balance.to_markdown(index=False)
    if "rows" in balance:
        sides = dict(zip(balance[SPLIT], balance["rows"], strict=True))
    else:
        sides = {side: int(balance[side].sum()) for side in (TRAIN, TEST)}
    if not sides.get(TRAIN, 0) or not sides.get(TEST, 0):
        raise SystemExit(f"split is not usable: {sides}")
    write_parquet(storage / "features.parquet", table)
    return table


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
    contract, dataset, limits = watch.run("import", _contract_and_dataset)
    storage.mkdir(parents=True, exist_ok=True)
    raw = watch.run("ingestion", ingest, data_dir / "landing", storage, contract, limits)
    result = watch.run("validation", validate, raw, storage, contract, limits)
    del raw  # the assets hand frames over through storage, so nothing upstream stays in memory
    watch.run("checks", check, result, contract)
    valid = result.valid
    del result
    features = watch.run("features", featurize, valid, storage, dataset)
    del valid
    if stop_after != "features":
        model = watch.run("training", train, features, storage, dataset, training)
        watch.run("evaluation", report, model, features, storage, dataset, seed)
    return watch.seconds


def _contract_and_dataset() -> tuple[Any, Any, dict[str, Any]]:
    """The active contract, dataset and file limits, as ``ml_assets.resources.settings`` has them.

    The settings module itself imports Dagster, so this asks ``ml_assets.lib`` directly.
    ``benchmarks/probes.py consistency`` checks that they equal the settings' before measuring.
    """
    import pandas  # noqa: F401 - the frame library, imported here so its cost is "import"

    from ml_assets.lib.project_config import load_project

    project = load_project()
    checks = project.config.checks
    limits = {
        "max_file_bytes": checks.max_file_bytes,
        "max_file_bad_share": checks.max_file_bad_share,
    }
    return project.contract, project.spec, limits


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
