"""Benchmark: peak memory of the main command as rows grow, with and without training.max_rows.

    python benchmarks/memory.py                                # 1e6 rows: uncapped, capped at 2e5
    python benchmarks/memory.py --sizes 1e6 1e7 --max-rows 0 1e6
    python benchmarks/memory.py --sizes 1e7 --max-rows 0 --project-training   # the default command

For each size and cap it runs the main command (``dagster asset materialize -m ml_assets
--select '*'``, benchmarks/run.py's training settings, or with ``--project-training`` the
project's own (the demo's 5-fold grid of four random forests), plus ``max_rows``; 0 leaves the
default) once in a fresh process, on the seed's data in a fresh data
folder and Dagster home, and prints wall time and peak RSS (``wait4``, the run and its steps)
with the MB per 1e6 rows, and for a capped training set the learning curve of its report.
"""

import argparse
import json
from pathlib import Path

from run import MILLION, Bench, label, rows_arg, run_config

FULL_SELECTION = "*"


def main() -> int:
    """Measure every size and cap; print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=rows_arg, default=[MILLION])
    parser.add_argument("--max-rows", nargs="+", type=rows_arg, default=[0, 200_000])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ml_assets_memory"))
    parser.add_argument(
        "--project-training",
        action="store_true",
        help="the project's training settings, not run.py's: the default command as users run it",
    )
    args = parser.parse_args()
    bench = Bench(args.work_dir, keep_outputs=False)
    results = []
    print(f"{'rows':>6} {'max_rows':>9} {'wall s':>8} {'peak MB':>8} {'MB per 1e6 rows':>16}")
    for rows in args.sizes:
        for cap in args.max_rows:
            settings = {} if args.project_training else run_config()
            training = {**settings, **({"max_rows": cap} if cap else {})}
            bench.train_with(training)
            data, home = bench.case(f"memory-{label(rows)}-{cap}", rows)
            run = bench.dagster(data, home, FULL_SELECTION, args.work_dir / "logs" / "run.log")
            if run["returncode"] != 0:
                print(run["error"])
                return 1
            per_million = run["rss_mb"] / rows * MILLION
            cap_text = label(cap) if cap else "default"
            print(
                f"{label(rows):>6} {cap_text:>9} {run['wall']:>8.1f} {run['rss_mb']:>8.0f} "
                f"{per_million:>16.0f}"
            )
            report = json.loads((data / "storage" / "evaluation_report.json").read_text())
            sample = report["training"].get("sample")
            if sample:
                metric = report["training"]["cv_metric"]
                curve = ", ".join(
                    f"{point['fraction']:.0%} ({point['rows']:,} rows) {point[metric]:.4f}"
                    for point in sample["learning_curve"]
                )
                print(f"       trained on {sample['rows_used']:,} rows; {metric}: {curve}")
            results.append({"rows": rows, "max_rows": cap or None, **run, "sample": sample})
            bench.clean(data)
    (args.work_dir / "memory.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
