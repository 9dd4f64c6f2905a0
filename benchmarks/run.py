"""Benchmark: the project's main command against two references, on the seed's data.

    python benchmarks/run.py                      # 1e4, 1e5, 1e6 full graph; 1e7 up to features
    python benchmarks/run.py --quick              # tiny sizes, one repeat (the smoke test)
    python benchmarks/run.py --sizes 1e4 --ingest-sizes 1e6 --repeats 5 --out results/x.json
    python benchmarks/run.py --refresh-batches 20 --refresh-rows 1e4 --floor-repeats 9

For each size it writes the seed's data once (``make_demo_frame``) to ``landing/demo.csv``, then
runs, alternately and each in a fresh process, the bare reference (``bare_reference.py``: the same
pure functions, the same artifacts, no Dagster), for the full graph the plain script
(``plain_script.py``: what a user would write instead, without ml_assets) on one core as people
write it and with ``n_jobs=-1`` (the machine's limit), and the main command
(``dagster asset materialize -m ml_assets --select '*'``, with its own ``DAGSTER_HOME`` and
``ML_ASSETS_DATA_DIR``). Wall time and peak RSS come from ``wait4`` on each child (the peak covers
the child and the processes it waited for); per-asset times come from the run's event log. It also
times Dagster's own floor (a one-asset materialization, ``floor_defs.py``), loading the code
location, an idle sensor tick and automation evaluation, and the cost of a refresh with one new
batch on a long history; checks the issue's targets, prints tables and writes everything as JSON
(see benchmarks/README.md).
"""

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from bare_reference import INGEST_STAGES
from report import print_report

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PYTHON = sys.executable
DAGSTER = str(Path(sys.executable).with_name("dagster"))
DAGSTER_YAML = ROOT / "dagster_home" / "dagster.yaml"
FLOOR_DEFS = BENCH_DIR / "floor_defs.py"
SEED = 42
MILLION = 1_000_000

# RandomForest with 10 trees: a grid of one candidate, three folds, then the refit on all rows.
TRAINING = {
    "estimator": "random_forest",
    "search": "grid",
    "search_space": {"n_estimators": [10]},
    "cv_folds": 3,
    "n_iter": 10,
    "seed": SEED,
}
FULL_SELECTION = "*"
INGEST_SELECTION = "raw_data,validated_data,quarantined_rows,features"
# Steps are picked by the assets they materialize or check (from the event log), not by name.
INGEST_VALIDATE_ASSETS = frozenset({"raw_data", "validated_data", "quarantined_rows"})
INGEST_ASSETS = INGEST_VALIDATE_ASSETS | {"features"}
# The ratios to the bare reference, kept at the top of each case as before the plain script.
BARE_RATIO_KEYS = ("wall_ratio", "rss_ratio", "wall_ratio_paired_median", "rss_ratio_paired_median")
RUN_ID = re.compile(r"- (?:__ASSET_JOB\w*|\w+) - ([0-9a-f]{8}-[0-9a-f-]{27}) - ")

# The targets on this machine: the large ones from 1e6 rows, the small one up to 1e4.
LARGE_ROWS, SMALL_ROWS = 10**6, 10**4
FULL_WALL_RATIO_LARGE = 1.10
FULL_RSS_RATIO_LARGE = 1.5
FULL_WALL_RATIO_SMALL = 2.0
INGEST_SECONDS_PER_MILLION = 1.5
INGEST_LINEARITY = 1.25
CODE_LOCATION_SECONDS = 2.5
# Issue 30's re-based targets: against the one-core plain script, the whole command; against the
# all-core one, the training step alone; at 1e4, the whole command over Dagster's floor.
PLAIN_WALL_RATIO_LARGE = 0.85
PLAIN_RSS_RATIO_LARGE = 1.1
TRAINING_RATIO_ALL_CORES = 1.05
SMALL_MARGIN_SECONDS = 2.5  # over Dagster's floor
TRAINED_MODEL = frozenset({"trained_model"})
REFRESH_RATIO = 1.5


@dataclass
class Measured:
    """One child process: wall seconds, peak RSS and exit status, and where its output went."""

    wall: float
    rss_mb: float
    returncode: int
    log: Path
    load_before: float


def measure(command: Sequence[str], env: dict[str, str], log: Path) -> Measured:
    """Run ``command`` in a fresh process; wall time and peak RSS (ru_maxrss from wait4)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]  # other work on the machine makes the figures noisy
    with log.open("wb") as out:
        began = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    return Measured(wall, usage.ru_maxrss / 1024, child.returncode, log, load_before)


def log_tail(log: Path, lines: int = 15) -> str:
    """The end of a child's output, for error messages."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def rows_arg(text: str) -> int:
    """Row counts as the issue writes them: ``1e4``, ``100000``, ``2_000``."""
    return int(float(text.replace("_", "")))


def label(rows: int) -> str:
    """``10000`` -> ``1e4``; other counts as they are."""
    exponent = len(str(rows)) - 1
    return f"1e{exponent}" if rows == 10**exponent else str(rows)


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def median(values: Sequence[float]) -> float:
    """Median, or NaN when nothing was measured."""
    return statistics.median(values) if values else float("nan")


class Bench:
    """Work folders, environments and the commands that are measured."""

    def __init__(self, work: Path, keep_outputs: bool, max_rows: int | None = None) -> None:
        self.work = work
        self.keep_outputs = keep_outputs
        self.work.mkdir(parents=True, exist_ok=True)
        self.config = work / "run_config.yaml"
        self.train_with(run_config() | ({"max_rows": max_rows} if max_rows else {}))

    def train_with(self, training: dict[str, Any]) -> None:
        """The training config of every later main command ({}: the project's own)."""
        self.config.write_text(yaml.safe_dump({"ops": {"trained_model": {"config": training}}}))

    def csv(self, rows: int, seed: int = SEED) -> Path:
        """The seed's data at ``rows`` rows, written once and reused by every command."""
        return self.csvs(rows, [seed])[0]

    def csvs(self, rows: int, seeds: list[int]) -> list[Path]:
        """The seed's data at ``rows`` rows for each seed, the missing ones written by a child."""
        folder = self.work / "csv"
        paths = [folder / f"demo-{rows}-seed{seed}.csv" for seed in seeds]
        missing = [seed for seed, path in zip(seeds, paths, strict=True) if not path.exists()]
        if missing:
            began = time.perf_counter()
            args = ["demo-csv", "--rows", str(rows), "--folder", str(folder), "--seeds"]
            self.probe([*args, *map(str, missing)], dict(os.environ), folder / "write.log")
            print(
                f"  wrote {len(missing)} CSV(s) of {rows:,} rows"
                f" in {time.perf_counter() - began:.1f}s"
            )
        return paths

    def case(self, name: str, rows: int) -> tuple[Path, Path]:
        """A fresh data folder (landing/demo.csv hard-linked to the CSV) and Dagster home."""
        return self.project(name, {"demo.csv": self.csv(rows)})

    def project(self, name: str, files: dict[str, Path]) -> tuple[Path, Path]:
        """A fresh data folder with ``files`` landed (by name) and a fresh Dagster home."""
        root = self.work / name
        shutil.rmtree(root, ignore_errors=True)
        landing, home = root / "data" / "landing", root / "home"
        landing.mkdir(parents=True)
        self.home(home)
        for file_name, source in files.items():
            land(source, landing / file_name)
        return root / "data", home

    def home(self, home: Path) -> Path:
        """An empty Dagster home with the project's ``dagster.yaml``."""
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
        return home

    def env(self, data: Path | None, home: Path) -> dict[str, str]:
        """The environment of a measured command."""
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        if data is not None:
            env["ML_ASSETS_DATA_DIR"] = str(data)
        return env

    def bare(self, data: Path, home: Path, stop_after: str, log: Path) -> dict[str, Any]:
        """The bare reference once, on no stored batch: wall, RSS and its own seconds per stage."""
        shutil.rmtree(data / "bare_storage", ignore_errors=True)  # every batch is new to it
        timings = log.with_suffix(".json")
        command = [
            PYTHON,
            str(BENCH_DIR / "bare_reference.py"),
            "--data-dir",
            str(data),
            "--stop-after",
            stop_after,
            "--training",
            json.dumps(TRAINING),
            "--seed",
            str(SEED),
            "--timings",
            str(timings),
        ]
        done = measure(command, self.env(data, home), log)
        stages = json.loads(timings.read_text()) if done.returncode == 0 else {}
        return {**result_of(done), "stages": stages}

    def plain(self, data: Path, log: Path, n_jobs: int = 1) -> dict[str, Any]:
        """The plain script once, on the same landing files and training settings."""
        summary = log.with_suffix(".json")
        command = [
            PYTHON,
            str(BENCH_DIR / "plain_script.py"),
            str(data / "landing"),
            str(data / "plain_output"),
            "--training",
            json.dumps({**TRAINING, "n_jobs": n_jobs}),
            "--summary",
            str(summary),
        ]
        done = measure(command, dict(os.environ), log)
        if done.returncode != 0:
            return {**result_of(done), "stages": {}}
        fit = json.loads(summary.read_text())
        kept = ("stages", "rows", "dropped_rows", "best_params", "test")
        return {**result_of(done), **{key: fit[key] for key in kept}}

    def dagster(
        self, data: Path, home: Path, selection: str, log: Path, fresh: bool = False
    ) -> dict[str, Any]:
        """The main command once: wall, RSS and its run id (steps are read from the log later).

        Batches are processed once and then reused: ``fresh`` starts without them, and without
        a registered model, so the run pays for its data and finds no champion as a first run
        does, as the bare reference does (the refresh scenario measures the reuse).
        """
        if fresh:
            for folder in ("storage", "ingestion", "registry"):
                shutil.rmtree(data / folder, ignore_errors=True)
        command = [DAGSTER, "asset", "materialize", "-m", "ml_assets", "--select", selection]
        command += ["-c", str(self.config)]
        done = measure(command, self.env(data, home), log)
        found = RUN_ID.search(done.log.read_text(errors="replace"))
        return {**result_of(done), "run_id": found.group(1) if found else None}

    def probe(self, args: Sequence[str], env: dict[str, str], log: Path) -> dict[str, Any]:
        """Run ``probes.py`` and return its JSON."""
        done = subprocess.run(
            [PYTHON, str(BENCH_DIR / "probes.py"), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        log.write_text(done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"probes.py {args[0]} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def steps(self, data: Path, home: Path, log: Path) -> dict[str, Any]:
        """Every run of the instance at ``home`` from its event log, by run id (``probes.py``)."""
        return self.probe(["steps", "--home", str(home)], self.env(data, home), log)

    def clean(self, data: Path) -> None:
        """Drop the artifacts (not the data) so several sizes fit on disk."""
        if not self.keep_outputs:
            for folder in ("storage", "bare_storage", "plain_output"):
                shutil.rmtree(data / folder, ignore_errors=True)


def land(source: Path, target: Path) -> None:
    """Put a generated CSV into a landing folder: a hard link, or a copy across file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def run_config() -> dict[str, Any]:
    """The CLI's run config for ``trained_model``, equal to the bare reference's arguments."""
    return {**TRAINING, "search_space": json.dumps(TRAINING["search_space"])}


def result_of(done: Measured) -> dict[str, Any]:
    """The JSON form of one measured process."""
    result = {
        "wall": done.wall,
        "rss_mb": done.rss_mb,
        "returncode": done.returncode,
        "load_before": done.load_before,
    }
    if done.returncode != 0:
        result["error"] = log_tail(done.log)
    return result


def attempt(run: Any, what: str) -> dict[str, Any]:
    """Run a measurement, once more if it fails (the code may be changing under the benchmark)."""
    result = run()
    if result["returncode"] != 0:
        print(f"  {what} failed (exit {result['returncode']}), retrying once:\n{result['error']}")
        result = run()
    return result


def measure_case(
    bench: Bench, kind: str, rows: int, repeats: int, stop_after: str, selection: str
) -> dict[str, Any]:
    """The commands ``repeats`` times on the same files, alternating; medians and ratios.

    The full graph is measured against the bare reference and the plain script, the steps before
    training against the bare reference alone.
    """
    data, home = bench.case(f"{kind}-{label(rows)}", rows)
    logs = data.parent / "logs"
    commands = {
        "bare": lambda log: bench.bare(data, home, stop_after, log),
        **(
            {
                "plain": lambda log: bench.plain(data, log),
                "plain_all_cores": lambda log: bench.plain(data, log, n_jobs=-1),
            }
            if stop_after == "all"
            else {}
        ),
        "dagster": lambda log: bench.dagster(data, home, selection, log, fresh=True),
    }
    runs: dict[str, list[dict[str, Any]]] = {who: [] for who in commands}
    for repeat in range(repeats):
        for who, command in commands.items():
            runs[who].append(attempt(partial(command, logs / f"{who}-{repeat}.log"), who))
        print(
            f"  {kind} {label(rows)} #{repeat + 1}: "
            + ", ".join(f"{who} {_brief(done[-1])}" for who, done in runs.items())
            + f" (load {runs['bare'][-1]['load_before']:.1f})"
        )
    event_log = bench.steps(data, home, logs / "steps")
    for run in runs["dagster"]:
        run.update(event_log.get(run.get("run_id"), {}))
    result = {
        "rows": rows,
        "repeats": repeats,
        "selection": selection,
        "bare": summarize(runs["bare"], "stages"),
        "dagster": summarize(runs["dagster"], "steps"),
        "data_dir": str(data),
        "dagster_home": str(home),
    }
    versus_bare = compare_runs(result["bare"], result["dagster"])
    result.update({key: versus_bare[key] for key in BARE_RATIO_KEYS})
    if "plain" in runs:
        result["plain"] = summarize(runs["plain"], "stages")
        result["vs_plain"] = compare_runs(result["plain"], result["dagster"])
        result["plain_all_cores"] = summarize(runs["plain_all_cores"], "stages")
        result["vs_plain_all_cores"] = compare_runs(result["plain_all_cores"], result["dagster"])
        trained = asset_step_seconds(result["dagster"]["steps_median"], TRAINED_MODEL)
        fitting = result["plain_all_cores"]["stages_median"].get("training", float("nan"))
        result["vs_plain_all_cores"]["training_ratio"] = trained / fitting
    return result


def compare_runs(reference: dict[str, Any], dagster: dict[str, Any]) -> dict[str, float]:
    """Dagster's wall and RSS over a reference's (medians), and its extra wall seconds.

    Each repeat runs the commands back to back, so their paired ratios drift less with load.
    """
    pairs = [
        (d["wall"] / r["wall"], d["rss_mb"] / r["rss_mb"], d["wall"] - r["wall"])
        for r, d in zip(reference["runs"], dagster["runs"], strict=True)
        if r["returncode"] == 0 and d["returncode"] == 0
    ]
    return {
        "wall_ratio": dagster["wall_median"] / reference["wall_median"],
        "rss_ratio": dagster["rss_mb_median"] / reference["rss_mb_median"],
        "wall_difference": dagster["wall_median"] - reference["wall_median"],
        "wall_ratio_paired_median": median([wall for wall, _, _ in pairs]),
        "rss_ratio_paired_median": median([rss for _, rss, _ in pairs]),
        "wall_difference_paired_median": median([extra for _, _, extra in pairs]),
    }


def _brief(run: dict[str, Any]) -> str:
    status = "" if run["returncode"] == 0 else f" FAILED (exit {run['returncode']})"
    return f"{run['wall']:.2f}s {run['rss_mb']:.0f}MB{status}"


def summarize(runs: list[dict[str, Any]], parts: str) -> dict[str, Any]:
    """Medians over the successful runs: wall, RSS, and each stage or step (seconds, phases)."""
    ok = [run for run in runs if run["returncode"] == 0]
    summary: dict[str, Any] = {
        "runs": runs,
        "failures": len(runs) - len(ok),
        "wall_median": median([run["wall"] for run in ok]),
        "rss_mb_median": median([run["rss_mb"] for run in ok]),
    }
    if parts == "stages":
        names = dict.fromkeys(name for run in ok for name in run["stages"])
        summary["stages_median"] = {
            name: median([run["stages"][name] for run in ok if name in run["stages"]])
            for name in names
        }
        return summary
    names = dict.fromkeys(name for run in ok for name in run.get("steps", {}))
    summary["steps_median"] = {
        name: {
            **{
                field: median(
                    [run["steps"][name][field] for run in ok if name in run.get("steps", {})]
                )
                for field in ("seconds", "load", "compute", "store")
            },
            "assets": next(
                run["steps"][name].get("assets", []) for run in ok if name in run.get("steps", {})
            ),
        }
        for name in names
    }
    for field in ("run_seconds", "events"):
        summary[f"{field}_median"] = median([run[field] for run in ok if field in run])
    summary["outside_run_median"] = summary["wall_median"] - summary["run_seconds_median"]
    summary["in_process"] = all(run.get("in_process", False) for run in ok)
    return summary


def code_location(bench: Bench, repeats: int) -> dict[str, Any]:
    """``dagster definitions validate -m ml_assets``, and bare imports for comparison."""
    data, home = bench.case("code-location", 1000)
    env, logs = bench.env(data, home), data.parent / "logs"
    commands = {
        "dagster definitions validate -m ml_assets": [
            DAGSTER,
            "definitions",
            "validate",
            "-m",
            "ml_assets",
        ],
        "python -c 'import ml_assets.definitions'": [PYTHON, "-c", "import ml_assets.definitions"],
        "python -c 'import dagster'": [PYTHON, "-c", "import dagster"],
        "python -c 'import pandas, pandera, sklearn'": [
            PYTHON,
            "-c",
            "import pandas, pandera.pandas, sklearn.ensemble",
        ],
    }
    result = {}
    for index, (name, command) in enumerate(commands.items()):
        runs = [measure(command, env, logs / f"{index}-{n}.log") for n in range(repeats)]
        ok = [run for run in runs if run.returncode == 0]
        result[name] = {
            "wall": [run.wall for run in runs],
            "wall_median": median([run.wall for run in ok]),
            "rss_mb_median": median([run.rss_mb for run in ok]),
            "failures": len(runs) - len(ok),
        }
        if len(ok) < len(runs):
            result[name]["error"] = log_tail(runs[-1].log)
    return result


def dagster_floor(bench: Bench, repeats: int) -> dict[str, Any]:
    """A one-asset ``dagster asset materialize`` (``floor_defs.py``), a fresh home each time."""
    folder = bench.work / "floor"
    command = [DAGSTER, "asset", "materialize", "-f", str(FLOOR_DEFS), "--select", "*"]
    runs = []
    for repeat in range(repeats):
        home = bench.home(folder / f"home-{repeat}")
        runs.append(result_of(measure(command, bench.env(None, home), folder / f"{repeat}.log")))
    ok = [run for run in runs if run["returncode"] == 0]
    return {
        "command": "dagster asset materialize -f benchmarks/floor_defs.py --select '*'",
        "runs": runs,
        "failures": len(runs) - len(ok),
        "wall_median": median([run["wall"] for run in ok]),
        "rss_mb_median": median([run["rss_mb"] for run in ok]),
    }


def refresh_cost(bench: Bench, batches: int, rows: int, repeats: int) -> dict[str, Any]:
    """Ingestion + validation of one new batch landed on ``batches`` others, and on its own.

    The history is materialized once with the main command, one more batch lands and the command
    runs again; the same batch is then materialized on an empty project (``repeats`` times, each
    with a fresh data folder and home). Seconds are those of the steps that materialize or check
    raw_data, validated_data and quarantined_rows, from each run's event log.
    """
    names = [f"batch-{index:04d}.csv" for index in range(batches + 1)]
    seeds = [SEED + 1 + index for index in range(batches + 1)]
    sources = dict(zip(names, bench.csvs(rows, seeds), strict=True))
    new_batch = names[-1]
    data, home = bench.project("refresh-history", {name: sources[name] for name in names[:-1]})
    logs = data.parent / "logs"
    history = attempt(
        partial(bench.dagster, data, home, FULL_SELECTION, logs / "history.log"), "history"
    )
    land(sources[new_batch], data / "landing" / new_batch)
    refresh = attempt(
        partial(bench.dagster, data, home, FULL_SELECTION, logs / "refresh.log"), "refresh"
    )
    event_log = bench.steps(data, home, logs / "steps")
    bench.clean(data)
    singles = []
    for repeat in range(repeats):
        alone, alone_home = bench.project(
            f"refresh-single-{repeat}", {new_batch: sources[new_batch]}
        )
        log = alone.parent / "logs" / "single.log"
        single = attempt(partial(bench.dagster, alone, alone_home, FULL_SELECTION, log), "single")
        steps = bench.steps(alone, alone_home, log.with_suffix(".steps"))
        singles.append(_with_ingest_validate(single, steps))
        bench.clean(alone)
    history, refresh = (_with_ingest_validate(run, event_log) for run in (history, refresh))
    single_seconds = median(
        [run["ingest_validate_seconds"] for run in singles if run["returncode"] == 0]
    )
    print(
        f"  refresh: ingest+validate {refresh['ingest_validate_seconds']:.2f}s with {batches}"
        f" batches landed before, {single_seconds:.2f}s for the batch alone"
    )
    return {
        "batches_before": batches,
        "rows_per_batch": rows,
        "history": history,
        "refresh": refresh,
        "single": singles,
        "refresh_seconds": refresh["ingest_validate_seconds"],
        "single_seconds_median": single_seconds,
        "ratio": refresh["ingest_validate_seconds"] / single_seconds,
    }


def _with_ingest_validate(run: dict[str, Any], event_log: dict[str, Any]) -> dict[str, Any]:
    """One measured command with its steps and their ingestion + validation seconds."""
    steps = event_log.get(run.get("run_id"), {}).get("steps", {})
    return {
        **run,
        "steps": steps,
        "ingest_validate_seconds": asset_step_seconds(steps, INGEST_VALIDATE_ASSETS),
    }


def asset_step_seconds(steps: dict[str, dict[str, Any]], assets: frozenset[str]) -> float:
    """Seconds of the steps that materialized or checked any of ``assets`` (NaN: no such step)."""
    chosen = [step["seconds"] for step in steps.values() if assets & set(step.get("assets", ()))]
    return sum(chosen) if chosen else float("nan")


def ingest_summary(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds per million rows of ingestion + validation + features, and how linear they are."""
    points = []
    for case in sorted(cases, key=lambda case: case["rows"]):
        step_total = asset_step_seconds(case["dagster"].get("steps_median", {}), INGEST_ASSETS)
        stages = case["bare"].get("stages_median", {})
        bare_total = sum(stages.get(stage, 0.0) for stage in INGEST_STAGES)
        millions = case["rows"] / MILLION
        points.append(
            {
                "rows": case["rows"],
                "source": case["source"],
                "dagster_steps_seconds": step_total,
                "dagster_steps_per_million": step_total / millions,
                "dagster_wall": case["dagster"]["wall_median"],
                "bare_stages_seconds": bare_total,
                "bare_stages_per_million": bare_total / millions,
                "bare_wall": case["bare"]["wall_median"],
            }
        )
    summary: dict[str, Any] = {"points": points}
    if len(points) >= 2:
        small, large = points[0], points[-1]
        delta = (large["rows"] - small["rows"]) / MILLION
        summary["dagster_marginal_wall_per_million"] = (
            large["dagster_wall"] - small["dagster_wall"]
        ) / delta
        summary["bare_marginal_wall_per_million"] = (
            large["bare_wall"] - small["bare_wall"]
        ) / delta
        summary["dagster_marginal_steps_per_million"] = (
            large["dagster_steps_seconds"] - small["dagster_steps_seconds"]
        ) / delta
        summary["linearity"] = (
            large["dagster_steps_per_million"] / small["dagster_steps_per_million"]
        )
    return summary


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with what was measured and whether it is met."""
    found: list[dict[str, Any]] = []

    def add(name: str, measured: float, limit: float, unit: str) -> None:
        met = measured == measured and measured <= limit  # NaN (not measured) is not met
        found.append({"target": name, "measured": measured, "limit": limit, "unit": unit})
        found[-1]["met"] = met

    full_graph_targets(result, add)
    ingest_targets(result.get("ingest_summary", {}), add)
    refresh = result.get("refresh")
    if refresh:
        add(
            f"refresh: ingest+validate steps, 1 new batch on {refresh['batches_before']}"
            " / that batch alone",
            refresh["ratio"],
            REFRESH_RATIO,
            "x",
        )
    load = result.get("code_location", {}).get("dagster definitions validate -m ml_assets")
    if load:
        add(
            "code location load (definitions validate)",
            load["wall_median"],
            CODE_LOCATION_SECONDS,
            "s",
        )
    if result.get("idle"):
        idle_targets(result["idle"], add)
    return found


def full_graph_targets(result: dict[str, Any], add: Any) -> None:
    """Whole-graph wall and RSS against the bare reference and the plain script.

    The large targets apply from 1e6 rows, the small ones up to 1e4 rows.
    """
    full = {case["rows"]: case for case in result["full"]}
    large = [rows for rows in full if rows >= LARGE_ROWS]
    small = [rows for rows in full if rows <= SMALL_ROWS]
    if large:
        case, name = full[max(large)], label(max(large))
        add(f"full graph {name}: wall / bare", case["wall_ratio"], FULL_WALL_RATIO_LARGE, "x")
        add(f"full graph {name}: peak RSS / bare", case["rss_ratio"], FULL_RSS_RATIO_LARGE, "x")
        if "vs_plain" in case:
            plain = case["vs_plain"]
            add(
                f"full graph {name}: wall / one-core plain",
                plain["wall_ratio"],
                PLAIN_WALL_RATIO_LARGE,
                "x",
            )
            add(
                f"full graph {name}: peak RSS / plain",
                plain["rss_ratio"],
                PLAIN_RSS_RATIO_LARGE,
                "x",
            )
        if "vs_plain_all_cores" in case:
            add(
                f"full graph {name}: trained_model step / all-core plain fitting",
                case["vs_plain_all_cores"]["training_ratio"],
                TRAINING_RATIO_ALL_CORES,
                "x",
            )
    if small:
        case, name = full[min(small)], label(min(small))
        add(f"full graph {name}: wall / bare", case["wall_ratio"], FULL_WALL_RATIO_SMALL, "x")
        floor = result.get("floor", {}).get("wall_median")
        if "dagster" in case and floor is not None:
            add(
                f"full graph {name}: wall (limit: Dagster's floor + {SMALL_MARGIN_SECONDS} s)",
                case["dagster"]["wall_median"],
                floor + SMALL_MARGIN_SECONDS,
                "s",
            )


def ingest_targets(ingest: dict[str, Any], add: Any) -> None:
    """Seconds per million rows before training, and how linear they are."""
    if ingest.get("points"):
        largest = ingest["points"][-1]
        add(
            f"ingest+validate+features {label(largest['rows'])}: step seconds per 1e6 rows",
            largest["dagster_steps_per_million"],
            INGEST_SECONDS_PER_MILLION,
            "s/1e6",
        )
    if "dagster_marginal_wall_per_million" in ingest:
        add(
            "ingest+validate+features: marginal command wall per 1e6 rows",
            ingest["dagster_marginal_wall_per_million"],
            INGEST_SECONDS_PER_MILLION,
            "s/1e6",
        )
        add(
            "ingest+validate+features: linear (per-row cost, largest / smallest)",
            ingest["linearity"],
            INGEST_LINEARITY,
            "x",
        )


def idle_targets(idle: dict[str, Any], add: Any) -> None:
    """An idle tick and evaluation launch nothing and read no data."""
    sensor, automation = idle["sensor"], idle["automation"]
    reads = sum(sensor["data_reader_calls"].values()) + sum(
        automation["data_reader_calls"].values()
    )
    add("idle tick + evaluation: runs launched", idle["runs_launched"], 0, "runs")
    add(
        "idle tick + evaluation: runs requested",
        sensor["run_requests"] + automation["total_requested"],
        0,
        "runs",
    )
    add("idle tick + evaluation: data reader calls", reads, 0, "calls")
    limit = 0.01 * idle["landing_bytes"]
    add("idle sensor tick: bytes read (limit 1% of landing)", sensor["bytes_read"], limit, "B")


def own_peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM): every child's ``ru_maxrss`` starts from it.

    Not ``getrusage``, which also carries the peak of whatever process started this one.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def git_state() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def versions() -> dict[str, str]:
    """Versions of the libraries that shape the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("dagster", "dagster-pandera", "pandas", "pandera", "pyarrow", "scikit-learn"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return found


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=rows_arg, default=[10**4, 10**5, 10**6])
    parser.add_argument("--ingest-sizes", nargs="*", type=rows_arg, default=[10**7])
    parser.add_argument("--repeats", type=int, default=3, help="runs per command and size")
    parser.add_argument(
        "--large-repeats",
        type=int,
        help="runs per command at 1e6 rows and more (default: --repeats)",
    )
    parser.add_argument("--load-repeats", type=int, default=5, help="code-location loads")
    parser.add_argument("--idle-repeats", type=int, default=5, help="idle ticks and evaluations")
    parser.add_argument("--floor-repeats", type=int, default=5, help="one-asset materializations")
    parser.add_argument(
        "--refresh-batches",
        type=int,
        default=50,
        help="batches landed before the refresh that adds one more (0: no refresh scenario)",
    )
    parser.add_argument("--refresh-rows", type=rows_arg, default=10**4, help="rows per batch")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2000/4000 rows, one repeat; refresh on 5 batches of 1000 rows",
    )
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ml_assets_bench"))
    parser.add_argument("--keep-outputs", action="store_true", help="keep artifacts of each size")
    parser.add_argument(
        "--max-rows",
        type=rows_arg,
        help="trained_model's training.max_rows (default: the project's, a 100,000-row cap; "
        "above the training rows, every row is fitted, as the plain script and bare reference do)",
    )
    parser.add_argument("--out", type=Path, help="JSON results (default benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.ingest_sizes = [2000], [4000]
        args.repeats = args.large_repeats = args.load_repeats = args.idle_repeats = 1
        args.floor_repeats = 1
        args.refresh_batches, args.refresh_rows = 5, 1000
    if args.large_repeats is None:
        args.large_repeats = args.repeats
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure, print, write JSON."""
    args = parse_args(argv)
    began = time.perf_counter()
    bench = Bench(args.work_dir.resolve(), args.keep_outputs, args.max_rows)
    git = git_state()
    out = (
        args.out
        or BENCH_DIR / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}-{git['commit'][:8]}.json"
    )
    result: dict[str, Any] = {
        "meta": {
            **git,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "argv": sys.argv[1:] if argv is None else argv,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "versions": versions(),
            "training": TRAINING,
            "max_rows": args.max_rows,
            "refresh_batches": args.refresh_batches,
            "refresh_rows": args.refresh_rows,
            "full_selection": FULL_SELECTION,
            "ingest_selection": INGEST_SELECTION,
        },
        "full": [],
        "ingest": [],
    }
    print("checking that the bare reference uses the assets' contract, dataset and settings")
    result["consistency"] = bench.probe(
        ["consistency"], dict(os.environ), bench.work / "consistency.log"
    )
    if not all(result["consistency"].values()):
        print(f"  WARNING: {result['consistency']}")
    sizes = sorted(set(args.sizes))
    for rows in sizes:
        repeats = args.large_repeats if rows >= MILLION else args.repeats
        print(f"full graph at {label(rows)} rows, {repeats} repeat(s)")
        case = measure_case(bench, "full", rows, repeats, "all", FULL_SELECTION)
        result["full"].append(case)
        if rows != max(sizes):
            bench.clean(Path(case["data_dir"]))
    ingest_sizes = sorted(set(args.ingest_sizes))
    if ingest_sizes:
        reference = [max(sizes)] if sizes and max(sizes) < ingest_sizes[0] else []
        for rows in [*reference, *ingest_sizes]:
            repeats = args.large_repeats if rows >= MILLION else args.repeats
            print(f"ingestion + validation + features at {label(rows)} rows, {repeats} repeat(s)")
            case = measure_case(bench, "ingest", rows, repeats, "features", INGEST_SELECTION)
            case["source"] = "reference" if rows in reference else "ingest-size"
            result["ingest"].append(case)
            bench.clean(Path(case["data_dir"]))
        result["ingest_summary"] = ingest_summary(result["ingest"])
    print(f"Dagster's floor (one-asset materialization), {args.floor_repeats} repeat(s)")
    result["floor"] = dagster_floor(bench, args.floor_repeats)
    if args.refresh_batches > 0:
        print(
            f"refresh: one batch of {args.refresh_rows:,} rows on {args.refresh_batches} batches,"
            f" and alone ({args.repeats} repeat(s))"
        )
        result["refresh"] = refresh_cost(
            bench, args.refresh_batches, args.refresh_rows, args.repeats
        )
    print(f"code location load, {args.load_repeats} repeat(s)")
    result["code_location"] = code_location(bench, args.load_repeats)
    if result["full"]:
        largest = result["full"][-1]
        print(f"idle sensor tick and automation evaluation ({label(largest['rows'])} rows landed)")
        data, home = Path(largest["data_dir"]), Path(largest["dagster_home"])
        result["idle"] = bench.probe(
            [
                "idle",
                "--data-dir",
                str(data),
                "--home",
                str(home),
                "--repeats",
                str(args.idle_repeats),
            ],
            bench.env(data, home),
            bench.work / "idle.log",
        )
        bench.clean(data)
    result["targets"] = targets(result)
    result["meta"]["elapsed_seconds"] = time.perf_counter() - began
    result["meta"]["benchmark_process_peak_rss_mb"] = own_peak_rss_mb()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print_report(result)
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
