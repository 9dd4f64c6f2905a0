"""Benchmark: full-graph wall time with the default (in-process) executor and with the Dask one.

    python benchmarks/executors.py                       # demo data (5000 rows) and 1e6 rows
    python benchmarks/executors.py --sizes 5000 1e5 --scheduler tcp://127.0.0.1:8786

For each size the seed's data is written once (``make_demo_frame``); each executor then runs
``dagster asset materialize -m ml_assets --select '*'`` in a fresh process on a fresh data folder
and a fresh SQLite ``DAGSTER_HOME`` (no stored batch: every run pays for its data), with
benchmarks/run.py's training settings. Without ``--scheduler`` a local ``dask.distributed``
cluster is started (a scheduler and two single-threaded worker processes on 127.0.0.1) and warmed
by one unmeasured run, as long-lived workers are in a deployment; it is stopped at the end.
Peak RSS is left out: the steps' memory is in the workers, which the run's process does not wait
for.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from run import (
    DAGSTER,
    ROOT,
    SEED,
    free_port,
    label,
    land,
    log_tail,
    measure,
    rows_arg,
    run_config,
)

DEMO_ROWS = 5000  # what the bundled demo seeds an empty landing folder with
EXECUTORS = ("in_process", "dask")


@contextmanager
def local_cluster(work: Path) -> Iterator[str]:
    """A scheduler and two single-threaded workers, each in its own process group."""
    import distributed

    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{free_port()}"
    port = address.rsplit(":", 1)[1]
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"]]
    commands += [
        [
            dask,
            "worker",
            address,
            "--host",
            "127.0.0.1",
            "--nthreads",
            "1",
            "--no-dashboard",
            "--local-directory",
            str(work / f"worker-{n}"),
        ]
        for n in (1, 2)
    ]
    log = (work / "cluster.log").open("wb")
    processes = []
    try:
        for command in commands:
            processes.append(
                subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
            )
            time.sleep(1.0 if command[1] == "scheduler" else 0)
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
        log.close()


def materialize(csv: Path, work: Path, executor: str, scheduler: str) -> float:
    """One full-graph run on a fresh data folder and home; its wall seconds."""
    data, home = work / "data", work / "home"
    shutil.rmtree(work, ignore_errors=True)
    (data / "landing").mkdir(parents=True)
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    land(csv, data / "landing" / csv.name)
    config = {
        "resources": {"settings": {"config": {"data_dir": str(data)}}},
        "ops": {"trained_model": {"config": run_config()}},
    }
    env = {**os.environ, "DAGSTER_HOME": str(home), "ML_ASSETS_EXECUTOR": executor}
    env["ML_ASSETS_DASK_SCHEDULER"] = scheduler
    env.pop("ML_ASSETS_DATA_DIR", None)
    command = [DAGSTER, "asset", "materialize", "-m", "ml_assets", "--select", "*"]
    done = measure([*command, "--config-json", json.dumps(config)], env, work / "run.log")
    if done.returncode != 0:
        raise RuntimeError(f"{executor} run failed:\n{log_tail(done.log)}")
    return done.wall


def commit() -> str:
    """The commit measured."""
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True)
    return done.stdout.decode().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=rows_arg, default=[DEMO_ROWS, 10**6])
    parser.add_argument("--scheduler", help="an existing dask.distributed scheduler's address")
    args = parser.parse_args()

    from ml_assets.demo.data import make_demo_frame

    with (
        tempfile.TemporaryDirectory(prefix="ml_assets_executors_") as scratch,
        ExitStack() as stack,
    ):
        work = Path(scratch)
        sources = {}
        for rows in args.sizes:
            sources[rows] = work / f"demo_{label(rows)}.csv"
            make_demo_frame(rows, seed=SEED).to_csv(sources[rows], index=False)
        scheduler = args.scheduler
        if scheduler is None:
            scheduler = stack.enter_context(local_cluster(work))
            materialize(sources[min(args.sizes)], work / "warm-up", "dask", scheduler)
        print(f"{'rows':>8}  {'in_process s':>12}  {'dask s':>8}  {'load avg':>8}")
        for rows in args.sizes:
            walls = {
                executor: materialize(sources[rows], work / executor, executor, scheduler)
                for executor in EXECUTORS
            }
            print(
                f"{label(rows):>8}  {walls['in_process']:12.2f}  {walls['dask']:8.2f}  "
                f"{os.getloadavg()[0]:8.2f}",
                flush=True,
            )
    print(f"(Dask: 2 workers, 1 thread each; {os.cpu_count()} cores; commit {commit()})")


if __name__ == "__main__":
    main()
