"""Benchmark: what every step after training costs against ``trained_model``, quiet and busy.

    python benchmarks/after_training.py --sizes 1e4 1e5            # the demo, run.py's training
    python benchmarks/after_training.py --sizes --table leaf.csv species   # a table of your own
    python benchmarks/after_training.py --sizes 1e4 --busy         # and beside a CPU-bound process
    python benchmarks/after_training.py --project-training         # the project's own training

Each case is the main command (``dagster asset materialize -m ml_assets --select '*'``, run.py's
run config, or with ``--project-training`` each project's own training) in a fresh data folder
and Dagster home; a table is first given a project by
``ml-assets init`` with defaults. Per step, the seconds of its event log; the after-training
steps' sum as a share of ``trained_model``. ``--busy`` repeats each run with one CPU-bound process
beside it (runs alternate quiet and busy) and prints each step's slowdown beside training's.
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from run import PYTHON, Bench, median, rows_arg

AFTER_TRAINING = (
    "evaluation_report",
    "model_approval",
    "drift_report",
    "model_card",
    "feature_store",
    "batch_predictions",
    "ab_test_report",
    "live_performance",
    "production_model",
)
TRAINING_STEP = "trained_model"
SHARE_TARGET = 0.15
BUSY_RATIO_TARGET = 2.0
SPIN = "while True: pass"


def step_seconds(bench: Bench, data: Path, home: Path, log: Path) -> dict[str, float]:
    """Seconds of each step of the only run at ``home``, by the asset it is named after."""
    runs = bench.steps(data, home, log)
    (run,) = runs.values()
    if run["status"] != "SUCCESS":
        raise RuntimeError(f"the run failed: see {log.parent}")
    return {key: step["seconds"] for key, step in run["steps"].items()}


def table_case(bench: Bench, csv: Path, target: str) -> tuple[Path, Path, dict[str, str]]:
    """A project for ``csv`` from ``ml-assets init`` (defaults), with the file landed."""
    root = bench.work / f"table-{csv.stem}"
    data, home = bench.project(f"table-{csv.stem}", {csv.name: csv})
    init = [str(Path(PYTHON).with_name("ml-assets")), "init", str(csv), "--target", target]
    subprocess.run([*init, "--out", str(root / "project")], check=True, capture_output=True)
    return data, home, {"ML_ASSETS_CONFIG": str(root / "project" / "ml_assets.yaml")}


def one_run(bench: Bench, case: tuple, busy: bool, log: Path) -> dict[str, float]:
    """The main command once on a fresh project, with or without a spinning neighbour."""
    data, home, _ = case
    bench.home(home)
    for folder in ("storage", "ingestion", "registry", "feature_store"):
        shutil.rmtree(data / folder, ignore_errors=True)
    neighbour = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
    try:
        done = bench.dagster(data, home, "*", log)
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    if done["returncode"] != 0:
        raise RuntimeError(f"the run failed: see {log}")
    return {**step_seconds(bench, data, home, log.with_suffix(".steps.log")), "wall": done["wall"]}


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    """Median seconds per step over the runs."""
    return {key: median([run[key] for run in runs if key in run]) for key in runs[0]}


def print_case(name: str, quiet: dict[str, float], busy: dict[str, float] | None) -> None:
    """One table: each after-training step, its share of training, its busy slowdown."""
    training = quiet[TRAINING_STEP]
    after = sum(quiet.get(step, 0.0) for step in AFTER_TRAINING)
    print(
        f"\n{name}: trained_model {training:.2f}s, after training {after:.2f}s "
        f"({after / training:.0%} of training; target <= {SHARE_TARGET:.0%})"
    )
    header = f"  {'step':20} {'quiet s':>8} {'share':>7}"
    if busy:
        header += f" {'busy s':>8} {'slowdown':>9}"
    print(header)
    for step in (TRAINING_STEP, *AFTER_TRAINING):
        if step not in quiet:
            continue
        line = f"  {step:20} {quiet[step]:8.2f} {quiet[step] / training:7.1%}"
        if busy and step in busy:
            line += f" {busy[step]:8.2f} {busy[step] / quiet[step]:8.2f}x"
        print(line)
    if busy:
        limit = BUSY_RATIO_TARGET * busy[TRAINING_STEP] / training
        worst = max((s for s in AFTER_TRAINING if s in busy), key=lambda s: busy[s] / quiet[s])
        print(
            f"  slowest to degrade: {worst} {busy[worst] / quiet[worst]:.2f}x "
            f"(limit: twice training's {busy[TRAINING_STEP] / training:.2f}x = {limit:.2f}x)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=rows_arg, default=[10**4, 10**5])
    parser.add_argument("--table", nargs=2, action="append", default=[], metavar=("CSV", "TARGET"))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--busy", action="store_true")
    parser.add_argument(
        "--project-training",
        action="store_true",
        help="each project's training settings, not run.py's: the default command as users run it",
    )
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ml_assets_bench_after"))
    args = parser.parse_args(argv)
    bench = Bench(args.work_dir, keep_outputs=False)
    if args.project_training:
        bench.train_with({})
    cases: dict[str, Any] = {}
    for rows in args.sizes:
        data, home = bench.case(f"demo-{rows}", rows)
        cases[f"demo {rows:,} rows"] = (data, home, {})
    for csv, target in args.table:
        cases[Path(csv).name] = table_case(bench, Path(csv).resolve(), target)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for name, case in cases.items():
        os.environ.update(case[2])  # the table's project, for the runs and their event logs
        quiet, busy = [], []
        for repeat in range(args.repeats):
            log = case[0].parent / f"run-{repeat}"
            quiet.append(one_run(bench, case, False, log.with_suffix(".quiet.log")))
            if args.busy:
                busy.append(one_run(bench, case, True, log.with_suffix(".busy.log")))
        print_case(name, summary(quiet), summary(busy) if busy else None)
        for variable in case[2]:
            del os.environ[variable]
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
