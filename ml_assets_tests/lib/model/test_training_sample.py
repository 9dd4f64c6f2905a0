"""The capped training set: all rows under the cap; past it a seeded, stratified sample read in
chunks, batch by batch; the learning curve on it and the report's lines about it."""

from pathlib import Path

import pandas as pd
import pytest
from upath import UPath

from ml_assets.demo.data import DEMO_SPEC
from ml_assets.lib.contract.dataset import SPLIT, TRAIN
from ml_assets.lib.data.batch_records import BatchTable
from ml_assets.lib.data.batches import BatchStore, refresh_batches
from ml_assets.lib.model.evaluation import _training_lines
from ml_assets.lib.model.modeling import train_model
from ml_assets.lib.model.training_sample import (
    BYTES_PER_ROW,
    MEMORY_SHARE,
    SEARCH_MAX_ROWS,
    default_max_rows,
    learning_curve,
    read_training_rows,
    sample_summary,
    training_rows_available,
)
from ml_assets_tests.lib.data.test_batches import land, rules

COLUMNS = DEMO_SPEC.scored_columns


@pytest.fixture
def stored(tmp_path: Path) -> tuple[BatchStore, BatchTable]:
    """Three accepted batches of 1000, 1500 and 2000 demo rows in a batch store."""
    landing = tmp_path / "landing"
    landing.mkdir()
    for seed, rows in enumerate((1000, 1500, 2000), start=1):
        land(landing, f"day{seed}.csv", rows=rows, seed=seed)
    store = BatchStore(UPath(tmp_path / "batches"))
    return store, refresh_batches(landing, store, rules()).table("features")


def test_the_default_cap_is_a_share_of_the_memory_and_at_most_what_a_search_fits() -> None:
    small = 2**26  # 64 MiB: memory binds
    assert default_max_rows(small) == int(small * MEMORY_SHARE / BYTES_PER_ROW) < SEARCH_MAX_ROWS
    assert default_max_rows(24 * 2**30) == SEARCH_MAX_ROWS  # 24 GiB: the search's time binds
    assert 1 <= default_max_rows() <= SEARCH_MAX_ROWS


def test_under_the_cap_every_training_row_is_read(
    stored: tuple[BatchStore, BatchTable],
) -> None:
    store, features = stored
    every = store.read(features, COLUMNS)
    train = every[every[SPLIT] == TRAIN]
    assert training_rows_available(features) == len(train)
    sample = read_training_rows(features, COLUMNS, DEMO_SPEC, len(train), seed=1)
    assert not sample.sampled
    pd.testing.assert_frame_equal(sample.rows, train)


def test_past_the_cap_a_seeded_stratified_sample_of_each_chunk_is_kept(
    stored: tuple[BatchStore, BatchTable],
) -> None:
    store, features = stored
    every = store.read(features, COLUMNS)
    train = every[every[SPLIT] == TRAIN]
    cap = len(train) // 4

    sample = read_training_rows(features, COLUMNS, DEMO_SPEC, cap, seed=7, chunk_rows=500)
    again = read_training_rows(features, COLUMNS, DEMO_SPEC, cap, seed=7, chunk_rows=500)
    other = read_training_rows(features, COLUMNS, DEMO_SPEC, cap, seed=8, chunk_rows=500)

    assert sample.sampled and sample.available == len(train)
    assert abs(len(sample.rows) - cap) <= 20  # rounding per chunk and class
    assert set(sample.rows[SPLIT]) == {TRAIN}
    pd.testing.assert_frame_equal(sample.rows, again.rows)
    assert not sample.rows.equals(other.rows)
    shares = sample.rows["target"].value_counts(normalize=True)
    expected = train["target"].value_counts(normalize=True)
    assert (shares - expected).abs().max() < 0.02
    # Every row of the sample is a training row of the store, each at most once.
    keys = list(COLUMNS)
    assert not sample.rows.duplicated(keys).any()
    assert len(sample.rows.merge(train.drop_duplicates(keys), on=keys)) == len(sample.rows)


def test_the_learning_curve_and_the_report_say_the_set_was_capped(
    stored: tuple[BatchStore, BatchTable],
) -> None:
    store, features = stored
    sample = read_training_rows(features, COLUMNS, DEMO_SPEC, 1000, seed=3)
    result = train_model(
        sample.rows, DEMO_SPEC, estimator="linear", search="none", cv_folds=3, seed=3
    )
    curve = learning_curve(result.model, sample, DEMO_SPEC, result.scoring, cv_folds=3)
    assert [point["fraction"] for point in curve] == [0.25, 0.5, 1.0]
    fitted = [point["rows"] for point in curve]
    assert fitted == sorted(fitted) and fitted[-1] == pytest.approx(len(sample.rows) * 2 / 3, 2)
    assert all(0.5 < point[result.scoring] <= 1 for point in curve)
    # Fitted side by side, the points are the same.
    side_by_side = learning_curve(
        result.model, sample, DEMO_SPEC, result.scoring, cv_folds=3, n_jobs=2
    )
    assert side_by_side == curve

    training = {**result.summary(), "sample": sample_summary(sample, curve)}
    text = "\n".join(_training_lines(training))
    assert f"## Training sample: {len(sample.rows)} of {sample.available} training rows" in text
    assert f"| 100% | {fitted[-1]} |" in text
    assert "## Training sample" not in "\n".join(_training_lines(result.summary()))
