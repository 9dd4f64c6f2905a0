"""Training rows capped: a seeded, stratified sample read batch by batch, and its learning curve.

A training set past one machine's memory would end in an out-of-memory kill. Past ``max_rows``
training rows, each stored batch is read in chunks and only a sample of each chunk's training
rows is kept (the same fraction of every class), so memory holds one chunk and the sample. The
learning curve on the sample (its cross-validated metric at 25, 50 and 100%) says whether more
rows would still help.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.contract.dataset import SPLIT, TRAIN, DatasetSpec
from ml_assets.lib.data.batch_records import CHUNK_ROWS, BatchTable

# The full graph's peak at 1e6 rows of the demo's shape was 720 MB (benchmarks/memory.py):
# 720 bytes per row, the libraries' share counted as rows, which errs on the safe side. Half the
# machine's memory is left to everything else.
BYTES_PER_ROW = 720
MEMORY_SHARE = 0.5
# Memory is not the only bound: a search refits every candidate on every fold, so its time grows
# with the rows long before memory runs out. The demo's grid (four random forests, 5 folds) took
# 440 s on 8e4 training rows on 2 shared cores (load 13 to 16), about 5 ms a row: over an hour
# for the 8e5 training rows of 1e6 landed, and well over an hour at 2.5e5 rows at load 28 (a
# 1e7-row run was still searching after 17 minutes there). Its
# learning curve is flat long before this cap (cross-validated ROC AUC 0.99996 at 1.6e4 rows,
# 0.99999 at 8e4), and the report's curve tells any other dataset whether more rows would help.
SEARCH_MAX_ROWS = 100_000
CURVE_FRACTIONS = (0.25, 0.5, 1.0)


def default_max_rows(memory_bytes: int | None = None) -> int:
    """Training rows for this machine's (or the given) memory, at most ``SEARCH_MAX_ROWS``.

    ``MEMORY_SHARE`` of the memory at ``BYTES_PER_ROW``; past ``SEARCH_MAX_ROWS`` a default
    search would take hours rather than minutes.
    """
    if memory_bytes is None:
        memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(1, min(SEARCH_MAX_ROWS, int(memory_bytes * MEMORY_SHARE / BYTES_PER_ROW)))


def training_rows_available(features: BatchTable) -> int:
    """Training-side rows of the accepted batches, from their records (nothing is read)."""
    return sum(
        counts.get(TRAIN, 0)
        for record in features.records
        for counts in record.split_counts.values()
    )


@dataclass(frozen=True)
class TrainingSample:
    """The rows to train on, and how many training rows there were to choose from."""

    rows: pd.DataFrame
    available: int
    seed: int

    @property
    def sampled(self) -> bool:
        """True when the rows are a sample rather than every training row."""
        return len(self.rows) < self.available


def read_training_rows(
    features: BatchTable,
    columns: list[str],
    spec: DatasetSpec,
    max_rows: int,
    seed: int,
    chunk_rows: int = CHUNK_ROWS,
) -> TrainingSample:
    """Every training row when they are at most ``max_rows``, else a sample of about that many.

    The sample keeps the same share of every class, and is the same for the same batches and seed.
    """
    available = training_rows_available(features)
    if available <= max_rows:
        rows = features.read(columns)
        return TrainingSample(rows[rows[SPLIT] == TRAIN], available, seed)
    fraction = max_rows / available
    rng = np.random.default_rng(seed)
    pieces = []
    for frame in features.chunks(columns, chunk_rows):
        frame = frame[frame[SPLIT] == TRAIN]
        if spec.is_classification:
            frame = frame.groupby(spec.target, observed=True, group_keys=False)
        # Sampled by class, put back in the store's order.
        pieces.append(frame.sample(frac=fraction, random_state=rng).sort_index())
    return TrainingSample(pd.concat(pieces, ignore_index=True), available, seed)


def learning_curve(
    model: Any,
    sample: TrainingSample,
    spec: DatasetSpec,
    scoring: str,
    cv_folds: int,
    fractions: Sequence[float] = CURVE_FRACTIONS,
    n_jobs: int = 1,
    estimator: str | None = None,
) -> list[dict[str, float]]:
    """The cross-validated ``scoring`` of the model's settings refit on ``fractions`` of the rows.

    Each point gives the rows fitted and the mean over the folds; a curve still rising at 100%
    says more rows would help. ``n_jobs`` workers fit the points and folds side by side, on
    threads or worker processes as the search of the model's family (``estimator``) did.
    """
    from sklearn.base import clone
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.model_selection import learning_curve as sklearn_learning_curve

    from ml_assets.lib.model.modeling import model_inputs, parallel_fits

    folds = StratifiedKFold if spec.is_classification else KFold
    with parallel_fits([estimator] if estimator else []):
        sizes, _train, test = sklearn_learning_curve(
            clone(model),
            model_inputs(sample.rows, spec),
            sample.rows[spec.target],
            train_sizes=list(fractions),
            cv=folds(cv_folds, shuffle=True, random_state=sample.seed),
            scoring=scoring,
            shuffle=True,  # the smaller shares from across the fold, not from its first batch
            random_state=sample.seed,
            n_jobs=n_jobs,
        )
    return [
        {"fraction": fraction, "rows": int(rows), scoring: float(np.mean(scores))}
        for fraction, rows, scores in zip(fractions, sizes, test, strict=True)
    ]


def sample_summary(sample: TrainingSample, curve: list[dict[str, float]]) -> dict[str, Any]:
    """What the report says about a capped training set."""
    return {
        "rows_available": sample.available,
        "rows_used": len(sample.rows),
        "seed": sample.seed,
        "learning_curve": curve,
    }
