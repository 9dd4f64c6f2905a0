"""Batch scoring throughput: the scoring path against ``model.predict_proba`` in a bare script.

The scoring path is ``ml_assets.lib.model.scoring.score_folder`` as the ``batch_predictions`` asset
calls it: the champion loaded from a registry (sha256 verified), the CSV read and validated
against the contract without its target, the demo model's predictions and probabilities, Parquet
and spreadsheet-safe CSV written atomically. The bare script is ``predict_proba`` on the same
rows already in memory as the model's input frame, in a process of its own. Target: the scoring
path's rows per second within 1.5x of the bare script's.

    .venv/bin/python benchmarks/scoring.py                 # 1e6 rows
    .venv/bin/python benchmarks/scoring.py --rows 1e5      # quicker
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BARE_SCRIPT = """
import sys, time
import pandas as pd
import skops.io
from ml_assets.lib.core.storage import TRUSTED_MODEL_TYPES
model = skops.io.load(sys.argv[1], trusted=list(TRUSTED_MODEL_TYPES))
inputs = pd.read_parquet(sys.argv[2])
start = time.perf_counter()
model.predict_proba(inputs)
print(time.perf_counter() - start)
"""


def prepare(work: Path, rows: int):
    """The demo model (the demo configuration's search on 5,000 rows) as champion, and the data."""
    import pandas as pd

    from ml_assets.demo.data import DEMO_SPEC, make_demo_frame
    from ml_assets.lib.data.features import build_features
    from ml_assets.lib.data.ingestion import parse_landing_bytes
    from ml_assets.lib.model.modeling import model_inputs, train_model
    from ml_assets.lib.release.registry import ModelRegistry

    registry = ModelRegistry(work / "registry")
    if registry.alias("champion") is None:
        raw = parse_landing_bytes(make_demo_frame(5000).to_csv(index=False).encode(), "demo.csv")
        from ml_assets.lib.contract.validation import validate_rows
        from ml_assets.lib.project.project_config import DEMO_CONFIG, load_project

        valid = validate_rows(raw, load_project(DEMO_CONFIG).contract).valid
        train = build_features(valid, DEMO_SPEC)
        search = {"max_depth": [None, 8], "min_samples_leaf": [1, 5]}
        result = train_model(train, DEMO_SPEC, search_space=search)
        version = registry.register(result.model, task="binary").version
        registry.set_alias("champion", version, reason="benchmark", actor="benchmarks/scoring.py")
    folder = work / f"scoring-{rows}"
    csv = folder / "score.csv"
    if not csv.exists():
        folder.mkdir(parents=True, exist_ok=True)
        frame = make_demo_frame(rows, seed=7).drop(columns=[DEMO_SPEC.target])
        frame.to_csv(csv.with_suffix(".part"), index=False)
        csv.with_suffix(".part").rename(csv)
    inputs = work / f"inputs-{rows}.parquet"
    if not inputs.exists():
        from ml_assets.lib.data.features import derive_columns

        frame = pd.read_csv(csv)
        frame = pd.concat([frame, derive_columns(frame, DEMO_SPEC)], axis=1)
        model_inputs(frame, DEMO_SPEC).to_parquet(inputs)
    return registry, folder, inputs


def scoring_seconds(registry, folder: Path, root: Path) -> tuple[float, int]:
    """One pass of the scoring path over ``folder`` into an empty ``root``."""
    from ml_assets.lib.core.storage import preload_skops
    from ml_assets.lib.model.scoring import registry_champion, score_folder, scoring_rules
    from ml_assets.lib.project.project_config import DEMO_CONFIG, load_project

    project = load_project(DEMO_CONFIG)
    shutil.rmtree(root, ignore_errors=True)
    start = time.perf_counter()
    preload_skops()  # as the asset does when it starts
    champion = registry_champion(registry)
    rules = scoring_rules(project.contract, project.spec, 0.05, 2**31, "benchmark", champion)
    run = score_folder(folder, root, rules, champion)
    return time.perf_counter() - start, run.rows_scored


def bare_seconds(registry, inputs: Path) -> float:
    """``predict_proba`` alone, timed inside a fresh process."""
    version = registry.alias("champion")
    model_path = registry.model_path(version)
    done = subprocess.run(
        [sys.executable, "-c", BARE_SCRIPT, str(model_path), str(inputs)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e6)
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ml_assets_bench_scoring"))
    args = parser.parse_args()
    rows = int(args.rows)
    registry, folder, inputs = prepare(args.work_dir, rows)
    bare, scoring = [], []
    for _ in range(args.repeats):
        bare.append(bare_seconds(registry, inputs))
        seconds, scored = scoring_seconds(registry, folder, args.work_dir / "predictions")
        assert scored == rows, f"scored {scored} of {rows} rows"
        scoring.append(seconds)
    champion = registry.alias("champion")
    print(f"rows: {rows:,}, demo model {champion} (random forest), {args.repeats} runs each")
    for name, runs in (("bare predict_proba", bare), ("scoring path", scoring)):
        listed = ", ".join(f"{run:.2f}" for run in runs)
        best, middle = min(runs), statistics.median(runs)
        throughput = f"{rows / best:,.0f} rows/s"
        print(f"{name:<19} best {best:.2f} s ({throughput}), median {middle:.2f} s [{listed}]")
    for label, pick in (("best", min), ("median", statistics.median)):
        ratio = pick(scoring) / pick(bare)
        verdict = "met" if ratio <= 1.5 else "NOT met"
        print(f"scoring / bare ({label}): {ratio:.2f} (target <= 1.5: {verdict})")


if __name__ == "__main__":
    main()
