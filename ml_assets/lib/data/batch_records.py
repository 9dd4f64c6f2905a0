"""What a batch is and what became of it, as plain records: cheap to import, no data libraries.

The records are what the Dagster layer, the checks and the training-set gates read; the tables
themselves are written and read by ``ml_assets.lib.data.batches``.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

ACCEPTED, REJECTED, DUPLICATE, REFUSED = "accepted", "rejected", "duplicate", "refused"
RAW, VALIDATED, QUARANTINED, FEATURES = "raw_data", "validated_data", "quarantined_rows", "features"
ALL_ROWS = "*"  # the split-count key of tasks without classes
# Rows a step that reads a table through holds at once (a few hundred MB of the demo's shape).
CHUNK_ROWS = 1_000_000


def batch_id(file: str, sha256: str) -> str:
    """A batch's readable, stable identity: its file name and the start of its content hash."""
    return f"{file}-{sha256[:8]}"


def now_iso() -> str:
    """The current time in UTC, as the records write it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class BatchRecord:
    """What a batch is and what became of it; written last, so it marks the batch complete."""

    batch: str
    file: str
    sha256: str
    bytes: int
    status: str
    stage: str
    reason: str = ""
    rows_in: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    rows_breaking: int = 0
    null_counts: dict[str, int] = field(default_factory=dict)
    split_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    failures_by_rule: list[dict[str, Any]] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)
    processed_at: str = ""

    @property
    def accepted(self) -> bool:
        """Whether the batch's valid rows are part of the training set."""
        return self.status == ACCEPTED

    def to_json(self) -> str:
        """The record as JSON text."""
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BatchRecord":
        """Read a record back."""
        return cls(**data)


@dataclass(frozen=True)
class LandingEntry:
    """A landing file that is not a batch of its own: a repeat of another file, or refused."""

    file: str
    sha256: str
    status: str
    reason: str


class TableReader(Protocol):
    """Where a table's rows live: ``ml_assets.lib.data.batches.BatchStore``."""

    def read(self, table: "BatchTable", columns: list[str] | None = None) -> Any:
        """The table's rows, its batches stacked in order (only ``columns``, when given)."""

    def chunks(self, table: "BatchTable", columns: list[str] | None, chunk_rows: int) -> Any:
        """The same rows, in the same order, as frames of at most ``chunk_rows`` rows."""


@dataclass(frozen=True)
class BatchTable:
    """One of the batch tables, as the batches it is made of; rows are read only on demand.

    A table handed to a step carries its ``store``, so ``read`` gives its rows without the caller
    knowing where they live; ``added`` names the batches the run that made it added.
    """

    table: str
    version: str
    records: tuple[BatchRecord, ...]
    store: TableReader | None = field(default=None, compare=False, repr=False)
    added: tuple[str, ...] = field(default=(), compare=False)

    def read(self, columns: list[str] | None = None) -> Any:
        """The table's rows as a pandas DataFrame, its batches in order (only ``columns``)."""
        return self._store().read(self, columns)

    def chunks(self, columns: list[str] | None = None, chunk_rows: int = CHUNK_ROWS) -> Any:
        """``read``'s rows as frames of at most ``chunk_rows`` rows: memory holds one at a time."""
        return self._store().chunks(self, columns, chunk_rows)

    def _store(self) -> TableReader:
        if self.store is None:
            raise RuntimeError(f"{self.table}: this table was not loaded with its batch store")
        return self.store

    @property
    def added_batches(self) -> list[str]:
        """The batches of this table that the run that made it added."""
        return [batch for batch in self.batches if batch in self.added]

    def added_chunks(self, chunk_rows: int = CHUNK_ROWS) -> Any:
        """The rows of the batches the run that made this table added, a chunk at a time."""
        added = tuple(record for record in self.records if record.batch in self.added)
        return replace(self, records=added).chunks(chunk_rows=chunk_rows)

    @property
    def batches(self) -> list[str]:
        """The batch ids, in landing order."""
        return [record.batch for record in self.records]

    @property
    def rows(self) -> int:
        """How many rows the table holds."""
        column = {VALIDATED: "rows_valid", FEATURES: "rows_valid", QUARANTINED: "rows_quarantined"}
        return sum(getattr(record, column.get(self.table, "rows_in")) for record in self.records)

    @property
    def data_version(self) -> str:
        """Same batches under the same rules give the same version."""
        digest = hashlib.sha256(f"{self.table}|{self.version}".encode())
        for batch in self.batches:
            digest.update(f"\n{batch}".encode())
        return digest.hexdigest()[:24]

    def to_json(self) -> str:
        """The table as JSON text (its records included)."""
        records = [asdict(record) for record in self.records]
        body = {"table": self.table, "version": self.version, "records": records}
        return json.dumps(body, indent=2, sort_keys=True, default=str) + "\n"

    @classmethod
    def from_json(cls, text: str, store: TableReader | None = None) -> "BatchTable":
        """Read a table back (able to read its rows when given their ``store``)."""
        data = json.loads(text)
        records = tuple(BatchRecord.from_dict(record) for record in data["records"])
        return cls(data["table"], data["version"], records, store)


@dataclass(frozen=True)
class Refresh:
    """The landing folder as batches: one record per batch, the other files, what was new."""

    version: str
    records: list[BatchRecord]
    others: list[LandingEntry]
    new: list[str]
    store: TableReader | None = None

    def table(self, name: str) -> BatchTable:
        """One of the four tables of the batches that hold rows of it, readable from the store."""
        holds = {
            RAW: lambda record: record.rows_in > 0,
            VALIDATED: lambda record: record.accepted,
            FEATURES: lambda record: record.accepted,
            QUARANTINED: lambda record: record.rows_quarantined > 0,
        }[name]
        records = tuple(r for r in self.records if holds(r))
        return BatchTable(name, self.version, records, self.store, tuple(self.new))

    @property
    def rejected(self) -> list[BatchRecord]:
        """The batches left out of training."""
        return [record for record in self.records if not record.accepted]

    @property
    def newly_rejected(self) -> list[BatchRecord]:
        """The batches rejected by this refresh (not an earlier one)."""
        return [record for record in self.rejected if record.batch in self.new]


def ingestion_entries(refresh: Refresh) -> list[dict[str, Any]]:
    """One entry per landing file, in name order: its batch (if any), sha256, status and reason."""
    entries = [
        {
            "file": record.file,
            "batch": record.batch,
            "sha256": record.sha256,
            "bytes": record.bytes,
            "status": record.status,
            "stage": record.stage,
            "reason": record.reason,
            "rows_in": record.rows_in,
            "rows_valid": record.rows_valid,
            "rows_quarantined": record.rows_quarantined,
        }
        for record in refresh.records
    ]
    entries += [
        {"file": other.file, "batch": None, "sha256": other.sha256, "status": other.status}
        | {"stage": "ingestion", "reason": other.reason}
        for other in refresh.others
    ]
    return sorted(entries, key=lambda entry: entry["file"])
