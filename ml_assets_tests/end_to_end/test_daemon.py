"""End to end with the real daemon: files dropped into the landing folder of `dagster dev`."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from ml_assets.constants import LANDING_QUIET_ENV
from ml_assets.demo.data import make_demo_frame
from ml_assets_tests.conftest import ASSET_NAMES

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
# The A/B report follows the serving log and the labels on its hourly cron, not new landing files.
ASSETS = [name for name in ASSET_NAMES if name != "ab_test_report"]
FRESHNESS_SENSOR = "freshness_checks_sensor"
INTERVAL = 5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def restore_default_signals() -> None:
    """A non-interactive shell starts background jobs with SIGINT ignored; undo it in the child."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class DagsterDev:
    """`dagster dev` in its own process group, bound to 127.0.0.1 on a free port."""

    def __init__(
        self,
        tmp_path: Path,
        sensor_interval: int = INTERVAL,
        dagster_yaml: str | None = None,
        landing_quiet: float | None = None,
    ) -> None:
        self.home = tmp_path / "dagster_home"
        self.home.mkdir()
        if dagster_yaml is None:
            shutil.copy(ROOT / "dagster_home" / "dagster.yaml", self.home / "dagster.yaml")
        else:
            (self.home / "dagster.yaml").write_text(dagster_yaml)
        self.landing = tmp_path / "data" / "landing"
        self.landing.mkdir(parents=True)
        self.port = free_port()
        self.log = tmp_path / "dagster_dev.log"
        env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "ML_ASSETS_DATA_DIR": str(tmp_path / "data"),
            "ML_ASSETS_SENSOR_INTERVAL": str(sensor_interval),
        }
        if landing_quiet is not None:
            env[LANDING_QUIET_ENV] = str(landing_quiet)
        # Open this test's view of the instance before the server starts: two processes starting
        # on a fresh SQLite instance race creating its tables, and nothing after the server's
        # start may fail, or the fixture could not stop it.
        self.instance = dg.DagsterInstance.from_config(str(self.home))
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [DAGSTER, "dev", "-h", "127.0.0.1", "-p", str(self.port), "-w", "workspace.yaml"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=restore_default_signals,
            )

    def ready(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/server_info", timeout=2):
                return True
        except OSError:
            return False

    def drop(self, name: str, rows: int, seed: int) -> None:
        partial = self.landing / f"{name}.part"
        make_demo_frame(rows, seed=seed).to_csv(partial, index=False)
        partial.rename(self.landing / name)

    def materializations(self, asset: str) -> int:
        return len(self.instance.fetch_materializations(dg.AssetKey(asset), limit=100).records)

    def runs(self) -> list[dg.DagsterRun]:
        """Runs that materialize assets (the freshness sensor's runs only evaluate checks)."""
        runs = self.instance.get_runs()
        return [run for run in runs if run.tags.get("dagster/sensor_name") != FRESHNESS_SENSOR]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.instance.dispose()


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[DagsterDev]:
    server = DagsterDev(tmp_path)
    try:
        wait_for(server.ready, 120, "the webserver")
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_new_files_refresh_every_asset_once_and_repeats_run_nothing(
    dagster_dev: DagsterDev,
) -> None:
    dagster_dev.drop("batch1.csv", rows=600, seed=1)
    latency = wait_for(
        lambda: dagster_dev.materializations("evaluation_report") == 1, 240, "the first refresh"
    )
    wait_for(lambda: all(run.is_finished for run in dagster_dev.runs()), 60, "runs to finish")
    assert {asset: dagster_dev.materializations(asset) for asset in ASSETS} == dict.fromkeys(
        ASSETS, 1
    )
    sensor_runs = [
        run for run in dagster_dev.runs() if run.tags.get("ml_assets/trigger") == "landing_sensor"
    ]
    assert [run.tags["ml_assets/files"] for run in sensor_runs] == ["batch1.csv"]
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in dagster_dev.runs())
    print(f"file drop to refreshed evaluation_report: {latency:.1f}s")

    runs_before = len(dagster_dev.runs())
    shutil.copy(dagster_dev.landing / "batch1.csv", dagster_dev.landing / "batch1_copy.csv")
    time.sleep(5 * INTERVAL)
    assert len(dagster_dev.runs()) == runs_before

    dagster_dev.drop("batch2.csv", rows=300, seed=2)
    wait_for(
        lambda: dagster_dev.materializations("evaluation_report") == 2, 240, "the second refresh"
    )
    wait_for(lambda: all(run.is_finished for run in dagster_dev.runs()), 60, "runs to finish")
    assert {asset: dagster_dev.materializations(asset) for asset in ASSETS} == dict.fromkeys(
        ASSETS, 2
    )
    sensor_runs = [
        run for run in dagster_dev.runs() if run.tags.get("ml_assets/trigger") == "landing_sensor"
    ]
    assert sorted(run.tags["ml_assets/files"] for run in sensor_runs) == [
        "batch1.csv",
        "batch2.csv",
    ]
