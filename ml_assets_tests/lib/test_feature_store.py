"""Point-in-time reads of the offline feature store against a hand-built timeline."""

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from ml_assets.lib.dataset import DatasetSpec
from ml_assets.lib.feature_store import (
    ARRIVAL_TIMESTAMP,
    FeatureStore,
    FeatureStoreError,
    StoreLayout,
)

SPEC = DatasetSpec(
    name="timeline",
    target="label",
    task="binary",
    numeric_features=("score",),
    categorical_features=("tier",),
    key="customer",
)
LAYOUT = StoreLayout.of(SPEC, event_column="observed_at")


def day(n: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, n, hour, tzinfo=UTC)


def rows(*entries: tuple[str, datetime, float, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer": [e[0] for e in entries],
            "observed_at": [e[1] for e in entries],
            "score": [e[2] for e in entries],
            "tier": [e[3] for e in entries],
            "label": [1] * len(entries),
            "_split": ["train"] * len(entries),
            "_source_file": ["f.csv"] * len(entries),
            "_source_line": range(2, 2 + len(entries)),
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    store = FeatureStore(tmp_path / "feature_store", "v1", LAYOUT)
    # day 1: alice and bob observed; bob again on day 3 (a future-dated row arriving early)
    store.write_batch(
        "jan.csv-11111111",
        rows(
            ("alice", day(1), 10.0, "gold"),
            ("bob", day(1), 20.0, "silver"),
            ("bob", day(3), 21.0, "silver"),
        ),
        arrived_at=day(2),
    )
    # arrives day 5: a correction of alice's day-1 value, and carol, first seen on day 4
    store.write_batch(
        "feb.csv-22222222",
        rows(("alice", day(1), 11.0, "gold"), ("carol", day(4), 30.0, "bronze")),
        arrived_at=day(5),
    )
    return store


def values(frame: pd.DataFrame) -> dict[str, float]:
    return dict(zip(frame["customer"], frame["score"], strict=True))


def test_before_the_correction_arrives_the_original_value_is_served(store: FeatureStore) -> None:
    frame = store.get_training_frame(as_of=day(4, 12))
    assert values(frame) == {"alice": 10.0, "bob": 21.0}  # carol's row arrived on day 5
    assert (frame["observed_at"] <= day(4, 12)).all() and (
        frame[ARRIVAL_TIMESTAMP] <= day(4, 12)
    ).all()


def test_a_value_from_after_as_of_is_never_served(store: FeatureStore) -> None:
    frame = store.get_training_frame(as_of=day(2, 12))
    assert values(frame) == {"alice": 10.0, "bob": 20.0}  # bob's day-3 value is in the future
    assert store.get_training_frame(as_of=day(1, 12)).empty  # nothing had arrived yet


def test_the_late_correction_is_visible_from_its_arrival_on(store: FeatureStore) -> None:
    frame = store.get_training_frame(as_of=day(5))
    assert values(frame) == {"alice": 11.0, "bob": 21.0, "carol": 30.0}
    assert frame.set_index("customer").loc["alice", "batch"] == "feb.csv-22222222"
    assert values(store.get_training_frame()) == values(frame)  # default: now


def test_columns_pick_features_and_the_key_and_timestamps_always_come(store: FeatureStore) -> None:
    frame = store.get_training_frame(as_of="2026-03-06T00:00:00", columns=["tier"])
    assert list(frame.columns) == ["customer", "observed_at", ARRIVAL_TIMESTAMP, "tier", "batch"]
    with pytest.raises(FeatureStoreError, match=r"no column\(s\) \['height'\]"):
        store.get_training_frame(columns=["height"])


def test_the_store_is_a_hive_partitioned_dataset_and_a_removed_batch_leaves_it(
    store: FeatureStore,
) -> None:
    partitions = sorted(p.name for p in store.path.iterdir() if p.is_dir())
    assert partitions == ["batch=feb.csv-22222222", "batch=jan.csv-11111111"]
    assert store.dataset().count_rows() == 5
    store.remove_batch("feb.csv-22222222")
    assert store.batches() == ["jan.csv-11111111"]
    assert values(store.get_training_frame(as_of=day(9))) == {"alice": 10.0, "bob": 21.0}


def test_a_row_without_event_time_is_refused_with_its_line(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path, "v1", LAYOUT)
    bad = rows(("alice", day(1), 1.0, "gold"), ("bob", day(1), 2.0, "gold"))
    bad.loc[1, "observed_at"] = pd.NaT
    with pytest.raises(FeatureStoreError, match="'observed_at' has 1 missing event time.*line 3"):
        store.write_batch("x.csv-33333333", bad, arrived_at=day(2))
    assert store.batches() == []


def test_an_outside_reader_opens_the_store_by_its_path(store: FeatureStore) -> None:
    store.write_layout()
    opened = FeatureStore.open(str(store.path))
    assert opened.layout == LAYOUT and opened.version == "v1"
    assert values(opened.get_training_frame(as_of=day(5))) == {
        "alice": 11.0,
        "bob": 21.0,
        "carol": 30.0,
    }
    with pytest.raises(FeatureStoreError, match="no feature store here"):
        FeatureStore.open(str(store.root))
