"""The offline feature store: features as a Parquet dataset partitioned by batch, read as of a time.

Layout, under a root folder (a local path or any fsspec/UPath URL)::

    <root>/_arrivals.json                 first time each batch reached the store (all versions)
    <root>/<version>/_store.json          key, timestamps and feature columns of this version
    <root>/<version>/batch=<name>/part-0.parquet

Each row carries the entity key, an event timestamp (a configured column, or the batch's arrival
time) and the arrival timestamp, so a read as of a time sees only what existed then: a value
whose event lies after ``as_of`` is hidden, and so is a correction that arrived after it. Reads
push those filters into ``pyarrow.dataset`` (partition and row-group pruning); only the rows that
pass are loaded, and the latest one per key is kept. No Dagster here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ml_assets.lib.contract.dataset import ROW_KEY, SOURCE_FILE, SOURCE_LINE, SPLIT, DatasetSpec
from ml_assets.lib.core.storage import atomic_write, atomic_write_text, is_local_path

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as pads

    from ml_assets.lib.data.batch_records import BatchTable
    from ml_assets.lib.data.batches import BatchStore

PARTITION = "batch"
EVENT_TIMESTAMP = "_event_timestamp"  # the column used when no event-time column is configured
ARRIVAL_TIMESTAMP = "_arrival_timestamp"
ARRIVALS_FILE = "_arrivals.json"
LAYOUT_FILE = "_store.json"
PART_FILE = "part-0.parquet"


class FeatureStoreError(ValueError):
    """A batch cannot be stored or a read cannot be served; the message names what and where."""


@dataclass(frozen=True)
class StoreLayout:
    """What one version of the store is keyed by and holds."""

    key: str  # the entity key column: the dataset's key, or the hashed row key
    event_timestamp: str  # the configured event-time column, or EVENT_TIMESTAMP (arrival time)
    features: tuple[str, ...]  # model inputs, derived columns and the target
    event_column: str | None = None  # the contract column the event time comes from, if any

    @classmethod
    def of(cls, spec: DatasetSpec, event_column: str | None) -> StoreLayout:
        """The layout of a dataset: its key (or row key) and its event-time column (or arrival)."""
        return cls(
            key=spec.key or ROW_KEY,
            event_timestamp=event_column or EVENT_TIMESTAMP,
            features=(*spec.model_columns, spec.target),
            event_column=event_column,
        )

    @property
    def columns(self) -> list[str]:
        """Every stored column (the partition column aside), in order."""
        return [
            self.key,
            self.event_timestamp,
            ARRIVAL_TIMESTAMP,
            *self.features,
            SPLIT,
            SOURCE_FILE,
            SOURCE_LINE,
        ]


@dataclass(frozen=True)
class SyncResult:
    """What one synchronisation with the features table did."""

    written: list[str]
    removed: list[str]
    kept: list[str]


class FeatureStore:
    """One version of the store under ``root``: write batches, read point-in-time frames."""

    def __init__(self, root: Any, version: str, layout: StoreLayout) -> None:
        """Keep ``layout``'s features of ``version`` under ``root`` (a ``Path`` or ``UPath``)."""
        self.root = root
        self.version = version
        self.layout = layout
        self.path = root / version

    @classmethod
    def open(cls, path: Any) -> FeatureStore:
        """The store version at ``path`` (``<root>/<version>``), as its ``_store.json`` says."""
        if isinstance(path, str):
            from upath import UPath

            path = UPath(path)
        try:
            body = json.loads((path / LAYOUT_FILE).read_text())
        except FileNotFoundError:
            raise FeatureStoreError(f"{path}: no feature store here (no {LAYOUT_FILE})") from None
        fields = {name: body[name] for name in ("key", "event_timestamp", "event_column")}
        layout = StoreLayout(features=tuple(body["features"]), **fields)
        return cls(path.parent, body["version"], layout)

    def batches(self) -> list[str]:
        """The batches stored (complete partitions only), in name order."""
        if not self.path.exists():
            return []
        prefix = f"{PARTITION}="
        return sorted(
            entry.name[len(prefix) :]
            for entry in self.path.iterdir()
            if entry.name.startswith(prefix) and (entry / PART_FILE).exists()
        )

    def arrivals(self) -> dict[str, str]:
        """Each batch's first arrival in the store (ISO-8601 UTC), over every version."""
        path = self.root / ARRIVALS_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    def write_batch(self, batch: str, frame: pd.DataFrame, arrived_at: datetime | str) -> None:
        """Store one batch's rows as its partition, atomically; replaces an earlier write."""
        table = _store_table(frame, self.layout, batch, _utc(arrived_at))
        target = self.path / f"{PARTITION}={batch}" / PART_FILE
        import pyarrow.parquet as pq

        atomic_write(target, lambda handle: pq.write_table(table, handle, compression="snappy"))

    def remove_batch(self, batch: str) -> None:
        """Drop one batch's partition (its data file first, so a half-removed one is not read)."""
        folder = self.path / f"{PARTITION}={batch}"
        if not folder.exists():
            return
        (folder / PART_FILE).unlink()
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()

    def dataset(self) -> pads.Dataset:
        """The store as a hive-partitioned ``pyarrow.dataset`` (what outside tools can open too)."""
        import pyarrow as pa
        import pyarrow.dataset as ds

        partitioning = ds.partitioning(pa.schema([(PARTITION, pa.string())]), flavor="hive")
        if is_local_path(self.path):
            return ds.dataset(str(self.path), format="parquet", partitioning=partitioning)
        return ds.dataset(
            self.path.path, filesystem=self.path.fs, format="parquet", partitioning=partitioning
        )

    def get_training_frame(
        self, as_of: datetime | str | None = None, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """The latest value of each key as of ``as_of`` (default: now), point-in-time correct.

        A row counts only if its event time and its arrival are both at or before ``as_of``;
        of those, each key keeps the one with the latest event time, a later arrival winning a
        tie (a correction). ``columns`` picks features; key, timestamps and batch always come.
        """
        import pyarrow as pa
        import pyarrow.dataset as ds

        wanted = self._columns(columns)
        if not self.batches():
            import pandas as pd

            return pd.DataFrame(columns=wanted)
        moment = pa.scalar(_utc(as_of or datetime.now(UTC)), type=pa.timestamp("us", tz="UTC"))
        event, key = self.layout.event_timestamp, self.layout.key
        visible = (ds.field(event) <= moment) & (ds.field(ARRIVAL_TIMESTAMP) <= moment)
        table = self.dataset().to_table(columns=wanted, filter=visible)
        latest = table.sort_by(
            [(key, "ascending"), (event, "ascending"), (ARRIVAL_TIMESTAMP, "ascending")]
        )
        frame = latest.to_pandas(types_mapper=_text_types())
        frame = frame.drop_duplicates(subset=[key], keep="last")
        return frame.reset_index(drop=True)

    def write_layout(self) -> None:
        """Describe this version (key, timestamps, features) beside its partitions."""
        body = {
            "version": self.version,
            **asdict(self.layout),
            "partitioning": f"{PARTITION}=<batch>",
        }
        atomic_write_text(self.path / LAYOUT_FILE, json.dumps(body, indent=2) + "\n")

    def _columns(self, columns: Sequence[str] | None) -> list[str]:
        layout = self.layout
        chosen = list(layout.features if columns is None else columns)
        unknown = [name for name in chosen if name not in layout.columns]
        if unknown:
            raise FeatureStoreError(
                f"{self.path}: no column(s) {unknown} in the feature store; it holds "
                f"{layout.columns}"
            )
        fixed = [layout.key, layout.event_timestamp, ARRIVAL_TIMESTAMP]
        return [*fixed, *(name for name in chosen if name not in fixed), PARTITION]


def sync_feature_store(
    store: FeatureStore, features: BatchTable, batches: BatchStore
) -> SyncResult:
    """Make the store hold exactly the features table's batches, writing only the new ones.

    A batch's arrival is the first time the store saw it (kept across versions, so reprocessing
    under a new contract does not move history); a batch that left the features table (its file
    left the landing folder) leaves the store.
    """
    present = set(store.batches())
    arrivals = store.arrivals()
    written = []
    for record in features.records:
        arrivals.setdefault(record.batch, record.processed_at or datetime.now(UTC).isoformat())
        if record.batch in present:
            continue
        frame = _batch_frame(batches, features.version, record.batch, store.layout)
        store.write_batch(record.batch, frame, arrivals[record.batch])
        written.append(record.batch)
    wanted = set(features.batches)
    removed = sorted(present - wanted)
    for batch in removed:
        store.remove_batch(batch)
    atomic_write_text(store.root / ARRIVALS_FILE, json.dumps(arrivals, indent=2, sort_keys=True))
    store.write_layout()
    return SyncResult(written, removed, sorted(present & wanted))


def store_manifest(store: FeatureStore, result: SyncResult, data_version: str) -> dict[str, Any]:
    """What the feature_store asset stores: where the store is, its layout and the last sync."""
    return {
        "path": str(store.path),
        "version": store.version,
        "key": store.layout.key,
        "event_timestamp": store.layout.event_timestamp,
        "features": list(store.layout.features),
        "batches": store.batches(),
        "written": result.written,
        "removed": result.removed,
        "training_set": data_version,
    }


def _batch_frame(
    batches: BatchStore, version: str, batch: str, layout: StoreLayout
) -> pd.DataFrame:
    """A batch's features, with its key and event-time columns from its validated rows.

    Both tables hold the batch's valid rows in the same order (features are built row by row
    from the validated rows), so the extra columns line up by position.
    """
    from ml_assets.lib.core.frames import read_frames

    folder = batches.folder(version, batch)
    frame = read_frames([folder / "features.parquet"])
    extra = [name for name in (layout.key, layout.event_column) if name and name not in frame]
    if extra:
        validated = read_frames([folder / "validated_data.parquet"])
        for name in extra:
            frame[name] = validated[name].to_numpy()
    return frame


def _store_table(
    frame: pd.DataFrame, layout: StoreLayout, batch: str, arrived: datetime
) -> pa.Table:
    """The rows as the store keeps them: UTC timestamps, no missing event time."""
    import pandas as pd
    import pyarrow as pa

    rows = frame.copy()
    if layout.event_column is None:
        rows[layout.event_timestamp] = arrived
    events = pd.to_datetime(rows[layout.event_timestamp], utc=True)
    missing = events.isna()
    if missing.any():
        line = rows.loc[missing, SOURCE_LINE].iloc[0] if SOURCE_LINE in rows else missing.idxmax()
        raise FeatureStoreError(
            f"{batch}: column {layout.event_timestamp!r} has {int(missing.sum())} missing event "
            f"time(s), first at line {line}: the feature store needs one per row"
        )
    rows[layout.event_timestamp] = events.astype("datetime64[us, UTC]")
    rows[ARRIVAL_TIMESTAMP] = pd.Series(arrived, index=rows.index).astype("datetime64[us, UTC]")
    absent = [name for name in layout.columns if name not in rows]
    if absent:
        raise FeatureStoreError(f"{batch}: missing column(s) {absent} for the feature store")
    return pa.Table.from_pandas(rows[layout.columns], preserve_index=False)


def _utc(moment: datetime | str) -> datetime:
    """A moment as an aware UTC datetime; naive times are taken as UTC."""
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text_types() -> Any:
    from ml_assets.lib.core.frames import TEXT_TYPES

    return TEXT_TYPES.get
