"""Inferring a contract from a sample, and the `ml-assets` command a newcomer runs."""

from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest

from ml_assets.cli import main
from ml_assets.lib.contract.inference import (
    contract_yaml,
    infer_columns,
    infer_task,
    minority_label,
)
from ml_assets.lib.contract.validation import validate_rows
from ml_assets.lib.data.ingestion import read_landing_file
from ml_assets.lib.model.modeling import INIT_BUDGET, budget_for
from ml_assets.lib.project.project_config import load_project, with_source_columns

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


def infer_schema(*args, **kwargs):
    return infer_columns(*args, **kwargs).schema


def test_inferred_contract_has_types_nullability_ranges_and_categories(sample: Path) -> None:
    contract = infer_schema(
        read_landing_file(sample), target="churn", task="binary", key="id", max_categories=3
    )
    columns = contract.columns
    assert str(columns["age"].dtype) == "int64" and columns["age"].nullable
    # No negatives: a floor at 0 by the data's nature, not at the sample's 29, and no ceiling.
    assert columns["age"].checks[0].statistics == {"min_value": 0}
    # No gap in the sample's income, yet a gap is not wrong: only the target and key are required.
    assert str(columns["income"].dtype) == "float64" and columns["income"].nullable
    assert not columns["churn"].nullable and not columns["id"].nullable
    assert columns["plan"].checks[0].statistics["allowed_values"] == ["basic", "plus", "premium"]
    assert columns["note"].checks == []
    assert columns["churn"].checks[0].statistics["allowed_values"] == ["No", "Yes"]
    assert columns["id"].unique and contract.strict


def test_inferred_contract_catches_new_categories_and_out_of_range_values(sample: Path) -> None:
    sample_frame = read_landing_file(sample)
    contract = with_source_columns(
        infer_schema(sample_frame, target="churn", task="binary", key="id", max_categories=3)
    )
    batch = pd.DataFrame(
        {
            "id": ["C9", "C10"],
            "age": ["40", "-4"],
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
        "age: greater_than_or_equal_to(0) failed for '-4'",
    ]


def test_a_nullable_integer_column_keeps_its_missing_values(sample: Path) -> None:
    frame = read_landing_file(sample)
    contract = with_source_columns(
        infer_schema(frame, target="churn", task="binary", key="id", max_categories=3)
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
    printed = capsys.readouterr().out
    assert "binary task on 'churn'" in printed
    assert "not a feature: 'note', free text" in printed
    project = load_project(out / "ml_assets.yaml")
    assert project.spec.positive_label == "Yes"
    assert project.spec.numeric_features == ("age", "income")
    assert project.spec.categorical_features == ("plan",)
    rows = len(read_landing_file(sample))
    assert project.config.training.budget == budget_for(rows)
    assert f"search budget {budget_for(rows)} trials for {rows} rows" in printed
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


ROWS = 60


def text_frame(**columns) -> pd.DataFrame:
    """A sample as the pipeline reads it: every column text, missing cells as NA."""
    frame = pd.DataFrame(
        {name: [None if v is None else str(v) for v in values] for name, values in columns.items()}
    )
    return frame.astype("string")


def rule(values, name: str = "column"):
    """The inferred contract column for ``values`` (with a constant target beside it)."""
    sample = text_frame(**{name: values, "label": ["a", "b"] * (len(values) // 2)})
    inference = infer_columns(sample, target="label", task="binary")
    return inference.schema.columns[name], inference


def statistics(column) -> dict:
    return {check.name: check.statistics for check in column.checks}


@pytest.mark.parametrize(
    ("values", "codes"),
    [([0, 1] * 30, [0, 1]), ([1, 2, 2] * 20, [1, 2]), ([1, 2, 5, 9] * 15, [1, 2, 5, 9])],
)
def test_two_valued_and_few_valued_integer_codes_become_categories(values, codes) -> None:
    column, inference = rule(values)
    assert statistics(column) == {"isin": {"allowed_values": codes}}
    assert inference.categorical == ["column"]
    assert "a code" in inference.reasons["column"]


@pytest.mark.parametrize(
    "values",
    [
        [0, 1, 2] * 20,  # one consecutive run: a count or a scale
        list(range(6, 61, 6)) * 6,  # an even run: months on a six-month step
        [3] * 60,  # one value: a constant
        [1, 2, 5, 9] * 14 + [1, 2, 5, 11],  # 11 seen once: not a common code
        list(range(0, 120, 10)) * 5,  # twelve values: more than a few
    ],
)
@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_near_miss_integers_keep_a_range(values) -> None:
    column, inference = rule(values)
    assert set(statistics(column)) == {"greater_than_or_equal_to"}
    assert inference.categorical == []


def test_a_non_negative_column_has_a_floor_at_zero_and_no_ceiling() -> None:
    for values, name in (
        (list(range(11)) * 6, "column"),
        ([18 + (i * 37) % 64 for i in range(64)], "age"),
    ):
        column, inference = rule(values, name)
        assert statistics(column) == {"greater_than_or_equal_to": {"min_value": 0}}
        assert (
            "never below 0" in inference.reasons[name]
            and "is not a limit" in inference.reasons[name]
        )


def test_a_column_with_negatives_has_no_bound() -> None:
    column, inference = rule(list(range(-1, 10)) * 6)
    assert statistics(column) == {}
    assert "negatives in the sample: no bound" in inference.reasons["column"]


def test_a_share_is_bounded_by_zero_and_one_and_a_near_miss_is_not() -> None:
    share = statistics(rule([0.05, 0.5, 0.9] * 20)[0])["in_range"]
    assert (share["min_value"], share["max_value"]) == (0, 1)
    wider = statistics(rule([0.05, 0.5, 1.25] * 20)[0])
    assert wider == {"greater_than_or_equal_to": {"min_value": 0}}


def test_a_year_column_has_no_ceiling_so_later_years_pass() -> None:
    years = [2015, 2016, 2017, 2018, 2019, 2020] * 10
    year_column, _ = rule(years, "signup_year")
    assert statistics(year_column) == {"greater_than_or_equal_to": {"min_value": 0}}


def test_dates_parse_as_dates_and_are_kept_out_of_the_features() -> None:
    days = [f"2024-0{month}-1{day}" for month in range(1, 7) for day in range(10)]
    column, inference = rule(days, "signed_on")
    assert str(column.dtype) == "datetime64[ns, UTC]" and column.checks == []
    assert inference.dates == ["signed_on"]
    near_miss, inference = rule([*days[:-1], "soon"], "signed_on")
    assert str(near_miss.dtype) == "str" and inference.dates == []


@pytest.mark.parametrize(
    ("values", "name", "identifier"),
    [
        ([f"C{i:03d}" for i in range(ROWS)], "customer", True),
        ([f"C{i:03d}" for i in range(ROWS - 1)] + ["C000"], "customer", False),  # a repeat
        (list(range(1000, 1000 + ROWS)), "row", True),  # near-consecutive integers
        ([i * 7919 for i in range(ROWS)], "amount", False),  # unique but spread out
        ([i * 7919 for i in range(ROWS)], "customerID", True),  # ... named like an id
        ([f"C{i}" for i in range(10)], "code", False),  # too few rows to tell
        ([1000 + (i * 37) % ROWS for i in range(ROWS)], "row", False),  # unique, not in order
    ],
)
def test_identifiers_are_detected_and_near_misses_are_not(values, name, identifier) -> None:
    column, inference = rule(values, name)
    assert (inference.identifiers == [name]) is identifier
    assert bool(column.unique) is identifier


def test_reasons_are_comments_in_a_contract_that_still_loads(tmp_path: Path) -> None:
    sample = text_frame(flag=[0, 1] * 30, label=["a", "b"] * 30)
    inference = infer_columns(sample, target="label", task="binary")
    text = contract_yaml(inference.schema, inference.reasons)
    lines = text.splitlines()
    flag = lines.index("  flag:")
    assert lines[flag - 1].startswith("  # 2 integer values [0, 1]: a code")
    path = tmp_path / "contract.yaml"
    path.write_text(text)
    assert pa.DataFrameSchema.from_yaml(path).columns.keys() == inference.schema.columns.keys()


def test_the_positive_label_defaults_to_the_minority_class() -> None:
    assert minority_label(pd.Series(["No"] * 8 + ["Yes"] * 2)) == "Yes"
    assert minority_label(pd.Series(["No"] * 2 + ["Yes"] * 8)) == "No"
    assert minority_label(pd.Series(["a", "b"])) == "b"  # a tie keeps the larger label


def imbalanced_sample(tmp_path: Path) -> Path:
    rows = 200
    frame = pd.DataFrame(
        {
            "account": [f"A{i:04d}" for i in range(rows)],
            "spend": [float(i % 37) for i in range(rows)],
            "discount": [None if i % 100 < 61 else "yes" for i in range(rows)],
            "coupon": [None if i % 100 < 96 else "c1" for i in range(rows)],
            "region": ["north", "south"] * (rows // 2),
            "stayed": ["yes"] * 170 + ["no"] * 30,
        }
    )
    path = tmp_path / "accounts.csv"
    frame.to_csv(path, index=False)
    return path


def test_init_picks_the_minority_label_a_key_and_null_limits_the_sample_passes(
    tmp_path: Path, capsys
) -> None:
    out = tmp_path / "accounts"
    assert (
        main(["init", str(imbalanced_sample(tmp_path)), "--target", "stayed", "--out", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "positive label 'no' (the minority class, 15% of the sample" in printed
    assert "key 'account' (detected" in printed
    assert "not a feature: 'coupon', 96% empty in the sample" in printed
    project = load_project(out / "ml_assets.yaml")
    assert project.spec.positive_label == "no" and project.spec.key == "account"
    assert "coupon" not in project.spec.input_columns
    assert "discount" in project.spec.input_columns
    checks = project.config.checks
    assert checks.max_null_share == {"discount": 0.75, "coupon": 1.0}
    assert project.config.training.estimator == "auto"
    valid = validate_rows(read_landing_file(imbalanced_sample(tmp_path)), project.contract).valid
    for column in project.columns.nullable:
        limit = checks.max_null_share.get(column, checks.default_max_null_share)
        assert valid[column].isna().mean() <= limit


def test_a_failed_init_leaves_nothing_behind(sample: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "new" / "nested" / "project"
    args = ["init", str(sample), "--target", "churn", "--sensitive", "plna", "--out", str(out)]
    assert main(args) == 2
    assert "dataset.sensitive_columns: ['plna'] not in the contract's columns" in (
        capsys.readouterr().err
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["customers.csv"]


def test_a_failed_init_over_an_existing_project_keeps_its_files(
    sample: Path, tmp_path: Path
) -> None:
    out = tmp_path / "project"
    assert main(["init", str(sample), "--target", "churn", "--out", str(out)]) == 0
    before = {path.name: path.read_text() for path in out.iterdir() if path.is_file()}
    args = ["init", str(sample), "--target", "churn", "--sensitive", "nope", "--force"]
    assert main([*args, "--out", str(out)]) == 2
    after = {path.name: path.read_text() for path in out.iterdir() if path.is_file()}
    assert after == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["customers.csv", "project"]


def test_rare_categories_make_an_open_set_that_is_not_restricted() -> None:
    closed, _ = rule(["red", "green", "blue"] * 20, "colour")
    assert statistics(closed) == {"isin": {"allowed_values": ["blue", "green", "red"]}}
    column, inference = rule(["red", "green", "blue"] * 19 + ["teal", "plum", "red"], "colour")
    assert statistics(column) == {} and inference.categorical == ["colour"]
    assert (
        "2 of them seen fewer than 10 times (the rarest 1): an open set"
        in (inference.reasons["colour"])
    )
    # Every value seen at least twice, one only 5 times: still a tail of rare values.
    column, _ = rule(["red", "green", "blue"] * 19 + ["teal"] * 5, "colour")
    assert statistics(column) == {}


def test_the_init_budget_shrinks_with_the_table_within_its_bounds() -> None:
    budgets = [budget_for(rows) for rows in (10, 5_000, 20_000, 100_000, 10_000_000)]
    assert budgets[0] == budgets[1] == INIT_BUDGET["most"]
    assert budgets == sorted(budgets, reverse=True) and budgets[2] < budgets[1]
    assert budgets[-1] == INIT_BUDGET["least"]
