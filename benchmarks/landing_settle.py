"""Benchmark: how often the landing sensor's rule takes a file still being written, and how soon.

    python benchmarks/landing_settle.py                        # tick 3 s, quiet 2 s, 2 trials
    python benchmarks/landing_settle.py --tick 10 --quiet 2 --pauses 1 5 12 --trials 3

A writer appends a chunk, pauses, and repeats (``--chunks``); ``scan_landing`` runs every
``--tick`` seconds (the sensor's interval, scaled down to keep the run short) with the quiet
period ``--quiet``. Per pause: in how many trials the file was taken before it was complete (a
half-read batch, the false alarm), and, for a file landed whole, the seconds from landing to
being taken (the delay the rule costs). A writer pausing less than the quiet period (and the
tick) is never read half-way; longer pauses are the price of taking quiet files at once.
"""

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from ml_assets.lib.data.landing import LandingCursor, scan_landing


def taken_early(pause: float, chunks: int, tick: float, quiet: float) -> bool:
    """Whether the sensor's rule took the file while the writer was still writing it."""
    path = Path(tempfile.mkdtemp()) / "batch.csv"
    done = threading.Event()

    def write() -> None:
        with path.open("w") as handle:
            for chunk in range(chunks):
                handle.write(f"x\n{chunk}\n")
                handle.flush()
                time.sleep(pause)
        done.set()

    threading.Thread(target=write).start()
    cursor, early = LandingCursor(), False
    while not done.is_set():
        scan = scan_landing(path.parent, cursor, quiet)
        cursor = scan.cursor
        early = early or (bool(scan.new) and not done.is_set())
        time.sleep(tick)
    return early


def delay(tick: float, quiet: float, phase: float) -> float:
    """Seconds from a whole file landing (by rename) to the tick that takes it."""
    folder = Path(tempfile.mkdtemp())
    staged = folder / "batch.csv.part"
    staged.write_text("x\n1\n")
    staged.rename(folder / "batch.csv")
    landed, cursor = time.monotonic(), LandingCursor()
    time.sleep(phase)
    while True:
        scan = scan_landing(folder, cursor, quiet)
        cursor = scan.cursor
        if scan.new:
            return time.monotonic() - landed
        time.sleep(tick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tick", type=float, default=3.0)
    parser.add_argument("--quiet", type=float, default=2.0)
    parser.add_argument("--pauses", type=float, nargs="+", default=[1.0, 1.8, 2.5, 3.5])
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--trials", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"tick {args.tick:g} s, quiet {args.quiet:g} s, {args.trials} trial(s) per case")
    for pause in args.pauses:
        early = sum(
            taken_early(pause, args.chunks, args.tick, args.quiet) for _ in range(args.trials)
        )
        print(f"  writer pausing {pause:g} s: taken half-written in {early} of {args.trials}")
    phases = [args.tick * (trial + 0.5) / args.trials for trial in range(args.trials)]
    waits = [delay(args.tick, args.quiet, phase) for phase in phases]
    print(f"  a file landed whole: taken after {statistics.median(waits):.1f} s (median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
