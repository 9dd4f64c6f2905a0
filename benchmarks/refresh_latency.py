"""Benchmark: from a new landing file to `ml-assets serve` answering with the new champion.

    python benchmarks/refresh_latency.py                         # 1e4 rows landing on 1e6
    python benchmarks/refresh_latency.py --project-rows 1e5 --repeats 2

A project of ``--project-rows`` demo rows, trained with run.py's settings (RandomForest with 10
trees, 3 folds; written into a copy of the demo's ml_assets.yaml, so the automated runs train the
same way), is built once with the main command. Then, per repeat: `dagster dev` (the project's
dagster.yaml; sensors every $ML_ASSETS_SENSOR_INTERVAL seconds, 10 by default) and
`ml-assets serve` start on 127.0.0.1; a file of ``--file-rows`` new rows lands (written beside
the folder, then renamed in) once the runs `dagster dev` starts with have ended; the clock runs
until `GET /model` names another version. Printed: that latency and where it went, run by run
from the instance (what started each, when it was created, started and ended after the landing).
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from run import DAGSTER, PYTHON, ROOT, SEED, TRAINING, Bench, free_port, median, rows_arg

SERVE = str(Path(PYTHON).with_name("ml-assets"))
TIMEOUT = 1800


def get_json(url: str) -> dict[str, Any] | None:
    """The JSON body of a 200 answer, else None (not up yet, or no model)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError):
        return None


def wait_for(found: Callable[[], Any], timeout: float, what: str) -> Any:
    """The first truthy ``found()``, asked once a second (the server reads the registry as often;
    reading the instance costs about 45 ms of CPU, which more often would take from the runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(1.0)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def project_config(folder: Path) -> Path:
    """The demo's configuration and contract, training as run.py trains."""
    demo = ROOT / "ml_assets" / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo / "contract.yaml", folder / "contract.yaml")
    config = yaml.safe_load((demo / "config.yaml").read_text())
    config["training"] = {key: value for key, value in TRAINING.items() if key != "n_iter"}
    path = folder / "ml_assets.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextlib.contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A server in its own process group, stopped (SIGINT, then SIGKILL) on leaving."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def runs_after(home: Path, since: float) -> list[dict[str, Any]]:
    """Each run created after ``since`` (Unix time): its trigger, its steps' assets, its times."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records()
    found = []
    for record in sorted(records, key=lambda r: r.create_timestamp.timestamp()):
        created = record.create_timestamp.timestamp()
        if created < since - 1:  # the instance keeps whole seconds
            continue
        run = record.dagster_run
        selection = sorted(key.to_user_string() for key in run.asset_selection or ())
        found.append(
            {
                "trigger": run.tags.get("ml_assets/trigger") or run.tags.get("dagster/sensor_name"),
                "status": run.status.value,
                "assets": selection,
                "created": max(created - since, 0.0),
                "started": (record.start_time or created) - since,
                "ended": (record.end_time or created) - since,
            }
        )
    return found


def one_refresh(data: Path, home: Path, env: dict[str, str], new: Path) -> dict:
    """Serve and `dagster dev` up, one file landed, seconds until the champion changes."""
    log = data.parent / "servers.log"
    web, api = free_port(), free_port()
    dev = [DAGSTER, "dev", "-h", "127.0.0.1", "-p", str(web), "-w", "workspace.yaml"]
    serve = [SERVE, "serve", "--port", str(api), "--poll-seconds", "1"]
    quiet = 4 * float(env.get("ML_ASSETS_SENSOR_INTERVAL", "10"))
    with started(dev, env, log), started(serve, env, log):
        wait_for(lambda: get_json(f"http://127.0.0.1:{web}/server_info"), 180, "dagster dev")
        # Whatever `dagster dev` starts on its own (a freshness check, a scheduled run) ends
        # first, so the clock times the landing alone.
        began = time.time()
        wait_for(lambda: settled(home, began, quiet), TIMEOUT, "the first runs to end")
        before = wait_for(lambda: get_json(f"http://127.0.0.1:{api}/model"), 120, "the champion")
        landing = data / "landing"
        partial = data / f"{new.name}.part"
        shutil.copyfile(new, partial)
        landed = time.time()
        partial.rename(landing / f"refresh-{int(landed)}.csv")
        after = wait_for(
            lambda: (
                new_champion(api, before["version"]) or settled(home, landed, quiet, need_runs=True)
            ),
            TIMEOUT,
            "a new champion, or every run after the landing to end",
        )
        latency = time.time() - landed
    return {
        "latency": latency if after is not True else None,
        "before": before["version"],
        "after": after["version"] if after is not True else None,
        "runs": runs_after(home, landed),
    }


def new_champion(port: int, before: str) -> dict[str, Any] | None:
    info = get_json(f"http://127.0.0.1:{port}/model")
    return info if info and info["version"] != before else None


def settled(home: Path, since: float, quiet: float, need_runs: bool = False) -> bool:
    """Every run since ``since`` ended, and none for ``quiet`` seconds (none at all counts
    unless ``need_runs``)."""
    runs = runs_after(home, since)
    if (need_runs and not runs) or any(
        run["status"] not in ("SUCCESS", "FAILURE", "CANCELED") for run in runs
    ):
        return False
    return time.time() - since - max((run["ended"] for run in runs), default=0.0) > quiet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-rows", type=rows_arg, default=10**6)
    parser.add_argument("--file-rows", type=rows_arg, default=10**4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ml_assets_bench_refresh"))
    args = parser.parse_args(argv)
    bench = Bench(args.work_dir, keep_outputs=False)
    config = project_config(args.work_dir / "project")
    new_rows = bench.csv(args.file_rows, seed=SEED + 1)
    interval = os.environ.get("ML_ASSETS_SENSOR_INTERVAL", "10")
    print(
        f"{args.file_rows:,} rows landing on a project of {args.project_rows:,}; "
        f"sensors every {interval} s; load average {os.getloadavg()[0]:.2f}"
    )
    latencies = []
    for repeat in range(args.repeats):
        data, home = bench.case(f"refresh-{repeat}", args.project_rows)
        env = {**bench.env(data, home), "ML_ASSETS_CONFIG": str(config)}
        build = [DAGSTER, "asset", "materialize", "-m", "ml_assets", "--select", "*"]
        began = time.perf_counter()
        subprocess.run(build, cwd=ROOT, env=env, check=True, capture_output=True)
        print(f"\nrepeat {repeat + 1}: project built in {time.perf_counter() - began:.1f} s")
        found = one_refresh(data, home, env, new_rows)
        if found["latency"] is None:
            print(f"  no new champion ({found['before']} still serves); the runs:")
        else:
            latencies.append(found["latency"])
            print(
                f"  champion {found['before']} -> {found['after']} after "
                f"{found['latency']:.1f} s; runs since the landing (seconds after it):"
            )
        for run in found["runs"]:
            assets = (
                ", ".join(run["assets"])
                if len(run["assets"]) <= 4
                else (f"{len(run['assets'])} assets")
            )
            print(
                f"    {run['trigger'] or '-':24} {run['status']:8} created {run['created']:6.1f}"
                f"  started {run['started']:6.1f}  ended {run['ended']:6.1f}  {assets}"
            )
        sys.stdout.flush()
    if latencies:
        rounded = [round(latency, 1) for latency in latencies]
        print(f"\nlanding to new champion served: median {median(latencies):.1f} s of {rounded}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
