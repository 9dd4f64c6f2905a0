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


def split_is_usable(features: pd.DataFrame) -> dg.AssetCheckResult:
    """Both sides are non-empty and, for classification, every class has training rows."""
    sides = features[SPLIT].value_counts()
    problems = [f"no {side} rows" for side in (TRAIN, TEST) if sides.get(side, 0) == 0]
    if DATASET.is_classification:
        classes = features[DATASET.target].unique()
        trained = features.loc[features[SPLIT] == TRAIN, DATASET.target].unique()
        missing = sorted(set(classes) - set(trained), key=str)
        problems += [f"class {label!r} has no training rows" for label in missing]
        if len(classes) < 2:
            problems.append(f"only one class in the data: {list(classes)}")
    return dg.AssetCheckResult(
        check_name=SPLIT_CHECK.name,
        passed=not problems,
        metadata={
            "train_rows": int(sides.get(TRAIN, 0)),
            "test_rows": int(sides.get(TEST, 0)),
            "problems": "; ".join(problems) or "none",
        },
    )
