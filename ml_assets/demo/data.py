"""The bundled demo dataset: the seed's shape, generated deterministically at any size."""

from pathlib import Path

import numpy as np
import pandas as pd

from ml_assets.lib.contract.dataset import DatasetSpec

DEMO_SPEC = DatasetSpec(
    name="demo",
    target="target",
    task="binary",
    numeric_features=("numeric1", "numeric2"),
    categorical_features=("category",),
    sensitive_columns=("category",),
    derived_features={"numeric_ratio": "numeric1 / numeric2"},
    positive_label=1,
)

DEMO_FILE_NAME = "demo.csv"


def make_demo_frame(rows: int = 5000, seed: int = 42, missing_share: float = 0.1) -> pd.DataFrame:
    """Generate the seed's data: numeric1 ~ N(0,1) with gaps, numeric2 ~ N(50,10), category A/B/C.

    The target is the seed's rule, ``numeric1 (NaN as 0) + numeric2 > 50``.
    """
    rng = np.random.default_rng(seed)
    numeric1 = rng.standard_normal(rows)
    numeric1[rng.random(rows) < missing_share] = np.nan
    frame = pd.DataFrame(
        {
            "numeric1": numeric1.round(6),
            "numeric2": (rng.standard_normal(rows) * 10 + 50).round(6),
            "category": rng.choice(np.array(["A", "B", "C"]), rows),
        }
    )
    frame["target"] = (frame["numeric1"].fillna(0) + frame["numeric2"] > 50).astype("int64")
    return frame


def write_demo_csv(folder: Path, rows: int = 5000, seed: int = 42) -> Path:
    """Write the demo data as a CSV into ``folder`` and return its path."""
    from ml_assets.lib.core.storage import atomic_write_bytes

    path = folder / DEMO_FILE_NAME
    csv = make_demo_frame(rows=rows, seed=seed).to_csv(index=False, lineterminator="\n")
    atomic_write_bytes(path, csv.encode("utf-8"))
    return path
