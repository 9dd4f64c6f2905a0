"""The production stack as it runs, for the tests of this folder: `dagster-daemon` on the
PostgreSQL instance of deploy/dagster.yaml (its intervals tightened), the Dask executor on the
services' workers, and artifacts, batch store and registry on the S3 server."""

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import yaml

from ml_assets.demo.data import make_demo_frame
from ml_assets_tests.end_to_end.test_daemon import restore_default_signals

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_YAML = ROOT / "deploy" / "dagster.yaml"
T = TypeVar("T")
DAEMON = str(Path(sys.executable).with_name("dagster-daemon"))
SENSOR_INTERVAL = 2
# deploy/dagster.yaml's guarantees with test-sized waits: run monitoring every 2 s, slots of
# ended runs freed after 5 s (its queue is drained every second as deployed).
TIGHT_INTERVALS = {
    "run_monitoring": {"poll_interval_seconds": 2, "free_slots_after_run_end_seconds": 5},
}


def poll(condition: Callable[[], T | None], timeout: float, what: str) -> T:
    """The first truthy value of ``condition()``, polled every 0.5 s, or a failure naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def production_instance_yaml() -> str:
    """deploy/dagster.yaml with TIGHT_INTERVALS merged in; every other setting as deployed."""
    config = yaml.safe_load(PRODUCTION_YAML.read_text())
    for section, values in TIGHT_INTERVALS.items():
        config[section] = {**config.get(section, {}), **values}
    return yaml.safe_dump(config, sort_keys=False)


@contextlib.contextmanager
def workers_environment(scheduler: str, environ: dict[str, str]) -> Iterator[list[int]]:
    """The Dask workers restarted with ``environ`` (as a deployment starts them), then without.

    Yields the workers' pids. A worker process rebuilds each step from the code location and the
    instance reference, so it needs the deployment's variables; the nanny keeps them across the
    restart of a killed worker. On exit the variables are blanked, which each reader treats as
    unset, so the other tests find the workers as the services started them.
    """
    import distributed
    from distributed.diagnostics.plugin import Environ

    with distributed.Client(scheduler, timeout=30) as client:
        client.register_plugin(Environ(environ), name="ml_assets_stack")
        client.wait_for_workers(2, timeout=120)
        try:
            yield worker_pids(client)
        finally:
            client.register_plugin(Environ(dict.fromkeys(environ, "")), name="ml_assets_stack")
            client.wait_for_workers(2, timeout=120)


def worker_pids(client: Any) -> list[int]:
    """The pid of each worker process of ``client``'s cluster."""
    return sorted(client.run(os.getpid).values())


class Daemon:
    """`dagster-daemon run` on the test's instance, in its own process group."""

    def __init__(self, home: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [DAEMON, "run", "-m", "ml_assets"],
                cwd=ROOT,
                env={**os.environ, **env, "DAGSTER_HOME": str(home)},
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=restore_default_signals,
            )

    def alive(self) -> bool:
        """True while the daemon runs; a failure with its log's end once it has stopped."""
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        return True

    def stop(self) -> None:
        """SIGTERM the daemon and its code server, then SIGKILL whatever is left of the group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def drop(landing: Path, name: str, rows: int, seed: int) -> None:
    """A demo CSV landed as the README says: written as ``.part``, then renamed."""
    partial = landing / f"{name}.part"
    make_demo_frame(rows, seed=seed).to_csv(partial, index=False)
    partial.rename(landing / name)


def held_slots(instance: dg.DagsterInstance) -> dict[str, int]:
    """Claimed or pending concurrency slots per pool (every pool should show 0 when idle)."""
    storage = instance.event_log_storage
    held = {}
    for pool in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(pool)
        if info.active_slot_count or info.pending_step_count:
            held[pool] = info.active_slot_count + info.pending_step_count
    return held


@dataclasses.dataclass
class Stack:
    """One deployment: its instance, landing folder, S3 URLs, Dask workers and daemon."""

    instance: dg.DagsterInstance
    landing: Path
    storage_url: str
    registry_url: str
    scheduler: str
    worker_pids: list[int]
    daemon: Daemon
    daemon_env: dict[str, str]

    def runs(self, since: set[str] = frozenset(), **tags: str) -> list[dg.DagsterRun]:
        """The runs not in ``since`` carrying every tag of ``tags``, oldest first."""
        records = self.instance.get_run_records()
        return [
            record.dagster_run
            for record in sorted(records, key=lambda record: record.create_timestamp)
            if record.dagster_run.run_id not in since
            and all(record.dagster_run.tags.get(key) == value for key, value in tags.items())
        ]

    def run_ids(self) -> set[str]:
        """The ids of every run so far."""
        return {run.run_id for run in self.instance.get_runs()}

    def materialized(self, asset: str) -> int:
        """How many times ``asset`` was materialized."""
        return len(self.instance.fetch_materializations(dg.AssetKey(asset), limit=100).records)


@contextlib.contextmanager
def running_stack(
    tmp_path: Path, postgres: dict[str, str], scheduler: str, bucket: str
) -> Iterator[Stack]:
    """The daemon on a fresh PostgreSQL database and S3 bucket, the workers set up for them.

    This process must see ``postgres`` and the AWS variables too (it reads the same instance).
    """
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(production_instance_yaml())
    data_dir = tmp_path / "data"
    landing = data_dir / "landing"
    landing.mkdir(parents=True)
    storage_url = f"s3://{bucket}/storage"
    registry_url = f"s3://{bucket}/registry"
    aws = {name: os.environ[name] for name in os.environ if name.startswith("AWS_")}
    # What every process of the deployment shares (docs/production.md).
    shared = {
        **postgres,
        **aws,
        "DAGSTER_HOME": str(home),
        "ML_ASSETS_DATA_DIR": str(data_dir),
        "ML_ASSETS_STORAGE_URL": storage_url,
        "ML_ASSETS_REGISTRY_DIR": registry_url,
    }
    daemon_env = {
        **shared,
        "ML_ASSETS_EXECUTOR": "dask",
        "ML_ASSETS_DASK_SCHEDULER": scheduler,
        "ML_ASSETS_SENSOR_INTERVAL": str(SENSOR_INTERVAL),
    }
    with (
        workers_environment(scheduler, shared) as pids,
        dg.DagsterInstance.from_config(str(home)) as instance,
    ):
        daemon = Daemon(home, daemon_env, tmp_path / "daemon.log")
        try:
            yield Stack(
                instance, landing, storage_url, registry_url, scheduler, pids, daemon, daemon_env
            )
        finally:
            daemon.stop()
