"""Reading landing files into one text table that remembers each row's file and line.

Values stay text here: typing happens in validation, where every failed conversion becomes a
quarantine reason instead of a silently coerced value.
"""

import codecs
import csv
import gzip
import hashlib
import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ml_assets.lib.contract.dataset import (
    BATCH,
    FAILURES,
    REASON,
    ROW_KEY,
    SOURCE_COLUMNS,
    SOURCE_FILE,
    SOURCE_LINE,
    SPLIT,
)
from ml_assets.lib.core.frames import TEXT, TEXT_TYPES
from ml_assets.lib.data.landing import file_sha256, is_candidate
from ml_assets.lib.project.project_config import ChecksSection

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
COMPRESSED = ".gz"
RESERVED = {*SOURCE_COLUMNS, REASON, FAILURES, ROW_KEY, SPLIT}
DEFAULT_MAX_FILE_BYTES = ChecksSection().max_file_bytes  # the checks section's default
_CHUNK = 1 << 20


class IngestionError(ValueError):
    """A landing file cannot be read; the message names the file and the line or byte."""


@dataclass(frozen=True)
class RefusedFile:
    """A landing entry that is never read: a symlink leading out of the folder, a bad name."""

    name: str
    sha256: str
    reason: str


def file_format(name: str) -> str | None:
    """The reader for a file name (``.gz`` compression allowed on top), or None."""
    stem = name[: -len(COMPRESSED)] if name.lower().endswith(COMPRESSED) else name
    return FORMATS.get(Path(stem).suffix.lower())


def landing_paths(folder: Path) -> tuple[list[Path], list[RefusedFile]]:
    """The data files directly inside ``folder`` sorted by name, and the entries refused.

    Names with control characters and symlinks that lead outside the folder are refused rather
    than followed, so nothing outside the landing folder is ever read. A refused symlink is
    identified by the sha256 of its target's path, since the target itself is never opened.
    """
    root = folder.resolve()
    paths, refused = [], []
    for path in sorted(folder.iterdir()):
        if not is_candidate(path.name) or path.is_dir():
            continue
        resolved = path.resolve()
        if resolved.parent != root:
            link = hashlib.sha256(os.fsencode(os.readlink(path))).hexdigest()
            reason = f"{path.name}: resolves outside the landing folder ({resolved})"
            refused.append(RefusedFile(path.name, link, reason))
        elif any(ord(char) < 32 or ord(char) == 127 for char in path.name):
            reason = f"{path.name!r}: file name contains control characters"
            refused.append(RefusedFile(path.name, file_sha256(path), reason))
        else:
            paths.append(path)
    return paths, refused


def read_capped(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """A file's bytes (decompressed for ``.gz``), refusing anything above ``max_bytes``.

    Compressed files are measured while decompressing, so a small archive cannot expand without
    bound.
    """
    try:
        if path.stat().st_size > max_bytes:
            raise IngestionError(
                f"{path.name}: {path.stat().st_size} bytes exceeds the {max_bytes}-byte file cap"
            )
        if not path.name.lower().endswith(COMPRESSED):
            return path.read_bytes()
        chunks, total = [], 0
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise IngestionError(
                        f"{path.name}: exceeds the {max_bytes}-byte file cap once decompressed"
                    )
                chunks.append(chunk)
        return b"".join(chunks)
    except (OSError, EOFError) as error:
        message = getattr(error, "strerror", None) or str(error)
        raise IngestionError(f"{path.name}: cannot read ({message})") from error


def parse_landing_bytes(data: bytes, name: str, batch: str = "") -> pd.DataFrame:
    """Parse one file's bytes as text columns plus its batch, source file and line."""
    fmt = file_format(name)
    if fmt is None:
        raise IngestionError(
            f"{name}: unsupported format {Path(name).suffix or '(no extension)'!r}; "
            f"expected one of {sorted(FORMATS)}, optionally {COMPRESSED}-compressed"
        )
    if not data.removeprefix(codecs.BOM_UTF8).strip():
        raise IngestionError(f"{name}: file is empty ({len(data)} bytes)")
    reader = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}[fmt]
    frame = reader(data, name)
    for column, value in ((BATCH, batch), (SOURCE_FILE, name)):
        values = pd.arrays.ArrowExtensionArray(pa.repeat(value, len(frame)))
        frame.insert(len(frame.columns) - 1, column, pd.Series(values, index=frame.index))
    return frame


def read_landing_file(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> pd.DataFrame:
    """Read one landing file (see ``parse_landing_bytes``)."""
    return parse_landing_bytes(read_capped(path, max_bytes), path.name)


def _check_utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise IngestionError(
            f"{name}: line {line}, byte {error.start}: not valid UTF-8 "
            f"({data[error.start : error.start + 1]!r}); save the file as UTF-8"
        ) from error


def _check_header(columns: Sequence[str], name: str) -> list[str]:
    header = [column.strip() for column in columns]
    if not all(header):
        raise IngestionError(f"{name}: line 1: the header has an empty column name: {header}")
    duplicates = sorted({column for column in header if header.count(column) > 1})
    if duplicates:
        raise IngestionError(f"{name}: line 1: duplicate column names {duplicates}")
    reserved = [column for column in header if column in RESERVED]
    if reserved:
        raise IngestionError(
            f"{name}: line 1: column(s) {reserved} are reserved by the pipeline; rename them"
        )
    return header


def _read_csv(data: bytes, name: str) -> pd.DataFrame:
    """Parse a CSV with Arrow, which also checks UTF-8; Python decodes only to name a bad byte."""
    try:
        header = _check_header(next(csv.reader(_lines(data))), name)
        table, ragged = _parse_csv(data, header, use_threads=True)
    except (UnicodeDecodeError, pa.ArrowInvalid) as error:
        _check_utf8(data, name)
        raise IngestionError(f"{name}: not a readable CSV file ({error})") from error
    if ragged:  # threaded parsing cannot tell the lines: parse again on one thread to name them
        _, ragged = _parse_csv(data, header, use_threads=False)
        shown = "; ".join(ragged[:5]) + (f"; and {len(ragged) - 5} more" if len(ragged) > 5 else "")
        raise IngestionError(f"{name}: ragged rows ({len(ragged)}): {shown}")
    frame = table.to_pandas(types_mapper=TEXT_TYPES.get)
    frame[SOURCE_LINE] = _csv_record_lines(data, len(frame))
    return frame


def _lines(data: bytes) -> Iterator[str]:
    """The lines of UTF-8 ``data`` decoded one at a time (byte-order mark dropped).

    Reading the header or the rare multi-line record this way never copies the whole file.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        yield decoder.decode(data[start:end], final=end == len(data))
        start = end


def _parse_csv(data: bytes, header: list[str], use_threads: bool) -> tuple[pa.Table, list[str]]:
    """Every field as text, and a note per row whose field count differs from the header's."""
    import pyarrow.csv as pcsv

    ragged: list[str] = []

    def on_bad_row(row: pcsv.InvalidRow) -> str:
        ragged.append(f"line {row.number}: {row.actual_columns} fields, expected {len(header)}")
        return "skip"

    table = pcsv.read_csv(
        io.BytesIO(data),
        read_options=pcsv.ReadOptions(column_names=header, skip_rows=1, use_threads=use_threads),
        parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_bad_row),
        convert_options=pcsv.ConvertOptions(
            column_types={column: pa.string() for column in header}, strings_can_be_null=True
        ),
    )
    return table, ragged


def _csv_record_lines(data: bytes, rows: int) -> np.ndarray:
    """Physical line on which each record starts (header is line 1), even with quoted newlines."""
    line_breaks = data.count(b"\n") - (1 if data.endswith(b"\n") else 0)
    if line_breaks == rows:
        return np.arange(2, rows + 2, dtype=np.int64)
    reader = csv.reader(_lines(data))
    next(reader)
    starts, line = [], reader.line_num + 1
    for record in reader:
        if record:
            starts.append(line)
        line = reader.line_num + 1
    if len(starts) != rows:
        return np.arange(2, rows + 2, dtype=np.int64)
    return np.asarray(starts, dtype=np.int64)


def _read_parquet(data: bytes, name: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as error:
        raise IngestionError(f"{name}: not a readable Parquet file ({error})") from error
    _check_header(table.column_names, name)
    frame = _as_text(table.to_pandas())
    frame[SOURCE_LINE] = np.arange(1, len(frame) + 1, dtype=np.int64)
    return frame


def _read_jsonl(data: bytes, name: str) -> pd.DataFrame:
    text = _check_utf8(data, name)
    records, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise IngestionError(
                f"{name}: line {number}, column {error.colno}: invalid JSON ({error.msg})"
            ) from error
        if not isinstance(record, dict):
            raise IngestionError(f"{name}: line {number}: expected a JSON object per line")
        records.append(record)
        lines.append(number)
    frame = _as_text(pd.DataFrame.from_records(records))
    _check_header(list(frame.columns), name)
    frame[SOURCE_LINE] = np.asarray(lines, dtype=np.int64)
    return frame


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn typed values into the same text a CSV would hold, keeping nulls as nulls."""
    return pd.DataFrame(
        {
            column: frame[column]
            .astype("object")
            .where(frame[column].notna(), None)
            .map(lambda value: value if value is None or isinstance(value, str) else str(value))
            .astype(TEXT)
            for column in frame.columns
        },
        index=frame.index,
    )


def check_columns(frame: pd.DataFrame, name: str, required: Sequence[str], strict: bool) -> None:
    """Fail when a file lacks a contract column, or (strict contracts) has an unknown one."""
    present = [column for column in frame.columns if column not in SOURCE_COLUMNS]
    missing = [column for column in required if column not in present]
    if missing:
        raise IngestionError(
            f"{name}: missing required column(s) {missing}; the file has {present}"
        )
    extra = [column for column in present if column not in required]
    if strict and extra:
        raise IngestionError(
            f"{name}: unexpected column(s) {extra} not in the data contract {list(required)}"
        )
