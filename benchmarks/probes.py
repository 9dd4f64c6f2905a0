"""Measurements that need Dagster, and the data they run on, each in a process of its own.

    python benchmarks/probes.py steps --home DAGSTER_HOME
        every run of the instance: run and step durations from the event log, by phase, and the
        assets each step materialized or checked
    python benchmarks/probes.py consistency
        the bare reference's contract, dataset, settings and run-config defaults equal the ones
        the assets use
    python benchmarks/probes.py idle --data-dir DIR --home DAGSTER_HOME [--repeats N]
        a landing sensor tick and an automation evaluation with nothing new: time, runs, reads
    python benchmarks/probes.py demo-csv --rows N --seeds S [S ...] --folder DIR
        the seed's data (``make_demo_frame``) as DIR/demo-N-seedS.csv, for each seed not there yet

Each prints one JSON object on stdout. ``run.py`` never imports pandas itself: a child's peak RSS
(``ru_maxrss``) starts at its parent's peak, so a parent that had held a large frame would inflate
every figure measured after it.
"""

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STEP_END = {"STEP_SUCCESS", "STEP_FAILURE"}
LISTERS = ("landing_paths",)


def _phases(events: list[tuple[float, str]], start: float, end: float) -> dict[str, float]:
    """Split one step into loading inputs, computing (with output type checks) and storing.

    ``load`` ends at the last STEP_INPUT (inputs loaded by the IO manager and type-checked),
    ``compute`` at the first STEP_OUTPUT (the asset body, then the output's Dagster type check),
    ``store`` is the rest (IO manager writes, materialization and check events).
    """
    inputs = [ts for ts, kind in events if kind in ("LOADED_INPUT", "STEP_INPUT")]
    outputs = [ts for ts, kind in events if kind == "STEP_OUTPUT"]
    loaded = max(inputs) if inputs else start
    produced = min(outputs) if outputs else end
    return {"load": loaded - start, "compute": produced - loaded, "store": end - produced}


def _asset_of(event: Any) -> str | None:
    """The asset a step's event is about: the one it materialized, or the one a check judged.

    Lets the benchmark pick steps by the assets they produce, whatever the steps are named.
    """
    if event.event_type_value == "ASSET_MATERIALIZATION":
        return event.asset_key.to_user_string()
    if event.event_type_value == "ASSET_CHECK_EVALUATION":
        return event.event_specific_data.asset_key.to_user_string()
    return None


def run_steps(instance: Any, run_id: str) -> dict[str, Any]:
    """Run duration, per-step durations, phases and assets, and event counts, from the event log."""
    steps: dict[str, dict[str, Any]] = {}
    events: dict[str, list[tuple[float, str]]] = {}
    assets: dict[str, dict[str | None, None]] = {}  # per step, in order, None for other events
    run_start = run_end = first = last = None
    in_process = False
    count = 0
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        count += 1
        kind, key, ts = event.event_type_value, event.step_key, entry.timestamp
        first = ts if first is None else min(first, ts)
        last = ts if last is None else max(last, ts)
        if kind in ("PIPELINE_START", "RUN_START"):
            run_start = ts
        elif kind in ("PIPELINE_SUCCESS", "RUN_SUCCESS", "PIPELINE_FAILURE", "RUN_FAILURE"):
            run_end = ts
        elif kind == "ENGINE_EVENT" and "in process" in (entry.user_message or ""):
            in_process = True
        if key is None:
            continue
        events.setdefault(key, []).append((ts, kind))
        assets.setdefault(key, {})[_asset_of(event)] = None
        if kind == "STEP_START":
            steps[key] = {"start": ts}
        elif kind in STEP_END and key in steps:
            steps[key].update(end=ts, status=kind)
    for key, step in steps.items():
        end = step.get("end", last)
        step["seconds"] = end - step["start"]
        step["assets"] = [asset for asset in assets[key] if asset is not None]
        step.update(_phases(events[key], step["start"], end))
    return {
        "run_seconds": (run_end or last) - (run_start or first) if first is not None else 0.0,
        "log_seconds": (last - first) if first is not None else 0.0,
        "events": count,
        "in_process": in_process,
        "steps": {
            key: {k: v for k, v in step.items() if k not in ("start", "end")}
            for key, step in steps.items()
        },
    }


def steps(home: Path) -> dict[str, Any]:
    """Every run of the instance at ``home``, by run id."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return {
            run.run_id: {"status": run.status.value, **run_steps(instance, run.run_id)}
            for run in instance.get_runs()
        }


def consistency() -> dict[str, Any]:
    """Whether the bare reference works with the assets' contract, dataset, settings and config."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bare_reference

    from ml_assets.lib.project.project_config import load_project
    from ml_assets.resources.settings import settings_values

    project = load_project()
    bare, settings = bare_reference._project_and_settings()
    defaults = settings_values(project)
    return {
        "contract_matches": repr(bare.contract) == repr(project.contract),
        "dataset_matches": bare.spec == project.spec,
        "limits_match": all(defaults[name] == value for name, value in settings.items()),
        "run_config_matches": run_config_matches(bare_reference),
    }


def run_config_matches(bare: Any) -> bool:
    """Whether the bare reference's constants are the defaults of the run config it leaves alone."""
    from ml_assets.assets.deployment import ProductionConfig, approval_config
    from ml_assets.assets.scoring import ABTestPaths, BatchScoringConfig
    from ml_assets.lib.project.project_config import DriftSection, load_project
    from ml_assets.lib.release.ab_analysis import ABSettings
    from ml_assets.lib.release.approval_gate import GateThresholds

    config = load_project().config
    approval, ab = config.approval, ABTestPaths()
    options = config.ab_test.model_dump(exclude={"metric"})
    return (
        approval_config(approval)().thresholds() == GateThresholds(**approval.model_dump())
        and not ProductionConfig().canary
        and config.drift.thresholds() == DriftSection().thresholds()
        and config.drift.min_batch_rows == bare.DRIFT_MIN_BATCH_ROWS
        and config.live_performance.max_drop == bare.MAX_LIVE_DROP
        and BatchScoringConfig().scoring_subdir == bare.SCORING_SUBDIR
        and (ab.prediction_log, ab.labels_subdir) == (bare.PREDICTION_LOG, bare.LABELS_SUBDIR)
        and config.ab_test.metric == "auto"
        and ABSettings(**options) == ABSettings()
    )


@contextmanager
def counting(targets: list[tuple[Any, str]]) -> Iterator[dict[str, int]]:
    """Count calls to each ``(owner, attribute)`` function while the block runs."""
    counts: dict[str, int] = {}
    saved = []
    for owner, name in targets:
        original = getattr(owner, name)
        label = f"{getattr(owner, '__name__', type(owner).__name__)}.{name}"
        counts[label] = 0

        def wrapper(*args: Any, _f: Callable = original, _l: str = label, **kwargs: Any) -> Any:
            counts[_l] += 1
            return _f(*args, **kwargs)

        saved.append((owner, name, original))
        setattr(owner, name, wrapper)
    try:
        yield counts
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def bytes_read() -> int:
    """Bytes this process has read through read(2) and friends so far (Linux ``rchar``)."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def timed(work: Callable[[], Any], repeats: int) -> tuple[list[Any], list[float], int]:
    """Run ``work`` ``repeats`` times; results, seconds each, and bytes read in all."""
    results, seconds = [], []
    before = bytes_read()
    for _ in range(repeats):
        began = time.perf_counter()
        results.append(work())
        seconds.append(time.perf_counter() - began)
    return results, seconds, bytes_read() - before


def data_readers() -> list[tuple[Any, str]]:
    """The functions that would read landing files or stored artifacts."""
    import pandas as pd

    import ml_assets.lib.core.frames as frames
    import ml_assets.lib.data.batches as batches
    import ml_assets.lib.data.ingestion as ingestion
    import ml_assets.lib.data.landing as landing
    from ml_assets.resources.io_manager import ArtifactIOManager

    return [
        (landing, "file_sha256"),
        (batches, "file_sha256"),
        (batches, "read_capped"),
        *((module, name) for module in (ingestion, batches) for name in LISTERS),
        (ingestion, "read_landing_file"),
        (pd, "read_parquet"),
        (frames, "read_frames"),
        (ArtifactIOManager, "load_from_path"),
    ]


def idle_sensor(instance: Any, data_dir: Path, repeats: int) -> dict[str, Any]:
    """Two ticks settle the landing folder; then ``repeats`` ticks with nothing new, timed.

    Also times the folder scan alone (``scan_landing``), without building a sensor context.
    """
    import dagster as dg

    from ml_assets.automation.sensors import build_landing_sensor
    from ml_assets.lib.data.landing import LandingCursor, scan_landing

    landing = data_dir / "landing"
    landing_sensor = build_landing_sensor(landing)
    cursor: list[str | None] = [None]

    def tick() -> Any:
        context = dg.build_sensor_context(instance=instance, cursor=cursor[0])
        result = landing_sensor(context)
        cursor[0] = context.cursor
        return result

    settle = [type(tick()).__name__, type(tick()).__name__]
    with counting(data_readers()) as counts:
        results, seconds, read = timed(tick, repeats)
        previous = LandingCursor.from_json(cursor[0])
        scans, scan_seconds, scan_read = timed(lambda: scan_landing(landing, previous), repeats)
    return {
        "settling_ticks": settle,
        "tick_seconds_median": statistics.median(seconds),
        "tick_seconds": seconds,
        "run_requests": sum(isinstance(result, dg.RunRequest) for result in results),
        "data_reader_calls": counts,
        "bytes_read": read,
        "scan_seconds_median": statistics.median(scan_seconds),
        "scan_bytes_read": scan_read,
        "scan_new_files": sum(len(scan.new) for scan in scans),
    }


def idle_automation(instance: Any, repeats: int) -> dict[str, Any]:
    """Automation evaluations after a full materialization; the timed ones see nothing new."""
    import dagster as dg

    from ml_assets.definitions import build_definitions
    from ml_assets.lib.project.project_config import load_project

    defs = build_definitions(load_project())
    runs_before = len(instance.get_run_records())
    state: dict[str, Any] = {"cursor": None}

    def evaluate() -> int:
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=state["cursor"]
        )
        state["cursor"] = result.cursor
        return result.total_requested

    began = time.perf_counter()
    first = evaluate()
    first_seconds = time.perf_counter() - began
    with counting(data_readers()) as counts:
        results, seconds, read = timed(evaluate, repeats)
    return {
        "first_evaluation_requested": first,
        "first_evaluation_seconds": first_seconds,
        "evaluation_seconds_median": statistics.median(seconds),
        "evaluation_seconds": seconds,
        "total_requested": sum(results),
        "runs_launched": len(instance.get_run_records()) - runs_before,
        "data_reader_calls": counts,
        "bytes_read": read,
    }


def idle(data_dir: Path, home: Path, repeats: int) -> dict[str, Any]:
    """Both idle measurements against the instance at ``home``, with the size of the data."""
    import dagster as dg

    landing = data_dir / "landing"
    data_bytes = sum(path.stat().st_size for path in landing.iterdir() if path.is_file())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs_before = len(instance.get_run_records())
        sensor = idle_sensor(instance, data_dir, repeats)
        automation = idle_automation(instance, repeats)
        runs_after = len(instance.get_run_records())
    return {
        "landing_bytes": data_bytes,
        "runs_launched": runs_after - runs_before,
        "sensor": sensor,
        "automation": automation,
    }


def demo_csv_path(folder: Path, rows: int, seed: int) -> Path:
    """Where the seed's data at ``rows`` rows and ``seed`` is kept."""
    return folder / f"demo-{rows}-seed{seed}.csv"


def demo_csvs(folder: Path, rows: int, seeds: list[int]) -> dict[str, float]:
    """Write the missing CSVs atomically; seconds taken per file written."""
    from ml_assets.demo.data import make_demo_frame

    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for seed in seeds:
        path = demo_csv_path(folder, rows, seed)
        if path.exists():
            continue
        began = time.perf_counter()
        tmp = path.with_suffix(".tmp")
        make_demo_frame(rows=rows, seed=seed).to_csv(tmp, index=False, lineterminator="\n")
        tmp.replace(path)
        written[path.name] = time.perf_counter() - began
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="probe", required=True)
    sub.add_parser("steps").add_argument("--home", type=Path, required=True)
    sub.add_parser("consistency")
    idle_parser = sub.add_parser("idle")
    idle_parser.add_argument("--data-dir", type=Path, required=True)
    idle_parser.add_argument("--home", type=Path, required=True)
    idle_parser.add_argument("--repeats", type=int, default=5)
    csv_parser = sub.add_parser("demo-csv")
    csv_parser.add_argument("--rows", type=int, required=True)
    csv_parser.add_argument("--seeds", type=int, nargs="+", required=True)
    csv_parser.add_argument("--folder", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.probe == "steps":
        result = steps(args.home)
    elif args.probe == "consistency":
        result = consistency()
    elif args.probe == "demo-csv":
        result = demo_csvs(args.folder, args.rows, args.seeds)
    else:
        result = idle(args.data_dir, args.home, args.repeats)
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
