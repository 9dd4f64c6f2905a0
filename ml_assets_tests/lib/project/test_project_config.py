"""The project configuration file: the demo's, and errors that name the key at fault."""

import shutil
from pathlib import Path

import pytest
import yaml

from ml_assets.demo.data import DEMO_SPEC
from ml_assets.lib.project.project_config import DEMO_CONFIG, ConfigError, load_project
from ml_assets_tests.conftest import DEMO_COLUMNS


def test_bundled_demo_config_describes_the_demo_spec_and_contract() -> None:
    project = load_project(DEMO_CONFIG)
    assert project.spec == DEMO_SPEC
    assert list(project.contract.columns) == DEMO_COLUMNS
    assert project.data_dir.name == "demo"


def write_config(tmp_path: Path, **changes) -> Path:
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    for dotted, value in changes.items():
        section, _, key = dotted.partition("__")
        if value is None:
            config[section].pop(key)
        else:
            config.setdefault(section, {})[key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    shutil.copy(DEMO_CONFIG.parent / "contract.yaml", tmp_path / "contract.yaml")
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dataset__colour": "blue"}, "dataset.colour: unknown key"),
        (
            {"dataset__task": "ranking"},
            "dataset.task: Input should be 'binary', 'multiclass' or 'regression'",
        ),
        ({"dataset__target": None}, "dataset.target: required key is missing"),
        ({"dataset__test_fraction": 1.5}, "dataset.test_fraction: Input should be less than 1"),
        (
            {"checks__max_quarantined_share": "lots"},
            "checks.max_quarantined_share: Input should be a valid number",
        ),
        (
            {"training__estimator": "svm"},
            "training.estimator: Input should be 'auto', 'random_forest', 'hist_gradient_boosting' or "
            "'linear'",
        ),
        ({"training__budget": 0}, "training.budget: Input should be greater than or equal to 1"),
        (
            {"training__estimator": "auto", "training__search_space": None, "training__budget": 2},
            "budget: estimator 'auto' searches 3 families, so at least 3 trials",
        ),
        ({"training__n_jobs": 0}, "n_jobs: -1 (every core) or at least 1"),
        ({"training__time_limit": 0}, "training.time_limit: Input should be greater than 0"),
        (
            {"contract__model": "ml_assets.demo.contract:Records"},
            "give exactly one of 'schema_file' (Pandera YAML) or 'model'",
        ),
        (
            {"dataset__sensitive_columns": ["gender"]},
            "dataset.sensitive_columns: ['gender'] not in the contract's columns",
        ),
        (
            {"dataset__numeric_features": ["numeric1", "height"]},
            "dataset.numeric_features: ['height'] not in the contract",
        ),
        (
            {
                "dataset__task": "regression",
                "dataset__positive_label": None,
                "dataset__target": "category",
                "dataset__categorical_features": [],
                "dataset__sensitive_columns": [],
            },
            "dataset.task: regression needs a numeric target, 'category' is str",
        ),
        (
            {"dataset__task": "multiclass"},
            "dataset.positive_label: only binary tasks have a positive label",
        ),
        (
            {
                "contract__schema_file": None,
                "contract__model": "ml_assets.lib.contract.validation:Nope",
            },
            "contract.model: cannot load 'ml_assets.lib.contract.validation:Nope'",
        ),
        (
            {
                "decision__costs": {"false_positive": 1, "false_negative": 5},
                "decision__min_precision": 0.8,
            },
            "give costs or min_precision, not both",
        ),
        ({"decision__costs": {"false_positive": -1, "false_negative": 5}}, "decision.costs"),
        (
            {
                "dataset__task": "multiclass",
                "dataset__positive_label": None,
                "decision__min_precision": 0.8,
            },
            "decision: a tuned cut-off is for binary tasks; this one is multiclass",
        ),
    ],
)
def test_invalid_configs_name_the_key_and_the_expectation(tmp_path: Path, changes, message) -> None:
    with pytest.raises(ConfigError) as error:
        load_project(write_config(tmp_path, **changes))
    assert str(error.value).startswith(str(tmp_path / "config.yaml"))
    assert message in str(error.value)


def test_unreadable_or_malformed_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        load_project(tmp_path / "absent.yaml")
    (tmp_path / "broken.yaml").write_text("dataset: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        load_project(tmp_path / "broken.yaml")


def test_features_default_to_the_contract_columns_by_type(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        dataset__numeric_features=None,
        dataset__categorical_features=None,
        dataset__drop=["numeric2"],
    )
    spec = load_project(path).spec
    assert spec.numeric_features == ("numeric1",)
    assert spec.categorical_features == ("category",)


def test_a_yaml_contract_is_summarised_without_pandera_as_pandera_reads_it(tmp_path: Path) -> None:
    from ml_assets.lib.contract.summary import ContractColumns

    project = load_project(DEMO_CONFIG)
    from_yaml = project.columns
    from_pandera = ContractColumns.of(project.contract)
    assert from_yaml.kinds == from_pandera.kinds
    assert from_yaml.nullable == from_pandera.nullable == ("numeric1",)
    assert from_yaml.strict is from_pandera.strict is True
    assert (
        from_yaml.get("numeric2").rules
        == from_pandera.get("numeric2").rules
        == (
            "greater_than_or_equal_to(0.0)",
            "less_than_or_equal_to(100.0)",
        )
    )
    assert from_yaml.get("category").rules == ("isin(['A', 'B', 'C'])",)


def test_a_dataframe_model_contract_still_works(tmp_path: Path) -> None:
    (tmp_path / "records.py").write_text(
        "import pandera.pandas as pa\n"
        "from pandera.typing import Series\n"
        "class Records(pa.DataFrameModel):\n"
        "    numeric1: Series[float] = pa.Field(nullable=True, ge=-10, le=10)\n"
        "    numeric2: Series[float] = pa.Field(ge=0, le=100)\n"
        "    category: Series[str] = pa.Field(isin=['A', 'B', 'C'])\n"
        "    target: Series[int] = pa.Field(isin=[0, 1])\n"
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        path = write_config(tmp_path, contract__schema_file=None, contract__model="records:Records")
        project = load_project(path)
    finally:
        sys.path.remove(str(tmp_path))
    assert project.columns.data_columns == ["numeric1", "numeric2", "category", "target"]
    assert project.columns.nullable == ("numeric1",)


def test_the_approval_section_sets_the_gate_defaults_and_refuses_unknown_keys(
    tmp_path: Path,
) -> None:
    from ml_assets.assets.deployment import approval_config
    from ml_assets.lib.release.approval_gate import GateThresholds

    demo = load_project(DEMO_CONFIG).config.approval
    assert approval_config(demo)().thresholds() == GateThresholds()
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["contract"]["schema_file"] = str(DEMO_CONFIG.parent / "contract.yaml")
    config["dataset"]["data_dir"] = str(tmp_path)
    config["approval"] = {"champion_tolerance": -0.01, "slice_bounds": {"recall": 0.5}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    thresholds = approval_config(load_project(path).config.approval)().thresholds()
    assert thresholds == GateThresholds(champion_tolerance=-0.01, slice_bounds={"recall": 0.5})
    config["approval"] = {"champion_tolerence": 0.0}
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="champion_tolerence"):
        load_project(path)
