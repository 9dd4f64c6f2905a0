"""Feature store and statistical checks at scale: write, point-in-time reads, checks per batch.

    .venv/bin/python benchmarks/feature_store.py                  # 10 batches of 100,000 rows
    .venv/bin/python benchmarks/feature_store.py --batches 20 --rows 50000

Batches of the demo's shape arrive one day apart. The script prints the seconds to write them,
to read the store as of the middle day (the filters skip the later half), to read all of it, and
to run the four statistical checks over the whole training set.
"""

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from ml_assets.demo.data import DEMO_SPEC, make_demo_frame
from ml_assets.lib.data.feature_store import FeatureStore, StoreLayout
from ml_assets.lib.data.features import build_features
from ml_assets.lib.monitoring.statistics import statistical_checks
from ml_assets.lib.project.project_config import StatisticsSection


def main() -> None:
    """Build the store in a temporary folder and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--rows", type=float, default=1e5, help="rows per batch")
    args = parser.parse_args()
    rows = int(args.rows)
    start_day = datetime(2026, 1, 1, tzinfo=UTC)
    frames = []
    for index in range(args.batches):
        frame = make_demo_frame(rows, seed=100 + index)
        frame = frame.assign(_batch=f"b{index:03d}", _source_file=f"b{index:03d}.csv")
        frame["_source_line"] = range(2, rows + 2)
        frames.append(build_features(frame, DEMO_SPEC))
    with tempfile.TemporaryDirectory() as folder:
        store = FeatureStore(Path(folder), "bench", StoreLayout.of(DEMO_SPEC, None))
        began = time.perf_counter()
        for index, frame in enumerate(frames):
            store.write_batch(f"b{index:03d}", frame, start_day + timedelta(days=index))
        written = time.perf_counter() - began
        middle = start_day + timedelta(days=args.batches // 2 - 1, hours=12)
        began = time.perf_counter()
        half = store.get_training_frame(as_of=middle, columns=["numeric1", "numeric_ratio"])
        half_seconds = time.perf_counter() - began
        began = time.perf_counter()
        whole = store.get_training_frame()
        whole_seconds = time.perf_counter() - began
    everything = pd.concat(frames, ignore_index=True)
    began = time.perf_counter()
    outcomes = statistical_checks(everything, DEMO_SPEC, StatisticsSection())
    check_seconds = time.perf_counter() - began
    total = rows * args.batches
    print(f"{args.batches} batches x {rows:,} rows = {total:,} rows")
    print(f"write every batch           {written:7.2f} s  ({total / written / 1e6:.2f} M rows/s)")
    print(f"read as of the middle day   {half_seconds:7.2f} s  {len(half):,} rows, 2 features")
    print(f"read everything (now)       {whole_seconds:7.2f} s  {len(whole):,} rows, all features")
    passed = sum(o.passed for o in outcomes)
    print(f"statistical checks          {check_seconds:7.2f} s  {passed}/{len(outcomes)} passed")


if __name__ == "__main__":
    main()
