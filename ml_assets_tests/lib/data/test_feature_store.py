"""Point-in-time reads of the offline feature store against a hand-built timeline."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from ml_assets.lib.contract.dataset import DatasetSpec
from ml_assets.lib.data.feature_store import (
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


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"feature_store__event_timestamp": "numeric2"},
            "feature_store.event_timestamp: 'numeric2' must be a datetime column of the contract",
        ),
        (
            {"feature_store__columns": {"height": {"owner": "x"}}},
            "feature_store.columns: ['height'] are not features of the store",
        ),
        (
            {"statistics__mean_shift": {"warn": 2.0, "error": 1.0}},
            "statistics.mean_shift: Value error, warn (2.0) must not exceed error (1.0)",
        ),
    ],
)
def test_store_and_statistics_settings_are_checked_on_load(
    tmp_path: Path, changes, message
) -> None:
    from ml_assets.lib.project.project_config import ConfigError, load_project
    from ml_assets_tests.lib.project.test_project_config import write_config

    with pytest.raises(ConfigError, match=re.escape(message)):
        load_project(write_config(tmp_path, **changes))


def test_sync_writes_new_batches_only_with_key_and_event_time_from_the_validated_rows(
    tmp_path: Path,
) -> None:
    from ml_assets.lib.data.batch_records import BatchRecord, BatchTable
    from ml_assets.lib.data.batches import BatchStore
    from ml_assets.lib.data.feature_store import sync_feature_store

    batches = BatchStore(tmp_path / "batches")
    records = []
    for name, entries, processed in [
        ("jan.csv-11111111", [("alice", day(1), 10.0, "gold")], "2026-03-02T00:00:00+00:00"),
        ("feb.csv-22222222", [("alice", day(1), 11.0, "gold")], "2026-03-05T00:00:00+00:00"),
    ]:
        validated = rows(*entries)
        features = validated.drop(columns=["customer", "observed_at"]).assign(
            _row_key=1, _batch=name
        )
        record = BatchRecord(
            name, name[:7], "ab" * 32, 10, "accepted", "", rows_valid=1, processed_at=processed
        )
        batches.save("v1", record, {"validated_data": validated, "features": features})
        records.append(record)
    store = FeatureStore(tmp_path / "feature_store", "v1", LAYOUT)
    table = BatchTable("features", "v1", tuple(records))
    assert sync_feature_store(store, table, batches).written == [r.batch for r in records]
    assert values(store.get_training_frame(as_of=day(4))) == {"alice": 10.0}
    assert values(store.get_training_frame(as_of=day(5))) == {"alice": 11.0}
    again = sync_feature_store(store, table, batches)
    assert (again.written, again.removed) == ([], [])
    dropped = sync_feature_store(store, BatchTable("features", "v1", tuple(records[:1])), batches)
    assert dropped.removed == ["feb.csv-22222222"] and store.batches() == ["jan.csv-11111111"]
    assert store.arrivals()["feb.csv-22222222"] == "2026-03-05T00:00:00+00:00"
