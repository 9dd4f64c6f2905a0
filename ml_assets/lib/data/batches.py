"""Batches: each landed file is read, validated and turned into features once, then reused.

A batch is one landing file, identified by its name and content (``<file>-<8 hex of sha256>``).
Its tables (raw text, valid rows, quarantined rows, features) and its record live under
``<store>/<version>/<batch>/``; the version hashes everything that shapes them (contract, dataset
spec, limits, code), so a batch is processed again only when one of those changes. A batch is
accepted or rejected as a whole: a rejected batch keeps every row in quarantine with its reason,
is left out of training, and never stops the other batches.
"""

import contextlib
import copy
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pandera

from ml_assets.lib.data.batch_records import (
    ACCEPTED,
    ALL_ROWS,
    DUPLICATE,
    FEATURES,
    QUARANTINED,
    RAW,
    REFUSED,
    REJECTED,
    VALIDATED,
    BatchRecord,
    BatchTable,
    LandingEntry,
    Refresh,
    batch_id,
    ingestion_entries,
    now_iso,
)
from ml_assets.lib.contract.validation import ContractError, check_structure, stored_schema, validate_rows
from ml_assets.lib.contract.dataset import (
    BATCH,
    FAILURES,
    REASON,
    SOURCE_COLUMNS,
    SOURCE_FILE,
    SOURCE_LINE,
    SPLIT,
    DatasetSpec,
)
from ml_assets.lib.data.features import build_features, features_schema
from ml_assets.lib.core.frames import iter_frames, read_frames, write_frame
from ml_assets.lib.data.ingestion import (
    IngestionError,
    check_columns,
    landing_paths,
    parse_landing_bytes,
    read_capped,
)
from ml_assets.lib.data.landing import file_sha256
from ml_assets.lib.core.layout import Layout
from ml_assets.lib.core.safe_csv import safe_csv
from ml_assets.lib.core.storage import atomic_write_text, is_local_path

RECORD_FILE = "batch.json"
ProcessFn = Callable[..., tuple[BatchRecord, dict[str, pd.DataFrame]]]
LANDING_HASHES = "landing_hashes.json"
SAMPLE_ROWS = 20


@dataclass(frozen=True)
class BatchRules:
    """What decides a batch's tables and fate; ``version`` names the folder they are kept in."""

    contract: pandera.DataFrameSchema
    spec: DatasetSpec
    max_quarantined_share: float
    max_file_bytes: int
    code_version: str

    @property
    def version(self) -> str:
        """Changes whenever a batch processed under these rules could come out differently."""
        key = f"{self.code_version}|{self.max_quarantined_share!r}|{self.max_file_bytes}"
        return hashlib.sha256(key.encode()).hexdigest()[:12]


class BatchStore:
    """Per-batch tables and records under one root folder (local path or any fsspec URL)."""

    def __init__(self, root: Any, lock_dir: Path | None = None):
        """Keep batches under ``root`` (a ``Path`` or ``UPath``).

        ``lock_dir`` is a local folder for the refresh lock when ``root`` is on object storage,
        which has no locks: the folder beside the landing folder the refresh reads.
        """
        self.root = root
        self.lock_dir = lock_dir

    def folder(self, version: str, batch: str) -> Any:
        """Where one batch's tables and record live."""
        return self.root / version / batch

    def record(self, version: str, batch: str) -> BatchRecord | None:
        """The batch's record, or None when it was never completely processed under ``version``."""
        path = self.folder(version, batch) / RECORD_FILE
        try:
            return BatchRecord.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            return None

    def save(self, version: str, record: BatchRecord, tables: Mapping[str, pd.DataFrame]) -> None:
        """Write the tables, then the record: a batch without its record is processed again."""
        folder = self.folder(version, record.batch)
        for name, frame in tables.items():
            write_frame(folder / f"{name}.parquet", frame)
        if QUARANTINED in tables and len(tables[QUARANTINED]):
            atomic_write_text(folder / f"{QUARANTINED}.csv", safe_csv(tables[QUARANTINED]))
        atomic_write_text(folder / RECORD_FILE, record.to_json())

    def read(self, table: BatchTable, columns: list[str] | None = None) -> pd.DataFrame:
        """A table's rows, its batches stacked in order (only ``columns``, when given)."""
        return read_frames(self._paths(table), columns)

    def chunks(
        self, table: BatchTable, columns: list[str] | None, chunk_rows: int
    ) -> Iterator[pd.DataFrame]:
        """A table's rows in ``read``'s order, at most ``chunk_rows`` at a time."""
        return iter_frames(self._paths(table), columns, chunk_rows)

    def _paths(self, table: BatchTable) -> list[Any]:
        """The table's Parquet file in each of its batches, in order."""
        return [self.folder(table.version, batch) / f"{table.table}.parquet" for batch in table.batches]

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store for one refresh at a time, released even if the process dies.

        Two overlapping runs would each write the landing folder as they saw it, and the one
        that finished last would win. An exclusive ``flock`` on ``<root>/.lock``, or on
        ``<lock_dir>/.batches.lock`` for a store on object storage (without ``lock_dir`` there,
        nothing is held: see docs/production.md for the pool limit that serialises such runs).
        """
        if is_local_path(self.root):
            lock_file = Path(self.root) / ".lock"
        elif self.lock_dir is not None:
            lock_file = Path(self.lock_dir) / ".batches.lock"
        else:
            yield
            return
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_file, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def landing_hashes(self) -> dict[str, list]:
        """Content hashes of landing files by name, with the file stats they were taken at."""
        try:
            return json.loads((self.root / LANDING_HASHES).read_text())
        except FileNotFoundError:
            return {}

    def save_landing_hashes(self, hashes: Mapping[str, list]) -> None:
        """Remember the hashes, so an unchanged file is never read again to identify it."""
        atomic_write_text(self.root / LANDING_HASHES, json.dumps(dict(hashes), sort_keys=True))


def table_schemas(
    contract: pandera.DataFrameSchema, spec: DatasetSpec
) -> dict[str, pandera.DataFrameSchema]:
    """The Pandera schema of each batch table as stored, all derived from the contract.

    ``raw_data`` holds every contract column as the text it was read as, ``quarantined_rows`` adds
    the reason and the failures as JSON; ``validated_data`` and ``features`` keep the contract's
    types and rules. Text is held as Arrow strings, as stored.
    """
    sources = {name: contract.columns[name] for name in SOURCE_COLUMNS}
    text = {
        name: pandera.Column(str, nullable=True)
        for name in contract.columns
        if name not in SOURCE_COLUMNS
    }
    raw = stored_schema(pandera.DataFrameSchema({**text, **sources}, name=RAW, strict=True))
    reasons = {REASON: pandera.Column(str), FAILURES: pandera.Column(str)}
    validated = copy.copy(stored_schema(contract))
    validated.name = VALIDATED
    return {
        RAW: raw,
        VALIDATED: validated,
        QUARANTINED: pandera.DataFrameSchema(
            {**raw.columns, **reasons}, name=QUARANTINED, strict=True
        ),
        FEATURES: stored_schema(features_schema(contract, spec)),
    }


def schema_failures(failure_cases: pd.DataFrame, rows: pd.DataFrame, limit: int = 5) -> str:
    """Pandera's failure cases as sentences naming the batch, column, rule, file and lines.

    ``rows`` is the frame that was validated (with the source columns), so each failing index
    maps back to the batch and the line of the landing file it came from.
    """
    lines = []
    cases = failure_cases.assign(column=failure_cases["column"].fillna("(table)"))
    for (column, rule), group in cases.groupby(["column", "check"], sort=False):
        index = pd.to_numeric(group["index"], errors="coerce").dropna().astype("int64")
        located = rows.iloc[index[index < len(rows)].to_numpy()]
        values = ", ".join(map(str, group["failure_case"].drop_duplicates().head(3)))
        where = "; ".join(
            f"batch {batch}, file {frame[SOURCE_FILE].iloc[0]} lines "
            + ", ".join(map(str, frame[SOURCE_LINE].head(limit)))
            for batch, frame in located.groupby(BATCH, sort=False)
        )
        lines.append(
            f"column {column}, rule {rule}: {len(group)} failures (values {values})"
            + (f" at {where}" if where else "")
        )
    return "\n".join(lines[:limit]) + (
        f"\n... {len(lines) - limit} more" if len(lines) > limit else ""
    )


def refresh_batches(
    landing: Path, store: BatchStore, rules: BatchRules, process: ProcessFn | None = None
) -> Refresh:
    """Turn every file of the landing folder into a batch, processing only the new ones.

    A file is identified by its content hash, taken once per change of its stats; content that
    repeats an earlier file's is recorded as a duplicate and read no further. A file that cannot
    be read at all (it vanished, no permission) is recorded as refused; the others go on.
    ``process`` (``process_batch`` by default) turns a new batch into its record and tables, so
    batch scoring shares this identity and bookkeeping.
    """
    version = rules.version
    paths, refused = landing_paths(landing)
    known, hashes = store.landing_hashes(), {}
    records, new, first_of = [], [], {}
    others = [LandingEntry(f.name, f.sha256, REFUSED, f.reason) for f in refused]
    for path in paths:
        try:
            stats, sha, data = _identify(path, known.get(path.name), rules.max_file_bytes)
        except OSError as error:
            others.append(_unreadable(path, error))
            continue
        hashes[path.name] = [*stats, sha]
        if sha in first_of:
            reason = f"same content as {first_of[sha]}; its rows are read once"
            others.append(LandingEntry(path.name, sha, DUPLICATE, reason))
            continue
        first_of[sha] = path.name
        record = store.record(version, batch_id(path.name, sha))
        if record is None:
            try:
                if data is None:
                    sha, data = read_landing(path, rules.max_file_bytes)
            except OSError as error:
                others.append(_unreadable(path, error))
                continue
            record, tables = _process_or_reject(
                path.name, sha, stats[0], data, rules, process or process_batch
            )
            store.save(version, record, tables)
            new.append(record.batch)
        records.append(record)
    store.save_landing_hashes(hashes)
    return Refresh(version, records, others, new, store)


def _process_or_reject(
    file: str,
    sha256: str,
    size: int,
    data: bytes | IngestionError,
    rules: BatchRules,
    process: ProcessFn,
) -> tuple[BatchRecord, dict[str, pd.DataFrame]]:
    """``process``, with any failure of the file's own (not of the storage) a rejection.

    A file nobody foresaw must not stop the other batches, nor every later run: its record keeps
    it rejected until its content or the code that processes it changes.
    """
    try:
        return process(file, sha256, size, data, rules)
    except (OSError, MemoryError):
        raise  # the storage or the machine, not the file
    except Exception as error:  # noqa: BLE001 - anything the file triggers is the batch's fate
        reason = (
            f"{file}: could not be processed ({type(error).__name__}: {error}); "
            "please report it with the file"
        )
        record = BatchRecord(
            batch_id(file, sha256),
            file,
            sha256,
            size,
            REJECTED,
            "error",
            reason,
            processed_at=now_iso(),
        )
        return record, {}


def _identify(
    path: Path, previous: list | None, max_bytes: int
) -> tuple[list[int], str, bytes | IngestionError | None]:
    """A file's stats and sha256, from the last hashing when its stats are unchanged since."""
    stat = path.stat()
    stats = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]
    if previous is not None and previous[:3] == stats:
        return stats, previous[3], None
    return stats, *read_landing(path, max_bytes)


def _unreadable(path: Path, error: OSError) -> LandingEntry:
    reason = f"{path.name}: cannot read ({error.strerror or error})"
    return LandingEntry(path.name, "", REFUSED, reason)


def read_landing(path: Path, max_bytes: int) -> tuple[str, bytes | IngestionError]:
    """A file's sha256, and its bytes (decompressed for ``.gz``) or why they cannot be read."""
    try:
        data: bytes | IngestionError = read_capped(path, max_bytes)
    except IngestionError as error:
        data = error
    plain = isinstance(data, bytes) and not path.name.lower().endswith(".gz")
    sha = hashlib.sha256(data).hexdigest() if plain else file_sha256(path)
    return sha, data


@dataclass(frozen=True)
class CheckedBatch:
    """A batch whose rows met the contract well enough to be accepted, with its record so far."""

    record: BatchRecord  # accepted; rows_valid and what the caller computes are still to fill
    raw: pd.DataFrame
    valid: pd.DataFrame
    quarantined: pd.DataFrame


Rejection = tuple[BatchRecord, dict[str, pd.DataFrame]]


def check_batch(
    file: str,
    sha256: str,
    size: int,
    data: bytes | IngestionError,
    rules: BatchRules,
    *,
    ignore: Sequence[str] = (),
    keep_extra: bool = True,
) -> CheckedBatch | Rejection:
    """Read and validate one batch: its checked rows, or why it is rejected with its rows kept.

    ``ignore`` names columns dropped before the contract sees the file (the target, when
    scoring); ``keep_extra`` keeps columns a non-strict contract allows beside its own.
    """
    batch = batch_id(file, sha256)
    base = BatchRecord(batch, file, sha256, size, REJECTED, "ingestion", processed_at=now_iso())
    try:
        if isinstance(data, IngestionError):
            raise data
        raw = parse_landing_bytes(data, file, batch)
        if ignore:
            raw = raw.drop(columns=list(ignore), errors="ignore")
        required = [name for name in rules.contract.columns if name not in SOURCE_COLUMNS]
        check_columns(raw, file, required, rules.contract.strict is True)
        known = {*required, *SOURCE_COLUMNS}
        extra = [name for name in raw.columns if name not in known] if keep_extra else []
        raw = raw[[*required, *extra, *SOURCE_COLUMNS]]
    except IngestionError as error:
        return replace(base, reason=str(error)), {}
    if raw.empty:
        return replace(base, reason=f"{file}: no data rows (a header only)"), {}
    base = replace(base, stage="validation", rows_in=len(raw))
    try:
        result = validate_rows(raw, rules.contract)
    except ContractError as error:
        quarantined = quarantine_whole(raw, raw.iloc[0:0], f"{file}: {error}")
        return _rejected(base, str(error), quarantined, len(raw)), {
            RAW: raw,
            QUARANTINED: quarantined,
        }
    breaking = len(result.quarantined)
    failures = _failures_by_rule(result.failures)
    share = breaking / len(raw)
    if share > rules.max_quarantined_share:
        reason = (
            f"{share:.1%} of its rows break the contract (limit {rules.max_quarantined_share:.0%})"
        )
        quarantined = quarantine_whole(raw, result.quarantined, f"batch rejected: {reason}")
        record = replace(_rejected(base, reason, quarantined, breaking), failures_by_rule=failures)
        return record, {RAW: raw, QUARANTINED: quarantined}
    accepted = replace(
        base,
        status=ACCEPTED,
        stage="",
        rows_quarantined=breaking,
        rows_breaking=breaking,
        failures_by_rule=failures,
        sample=_sample(result.quarantined),
    )
    return CheckedBatch(accepted, raw, result.valid, result.quarantined)


def process_batch(
    file: str, sha256: str, size: int, data: bytes | IngestionError, rules: BatchRules
) -> Rejection:
    """Read, validate and featurize one batch, or say why it is rejected and keep its rows."""
    checked = check_batch(file, sha256, size, data, rules)
    if not isinstance(checked, CheckedBatch):
        return checked
    features = build_features(checked.valid, rules.spec)
    check_structure(checked.valid, stored_schema(rules.contract), VALIDATED)
    check_structure(features, stored_schema(features_schema(rules.contract, rules.spec)), FEATURES)
    record = replace(
        checked.record,
        rows_valid=len(checked.valid),
        null_counts={
            name: int(checked.valid[name].isna().sum())
            for name, column in rules.contract.columns.items()
            if column.nullable
        },
        split_counts=split_counts(features, rules.spec),
    )
    tables = {RAW: checked.raw, VALIDATED: checked.valid, QUARANTINED: checked.quarantined}
    return record, {**tables, FEATURES: features}


def _rejected(
    base: BatchRecord, reason: str, quarantined: pd.DataFrame, breaking: int
) -> BatchRecord:
    return replace(
        base,
        reason=reason,
        rows_quarantined=len(quarantined),
        rows_breaking=breaking,
        sample=_sample(quarantined),
    )


def quarantine_whole(raw: pd.DataFrame, quarantined: pd.DataFrame, reason: str) -> pd.DataFrame:
    """Every row of a rejected batch: rows that broke a rule keep their reasons, the rest get one.

    A batch that is mostly wrong (a shifted export, the wrong table) should not feed its few
    accidentally valid rows to the model, and none of its rows may be lost.
    """
    broken = set(quarantined[SOURCE_LINE].tolist())
    rest = raw[~raw[SOURCE_LINE].isin(broken)].copy()
    rest[REASON] = reason
    rest[FAILURES] = json.dumps([{"column": None, "rule": "batch rejected", "value": None}])
    parts = [part for part in (quarantined, rest) if len(part)]
    whole = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].copy()
    return whole.sort_values(SOURCE_LINE, kind="stable", ignore_index=True)


def split_counts(features: pd.DataFrame, spec: DatasetSpec) -> dict[str, dict[str, int]]:
    """Rows per split side, per class for classification (``ALL_ROWS`` otherwise)."""
    sides = features[SPLIT]
    if not spec.is_classification:
        return {ALL_ROWS: {str(side): int(rows) for side, rows in sides.value_counts().items()}}
    counts = features.groupby([features[spec.target], sides], observed=True).size()
    table: dict[str, dict[str, int]] = {}
    for (label, side), rows in counts.items():
        table.setdefault(str(label), {})[str(side)] = int(rows)
    return table


def _failures_by_rule(failures: pd.DataFrame) -> list[dict[str, Any]]:
    if failures.empty:
        return []
    counts = failures.groupby(["column", "rule"], dropna=False).size()
    return [
        {"column": column, "rule": rule, "failures": int(rows)}
        for (column, rule), rows in counts.items()
    ]


def _sample(quarantined: pd.DataFrame) -> list[dict[str, Any]]:
    head = quarantined[[SOURCE_FILE, SOURCE_LINE, REASON]].head(SAMPLE_ROWS)
    return [
        {"file": str(file), "line": int(line), "reason": str(reason)}
        for file, line, reason in head.itertuples(index=False)
    ]


def write_ingestion_records(layout: Layout, refresh: Refresh) -> list[dict[str, Any]]:
    """The manifest and one reason file per file left out, agreeing on every file.

    Reason files of files that are now accepted, or gone from the landing folder, are removed:
    the records describe the landing folder as it is (the batch store keeps the history).
    """
    entries = ingestion_entries(refresh)
    manifest = {"version": refresh.version, "written_at": now_iso(), "files": entries}
    atomic_write_text(layout.manifest, json.dumps(manifest, indent=2) + "\n")
    rejected = layout.rejected
    kept = set()
    for entry in entries:
        if entry["status"] == ACCEPTED:
            continue
        name = f"{entry['file']}.reason.json"
        fields = ("file", "batch", "sha256", "status", "stage", "reason")
        atomic_write_text(rejected / name, json.dumps({k: entry[k] for k in fields}, indent=2))
        kept.add(name)
    for stale in _reason_files(rejected):
        if stale not in kept:
            (rejected / stale).unlink(missing_ok=True)
    return entries


def _reason_files(folder: Path) -> Iterable[str]:
    if not folder.is_dir():
        return []
    return [name for name in os.listdir(folder) if name.endswith(".reason.json")]
