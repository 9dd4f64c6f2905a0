"""The one place where assets, checks, resources, jobs and sensors are assembled into Definitions.

The project configuration is read once, here, and handed to every factory as an argument; loading
the code location writes nothing anywhere.
"""

import functools
import gc
import os
import warnings
from pathlib import Path

import dagster as dg

from ml_assets.assets.batches import build_batches
from ml_assets.assets.deployment import build_model_approval, build_production_model
from ml_assets.assets.evaluation import build_evaluation_report
from ml_assets.assets.feature_store import build_feature_store
from ml_assets.assets.model_card import build_model_card
from ml_assets.assets.monitoring import build_drift_report, build_live_performance
from ml_assets.assets.scoring import build_ab_test_report, build_batch_predictions
from ml_assets.assets.stages import in_one_group
from ml_assets.assets.training import build_trained_model
from ml_assets.automation.jobs import JOBS
from ml_assets.automation.monitoring import (
    build_check_alert_sensor,
    build_freshness_checks,
    build_freshness_sensor,
    build_retraining_sensor,
)
from ml_assets.automation.schedules import build_retrain_schedule
from ml_assets.automation.sensors import (
    build_automation_sensor,
    build_landing_sensor,
    build_run_failure_sensor,
    build_run_recovery_sensor,
)
from ml_assets.checks.statistics import build_statistical_checks
from ml_assets.constants import WEBHOOK_ENV
from ml_assets.executors import project_executor
from ml_assets.lib.core.memory import return_freed_memory
from ml_assets.lib.project.project_config import Project, active_config_path, load_project
from ml_assets.resources.alerts import AlertSink
from ml_assets.resources.io_manager import ArtifactStorage
from ml_assets.resources.registry import registry_resource
from ml_assets.resources.settings import batch_store, current_settings, launch_settings


def project_resources(settings: object) -> dict[str, object]:
    """The resources, each derived from one settings resource (so from one data folder)."""
    webhook = dg.EnvVar(WEBHOOK_ENV) if os.environ.get(WEBHOOK_ENV) else None
    return {
        "settings": settings,
        "io_manager": ArtifactStorage(settings=settings),
        "alerts": AlertSink(settings=settings, webhook_url=webhook),
        "registry": registry_resource(settings),
    }


def build_assets(project: Project) -> list[dg.AssetsDefinition]:
    """The project's assets (their checks ride along), in one group, their stage as a tag."""
    return in_one_group(
        [
            build_batches(project),
            build_trained_model(project),
            build_evaluation_report(project),
            build_drift_report(project),
            build_live_performance(project),
            build_model_approval(project),
            build_production_model(project),
            build_batch_predictions(project),
            build_ab_test_report(project),
            build_feature_store(project),
            build_statistical_checks(project),
            build_model_card(project),
        ]
    )


def build_definitions(project: Project) -> dg.Definitions:
    """Everything Dagster shows and runs for one project."""
    now = current_settings(project)
    sink = AlertSink(settings=now, webhook_url=os.environ.get(WEBHOOK_ENV))
    freshness = build_freshness_checks(project)
    return dg.Definitions(
        assets=build_assets(project),
        asset_checks=freshness,
        jobs=JOBS,
        schedules=[build_retrain_schedule(project)],
        sensors=[
            build_landing_sensor(now.landing_dir, known=lambda: batch_store(now).landing_hashes()),
            build_automation_sensor(),
            build_run_failure_sensor(sink),
            build_run_recovery_sensor(),
            build_freshness_sensor(freshness),
            build_check_alert_sensor(sink),
            build_retraining_sensor(sink),
        ],
        resources=project_resources(launch_settings(project)),
        executor=project_executor(),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The active project's Definitions ($ML_ASSETS_CONFIG, the bundled demo by default)."""
    config = active_config_path()
    stat = config.stat()
    settings = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("ML_ASSETS_")))
    return _definitions(config, stat.st_mtime_ns, stat.st_size, settings)


@functools.cache
def _definitions(config: Path, modified: int, size: int, settings: tuple) -> dg.Definitions:
    """Built once per configuration file and environment in a process.

    One ``dagster asset materialize`` reconstructs the repository six times (the CLI, then the
    run and its steps); building once saves 0.4 s of every command (benchmarks/run.py, the
    per-run figures at 1e4 rows).
    """
    _quiet_beta_warnings()
    return_freed_memory()
    definitions = build_definitions(load_project(config))
    # What the imports and the build created lives as long as the process: frozen, it is skipped
    # by every later garbage collection, the full ones at interpreter exit included, which took
    # 0.7 s off each CLI call, run and code-server start (1.69 s instead of 2.5 s) on 2 cores.
    gc.freeze()
    return definitions


def _quiet_beta_warnings() -> None:
    """Process-wide settings belong where a process starts; for a code location that is here.

    Dagster has no start hook of its own: it loads these definitions at the start of every process
    it runs (CLI, code server, daemon, run and step workers), and nothing that imports
    ``ml_assets.assets`` or ``ml_assets.lib`` alone gets these filters or ``gc.freeze``. Dagster is
    pinned exactly and its beta APIs (data versions on outputs, dagster-pandera types,
    configure_at_launch) are used on purpose; their warnings fire in steps and inside Dagster's own
    selection and repository code, where no ``catch_warnings`` of ours can reach, on every call.
    """
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
