"""The benchmark keeps working: `benchmarks/run.py --quick` end to end, no timing thresholds.

It runs the benchmark at tiny size (about a minute and a half on 2 cores) and checks the JSON's
shape and that every figure was measured; the plain script and the target rules are checked on
their own, cheaply.
"""

import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from ml_assets.demo.data import make_demo_frame

ROOT = Path(__file__).resolve().parents[2]
ASSET_STEPS = {"batches", "trained_model", "evaluation_report"}
BARE_STAGES = {
    "import",
    "ab_test_report",
    "batches",
    "raw_data:freshness_check",
    "statistical_checks",
    "feature_store",
    "trained_model",
    "trained_model:freshness_check",
    "drift_report",
    "evaluation_report",
    "live_performance",
    "model_approval",
    "model_card",
    "production_model",
    "batch_predictions",
}
CHECK_STEPS = ("statistical_checks", "freshness_check")


def positive(value: object) -> bool:
    return isinstance(value, int | float) and value > 0


@pytest.mark.slow
def test_quick_benchmark_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--work-dir",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Targets" in done.stdout
    result = json.loads(out.read_text())
    assert {
        "meta",
        "consistency",
        "full",
        "ingest",
        "ingest_summary",
        "code_location",
        "idle",
        "floor",
        "refresh",
    } <= set(result)
    assert all(result["consistency"].values()), result["consistency"]

    for case in [*result["full"], *result["ingest"]]:
        for who in ("bare", "dagster"):
            assert case[who]["failures"] == 0, case[who]["runs"]
            assert positive(case[who]["wall_median"]) and positive(case[who]["rss_mb_median"])
        assert positive(case["wall_ratio"]) and positive(case["rss_ratio"])
        assert case["dagster"]["in_process"]

    run = _benchmark_module()
    full = result["full"][0]
    assert full["plain"]["failures"] == 0, full["plain"]["runs"]
    assert positive(full["plain"]["wall_median"]) and positive(full["plain"]["rss_mb_median"])
    assert all(positive(full["vs_plain"][key]) for key in ("wall_ratio", "rss_ratio"))
    assert full["plain_all_cores"]["failures"] == 0, full["plain_all_cores"]["runs"]
    assert positive(full["vs_plain_all_cores"]["training_ratio"])
    fitted = full["plain"]["runs"][0]
    assert fitted["best_params"] == {
        name: values[0] for name, values in run.TRAINING["search_space"].items()
    }
    assert fitted["rows"] + fitted["dropped_rows"] == full["rows"]
    assert 0.5 < fitted["test"]["roc_auc"] <= 1.0
    assert set(full["bare"]["stages_median"]) >= BARE_STAGES
    steps = full["dagster"]["steps_median"]
    assert set(steps) >= ASSET_STEPS
    # Each step of the run has its own bare stage, printed beside it: a new asset or check
    # fails here until bare_reference.py mirrors it.
    bare_stage = _benchmark_module("report").bare_stage
    assert sorted(bare_stage(name, step) for name, step in steps.items()) == sorted(
        BARE_STAGES - {"import"}
    )
    assert all(positive(step["seconds"]) for step in steps.values())
    assert set(steps["batches"]["assets"]) == {
        "raw_data",
        "validated_data",
        "quarantined_rows",
        "features",
    }
    assert positive(full["dagster"]["run_seconds_median"])

    ingest_steps = set(result["ingest"][-1]["dagster"]["steps_median"])
    # The data step, and the checks that ride along with its assets (statistics, freshness).
    assert {s for s in ingest_steps if not s.startswith(CHECK_STEPS)} == {"batches"}
    assert not ingest_steps & {"trained_model", "evaluation_report"}
    ingest_stages = set(result["ingest"][-1]["bare"]["stages_median"])
    assert ingest_stages == {"import", *run.INGEST_STAGES, "total_in_process"}
    assert all(positive(p["dagster_steps_per_million"]) for p in result["ingest_summary"]["points"])

    floor = result["floor"]
    assert floor["failures"] == 0 and positive(floor["wall_median"])
    # A child's peak RSS starts at the benchmark's own: it stays below the smallest figure.
    assert result["meta"]["benchmark_process_peak_rss_mb"] < floor["rss_mb_median"]

    refresh = result["refresh"]
    assert (refresh["batches_before"], refresh["rows_per_batch"]) == (5, 1000)
    for measured in (refresh["history"], refresh["refresh"], *refresh["single"]):
        assert measured["returncode"] == 0, measured.get("error")
        assert positive(measured["ingest_validate_seconds"])
    assert positive(refresh["ratio"])

    load = result["code_location"]["dagster definitions validate -m ml_assets"]
    assert load["failures"] == 0 and positive(load["wall_median"])

    idle = result["idle"]
    assert positive(idle["landing_bytes"])
    for probe, seconds in (
        ("sensor", "tick_seconds_median"),
        ("automation", "evaluation_seconds_median"),
    ):
        assert positive(idle[probe][seconds])
        assert set(idle[probe]["data_reader_calls"])

    assert result["targets"] and all(
        isinstance(target["met"], bool) for target in result["targets"]
    )
    names = [target["target"] for target in result["targets"]]
    assert "full graph 2000: wall (limit: Dagster's floor + 2.5 s)" in names
    assert "refresh: ingest+validate steps, 1 new batch on 5 / that batch alone" in names


def _benchmark_module(name: str = "run"):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        (
            [10**4, 10**5, 10**6],
            {"full graph 1e6: wall / bare": 1.10, "full graph 1e4: wall / bare": 2.0},
        ),
        ([10**4], {"full graph 1e4: wall / bare": 2.0}),
        ([2000, 4000], {"full graph 2000: wall / bare": 2.0}),
        ([10**5], {}),
    ],
)
def test_full_graph_targets_apply_at_the_issue_sizes(sizes, expected) -> None:
    cases = [{"rows": rows, "wall_ratio": 1.5, "rss_ratio": 1.2} for rows in sizes]
    found = _benchmark_module().targets({"full": cases})
    walls = {t["target"]: t["limit"] for t in found if t["target"].endswith("wall / bare")}
    assert walls == expected
    assert [t["met"] for t in found if t["target"] in expected] == [
        limit >= 1.5 for limit in expected.values()
    ]


def _plain_case(rows: int, wall: float) -> dict:
    return {
        "rows": rows,
        "wall_ratio": 1.05,
        "rss_ratio": 1.2,
        "dagster": {"wall_median": wall},
        "vs_plain": {"wall_ratio": 0.8, "rss_ratio": 1.08},
        "vs_plain_all_cores": {"training_ratio": 1.1},
    }


def test_plain_script_and_refresh_targets() -> None:
    result = {
        "full": [_plain_case(10**4, 4.4), _plain_case(10**6, 30.0)],
        "floor": {"wall_median": 2.0},
        "refresh": {"batches_before": 50, "ratio": 51.0},
    }
    found = {t["target"]: t for t in _benchmark_module().targets(result)}
    small = found["full graph 1e4: wall (limit: Dagster's floor + 2.5 s)"]
    assert (small["limit"], small["met"]) == (4.5, True)
    assert found["full graph 1e6: wall / one-core plain"]["met"] is True  # 0.8 <= 0.85
    assert found["full graph 1e6: peak RSS / plain"]["met"] is True  # 1.08 <= 1.1
    training = found["full graph 1e6: trained_model step / all-core plain fitting"]
    assert (training["limit"], training["met"]) == (1.05, False)
    refresh = found["refresh: ingest+validate steps, 1 new batch on 50 / that batch alone"]
    assert (refresh["limit"], refresh["met"]) == (1.5, False)

    result["full"][0]["dagster"]["wall_median"] = 4.6
    found = {t["target"]: t for t in _benchmark_module().targets(result)}
    assert found["full graph 1e4: wall (limit: Dagster's floor + 2.5 s)"]["met"] is False


def test_steps_are_chosen_by_the_assets_they_materialize() -> None:
    steps = {
        "read_files": {"seconds": 1.0, "assets": ["raw_data"]},
        "validation": {"seconds": 2.0, "assets": ["validated_data", "quarantined_rows"]},
        "features": {"seconds": 4.0, "assets": ["features"]},
    }
    run = _benchmark_module()
    assert run.asset_step_seconds(steps, run.INGEST_VALIDATE_ASSETS) == 3.0
    assert run.asset_step_seconds(steps, run.INGEST_ASSETS) == 7.0
    assert math.isnan(run.asset_step_seconds(steps, frozenset({"trained_model"})))


def test_plain_script_drops_invalid_rows_without_ml_assets(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    first = make_demo_frame(rows=400, seed=1)
    first.loc[3, "numeric2"] = 200.0  # out of range
    first.loc[5, "category"] = "Z"  # not an allowed category
    first.loc[7, "numeric1"] = -50.0  # out of range
    first.to_csv(landing / "a.csv", index=False)
    make_demo_frame(rows=200, seed=2).to_csv(landing / "b.csv", index=False)
    training = {"search_space": {"n_estimators": [5]}, "cv_folds": 3, "seed": 42}
    script = ROOT / "benchmarks" / "plain_script.py"
    probe = (
        "import runpy, sys; "
        f"main = runpy.run_path({str(script)!r})['main']; "
        f"code = main([{str(landing)!r}, {str(tmp_path / 'out')!r}, "
        f"'--training', {json.dumps(training)!r}]); "
        "loaded = sorted({name.split('.')[0] for name in sys.modules} & {'ml_assets', 'dagster'}); "
        "print(loaded)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    summary = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (summary["rows"], summary["dropped_rows"]) == (597, 3)
    assert summary["best_params"] == {"n_estimators": 5}
    assert set(summary["test"]) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}

    import skops.io

    model_file = tmp_path / "out" / "model.skops"
    model = skops.io.load(model_file, trusted=["numpy.dtype", "sklearn.tree._tree.Tree"])
    assert model.named_steps["estimator"].n_estimators == 5
    assert list(model.named_steps["preprocessor"].feature_names_in_) == [
        "numeric1",
        "numeric2",
        "numeric_ratio",
        "category",
    ]


@pytest.mark.slow
def test_after_training_benchmark_prints_every_step_beside_training(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "after_training.py"),
            "--sizes",
            "2000",
            "--work-dir",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    after_training = _benchmark_module("after_training")
    printed = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")}
    assert {after_training.TRAINING_STEP, *after_training.AFTER_TRAINING} <= printed
    assert "of training; target <= 15%" in done.stdout
