"""Records are judged by the pipeline's own rules: the same failures as a landing file's rows."""

import math
from unittest import mock

import hypothesis.strategies as st
import pandas as pd
import pytest
from hypothesis import given, settings

from ml_assets.lib.contract.dataset import BATCH, SOURCE_FILE, SOURCE_LINE
from ml_assets.lib.contract.validation import validate_rows
from ml_assets.serving import records as records_module
from ml_assets.serving.records import RecordsRejected, RecordValidator
from ml_assets_tests.serving.support import DEMO

RECORDS = [
    {"numeric1": 0.5, "numeric2": 40.0, "category": "A"},
    {"numeric1": "1,5", "numeric2": 140.0, "category": "Z"},
    {"numeric1": "inf", "numeric2": None, "category": "B"},
    {"numeric1": -11, "numeric2": "forty", "category": None},
]


def as_landing_rows(records: list[dict]) -> pd.DataFrame:
    """The records as a CSV's text rows, tagged as ingestion tags them."""
    rows = [
        {
            **{name: None if value is None else str(value) for name, value in record.items()},
            "target": "0",
            BATCH: "request",
            SOURCE_FILE: "request.csv",
            SOURCE_LINE: index + 2,
        }
        for index, record in enumerate(records)
    ]
    return pd.DataFrame(rows, dtype="object").astype({SOURCE_LINE: "int64"})


def test_records_fail_the_rules_a_landing_file_row_fails() -> None:
    validator = RecordValidator(DEMO.contract, DEMO.spec)
    with pytest.raises(RecordsRejected) as rejected:
        validator.model_frame(RECORDS)
    served = {(error.record, error.field, error.rule) for error in rejected.value.errors}
    pipeline = validate_rows(as_landing_rows(RECORDS), DEMO.contract).failures
    expected = {
        (int(line) - 2, column, rule)
        for line, column, rule in pipeline[[SOURCE_LINE, "column", "rule"]].itertuples(index=False)
    }
    assert served == expected
    assert (1, "numeric1", "decimal point (found a decimal comma)") in served
    assert (2, "numeric1", "finite") in served and (3, "category", "not_nullable") in served


def test_valid_records_become_the_model_inputs_with_derived_features() -> None:
    frame = RecordValidator(DEMO.contract, DEMO.spec).model_frame(
        [RECORDS[0], {"numeric2": 50, "category": "C", "target": 1}]
    )
    assert list(frame.columns) == ["numeric1", "numeric2", "category", "numeric_ratio"]
    assert frame["numeric_ratio"].iloc[0] == pytest.approx(0.5 / 40.0)
    assert pd.isna(frame["numeric1"].iloc[1]) and frame["category"].tolist() == ["A", "C"]


NUMBERS = (
    st.none()
    | st.integers(-(2**60), 2**60)
    | st.floats(-1e6, 1e6)
    | st.floats(-500, 500)
    | st.sampled_from([-0.0, 5e-324, 2**53 - 1, 1e15 + 0.3, 12, -3])
)
ODD = (  # what a column of plain numbers must not take the fast path with
    st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(10**400), 10**400)
    | st.sampled_from([math.nan, math.inf, -math.inf, 2**53, -(2**53), 2**63, 10**400, 1e16])
    | st.sampled_from(["1.5", "1,5", "NaN", "x", ""])
    | st.lists(st.integers(), max_size=2)
)


@st.composite
def column(draw: st.DrawFn) -> list:
    """A few plain numbers or nulls, and sometimes one odd value among them."""
    values = draw(st.lists(NUMBERS, min_size=1, max_size=6))
    if draw(st.booleans()):
        values.insert(draw(st.integers(0, len(values))), draw(ODD))
    return values


CONTRACTS = [DEMO.contract, DEMO.contract.update_columns({"numeric2": {"dtype": "int64"}})]


def outcome(validator: RecordValidator, records: list[dict]) -> object:
    """The typed frame, or every broken rule with its message."""
    try:
        return validator.model_frame(records)
    except RecordsRejected as rejected:
        return [(error, error.message) for error in rejected.errors]


@pytest.mark.parametrize("contract", CONTRACTS, ids=["float", "int"])
@settings(max_examples=200, deadline=None)
@given(first=column(), second=column(), category=st.sampled_from(["A", "B", None]))
def test_numbers_sent_as_json_numbers_get_the_verdicts_of_their_text(
    contract: object, first: list, second: list, category: str | None
) -> None:
    """Plain JSON numbers skip the text conversion: same frame, same failures as through text."""
    records = [
        {"numeric1": one, "numeric2": two, "category": category}
        for one, two in zip(first, second, strict=False)
    ]
    validator = RecordValidator(contract, DEMO.spec)
    fast = outcome(validator, records)
    with mock.patch.object(records_module, "_as_numbers", return_value=None):
        text = outcome(validator, records)
    if isinstance(text, pd.DataFrame):
        pd.testing.assert_frame_equal(fast, text)
    else:
        assert fast == text
