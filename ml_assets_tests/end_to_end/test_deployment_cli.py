"""The README's command with a failing gate, then a rollback, as a user runs them."""

import json
from pathlib import Path

import pytest

from ml_assets.demo.data import make_demo_frame
from ml_assets.lib.release.registry import CHALLENGER, CHAMPION, FAILED_CANDIDATE, ModelRegistry
from ml_assets_tests.conftest import run_cli as run

MATERIALIZE = ["dagster", "asset", "materialize", "-m", "ml_assets", "--select", "*"]


@pytest.mark.slow
def test_a_failed_gate_keeps_the_champion_and_the_cli_rolls_the_alias(
    tmp_path: Path,
) -> None:
    landing = tmp_path / "data" / "landing"
    landing.mkdir(parents=True)
    make_demo_frame(600).to_csv(landing / "demo.csv", index=False)
    first = run(MATERIALIZE, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    registry = ModelRegistry(tmp_path / "data" / "registry")
    assert registry.alias(CHAMPION) == "v0001"
    champion_bytes = registry.model_path("v0001").read_bytes()

    make_demo_frame(300, seed=7).to_csv(landing / "more.csv", index=False)
    strict = {"ops": {"model_approval": {"config": {"champion_tolerance": -0.5}}}}
    refused = run([*MATERIALIZE, "--config-json", json.dumps(strict)], tmp_path)
    assert refused.returncode != 0  # red: a rejected retrain is news (see docs/deployment.md)
    assert "blocking asset check failed" in refused.stderr
    assert "model_approval: approval_gate" in refused.stderr
    assert registry.alias(CHAMPION) == "v0001"
    assert registry.model_path("v0001").read_bytes() == champion_bytes
    # Only approved models serve: the failed candidate is kept where nothing routes to it.
    assert registry.alias(CHALLENGER) is None and registry.alias(FAILED_CANDIDATE) == "v0002"
    assert "not_worse_than_champion" in registry.history()[-1]["reason"]

    nothing_before = run(["ml-assets", "rollback"], tmp_path)
    assert nothing_before.returncode == 2
    assert "champion v0001 has no previous version to roll back to" in nothing_before.stderr
    refused_target = run(["ml-assets", "rollback", "--to", "v0002", "--reason", "try it"], tmp_path)
    assert refused_target.returncode == 2
    assert "v0002 failed the approval gate" in refused_target.stderr
    assert registry.alias(CHAMPION) == "v0001"
    passed = run(MATERIALIZE, tmp_path)  # the default thresholds pass the same candidate
    assert passed.returncode == 0, passed.stderr[-3000:]
    assert registry.alias(CHAMPION) == "v0002" and registry.alias(FAILED_CANDIDATE) is None
    back = run(["ml-assets", "rollback", "--reason", "try the old one"], tmp_path)
    assert back.returncode == 0, back.stderr
    assert back.stdout.startswith("champion: v0002 -> v0001 (try the old one; by ")
    assert registry.alias(CHAMPION) == "v0001"
    assert registry.model_path("v0001").read_bytes() == champion_bytes
