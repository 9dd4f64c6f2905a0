"""Row-level validation: every failure kept with its reason, every row accounted for."""

import json

import hypothesis.strategies as st
import pandas as pd
import pandera.pandas as pandera
import pytest
from hypothesis import given, settings

from ml_assets.lib.contract.validation import ContractError, validate_rows
from ml_assets_tests.conftest import DEMO

SCHEMA = DEMO.contract
GOOD = {"numeric1": "0.5", "numeric2": "50", "category": "A", "target": "1"}


def batch(*rows: dict) -> pd.DataFrame:
    frame = pd.DataFrame([{**GOOD, **row} for row in rows])
    frame["_batch"] = "batch.csv-00000000"
    frame["_source_file"] = "batch.csv"
    frame["_source_line"] = range(2, len(frame) + 2)
    return frame


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"numeric2": "fifty"}, "numeric2: dtype('float64') failed for 'fifty'"),
        ({"numeric2": "150"}, "numeric2: less_than_or_equal_to(100.0) failed for '150'"),
        ({"numeric2": None}, "numeric2: not_nullable failed for None"),
        ({"numeric1": "inf"}, "numeric1: finite failed for 'inf'"),
        ({"category": "D"}, "category: isin(['A', 'B', 'C']) failed for 'D'"),
        ({"target": "2"}, "target: isin([0, 1]) failed for '2'"),
        ({"target": "0.5"}, "target: integer failed for '0.5'"),
        ({"target": "1e30"}, "target: within the int64 range failed for '1e30'"),
    ],
)
def test_each_broken_rule_is_quarantined_with_its_reason(override, reason) -> None:
    result = validate_rows(batch({}, override), SCHEMA)
    assert len(result.valid) == 1
    assert result.quarantined["_reason"].tolist() == [reason]
    assert result.quarantined["_source_line"].tolist() == [3]


def test_a_conversion_failure_does_not_hide_the_other_failures_of_its_row() -> None:
    result = validate_rows(batch({"numeric1": "abc", "numeric2": "-5", "category": None}), SCHEMA)
    failures = json.loads(result.quarantined["_failures"].iloc[0])
    assert [(failure["column"], failure["rule"]) for failure in failures] == [
        ("category", "not_nullable"),
        ("numeric1", "dtype('float64')"),
        ("numeric2", "greater_than_or_equal_to(0.0)"),
    ]


def test_table_wide_grouped_and_uniqueness_checks_still_apply() -> None:
    below = pandera.Check(
        lambda df: df["numeric1"] < df["numeric2"], name="numeric1_below_numeric2"
    )
    a_mean = pandera.Check(
        lambda groups: groups["A"].mean() < 60, groupby="category", name="a_mean"
    )
    schema = SCHEMA.update_columns(
        {"numeric2": {"checks": [*SCHEMA.columns["numeric2"].checks, a_mean]}}
    )
    schema.checks = [below]
    schema.unique = ["numeric1", "category"]

    result = validate_rows(
        batch({}, {"numeric1": "9", "numeric2": "5"}, {"numeric1": "0.5"}), schema
    )
    assert result.valid.empty
    assert set(result.failures["rule"]) == {"numeric1_below_numeric2", "multiple_fields_uniqueness"}
    assert sorted(result.failures["row"].unique()) == [0, 1, 2]

    with pytest.raises(ContractError, match="numeric2: a_mean"):
        validate_rows(batch({"numeric2": "90"}), schema)


def test_valid_rows_get_the_contract_types_and_pass_the_schema() -> None:
    result = validate_rows(batch({}, {"numeric1": None}), SCHEMA)
    assert result.quarantined.empty
    assert str(result.valid["target"].dtype) == "int64"
    assert result.valid["numeric1"].isna().tolist() == [False, True]
    SCHEMA.validate(result.valid)


BAD_VALUES = {
    "numeric1": ["x", "inf", "11"],
    "numeric2": ["", "-1", "1e9", "n/a?"],
    "category": ["Z", "a", None],
    "target": ["2", "yes", "0.5", None],
}


@st.composite
def mixed_batches(draw):
    rows = []
    for _ in range(draw(st.integers(0, 30))):
        broken = draw(st.sets(st.sampled_from(sorted(BAD_VALUES)), max_size=4))
        rows.append({column: draw(st.sampled_from(BAD_VALUES[column])) for column in broken})
    return rows


@settings(max_examples=60, deadline=None)
@given(mixed_batches())
def test_random_mixes_of_good_and_bad_rows_are_fully_accounted_for(rows) -> None:
    raw = batch(*rows) if rows else batch({}).iloc[0:0]
    result = validate_rows(raw, SCHEMA)
    expected_bad = sum(1 for row in rows if row)
    assert len(result.valid) + len(result.quarantined) == len(raw)
    assert len(result.quarantined) == expected_bad
    assert result.quarantined["_reason"].str.len().gt(0).all()
    broken_lines = sorted(
        line for line, row in zip(range(2, len(rows) + 2), rows, strict=True) if row
    )
    assert sorted(result.quarantined["_source_line"]) == broken_lines


@pytest.mark.parametrize("dtype", ["datetime64[ns]", "datetime64[ns, UTC]"])
def test_a_datetime_column_validates_whether_or_not_its_type_has_a_zone(dtype: str) -> None:
    schema = pandera.DataFrameSchema(
        {
            "when": pandera.Column(dtype),
            "_batch": pandera.Column(str),
            "_source_file": pandera.Column(str),
            "_source_line": pandera.Column("int64"),
        }
    )
    raw = pd.DataFrame(
        {
            "when": ["2026-01-02 00:00:00", "2026-01-03 04:05:06", "not a date"],
            "_batch": "b.csv-00000000",
            "_source_file": "b.csv",
            "_source_line": [2, 3, 4],
        }
    )
    result = validate_rows(raw, schema)
    assert str(result.valid["when"].dtype) == dtype
    assert result.valid["when"].dt.strftime("%Y-%m-%d %H:%M:%S").tolist() == [
        "2026-01-02 00:00:00",
        "2026-01-03 04:05:06",
    ]
    assert result.quarantined["_reason"].tolist() == [
        "when: dtype('datetime64') failed for 'not a date'"
    ]
