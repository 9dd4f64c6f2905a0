"""Project settings shown in the launchpad, with defaults from the active configuration file."""

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from ml_assets.lib.dataset import DatasetSpec
from ml_assets.resources.contract_card import load_active_project

DATA_DIR_ENV = "ML_ASSETS_DATA_DIR"

# The active dataset and its contract ($ML_ASSETS_CONFIG, the demo by default). They shape asset
# types, so they are fixed when the code location loads; PROJECT.contract is the Pandera schema
# itself, loaded by the first step that uses it.
PROJECT, CARD = load_active_project()
DATASET: DatasetSpec = PROJECT.spec
CHECKS = PROJECT.config.checks


def data_dir() -> str:
    """The dataset's data folder: ``$ML_ASSETS_DATA_DIR``, else the configuration's."""
    return os.environ.get(DATA_DIR_ENV, str(PROJECT.data_dir))


def data_dir_setting() -> str | dg.EnvVar:
    """The data folder as a resource value: the env var itself when set, so the UI names it."""
    return dg.EnvVar(DATA_DIR_ENV) if DATA_DIR_ENV in os.environ else data_dir()


class PipelineSettings(dg.ConfigurableResource):
    """Landing folder, demo seeding and the thresholds of the data checks."""

    data_dir: str = Field(
        default_factory=data_dir, description="Folder for landing files and artifacts."
    )
    landing_subdir: str = Field(
        default=PROJECT.config.dataset.landing_subdir,
        description="Landing folder, inside data_dir.",
    )
    seed_demo_when_empty: bool = Field(
        default=DATASET.name == "demo",
        description="Write the demo dataset into an empty landing folder.",
    )
    demo_rows: int = Field(default=5000, description="Rows of generated demo data.")
    min_rows: int = Field(
        default=CHECKS.min_rows, description="Fewest validated rows a batch may have."
    )
    max_quarantined_share: float = Field(
        default=CHECKS.max_quarantined_share,
        description="Largest share of input rows that may be quarantined.",
    )
    default_max_null_share: float = Field(
        default=CHECKS.default_max_null_share,
        description="Largest null share of a nullable column without its own limit.",
    )
    max_null_share: dict[str, float] = Field(
        default=CHECKS.max_null_share, description="Largest null share per column."
    )
    max_file_bad_share: float = Field(
        default=CHECKS.max_file_bad_share,
        description="A file with a larger share of bad rows is quarantined whole.",
    )
    max_file_bytes: int = Field(
        default=CHECKS.max_file_bytes, description="Largest landing file, measured decompressed."
    )
    seed: int = Field(default=PROJECT.config.training.seed, description="Seed for baselines.")

    @property
    def landing_dir(self) -> Path:
        """The folder the pipeline reads data files from (created on first use)."""
        folder = Path(self.data_dir) / self.landing_subdir
        if Path(self.landing_subdir).is_absolute() or ".." in Path(self.landing_subdir).parts:
            raise ValueError(f"landing_subdir {self.landing_subdir!r} must stay inside data_dir")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def ingestion_dir(self) -> Path:
        """Where the manifest of each batch and the reasons of rejected files are written."""
        return Path(self.data_dir) / "ingestion"

    @property
    def rejected_dir(self) -> Path:
        """Where each file left out of a batch gets its ``<file>.reason.json``."""
        return self.ingestion_dir / "rejected"

    def null_limit(self, column: str) -> float:
        """The largest null share allowed for ``column``."""
        return self.max_null_share.get(column, self.default_max_null_share)
