"""The benchmark keeps working: `benchmarks/run.py --quick` end to end, no timing thresholds.

It runs the benchmark at tiny size (about a minute on 2 cores) and checks the JSON's shape and
that every figure was measured.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ASSET_STEPS = {"raw_data", "validation", "features", "trained_model", "evaluation_report"}
BARE_STAGES = {"import", "ingestion", "validation", "checks", "features", "training", "evaluation"}


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
    } <= set(result)
    assert all(result["consistency"].values()), result["consistency"]

    for case in [*result["full"], *result["ingest"]]:
        for who in ("bare", "dagster"):
            assert case[who]["failures"] == 0, case[who]["runs"]
            assert positive(case[who]["wall_median"]) and positive(case[who]["rss_mb_median"])
        assert positive(case["wall_ratio"]) and positive(case["rss_ratio"])
        assert case["dagster"]["in_process"]

    full = result["full"][0]
    assert set(full["bare"]["stages_median"]) >= BARE_STAGES
    steps = full["dagster"]["steps_median"]
    assert set(steps) >= ASSET_STEPS
    assert all(positive(step["seconds"]) for step in steps.values())
    assert positive(full["dagster"]["run_seconds_median"])

    ingest_steps = set(result["ingest"][-1]["dagster"]["steps_median"])
    assert {"raw_data", "validation", "features"} <= ingest_steps
    assert not ingest_steps & {"trained_model", "evaluation_report"}
    assert all(positive(p["dagster_steps_per_million"]) for p in result["ingest_summary"]["points"])

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


def _run_module():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import run
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return run


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
    found = _run_module().targets({"full": cases})
    walls = {t["target"]: t["limit"] for t in found if t["target"].endswith("wall / bare")}
    assert walls == expected
    assert [t["met"] for t in found if t["target"] in expected] == [
        limit >= 1.5 for limit in expected.values()
    ]
