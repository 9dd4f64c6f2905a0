"""Inferring a contract from a sample, and the `ml-assets` command a newcomer runs."""

from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest

from ml_assets.cli import main
from ml_assets.lib.contract import validate_rows
from ml_assets.lib.contract_inference import infer_contract, infer_task
from ml_assets.lib.ingestion import read_landing_file
from ml_assets.lib.project_config import load_project, with_source_columns

SAMPLE = """id,age,income,plan,note,churn
C1,34,52000.5,basic,hello,No
C2,,61000.0,plus,world,Yes
C3,51,48000.25,,again,No
C4,29,75000.0,premium,more,Yes
"""


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text(SAMPLE)
    return path


def test_inferred_contract_has_types_nullability_ranges_and_categories(sample: Path) -> None:
    contract = infer_contract(
        read_landing_file(sample), target="churn", task="binary", key="id", max_categories=3
    )
    columns = contract.columns
    assert str(columns["age"].dtype) == "int64" and columns["age"].nullable
    stats = columns["age"].checks[0].statistics
    assert (stats["min_value"], stats["max_value"]) == (26, 54)
    assert str(columns["income"].dtype) == "float64" and not columns["income"].nullable
    assert columns["plan"].checks[0].statistics["allowed_values"] == ["basic", "plus", "premium"]
    assert columns["note"].checks == []
    assert columns["churn"].checks[0].statistics["allowed_values"] == ["No", "Yes"]
    assert columns["id"].unique and contract.strict


def test_inferred_contract_catches_new_categories_and_out_of_range_values(sample: Path) -> None:
    sample_frame = read_landing_file(sample)
    contract = with_source_columns(
        infer_contract(sample_frame, target="churn", task="binary", key="id", max_categories=3)
    )
    batch = pd.DataFrame(
        {
            "id": ["C9", "C10"],
            "age": ["40", "400"],
            "income": ["50000", "50000"],
            "plan": ["gold", "basic"],
            "note": ["x", "y"],
            "churn": ["No", "Yes"],
            "_batch": "next.csv-00000000",
            "_source_file": "next.csv",
            "_source_line": [2, 3],
        }
    )
    reasons = validate_rows(batch, contract).quarantined["_reason"].tolist()
    assert reasons == [
        "plan: isin(['basic', 'plus', 'premium']) failed for 'gold'",
        "age: in_range(26, 54) failed for '400'",
    ]


def test_a_nullable_integer_column_keeps_its_missing_values(sample: Path) -> None:
    frame = read_landing_file(sample)
    contract = with_source_columns(
        infer_contract(frame, target="churn", task="binary", key="id", max_categories=3)
    )
    result = validate_rows(frame, contract)
    assert result.quarantined.empty
    assert str(result.valid["age"].dtype) == "Int64"
    assert result.valid["age"].isna().tolist() == [False, True, False, False]
    assert result.valid["age"].dropna().tolist() == [34, 51, 29]


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "binary"),
        (["1", "0", "1"], "binary"),
        (["x", "y", "z"], "multiclass"),
        (["1.5", "2.25", "3.0"], "regression"),
        ([str(v) for v in range(40)], "regression"),
    ],
)
def test_task_is_inferred_from_the_target(values, task) -> None:
    assert infer_task(pd.Series(values)) == task


def test_init_writes_a_config_and_contract_that_load(sample: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "project"
    assert (
        main(
            [
                "init",
                str(sample),
                "--target",
                "churn",
                "--key",
                "id",
                "--sensitive",
                "plan",
                "--out",
                str(out),
                "--max-categories",
                "3",
            ]
        )
        == 0
    )
    assert "binary task on 'churn' (free-text columns dropped: ['note'])" in capsys.readouterr().out
    project = load_project(out / "ml_assets.yaml")
    assert project.spec.positive_label == "Yes"
    assert project.spec.numeric_features == ("age", "income")
    assert project.spec.categorical_features == ("plan",)
    assert project.data_dir == (out / "data").resolve()
    assert pa.DataFrameSchema.from_yaml(out / "contract.yaml").columns["id"].unique
    assert main(["init", str(sample), "--target", "churn", "--out", str(out)]) == 2
    assert "exists; pass --force to overwrite it" in capsys.readouterr().err


def test_cli_errors_name_the_file_and_the_problem(sample: Path, tmp_path: Path, capsys) -> None:
    assert (
        main(["infer-contract", str(sample), "--target", "label", "-o", str(tmp_path / "c.yaml")])
        == 2
    )
    assert "customers.csv: no target column 'label'" in capsys.readouterr().err
    assert (
        main(
            [
                "init",
                str(sample),
                "--target",
                "churn",
                "--positive-label",
                "Maybe",
                "--out",
                str(tmp_path / "p"),
            ]
        )
        == 2
    )
    assert (
        "--positive-label 'Maybe' is not one of the labels ['No', 'Yes']" in capsys.readouterr().err
    )
