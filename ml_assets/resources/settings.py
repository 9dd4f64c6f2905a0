"""Project settings shown in the launchpad: where data lives, the dataset, and check thresholds."""

import os
from pathlib import Path

import dagster as dg
import pandera.pandas as pa
from pydantic import Field

from ml_assets.lib.contract import DemoRecords
from ml_assets.lib.dataset import DatasetSpec
from ml_assets.lib.demo_data import DEMO_SPEC

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR_ENV = "ML_ASSETS_DATA_DIR"

# The active dataset and its contract. They shape asset types, so they are fixed when the code
# location loads.
DATASET: DatasetSpec = DEMO_SPEC
CONTRACT: pa.DataFrameSchema = DemoRecords.to_schema()


def data_dir() -> str:
    """The project's data folder: ``$ML_ASSETS_DATA_DIR`` or ``data/`` in the repository."""
    return os.environ.get(DATA_DIR_ENV, str(PROJECT_ROOT / "data"))


def data_dir_setting() -> str | dg.EnvVar:
    """The data folder as a resource value: the env var itself when set, so the UI names it."""
    return dg.EnvVar(DATA_DIR_ENV) if DATA_DIR_ENV in os.environ else data_dir()


class PipelineSettings(dg.ConfigurableResource):
    """Landing folder, demo seeding and the thresholds of the data checks."""

    data_dir: str = Field(
        default_factory=data_dir, description="Folder for landing files and artifacts."
    )
    landing_subdir: str = Field(default="landing", description="Landing folder, inside data_dir.")
    seed_demo_when_empty: bool = Field(
        default=True, description="Write the demo dataset into an empty landing folder."
    )
    demo_rows: int = Field(default=5000, description="Rows of generated demo data.")
    min_rows: int = Field(default=100, description="Fewest validated rows a batch may have.")
    max_quarantined_share: float = Field(
        default=0.05, description="Largest share of input rows that may be quarantined."
    )
    default_max_null_share: float = Field(
        default=0.5, description="Largest null share of a nullable column without its own limit."
    )
    max_null_share: dict[str, float] = Field(
        default={"numeric1": 0.2}, description="Largest null share per column."
    )
    seed: int = Field(default=42, description="Seed for baselines and anything random.")

    @property
    def landing_dir(self) -> Path:
        """The folder the pipeline reads data files from (created on first use)."""
        folder = Path(self.data_dir) / self.landing_subdir
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def null_limit(self, column: str) -> float:
        """The largest null share allowed for ``column``."""
        return self.max_null_share.get(column, self.default_max_null_share)
