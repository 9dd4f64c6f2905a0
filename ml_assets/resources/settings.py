"""Launchpad-visible settings: the one data folder everything derives from, and every limit.

Each default comes from the project configuration. The resource is configured at launch, so an
override of any field in the launchpad (or ``--config-json``) reaches every resource built on it
(the IO manager, the alert sink), whether or not an environment variable supplies another field.
"""

import os
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from ml_assets.lib.core.layout import ALERTS_FILE, DATA_DIR_ENV, LANDING, STORAGE_URL_ENV, Layout
from ml_assets.lib.data.training_set_gates import TrainingLimits
from ml_assets.lib.project.project_config import Project


class PipelineSettings(dg.ConfigurableResource):
    """The data folder (landing files, artifacts, records, alerts) and the data's limits."""

    data_dir: str = Field(
        description="Folder of everything the pipeline reads and writes: landing/, storage/, "
        f"ingestion/, {ALERTS_FILE} (${DATA_DIR_ENV} overrides the configuration's)."
    )
    landing_subdir: str = Field(default=LANDING, description="Landing folder, inside data_dir.")
    seed_demo_when_empty: bool = Field(
        default=False, description="Write the demo dataset into an empty landing folder."
    )
    demo_rows: int = Field(default=5000, description="Rows of generated demo data.")
    min_rows: int = Field(default=100, description="Fewest rows the training set may have.")
    max_quarantined_share: float = Field(
        default=0.05,
        description="A batch with a larger share of rows breaking the contract is rejected whole.",
    )
    default_max_null_share: float = Field(
        default=0.5,
        description="Largest null share in the training set of a nullable column without its own.",
    )
    max_null_share: dict[str, float] = Field(
        default={}, description="Largest null share in the training set, per column."
    )
    max_file_bytes: int = Field(
        default=512 * 1024**2, description="Largest landing file, measured decompressed."
    )
    min_slice_rows: int = Field(
        default=30, description="Fewest rows a fairness slice needs for its gap to be judged."
    )
    seed: int = Field(default=42, description="Seed for the baselines and their verdict.")
    storage_url: str = Field(
        default="",
        description="Where artifacts and the batch store live when not <data_dir>/storage: any "
        f"fsspec URL, e.g. s3://bucket/prefix (${STORAGE_URL_ENV}). The landing folder, ingestion "
        "records and alerts stay in data_dir.",
    )

    @property
    def layout(self) -> Layout:
        """Every path under the data folder (the registry's: see ``ModelRegistryResource``)."""
        return Layout(self.data_dir, self.storage_url, landing_subdir=self.landing_subdir)

    @property
    def landing_dir(self) -> Path:
        """The folder the pipeline reads data files from (which may not exist yet)."""
        return self.layout.landing

    @property
    def storage_dir(self) -> str:
        """Where artifacts are stored (the IO manager's base and the batch store)."""
        return self.layout.storage

    @property
    def ingestion_dir(self) -> Path:
        """Where the manifest of the landing folder and the reasons of rejected files are."""
        return self.layout.ingestion

    @property
    def alerts_path(self) -> Path:
        """The JSON-lines file that receives every alert."""
        return self.layout.alerts

    @property
    def alert_state_path(self) -> Path:
        """The last state of each alerting condition, so one condition alerts once in a row."""
        return self.layout.alert_state

    def limits(self) -> TrainingLimits:
        """The limits the training set is judged against."""
        return TrainingLimits(self.min_rows, self.default_max_null_share, self.max_null_share)


def settings_values(project: Project) -> dict[str, Any]:
    """The settings a project configures, with the data folder its configuration names."""
    checks = project.config.checks
    return {
        "data_dir": str(project.data_dir),
        "landing_subdir": project.config.dataset.landing_subdir,
        "seed_demo_when_empty": project.spec.name == "demo",
        "min_rows": checks.min_rows,
        "max_quarantined_share": checks.max_quarantined_share,
        "default_max_null_share": checks.default_max_null_share,
        "max_null_share": dict(checks.max_null_share),
        "max_file_bytes": checks.max_file_bytes,
        "min_slice_rows": checks.min_slice_rows,
        "seed": project.config.training.seed,
        "storage_url": os.environ.get(STORAGE_URL_ENV, ""),
    }


def launch_settings(project: Project) -> Any:
    """The definitions' settings resource: overridable per run, its env var named in the UI."""
    values = settings_values(project)
    if os.environ.get(DATA_DIR_ENV):
        values["data_dir"] = dg.EnvVar(DATA_DIR_ENV)
    if os.environ.get(STORAGE_URL_ENV):
        values["storage_url"] = dg.EnvVar(STORAGE_URL_ENV)
    return PipelineSettings.configure_at_launch(**values)


def current_settings(project: Project) -> PipelineSettings:
    """The settings as they are now, for code that runs outside a run (sensors, tests)."""
    values = settings_values(project)
    return PipelineSettings(**{**values, "data_dir": str(project.resolved_data_dir())})


def batch_store(settings: PipelineSettings) -> Any:
    """The store of per-batch tables and records, under the artifact storage."""
    from upath import UPath

    from ml_assets.lib.data.batches import BatchStore

    layout = settings.layout
    return BatchStore(UPath(layout.batches), lock_dir=layout.ingestion)
