"""Drift cost: a batch against a reference with 20 columns, and the report pictures at demo size.

Drift (issue 15's target: <= 2 s at 1e6 rows against 1e6): 12 numeric columns (normal, 5%
missing) and 8 categorical ones (20 categories), the batch shifted in two columns (n0 by
one standard deviation, c0's shares reversed). Times the
reference's binning (once per model and training set, then cached), the cache's JSON round trip,
and the comparison of the batch (what every later batch costs). Plots (target < 1 s per report):
the evaluation report's pictures on the demo's held-out rows, and one drift picture.

    .venv/bin/python benchmarks/drift.py [--rows 1e6] [--repeats 3]

Prints figures; the exit status is 0 either way (figures, not a test).
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml_assets.lib.monitoring.drift import Profile, build_profile, compare  # noqa: E402
from ml_assets.lib.project.project_config import DriftSection  # noqa: E402

DRIFT = (DriftSection().thresholds(), DriftSection().false_alarm_rate)  # the section's defaults

NUMERIC, CATEGORICAL, CATEGORIES = 12, 8, 20
CPU_SECONDS: list[float] = []  # of each timed() call, in order


def table(rows: int, seed: int, shift: float = 0.0) -> tuple[pd.DataFrame, list, list]:
    """``rows`` rows of 12 numeric and 8 categorical columns; ``shift`` moves n0 and c0."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(NUMERIC):
        values = rng.normal(i, 1 + i / 10, rows)
        values[rng.random(rows) < 0.05] = np.nan
        columns[f"n{i}"] = values + (shift if i == 0 else 0.0)
    labels = np.array([f"cat{j:02d}" for j in range(CATEGORIES)], dtype=object)
    for i in range(CATEGORICAL):
        weights = np.linspace(1, 2, CATEGORIES)
        if shift and i == 0:
            weights = weights[::-1] ** 3
        columns[f"c{i}"] = labels[rng.choice(CATEGORIES, rows, p=weights / weights.sum())]
    numeric = [f"n{i}" for i in range(NUMERIC)]
    return pd.DataFrame(columns), numeric, [f"c{i}" for i in range(CATEGORICAL)]


def timed(action: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall seconds of ``repeats`` runs, and the last result (CPU seconds in CPU_SECONDS).

    The CPU time is what the work costs when the machine is not shared with other jobs.
    """
    seconds, cpu, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = action()
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU_SECONDS.append(statistics.median(cpu))
    return statistics.median(seconds), result


def figure(label: str, wall: float, cpu: float, target: str = "") -> None:
    """One printed figure: wall and CPU seconds, and the target if any."""
    print(f"  {label:30} {wall:5.2f} s wall, {cpu:5.2f} s CPU  {target}".rstrip())


def drift_figures(rows: int, repeats: int) -> None:
    """Bin the reference, round-trip its cache, compare a shifted batch."""
    reference, numeric, categorical = table(rows, seed=1)
    batch, _, _ = table(rows, seed=2, shift=1.0)
    build, profile = timed(lambda: build_profile(reference, numeric, categorical, "b"), repeats)
    text = profile.to_json()
    cache, _ = timed(lambda: Profile.from_json(text), repeats)
    seconds, result = timed(lambda: compare(profile, batch, *DRIFT), repeats)
    print(f"drift, {rows:.0f} rows x {NUMERIC + CATEGORICAL} columns (median of {repeats}):")
    build_cpu, _, compare_cpu = CPU_SECONDS[-3:]
    figure("bin the reference once", build, build_cpu)
    print(f"  {'load the cached profile':30} {cache:5.3f} s ({len(text) / 1e3:.0f} kB of JSON)")
    figure("compare the batch", seconds, compare_cpu, "target <= 2 s")
    print(f"  flagged: {result['drifted']} (expected ['n0', 'c0'])")


def plot_figures(repeats: int) -> None:
    """The evaluation pictures on the demo's held-out rows, and one drift picture."""
    from ml_assets.demo.data import DEMO_SPEC, make_demo_frame
    from ml_assets.lib.data.features import build_features
    from ml_assets.lib.model import plots
    from ml_assets.lib.model.evaluation import evaluate_table, frame_reader
    from ml_assets.lib.model.modeling import train_model

    demo = make_demo_frame(5000).assign(_batch="demo", _source_file="demo.csv")
    features = build_features(demo.assign(_source_line=np.arange(2, 5002)), DEMO_SPEC)
    train = features[features["_split"] == "train"]
    model = train_model(train, DEMO_SPEC, search="none", seed=0).model
    report, held_out = evaluate_table(model, frame_reader(features), DEMO_SPEC)
    test = held_out.rows
    plots.render(plots._figure()[0])  # matplotlib's first import and font cache, paid once
    evaluation, (images, _) = timed(
        lambda: plots.evaluation_images(model, held_out, DEMO_SPEC, report, 42), repeats
    )
    frame, numeric, categorical = table(5000, seed=1)
    profile = build_profile(frame, numeric[:3], categorical[:2], "p")
    comparison = compare(profile, table(2000, seed=2, shift=1.0)[0], *DRIFT)
    drift, _ = timed(lambda: plots.drift_panels(comparison, profile), repeats)
    print(f"report pictures at demo size (5000 rows, {len(test)} held out; median of {repeats}):")
    evaluation_cpu, drift_cpu = CPU_SECONDS[-2:]
    figure(f"evaluation report, {len(images)} images", evaluation, evaluation_cpu, "target < 1 s")
    figure("drift report, 5 columns", drift, drift_cpu, "target < 1 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    drift_figures(int(args.rows), args.repeats)
    plot_figures(args.repeats)


if __name__ == "__main__":
    main()
