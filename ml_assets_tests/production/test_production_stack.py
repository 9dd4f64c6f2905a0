"""The production stack together, under the daemon, as one deployment the tests share in order.

A file lands, the landing sensor queues a run on PostgreSQL, the steps run on the Dask workers,
the model is gated and promoted into the registry on S3, and `ml-assets serve` answers with it.
Then a worker is killed with SIGKILL during training (a Dask worker, then the run worker): the
pipeline recovers by itself, the next attempt succeeds, no pool slot stays held and the champion
is a whole model.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest

from ml_assets.lib.release.registry import ModelRegistry
from ml_assets.run_recovery import run_process
from ml_assets_tests.end_to_end.test_daemon import free_port
from ml_assets_tests.production.stack import ROOT, Stack, drop, held_slots, poll
from ml_assets_tests.serving.support import RECORD

ML_ASSETS = str(Path(sys.executable).with_name("ml-assets"))
DAGSTER = str(Path(sys.executable).with_name("dagster"))
ROWS = 1000
# Training on the larger set lasts long enough for the kill to land during it.
KILL_ROWS = 2000
TRAINING_STEP = "trained_model"


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

        poll(health, 60, "ml-assets serve")
        answer = httpx.post(f"{url}/predict", json={"records": [RECORD]}, timeout=30)
        assert answer.status_code == 200, answer.text
        return health().json(), answer.json()
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)


def training_run(stack: Stack) -> dg.DagsterRun | None:
    """The run whose trained_model step has started (and not ended), if any."""
    for run in stack.instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        events = stack.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
        if any(event.step_key == TRAINING_STEP for event in events):
            return run
    return None


def training_worker(stack: Stack, run: dg.DagsterRun) -> tuple[str, int] | None:
    """The Dask worker (address, pid) processing ``run``'s training step, if one is."""
    import distributed

    key = f"{run.job_name}.{run.run_id}.{TRAINING_STEP}"
    with distributed.Client(stack.scheduler, timeout=30) as client:
        for address, keys in client.processing().items():
            if key in keys:
                return address, client.run(os.getpid, workers=[address])[address]
    return None


def recovered(stack: Stack, approvals: int) -> bool:
    """A new model judged by the gate (model_approval past ``approvals``) and every run ended."""
    stack.daemon.alive()
    runs = stack.instance.get_runs()
    return stack.materialized("model_approval") > approvals and all(r.is_finished for r in runs)


def assert_whole_champion(stack: Stack) -> None:
    """The champion's model file matches its recorded sha256 and loads; no pool slot is held."""
    registry = ModelRegistry(stack.registry_url)
    champion = registry.alias("champion")
    registry.verify(champion)
    model, _record = registry.load(champion)
    assert hasattr(model, "predict")
    poll(lambda: not held_slots(stack.instance), 30, "every pool slot to be freed")


@pytest.mark.slow
def test_a_landed_file_is_trained_on_dask_promoted_on_s3_and_served(
    stack: Stack, tmp_path: Path
) -> None:
    started = time.monotonic()
    drop(stack.landing, "batch1.csv", rows=ROWS, seed=1)
    poll(
        lambda: stack.daemon.alive() and stack.materialized("production_model"),
        240,
        "the champion to be promoted",
    )
    poll(lambda: all(run.is_finished for run in stack.instance.get_runs()), 120, "runs to end")
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
    poll(lambda: not held_slots(stack.instance), 30, "every pool slot to be freed")

    health, answer = serve_champion(stack, tmp_path)
    assert health["versions"]["champion"] == champion
    assert [prediction["model_version"] for prediction in answer["predictions"]] == [champion]
    print(f"file landed to champion promoted: {promoted:.1f}s")


@pytest.mark.slow
def test_a_dask_worker_killed_during_training_is_replaced_and_the_step_reruns(
    stack: Stack,
) -> None:
    before, approvals = stack.run_ids(), stack.materialized("model_approval")
    drop(stack.landing, "dask_kill.csv", rows=KILL_ROWS, seed=2)
    run = poll(lambda: training_run(stack), 240, "training to start")
    address, pid = poll(lambda: training_worker(stack, run), 60, "the training worker")
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    poll(lambda: recovered(stack, approvals), 240, "the gate after the kill")
    recovery = time.monotonic() - killed

    # dask reschedules the lost task: the same run trains again and succeeds.
    assert stack.instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS
    starts = stack.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
    assert [event.step_key for event in starts].count(TRAINING_STEP) == 2
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in stack.runs(since=before))
    assert_whole_champion(stack)
    print(
        f"Dask worker {address} (pid {pid}) killed; the retrained model gated {recovery:.1f}s later"
    )


@pytest.mark.slow
def test_a_run_worker_killed_during_training_fails_its_run_and_the_retry_succeeds(
    stack: Stack,
) -> None:
    approvals = stack.materialized("model_approval")
    drop(stack.landing, "run_kill.csv", rows=KILL_ROWS, seed=3)
    run = poll(lambda: training_run(stack), 240, "training to start")
    pid, _logged_at = run_process(stack.instance, run.run_id)
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    poll(lambda: stack.instance.get_run_by_id(run.run_id).is_finished, 120, "the run to fail")
    failed = time.monotonic() - killed
    poll(lambda: recovered(stack, approvals), 240, "the retry to reach the gate")
    recovery = time.monotonic() - killed

    assert stack.instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    (retry,) = stack.runs(**{"dagster/parent_run_id": run.run_id})
    assert retry.tags["dagster/retry_number"] == "1"
    assert retry.status == dg.DagsterRunStatus.SUCCESS
    assert_whole_champion(stack)
    print(
        f"run worker (pid {pid}) killed: run failed after {failed:.1f}s, "
        f"the retry's model was gated {recovery:.1f}s after the kill"
    )


@pytest.mark.slow
def test_two_deployments_retraining_at_once_take_turns_in_the_pool(stack: Stack) -> None:
    if not stack.materialized("features"):
        drop(stack.landing, "first.csv", rows=ROWS, seed=4)
        poll(lambda: stack.materialized("features"), 240, "the first batch")
    before = stack.run_ids()
    command = [DAGSTER, "job", "launch", "-m", "ml_assets", "-j", "retrain", "-o", TRAINING_STEP]
    launches = [
        subprocess.Popen(
            [*command, "--tags", json.dumps({"deployment": name})],
            cwd=ROOT,
            env={**os.environ, **stack.daemon_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("a", "b")
    ]
    for launch in launches:
        output, _ = launch.communicate(timeout=120)
        assert launch.returncode == 0, output[-3000:]

    def both_ended() -> list[dg.RunRecord]:
        stack.daemon.alive()
        runs = stack.runs(since=before)
        ended = [run for run in runs if run.tags.get("deployment") and run.is_finished]
        return len(ended) == 2 and [stack.instance.get_run_record_by_id(r.run_id) for r in ended]

    first, second = sorted(
        poll(both_ended, 300, "both retrains to end"), key=lambda record: record.start_time
    )
    assert first.dagster_run.status == second.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    # One writer at a time: the second run left the queue only after the first had ended.
    assert second.start_time >= first.end_time, (first.end_time, second.start_time)
    assert stack.materialized(TRAINING_STEP) >= 2
    poll(lambda: not held_slots(stack.instance), 30, "every pool slot to be freed")
    print(f"the second retrain waited {second.start_time - first.start_time:.1f}s in the queue")
