"""A crash never wedges the pipeline: killed runs free everything, temp files and write errors.

The kill tests run the real CLI and the real daemon in their own process groups and SIGKILL the
process that executes the run while it trains, then require the next run (or the automatic
retry) to succeed within a bounded wait.
"""

import contextlib
import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from ml_assets.demo.data import make_demo_frame
from ml_assets.lib.core.storage import ArtifactWriteError, atomic_write_bytes, load_model_bytes
from ml_assets.run_recovery import recover
from ml_assets_tests.conftest import SMALL_ROWS, materialize
from ml_assets_tests.definitions.test_reliability import WRITER
from ml_assets_tests.end_to_end.test_daemon import DagsterDev, wait_for

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
MATERIALIZE_ALL = [DAGSTER, "asset", "materialize", "-m", "ml_assets", "--select", "*"]
TRAINING_STARTED = "trained_model - STEP_START"
# A whole run of the demo takes 10-25 s on a busy 2-core machine; far more means it is stuck.
RUN_TIMEOUT = 120
OLD_POOLS = "concurrency:\n  pools:\n    default_limit: 1\n    granularity: op\n"


class Cli:
    """`dagster asset materialize` against one throwaway instance and data folder."""

    def __init__(self, tmp_path: Path, extra_config: str = "") -> None:
        self.home = tmp_path / "dagster_home"
        self.home.mkdir()
        config = (ROOT / "dagster_home" / "dagster.yaml").read_text() + extra_config
        (self.home / "dagster.yaml").write_text(config)
        self.data = tmp_path / "data"
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "ML_ASSETS_DATA_DIR": str(self.data),
        }
        self.logs = tmp_path
        subprocess.run(
            [DAGSTER, "instance", "migrate"], env=self.env, capture_output=True, check=True
        )

    def start(self, name: str) -> tuple[subprocess.Popen, Path]:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                MATERIALIZE_ALL,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return process, log

    def kill_during_training(self) -> None:
        """Start a run and SIGKILL its process (only it, as `kill -9 <pid>` does) mid-training."""
        process, log = self.start("killed")
        try:
            wait_for(lambda: TRAINING_STARTED in log.read_text(), RUN_TIMEOUT, "training to start")
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            stop_group(process)
        assert 'STEP_SUCCESS - Finished execution of step "trained_model"' not in log.read_text()

    def run(self) -> str:
        process, log = self.start("next")
        try:
            process.wait(timeout=RUN_TIMEOUT)
        finally:
            stop_group(process)
        output = log.read_text()
        assert process.returncode == 0, output[-3000:]
        return output

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))


def stop_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def run_statuses(instance: dg.DagsterInstance) -> list[dg.DagsterRunStatus]:
    return [run.status for run in reversed(instance.get_runs())]


@pytest.mark.slow
def test_a_cli_run_killed_while_training_does_not_stop_the_next(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    cli.kill_during_training()
    output = cli.run()
    assert "blocked by limit" not in output
    load_model_bytes((cli.data / "storage" / "trained_model.skops").read_bytes(), "model")
    with cli.instance() as instance:
        assert run_statuses(instance) == [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.SUCCESS]
        killed = instance.get_runs()[-1].run_id
        assert recover(instance) == ([killed], [])
        assert run_statuses(instance) == [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS]
        assert recover(instance) == ([], [])


@pytest.mark.slow
def test_an_instance_wedged_by_the_old_pools_recovers(tmp_path: Path) -> None:
    """Pools of one slot (the old dagster.yaml) and a killed run: the slot stayed claimed."""
    cli = Cli(tmp_path, extra_config=OLD_POOLS)
    cli.kill_during_training()
    with cli.instance() as instance:
        killed = instance.get_runs()[0].run_id
        assert instance.event_log_storage.get_concurrency_run_ids() == {killed}
    (cli.home / "dagster.yaml").write_text((ROOT / "dagster_home" / "dagster.yaml").read_text())
    recovery = subprocess.run(
        [sys.executable, "-m", "ml_assets.run_recovery"],
        env=cli.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert recovery.stdout.splitlines() == [
        f"run {killed}: its process is gone; marked failed",
        f"run {killed}: ended; its concurrency slots freed",
    ]
    cli.run()
    with cli.instance() as instance:
        assert instance.event_log_storage.get_concurrency_run_ids() == set()
        assert run_statuses(instance) == [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS]


def graphql(port: int, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""


@pytest.fixture
def quiet_dagster_dev(tmp_path: Path) -> Iterator[DagsterDev]:
    """`dagster dev` whose sensors tick once an hour, so only the runs a test launches run."""
    server = DagsterDev(tmp_path, sensor_interval=3600, landing_quiet=3600)
    try:
        wait_for(server.ready, 120, "the webserver")
        yield server
    finally:
        server.stop()


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        pid = record.dagster_event.engine_event_data.metadata.get("pid")
        if pid is not None:
            return int(pid.value)
    return None


def training_started(instance: dg.DagsterInstance, run_id: str) -> bool:
    return any(
        record.step_key == "trained_model"
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
    )


@pytest.mark.slow
def test_a_run_worker_killed_while_training_is_retried_and_the_retry_succeeds(
    quiet_dagster_dev: DagsterDev,
) -> None:
    server = quiet_dagster_dev
    params = {
        "selector": {
            "repositoryLocationName": "ml_assets",
            "repositoryName": "__repository__",
            "jobName": "full_refresh",
        },
        "runConfigData": {},
    }
    launched = graphql(server.port, LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    wait_for(lambda: training_started(server.instance, run_id), 120, "training to start")
    os.kill(run_worker_pid(server.instance, run_id), signal.SIGKILL)

    def retry() -> dg.DagsterRun | None:
        retries = server.instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
        return retries[0] if retries else None

    wait_for(lambda: retry() is not None and retry().is_finished, 150, "the retry to finish")
    assert server.instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    assert retry().status == dg.DagsterRunStatus.SUCCESS
    load_model_bytes(
        (server.landing.parent / "storage" / "trained_model.skops").read_bytes(), "model"
    )


def start_writer(target: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(target), mode])


def temp_files(target: Path) -> set[str]:
    return {path.name for path in target.parent.glob(f".{target.name}.*.tmp")}


def wait_for_temp_files(target: Path, writer: subprocess.Popen, count: int) -> set[str]:
    deadline = time.monotonic() + 30
    while len(temp_files(target)) < count:
        assert time.monotonic() < deadline and writer.poll() is None, "the writer never started"
        time.sleep(0.05)
    return temp_files(target)


def test_the_next_write_removes_a_dead_writers_temp_file_and_never_a_live_ones(
    tmp_path: Path,
) -> None:
    target = tmp_path / "storage" / "trained_model.skops"
    atomic_write_bytes(target, b"first")
    live = start_writer(target, "hang")
    try:
        (live_name,) = wait_for_temp_files(target, live, 1)
        killed = start_writer(target, "hang")
        try:
            (killed_name,) = wait_for_temp_files(target, killed, 2) - {live_name}
        finally:
            killed.kill()
            killed.wait()
        assert killed_name.startswith(f".trained_model.skops.{killed.pid}.")
        not_ours = [".trained_model.skops.notes.tmp", f".features.parquet.{killed.pid}.x.tmp"]
        for name in not_ours:
            (target.parent / name).write_bytes(b"not ours to remove")
        atomic_write_bytes(target, b"second")
        assert temp_files(target) == {live_name, not_ours[0]}
        assert (target.parent / not_ours[1]).exists()
        assert target.read_bytes() == b"second"
        assert live.wait(timeout=60) == 0
    finally:
        live.kill()
        live.wait()
    assert temp_files(target) == {not_ours[0]}
    assert target.stat().st_size == 200 * 65536


def test_a_reused_pid_does_not_keep_a_dead_writers_temp_file(tmp_path: Path) -> None:
    """A live process whose pid matches, but which started after the file was last written."""
    target = tmp_path / "trained_model.skops"
    stale = tmp_path / f".trained_model.skops.{os.getppid()}.abcd1234.tmp"
    stale.write_bytes(b"partial")
    os.utime(stale, (0, 0))
    atomic_write_bytes(target, b"model")
    assert not stale.exists()


def under_file_size_limit(script: str, argument: Path, limit: int) -> subprocess.CompletedProcess:
    """Run ``script`` in a child whose files cannot grow past ``limit`` bytes (RLIMIT_FSIZE)."""
    prologue = (
        "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
    )
    command = [sys.executable, "-c", prologue + script, str(argument)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)


def file_too_large(target: Path) -> str:
    return (
        f"ml_assets.lib.core.storage.ArtifactWriteError: {target}: writing failed: File too large "
        f"(EFBIG); file size limit reached at {target.parent} (ulimit -f or the filesystem's "
        "maximum): raise the limit or move data_dir"
    )


LIMITED_WRITE = """
import sys
from pathlib import Path
from ml_assets.lib.core.storage import atomic_write_bytes
atomic_write_bytes(Path(sys.argv[1]), b"x" * 2_000_000)
"""


def test_a_write_beyond_the_file_size_limit_names_the_file_the_cause_and_the_fix(
    tmp_path: Path,
) -> None:
    target = tmp_path / "storage" / "trained_model.skops"
    done = under_file_size_limit(LIMITED_WRITE, target, 1_000_000)
    assert done.returncode != 0
    assert done.stderr.splitlines()[-1] == file_too_large(target)
    assert list(target.parent.iterdir()) == []


def test_a_full_disk_says_so_and_what_to_do(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "features.parquet"

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ArtifactWriteError) as raised:
        atomic_write_bytes(target, b"rows")
    assert str(raised.value) == (
        f"{target}: flushing to disk failed: No space left on device (ENOSPC); disk full at "
        f"{tmp_path}: free space or move data_dir to a larger disk"
    )
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
    assert isinstance(raised.value, OSError)
    assert str(pickle.loads(pickle.dumps(raised.value))) == str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_a_killed_writers_temp_file_is_gone_after_the_next_run(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    make_demo_frame(SMALL_ROWS).to_csv(tmp_path / "landing" / "demo.csv", index=False)
    model = tmp_path / "storage" / "trained_model.skops"
    writer = start_writer(model, "hang")
    try:
        wait_for_temp_files(model, writer, 1)
    finally:
        writer.kill()
        writer.wait()
    with dg.instance_for_test() as instance:
        assert materialize(tmp_path, instance).success
    assert sorted(p.name for p in model.parent.iterdir() if p.name.startswith(".")) == []


LIMITED_RUN = """
import sys
from pathlib import Path
import dagster as dg
from ml_assets_tests.conftest import materialize
with dg.instance_for_test() as instance:
    result = materialize(Path(sys.argv[1]), instance)
    print(result.get_step_failure_events()[0].step_failure_data.error.cause.message)
"""


def test_a_run_that_cannot_store_the_model_says_which_file_and_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    make_demo_frame(SMALL_ROWS).to_csv(tmp_path / "landing" / "demo.csv", index=False)
    done = under_file_size_limit(LIMITED_RUN, tmp_path, 400_000)
    assert done.returncode == 0, done.stderr[-3000:]
    storage = tmp_path / "storage"
    assert done.stdout.strip() == file_too_large(storage / "trained_model.skops")
    assert sorted(p.name for p in storage.iterdir() if p.name.startswith(".")) == []
