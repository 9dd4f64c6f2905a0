"""The production stack together, under the daemon: a file lands, the landing sensor queues a run
on PostgreSQL, the steps run on the Dask workers, the model is gated and promoted into the
registry on S3, and `ml-assets serve` answers with it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest

from ml_assets.lib.registry import ModelRegistry
from ml_assets_tests.end_to_end.test_daemon import free_port, wait_for
from ml_assets_tests.production.stack import Stack, drop, held_slots
from ml_assets_tests.serving.support import RECORD

ML_ASSETS = str(Path(sys.executable).with_name("ml-assets"))
ROWS = 1000


def step_pid(stack: Stack, asset: str) -> int:
    """The pid of the process that stored ``asset``'s latest materialization."""
    event = stack.instance.get_latest_materialization_event(dg.AssetKey(asset))
    return event.asset_materialization.metadata["step_pid"].value


def serve_champion(stack: Stack, tmp_path: Path) -> tuple[dict, dict]:
    """`ml-assets serve --registry-dir <S3>`: its /health and its answer to one record."""
    port = free_port()
    server = subprocess.Popen(
        [ML_ASSETS, "serve", "--registry-dir", stack.registry_url, "--port", str(port)],
        env={**os.environ, "ML_ASSETS_DATA_DIR": str(tmp_path / "serving")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def health() -> httpx.Response | None:
            assert server.poll() is None, server.communicate()[1][-3000:]
            try:
                return httpx.get(f"{url}/health", timeout=2)
            except httpx.TransportError:
                return None

        wait_for(health, 60, "ml-assets serve")
        answer = httpx.post(f"{url}/predict", json={"records": [RECORD]}, timeout=30)
        assert answer.status_code == 200, answer.text
        return health().json(), answer.json()
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)


@pytest.mark.slow
def test_a_landed_file_is_trained_on_dask_promoted_on_s3_and_served(
    stack: Stack, tmp_path: Path
) -> None:
    started = time.monotonic()
    drop(stack.landing, "batch1.csv", rows=ROWS, seed=1)
    wait_for(
        lambda: stack.daemon.alive() and stack.materialized("production_model"),
        240,
        "the champion to be promoted",
    )
    wait_for(lambda: all(run.is_finished for run in stack.instance.get_runs()), 120, "runs to end")
    promoted = time.monotonic() - started

    (sensor_run,) = stack.runs(**{"ml_assets/trigger": "landing_sensor"})
    assert sensor_run.tags["ml_assets/files"] == "batch1.csv"
    for run in stack.instance.get_runs():
        assert run.status == dg.DagsterRunStatus.SUCCESS, run.run_id
        # Every run went through the queue the daemon drains.
        assert stack.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED)
    for asset in ("raw_data", "trained_model", "evaluation_report", "model_approval"):
        assert step_pid(stack, asset) in stack.worker_pids, asset
    assert not (stack.landing.parent / "storage").exists(), "artifacts were written locally"

    registry = ModelRegistry(stack.registry_url)
    champion = registry.alias("champion")
    trained = stack.instance.get_latest_materialization_event(dg.AssetKey("trained_model"))
    assert (
        registry.get(champion).fingerprint
        == trained.asset_materialization.metadata["fingerprint"].value
    )
    wait_for(lambda: not held_slots(stack.instance), 30, "every pool slot to be freed")

    health, answer = serve_champion(stack, tmp_path)
    assert health["versions"]["champion"] == champion
    assert [prediction["model_version"] for prediction in answer["predictions"]] == [champion]
    print(f"file landed to champion promoted: {promoted:.1f}s")
