"""ML_ASSETS_EXECUTOR=dask: every step of the full graph runs in a Dask worker process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from ml_assets_tests.conftest import ASSET_NAMES, FAST_TRAINING

DAGSTER = Path(sys.executable).parent / "dagster"


@pytest.mark.slow
def test_each_step_runs_in_a_dask_worker_process(data_dir: Path, dask_scheduler: str) -> None:
    import distributed

    home = data_dir / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # Only the run config travels to the workers: the data folder goes there, not in the env.
    run_config = {
        "resources": {"settings": {"config": {"data_dir": str(data_dir)}}},
        "ops": {"trained_model": {"config": FAST_TRAINING}},
    }
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ML_ASSETS_EXECUTOR": "dask",
        "ML_ASSETS_DASK_SCHEDULER": dask_scheduler,
    }
    env.pop("ML_ASSETS_DATA_DIR", None)
    command = [str(DAGSTER), "asset", "materialize", "-m", "ml_assets", "--select", "*"]
    run = subprocess.Popen(
        [*command, "--config-json", json.dumps(run_config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output, _ = run.communicate(timeout=300)
    assert run.returncode == 0, output[-3000:]

    with distributed.Client(dask_scheduler, timeout=30) as client:
        worker_pids = set(client.run(os.getpid).values())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (dagster_run,) = instance.get_runs()
        events = instance.all_logs(
            dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        )
        # Stored once, by the workers: the run only relays them.
        assert sorted(event.dagster_event.asset_key.to_user_string() for event in events) == sorted(
            ASSET_NAMES
        )
        pids = {
            name: instance.get_latest_materialization_event(dg.AssetKey(name))
            .asset_materialization.metadata["step_pid"]
            .value
            for name in ASSET_NAMES
        }
    assert run.pid not in pids.values(), pids
    assert set(pids.values()) <= worker_pids, (pids, worker_pids)
    assert (data_dir / "storage" / "trained_model.skops").exists()
