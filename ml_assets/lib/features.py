"""Deterministic, row-wise feature engineering and the append-stable train/test split.

Nothing here is fitted on data: imputation, scaling and encoding live in the model's Pipeline,
so training and serving share them and nothing leaks from the test side.
"""

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
from pandas.core.util.hashing import combine_hash_arrays

from ml_assets.lib.dataset import ROW_KEY, SOURCE_FILE, SOURCE_LINE, SPLIT, TEST, TRAIN, DatasetSpec
from ml_assets.lib.frames import map_columns

_HASH_BUCKETS = 10_000


def derive_columns(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Add the spec's derived columns, computed row by row with ``DataFrame.eval``.

    Divisions by zero give NaN (not infinity) so the Pipeline's imputer handles them.
    """
    derived = {}
    for name, expression in spec.derived_features.items():
        values = pd.to_numeric(frame.eval(expression, engine="python"), errors="raise")
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        derived[name] = np.where(np.isinf(numbers), np.nan, numbers)
    return pd.DataFrame(derived, index=frame.index, columns=list(derived), copy=False)


def row_keys(frame: pd.DataFrame, spec: DatasetSpec) -> pd.Series:
    """A stable 64-bit key per row: the hashed key column, or the hashed row content.

    Equal to pandas' ``hash_pandas_object`` of those columns, computed a column per thread. Text
    is hashed as categories, once per distinct value: pandas gives categorical values the same
    hash as the values themselves, at a fraction of the cost of hashing every cell.
    """
    columns = [
        frame[name] for name in ([spec.key] if spec.key else [*spec.input_columns, spec.target])
    ]
    hashes = map_columns(_column_hash, columns)
    return pd.Series(combine_hash_arrays(iter(hashes), len(hashes)), index=frame.index)


def _column_hash(column: pd.Series) -> np.ndarray:
    text = pd.api.types.is_string_dtype(column.dtype) or pd.api.types.is_object_dtype(column.dtype)
    hashable = column.astype("category") if text else column
    return pd.util.hash_pandas_object(hashable, index=False).to_numpy()


def assign_split(keys: pd.Series, test_fraction: float) -> pd.Series:
    """Put a row on the test side when its key hashes below the test fraction.

    The side depends only on the row's own key, so appending rows never moves existing ones, and
    identical rows always land on the same side. The threshold is independent of the label, so
    every class is split in the same expected proportion.
    """
    bucket = (keys.to_numpy() % np.uint64(_HASH_BUCKETS)).astype("int64")
    is_test = (bucket < round(test_fraction * _HASH_BUCKETS)).astype("int8")
    sides = pa.array([TRAIN, TEST]).take(pa.array(is_test))
    return pd.Series(pd.arrays.ArrowExtensionArray(sides), index=keys.index)


def build_features(validated: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Model inputs, target, row key, split side and source of every validated row."""
    keys = row_keys(validated, spec)
    columns = {
        **{name: validated[name] for name in spec.input_columns},
        **derive_columns(validated, spec),
        spec.target: validated[spec.target],
        ROW_KEY: keys.astype("int64"),
        SPLIT: assign_split(keys, spec.test_fraction),
        SOURCE_FILE: validated[SOURCE_FILE],
        SOURCE_LINE: validated[SOURCE_LINE],
    }
    table = pd.DataFrame(columns, copy=False)
    table.index = pd.RangeIndex(len(table))
    return table


def split_balance(features: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Rows per split side (and per class, for classification), counted in one pass.

    Shows how well the hashed split stratifies; the ``split_is_usable`` check reads it too.
    """
    is_test = (features[SPLIT] == TEST).to_numpy(dtype=bool)
    if not spec.is_classification:
        test_rows = int(is_test.sum())
        return pd.DataFrame({SPLIT: [TEST, TRAIN], "rows": [test_rows, len(features) - test_rows]})
    codes, classes = pd.factorize(features[spec.target], sort=True)
    labelled = codes >= 0
    counts = np.bincount(
        codes[labelled] * 2 + is_test[labelled], minlength=2 * len(classes)
    ).reshape(-1, 2)
    table = pd.DataFrame({spec.target: classes, TEST: counts[:, 1], TRAIN: counts[:, 0]})
    table["test_share"] = table[TEST] / (table[TEST] + table[TRAIN])
    return table


def features_schema(
    contract: pandera.DataFrameSchema, spec: DatasetSpec
) -> pandera.DataFrameSchema:
    """The Pandera schema of the features table, derived from the contract it was built from."""
    inputs = {name: contract.columns[name] for name in spec.input_columns}
    derived = {name: pandera.Column(float, nullable=True) for name in spec.derived_features}
    return pandera.DataFrameSchema(
        {
            **inputs,
            **derived,
            spec.target: contract.columns[spec.target],
            ROW_KEY: pandera.Column("int64"),
            SPLIT: pandera.Column(str, pandera.Check.isin([TRAIN, TEST])),
            SOURCE_FILE: pandera.Column(str),
            SOURCE_LINE: pandera.Column("int64", pandera.Check.ge(1)),
        },
        name="features",
        strict=True,
        ordered=True,
    )
