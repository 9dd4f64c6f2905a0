"""End to end through the CLI a user runs: `dagster asset materialize -m ml_assets --select '*'`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ml_assets_tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return run_cli(["dagster", *args], tmp_path)


@pytest.mark.slow
def test_readme_command_materializes_everything_on_the_demo_data(tmp_path: Path) -> None:
    done = run(["asset", "materialize", "-m", "ml_assets", "--select", "*"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RUN_SUCCESS" in done.stderr
    storage = tmp_path / "data" / "storage"
    assert len(pd.read_csv(tmp_path / "data" / "landing" / "demo.csv")) == 5000
    report = json.loads((storage / "evaluation_report.json").read_text())
    assert report["metrics"]["accuracy"] > 0.95
    assert (storage / "evaluation_report.md").exists() and (
        storage / "trained_model.skops"
    ).exists()


@pytest.mark.slow
def test_a_bad_file_alone_says_what_happened_and_what_to_do(tmp_path: Path) -> None:
    landing = tmp_path / "data" / "landing"
    landing.mkdir(parents=True)
    (landing / "orders.csv").write_text("numeric1,category,target\n0.1,A,1\n")
    done = run(["asset", "materialize", "-m", "ml_assets", "--select", "*"], tmp_path)
    assert done.returncode != 0
    assert "rejected: orders.csv: missing required column(s) ['numeric2']" in done.stderr
    assert "fix the file and drop it again" in done.stderr
    assert (
        "0 rows in the training set from 0 accepted batch(es) (minimum 100): land more data"
        in done.stderr
    )
    reason = json.loads(
        (tmp_path / "data" / "ingestion" / "rejected" / "orders.csv.reason.json").read_text()
    )
    assert reason["status"] == "rejected" and len(reason["sha256"]) == 64


@pytest.mark.slow
def test_dg_checks_and_launches_the_project_without_noise(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "ML_ASSETS_DATA_DIR": str(tmp_path / "data")}
    dg = str(Path(sys.executable).with_name("dg"))
    for command in (["check", "defs"], ["launch", "--assets", "*"]):
        done = subprocess.run(
            [dg, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        noise = [
            line
            for line in (done.stdout + done.stderr).splitlines()
            if "Warning" in line or "telemetry" in line.lower() or "deprecat" in line.lower()
        ]
        assert noise == []
    assert (tmp_path / "data" / "storage" / "evaluation_report.md").exists()


@pytest.mark.slow
@pytest.mark.parametrize("module", ["ml_assets", "ml_assets.definitions"])
def test_code_location_loads(tmp_path: Path, module: str) -> None:
    done = run(["definitions", "validate", "-m", module], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
