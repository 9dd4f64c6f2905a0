"""The check on ``features``: the hashed split must leave something to train on and to test on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from ml_assets.lib.dataset import SPLIT, TEST, TRAIN
from ml_assets.resources.settings import DATASET

if TYPE_CHECKING:
    import pandas as pd

SPLIT_CHECK = dg.AssetCheckSpec(
    "split_is_usable",
    asset="features",
    blocking=True,
    description="Both sides are non-empty and, for classification, every class has training rows.",
)


def split_is_usable(balance: pd.DataFrame) -> dg.AssetCheckResult:
    """Judge the split from ``split_balance``'s table of rows per side (and class)."""
    if DATASET.is_classification:
        sides = {side: int(balance[side].sum()) for side in (TRAIN, TEST)}
    else:
        sides = dict(zip(balance[SPLIT], balance["rows"].astype(int), strict=True))
    problems = [f"no {side} rows" for side in (TRAIN, TEST) if sides.get(side, 0) == 0]
    if DATASET.is_classification:
        classes = balance[DATASET.target].tolist()
        untrained = sorted(balance.loc[balance[TRAIN] == 0, DATASET.target].tolist(), key=str)
        problems += [f"class {label!r} has no training rows" for label in untrained]
        if len(classes) < 2:
            problems.append(f"only one class in the data: {classes}")
    return dg.AssetCheckResult(
        check_name=SPLIT_CHECK.name,
        passed=not problems,
        metadata={
            "train_rows": sides.get(TRAIN, 0),
            "test_rows": sides.get(TEST, 0),
            "problems": "; ".join(problems) or "none",
        },
    )
