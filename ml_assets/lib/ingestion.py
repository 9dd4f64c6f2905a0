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
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ml_assets.lib.dataset import SOURCE_FILE, SOURCE_LINE
from ml_assets.lib.frames import TEXT, TEXT_TYPES
from ml_assets.lib.landing import is_candidate

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
COMPRESSED = ".gz"
DEFAULT_MAX_FILE_BYTES = 512 * 1024**2
_CHUNK = 1 << 20


class IngestionError(ValueError):
    """A landing file cannot be read; the message names the file and the line or byte."""

    def __init__(self, message: str, file: str | None = None, sha256: str | None = None):
        """Keep which file failed (and its content hash when known) for the rejection record."""
        super().__init__(message)
        self.file = file
        self.sha256 = sha256


@dataclass(frozen=True)
class LandingFile:
    """One file found in the landing folder, identified by its content."""

    path: Path
    name: str
    size: int
    sha256: str
    rows: int


@dataclass(frozen=True)
class Rejection:
    """A landing file left out of a batch, and why (written beside the batch as JSON)."""

    file: str
    sha256: str | None
    stage: str
    reason: str


@dataclass(frozen=True)
class Batch:
    """Every row of the accepted files, the files themselves, and the files left out."""

    frame: pd.DataFrame
    files: list[LandingFile]
    rejections: list[Rejection]


def file_format(name: str) -> str | None:
    """The reader for a file name (``.gz`` compression allowed on top), or None."""
    stem = name[: -len(COMPRESSED)] if name.lower().endswith(COMPRESSED) else name
    return FORMATS.get(Path(stem).suffix.lower())


def landing_paths(folder: Path) -> list[Path]:
    """The data files directly inside ``folder``, sorted by name.

    Names with control characters and symlinks that lead outside the folder are refused rather
    than followed, so nothing outside the landing folder is ever read.
    """
    root = folder.resolve()
    paths = []
    for path in sorted(folder.iterdir()):
        if not is_candidate(path.name) or path.is_dir():
            continue
        if any(ord(char) < 32 or ord(char) == 127 for char in path.name):
            raise IngestionError(f"{path.name!r}: file name contains control characters", path.name)
        resolved = path.resolve()
        if resolved.parent != root:
            raise IngestionError(
                f"{path.name}: resolves outside the landing folder ({resolved})", path.name
            )
        paths.append(path)
    return paths


def read_capped(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """A file's bytes (decompressed for ``.gz``), refusing anything above ``max_bytes``.

    Compressed files are measured while decompressing, so a small archive cannot expand without
    bound.
    """
    try:
        if path.stat().st_size > max_bytes:
            raise IngestionError(
                f"{path.name}: {path.stat().st_size} bytes exceeds the {max_bytes}-byte file cap",
                path.name,
            )
        if not path.name.lower().endswith(COMPRESSED):
            return path.read_bytes()
        chunks, total = [], 0
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise IngestionError(
                        f"{path.name}: exceeds the {max_bytes}-byte file cap once decompressed",
                        path.name,
                    )
                chunks.append(chunk)
        return b"".join(chunks)
    except (OSError, EOFError) as error:
        message = getattr(error, "strerror", None) or str(error)
        raise IngestionError(f"{path.name}: cannot read ({message})", path.name) from error


def write_rejection(folder: Path, rejection: Rejection) -> Path:
    """Record why a file was left out, as ``<folder>/<file>.reason.json`` (written atomically)."""
    from ml_assets.lib.storage import atomic_write_text

    path = folder / f"{rejection.file}.reason.json"
    atomic_write_text(path, json.dumps(asdict(rejection), indent=2) + "\n")
    return path


def write_manifest(path: Path, batch: Batch) -> dict[str, list[dict]]:
    """List every file of a batch with its sha256, size and rows, and every file left out."""
    from ml_assets.lib.storage import atomic_write_text

    manifest = {
        "accepted": [
            {"file": f.name, "sha256": f.sha256, "bytes": f.size, "rows": f.rows}
            for f in batch.files
        ],
        "rejected": [asdict(rejection) for rejection in batch.rejections],
    }
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")
    return manifest


def content_hash(files: Iterable[LandingFile]) -> str:
    """Hash of the names and contents of ``files``: the data version of a batch."""
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda f: f.name):
        digest.update(f"{file.name}\0{file.sha256}\n".encode())
    return digest.hexdigest()


def parse_landing_bytes(data: bytes, name: str) -> pd.DataFrame:
    """Parse one file's bytes as text columns plus its source file and line."""
    fmt = file_format(name)
    if fmt is None:
        raise IngestionError(
            f"{name}: unsupported format {Path(name).suffix or '(no extension)'!r}; "
            f"expected one of {sorted(FORMATS)}, optionally {COMPRESSED}-compressed",
            name,
        )
    if not data or data.isspace():
        raise IngestionError(f"{name}: file is empty ({len(data)} bytes)", name)
    reader = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}[fmt]
    frame = reader(data, name)
    names = pd.arrays.ArrowExtensionArray(pa.repeat(name, len(frame)))
    frame.insert(len(frame.columns), SOURCE_FILE, pd.Series(names, index=frame.index))
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
    return header


def _read_csv(data: bytes, name: str) -> pd.DataFrame:
    """Parse a CSV with Arrow, which also checks UTF-8; Python decodes only to name a bad byte."""
    try:
        header = _check_header(next(csv.reader(_lines(data))), name)
        table, ragged = _parse_csv(data, header, use_threads=True)
    except (UnicodeDecodeError, pa.ArrowInvalid):
        _check_utf8(data, name)
        raise
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
    present = [column for column in frame.columns if column not in (SOURCE_FILE, SOURCE_LINE)]
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


def _hash_and_parse(
    data: bytes, name: str, required: Sequence[str], strict: bool, hasher: Executor
) -> tuple[str, pd.DataFrame | IngestionError]:
    """The file's sha256, and its rows or why they cannot be read, computed side by side."""
    digest = hasher.submit(lambda: hashlib.sha256(data).hexdigest())
    try:
        frame = parse_landing_bytes(data, name)
        check_columns(frame, name, required, strict)
    except IngestionError as error:
        return digest.result(), error
    return digest.result(), frame


def read_landing_folder(
    folder: Path,
    required: Sequence[str],
    strict: bool,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Batch:
    """Read every landing file once, check its columns against the contract, and stack them.

    A file whose content repeats an earlier file's (same bytes, another name) is left out, so
    its rows are not counted twice. Any other unreadable file stops the batch.
    """
    frames, files, rejections, first_seen = [], [], [], {}
    ordered = [*required, SOURCE_FILE, SOURCE_LINE]
    with ThreadPoolExecutor(max_workers=1) as hasher:
        for path in landing_paths(folder):
            sha = None
            try:
                data = read_capped(path, max_bytes)
                sha, parsed = _hash_and_parse(data, path.name, required, strict, hasher)
                if sha in first_seen:
                    reason = f"same content as {first_seen[sha]}; its rows are read once"
                    rejections.append(Rejection(path.name, sha, "ingestion", reason))
                    continue
                if isinstance(parsed, IngestionError):
                    raise parsed
                first_seen[sha] = path.name
            except IngestionError as error:
                error.file, error.sha256 = path.name, sha
                raise
            files.append(LandingFile(path, path.name, len(data), sha, len(parsed)))
            frames.append(parsed if list(parsed.columns) == ordered else parsed[ordered])
    if not frames:
        raise IngestionError(f"the landing folder {folder} holds no data files")
    stacked = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return Batch(stacked, files, rejections)
