"""A deliberately drifted copy of the demo data, to see drift, its plots and its alert at once.

``numeric2`` moves up by two standard deviations and the category mix tilts to A; the rows still
meet the contract (a handful past its range are quarantined), so the batch is accepted and only
the drift report notices.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.demo.data import make_demo_frame
from ml_assets.lib.project.project_config import CONFIG_ENV

DRIFTED_FILE_NAME = "demo_drifted.csv"
NUMERIC2_SHIFT = 20.0  # two of its standard deviations
CATEGORY_MIX = {"A": 0.7, "B": 0.2, "C": 0.1}


def make_drifted_frame(rows: int = 2000, seed: int = 7) -> pd.DataFrame:
    """The demo's columns with ``numeric2`` shifted and the category shares changed."""
    frame = make_demo_frame(rows=rows, seed=seed)
    rng = np.random.default_rng(seed + 1)
    frame["numeric2"] = (frame["numeric2"] + NUMERIC2_SHIFT).round(6)
    frame["category"] = rng.choice(list(CATEGORY_MIX), rows, p=list(CATEGORY_MIX.values()))
    frame["target"] = (frame["numeric1"].fillna(0) + frame["numeric2"] > 50).astype("int64")
    return frame


def write_drifted_csv(landing: Path, rows: int = 2000, seed: int = 7) -> Path:
    """Write the drifted batch into the landing folder (atomically) and return its path."""
    from ml_assets.lib.core.storage import atomic_write_bytes

    landing.mkdir(parents=True, exist_ok=True)
    path = landing / DRIFTED_FILE_NAME
    csv = make_drifted_frame(rows, seed).to_csv(index=False, lineterminator="\n")
    atomic_write_bytes(path, csv.encode("utf-8"))
    return path


def write_drifted_to_project(project: Any, rows: int, seed: int) -> str:
    """Land the drifted batch in the demo project's landing folder; says what to do next."""
    if project.spec.name != "demo":
        raise ValueError(
            f"{project.path}: drifted-batch writes the demo's columns, but the active project "
            f"is {project.spec.name!r}; unset ${CONFIG_ENV} to use the demo"
        )
    landing = project.layout().landing
    path = write_drifted_csv(landing, rows=rows, seed=seed)
    return (
        f"wrote {path} ({rows} rows: numeric2 shifted by +{NUMERIC2_SHIFT:g}, categories "
        f"{CATEGORY_MIX}); materialize the graph (or let the landing sensor) and open drift_report"
    )
