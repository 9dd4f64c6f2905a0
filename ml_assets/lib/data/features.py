"""Deterministic, row-wise feature engineering and the append-stable train/test split.

Nothing here is fitted on data: imputation, scaling and encoding live in the model's Pipeline,
so training and serving share them and nothing leaks from the test side.
"""

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
from pandas.errors import UndefinedVariableError

from ml_assets.lib.contract.dataset import (
    BATCH,
    ROW_KEY,
    SOURCE_FILE,
    SOURCE_LINE,
    SPLIT,
    TEST,
    TRAIN,
    DatasetSpec,
)
from ml_assets.lib.core.threads import AST_PARSING

_HASH_BUCKETS = 10_000


def derive_columns(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Add the spec's derived columns, computed row by row with ``DataFrame.eval``.

    Divisions by zero give NaN (not infinity) so the Pipeline's imputer handles them. Names are
    looked up in the frame's columns first, as ``DataFrame.eval`` looks them up, without building
    its resolvers (two thirds of its time on a request's frame); a name only they hold (quoted in
    backticks, the index) takes ``DataFrame.eval`` itself.
    """
    derived = {}
    for name, expression in spec.derived_features.items():
        with AST_PARSING:
            try:
                result = pd.eval(expression, engine="python", resolvers=(frame,), target=frame)
            except UndefinedVariableError:
                result = frame.eval(expression, engine="python")
        values = pd.to_numeric(result, errors="raise")
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        derived[name] = np.where(np.isinf(numbers), np.nan, numbers)
    return pd.DataFrame(derived, index=frame.index, columns=list(derived), copy=False)


def row_keys(frame: pd.DataFrame, spec: DatasetSpec) -> pd.Series:
    """A stable 64-bit key per row: the hashed key column, or the hashed row content.

    Text is hashed as categories, once per distinct value: pandas gives a categorical value the
    same hash as the value itself, at a fraction of the cost of hashing every cell.
    """
    names = [spec.key] if spec.key else [*spec.input_columns, spec.target]
    columns = {name: _hashable(frame[name]) for name in names}
    hashable = pd.DataFrame(columns, index=frame.index, copy=False)
    return pd.util.hash_pandas_object(hashable, index=False)


def _hashable(column: pd.Series) -> pd.Series:
    text = pd.api.types.is_string_dtype(column.dtype) or pd.api.types.is_object_dtype(column.dtype)
    return column.astype("category") if text else column


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
        BATCH: validated[BATCH],
        SOURCE_FILE: validated[SOURCE_FILE],
        SOURCE_LINE: validated[SOURCE_LINE],
    }
    table = pd.DataFrame(columns, copy=False)
    table.index = pd.RangeIndex(len(table))
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
            BATCH: pandera.Column(str),
            SOURCE_FILE: pandera.Column(str),
            SOURCE_LINE: pandera.Column("int64", pandera.Check.ge(1)),
        },
        name="features",
        strict=True,
        ordered=True,
    )
