"""How the pipeline holds tables: text as Arrow-backed strings, stored as Parquet.

Arrow-backed text has no Python object per cell, so reading, checking and storing a million rows
of text costs what numbers cost; the contract's ``str`` columns are kept that way end to end.
"""

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa

from ml_assets.lib.core.storage import atomic_write

TEXT = pd.ArrowDtype(pa.string())
TEXT_TYPES = {pa.string(): TEXT, pa.large_string(): TEXT}

_R = TypeVar("_R")


def map_columns(function: Callable[..., _R], *arguments: Iterable[Any]) -> list[_R]:
    """``function`` over per-column arguments (as ``map`` takes them), a thread per core, in order.

    Arrow and NumPy kernels release the GIL on whole columns: on 2 cores this took validation of
    1e7 rows from 3.1 s to 2.0 s (Pandera's checks 0.80 s to 0.45 s), a quarter of the
    ingestion target's 1.5 s per million rows. Take columns out of a frame before calling: pandas
    caches them on first access, which is not thread-safe.
    """
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return list(pool.map(function, *arguments))


def write_frame(path: Any, frame: pd.DataFrame) -> None:
    """Store a DataFrame as Parquet, atomically, encoded for fast writes of large batches.

    Dictionary encoding only where a sample shows few distinct values (labels, categories, file
    names) and min/max statistics only on non-text columns: on a million rows of the demo that
    cuts the write time by a third (about 0.2 s per million rows over the batch's four tables)
    for the same file size as pyarrow's defaults.
    """
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    text = [field.name for field in table.schema if field.type in TEXT_TYPES]
    repeated = [name for name in text if _few_distinct(table.column(name))]
    atomic_write(
        path,
        lambda handle: pq.write_table(
            table,
            handle,
            compression="snappy",
            use_dictionary=repeated,
            write_statistics=[name for name in table.column_names if name not in text],
        ),
    )


def _few_distinct(column: pa.ChunkedArray, sample: int = 10_000, share: float = 0.1) -> bool:
    import pyarrow.compute as pc

    head = column.slice(0, sample)
    return len(head) == 0 or pc.count_distinct(head).as_py() <= share * len(head)


def read_frames(paths: list[Any], columns: list[str] | None = None) -> pd.DataFrame:
    """Parquet artifacts of one schema, stacked into one frame (one conversion to pandas).

    ``columns`` reads only those columns (all by default).
    """
    import pyarrow.parquet as pq

    if not paths:
        return pd.DataFrame(columns=columns)
    tables = []
    for path in paths:
        with path.open("rb") as handle:
            tables.append(pq.read_table(handle, columns=columns))
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
    return table.to_pandas(types_mapper=TEXT_TYPES.get)


def iter_frames(
    paths: list[Any], columns: list[str] | None = None, chunk_rows: int = 1_000_000
) -> Iterator[pd.DataFrame]:
    """The rows of ``read_frames``, in the same order, as frames of at most ``chunk_rows`` rows.

    Memory holds one chunk, so a table larger than memory can be read through.
    """
    import pyarrow.parquet as pq

    for path in paths:
        with path.open("rb") as handle:
            for chunk in pq.ParquetFile(handle).iter_batches(chunk_rows, columns=columns):
                yield chunk.to_pandas(types_mapper=TEXT_TYPES.get)
