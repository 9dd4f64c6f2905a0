"""Feature engineering and the hashed split: deterministic, stratified, append-stable."""

import dataclasses
import threading

import numpy as np
import pandas as pd
import pytest

from ml_assets.demo.data import DEMO_SPEC, make_demo_frame
from ml_assets.lib.contract.dataset import DatasetSpec
from ml_assets.lib.core.frames import TEXT
from ml_assets.lib.core.threads import AST_PARSING
from ml_assets.lib.data.features import (
    build_features,
    derive_columns,
    features_schema,
    row_keys,
)
from ml_assets_tests.conftest import DEMO


def validated(rows: int, seed: int = 42) -> pd.DataFrame:
    frame = make_demo_frame(rows, seed=seed)
    frame["_batch"] = "demo.csv-00000000"
    frame["_source_file"] = "demo.csv"
    frame["_source_line"] = range(2, rows + 2)
    return frame


def test_demo_data_follows_the_seed_rule_and_is_deterministic() -> None:
    frame = make_demo_frame(2000)
    pd.testing.assert_frame_equal(frame, make_demo_frame(2000))
    assert (frame["target"] == (frame["numeric1"].fillna(0) + frame["numeric2"] > 50)).all()
    assert 0.05 < frame["numeric1"].isna().mean() < 0.15
    assert set(frame["category"]) == {"A", "B", "C"}


def test_derived_columns_are_row_wise_and_division_by_zero_is_missing() -> None:
    frame = pd.DataFrame({"numeric1": [1.0, 2.0, np.nan], "numeric2": [4.0, 0.0, 5.0]})
    derived = derive_columns(frame, DEMO_SPEC)
    assert derived["numeric_ratio"].tolist()[0] == 0.25
    assert derived["numeric_ratio"].isna().tolist() == [False, True, True]


@pytest.mark.parametrize(
    "expression",
    [
        "numeric1 / numeric2",
        "(numeric1 > 0) & (numeric2 < 5)",
        "`lot area` * 2",
        "index + numeric2",
    ],
)
def test_derived_columns_are_what_dataframe_eval_gives(expression: str) -> None:
    """Names only DataFrame.eval resolves (quoted in backticks, the index) still resolve."""
    frame = pd.DataFrame(
        {"numeric1": [1.0, -2.0, np.nan], "numeric2": [4.0, 0.0, 5.0], "lot area": [1, 2, 3]}
    )
    spec = dataclasses.replace(DEMO_SPEC, derived_features={"derived": expression})
    expected = frame.eval(expression, engine="python").astype("float64").replace(-np.inf, np.nan)
    pd.testing.assert_series_equal(
        derive_columns(frame, spec)["derived"], expected, check_names=False
    )


def test_a_derived_column_waits_while_another_thread_parses_python() -> None:
    """CPython 3.11.7's ast module breaks when two threads parse at once (gh-106905)."""
    frame = pd.DataFrame({"numeric1": [1.0], "numeric2": [4.0]})
    done = threading.Event()
    worker = threading.Thread(target=lambda: (derive_columns(frame, DEMO_SPEC), done.set()))
    with AST_PARSING:
        worker.start()
        assert not done.wait(0.3)
    assert done.wait(10)
    worker.join()


def test_features_match_their_schema_and_are_deterministic() -> None:
    table = build_features(validated(500), DEMO_SPEC)
    features_schema(DEMO.contract, DEMO_SPEC).validate(table)
    pd.testing.assert_frame_equal(table, build_features(validated(500), DEMO_SPEC))


def test_appending_rows_never_moves_existing_rows_between_sides() -> None:
    old = build_features(validated(1000), DEMO_SPEC)
    new = build_features(
        pd.concat([validated(1000), validated(700, seed=7)], ignore_index=True), DEMO_SPEC
    )
    assert new["_split"].iloc[:1000].tolist() == old["_split"].tolist()


@pytest.mark.parametrize("text_dtype", [TEXT, "object"])
def test_row_keys_are_pandas_hash_of_every_cell(text_dtype) -> None:
    """Hashing text per distinct value must not change any key, or stored rows would change side."""
    frame = validated(400).astype({"category": text_dtype})
    frame.loc[[3, 9], "category"] = None
    frame.loc[5, "numeric1"] = np.nan
    columns = [*DEMO_SPEC.input_columns, DEMO_SPEC.target]
    expected = pd.util.hash_pandas_object(frame[columns], index=False).astype("uint64")
    pd.testing.assert_series_equal(row_keys(frame, DEMO_SPEC), expected)


def test_split_is_close_to_the_test_fraction_in_every_class() -> None:
    features = build_features(validated(5000), DEMO_SPEC)
    shares = (features["_split"] == "test").groupby(features["target"]).mean()
    assert shares.between(0.17, 0.23).all()


def test_key_column_decides_the_side_when_declared() -> None:
    spec = DatasetSpec(
        name="keyed",
        target="target",
        task="binary",
        numeric_features=("numeric2",),
        categorical_features=(),
        key="id",
    )
    frame = validated(300)
    frame["id"] = range(300)
    first = build_features(frame, spec)
    frame["numeric2"] = 0.0
    assert build_features(frame, spec)["_split"].tolist() == first["_split"].tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"numeric_features": ("target",)}, "also listed as a feature"),
        ({"numeric_features": ("a", "a")}, "listed twice"),
        ({"numeric_features": ("_split",)}, "reserved"),
        ({"test_fraction": 1.0}, "test_fraction"),
    ],
)
def test_inconsistent_specs_are_refused(kwargs, message) -> None:
    base = {
        "name": "x",
        "target": "target",
        "task": "binary",
        "numeric_features": ("a",),
        "categorical_features": (),
    }
    with pytest.raises(ValueError, match=message):
        DatasetSpec(**{**base, **kwargs})
