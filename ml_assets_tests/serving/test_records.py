"""Records are judged by the pipeline's own rules: the same failures as a landing file's rows."""

import pandas as pd
import pytest

from ml_assets.lib.contract.dataset import BATCH, SOURCE_FILE, SOURCE_LINE
from ml_assets.lib.contract.validation import validate_rows
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
