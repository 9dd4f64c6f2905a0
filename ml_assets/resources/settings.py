"""Launchpad-visible settings: the one data folder everything derives from, and every limit.

Each default comes from the project configuration (the thresholds: its ``checks`` section). The
resource is configured at launch, so an override of any field in the launchpad (or
``--config-json``) reaches every resource built on it (the IO manager, the alert sink), whether
or not an environment variable supplies another field.
"""

import os
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from ml_assets.lib.core.layout import ALERTS_FILE, DATA_DIR_ENV, LANDING, STORAGE_URL_ENV, Layout
from ml_assets.lib.data.training_set_gates import TrainingLimits
from ml_assets.lib.project.project_config import ChecksSection, Project, TrainingSection
from ml_assets.section_config import section_config


class _Settings(dg.ConfigurableResource):
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
    seed: int = Field(
        default=TrainingSection().seed, description="Seed for the baselines and their verdict."
    )
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
        return TrainingLimits(
            self.min_rows,  # type: ignore[attr-defined]
            self.default_max_null_share,  # type: ignore[attr-defined]
            self.max_null_share,  # type: ignore[attr-defined]
        )


# The checks section's thresholds join the settings: the assets and checks that read them all
# take this resource, so one override in the launchpad (resources: settings) reaches them all.
# The freshness windows shape the definitions themselves, so a run cannot override them.
PipelineSettings = section_config(
    ChecksSection(),
    "PipelineSettings",
    base=_Settings,
    exclude=frozenset({"landing_window_hours", "retraining_window_hours"}),
)


def settings_values(project: Project) -> dict[str, Any]:
    """The settings a project configures, with the data folder its configuration names."""
    checks = project.config.checks
    return {
        "data_dir": str(project.data_dir),
        "landing_subdir": project.config.dataset.landing_subdir,
        "seed_demo_when_empty": project.spec.name == "demo",
        **checks.model_dump(include=set(PipelineSettings.model_fields)),
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
