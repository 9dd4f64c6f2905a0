"""A deliberately drifted copy of the demo data, to see drift, its plots and its alert at once.

``numeric2`` moves up by two standard deviations and the category mix tilts to A; the rows still
meet the contract (a handful past its range are quarantined), so the batch is accepted and only
the drift report notices.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from ml_assets.demo.data import make_demo_frame

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
    from ml_assets.lib.storage import atomic_write_bytes

    landing.mkdir(parents=True, exist_ok=True)
    path = landing / DRIFTED_FILE_NAME
    csv = make_drifted_frame(rows, seed).to_csv(index=False, lineterminator="\n")
    atomic_write_bytes(path, csv.encode("utf-8"))
    return path
