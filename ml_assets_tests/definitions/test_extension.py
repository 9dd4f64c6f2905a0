"""The README's example of a user's own asset downstream of features runs as written."""

import importlib.util
import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ml_assets_tests.conftest import FAST_TRAINING, ROOT, materialize, stored

HEADING = "## Extend the pipeline with your own asset"


def readme_example() -> str:
    """The first Python block under the README's heading on extending the pipeline."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split(HEADING, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def user_module(tmp_path: Path, data_dir: Path, monkeypatch):
    monkeypatch.setenv("ML_ASSETS_DATA_DIR", str(data_dir))
    path = tmp_path / "my_assets.py"
    path.write_text(readme_example(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("my_assets", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_asset_gets_the_features_it_asks_for_and_is_stored(
    user_module, data_dir: Path, instance
) -> None:
    seen = {}

    @dg.asset(ins={"features": dg.AssetIn(metadata={"columns": ["category", "target"]})})
    def columns_seen(features: pd.DataFrame) -> pd.DataFrame:
        seen["columns"] = list(features.columns)
        return features.head(1)

    defs = dg.Definitions.merge(user_module.defs, dg.Definitions(assets=[columns_seen]))
    job = defs.resolve_implicit_global_asset_job_def()
    config = {"ops": {"trained_model": {"config": FAST_TRAINING}}}
    result = job.execute_in_process(instance=instance, run_config=config)
    assert result.success
    assert seen["columns"] == ["category", "target"]
    rates = result.output_for_node("target_rate_by_category")
    features = stored(data_dir, "features")
    expected = features.groupby("category", observed=True)["target"].mean()
    assert dict(zip(rates["category"], rates["target_rate"], strict=True)) == pytest.approx(
        expected.to_dict()
    )
    stored_rates = pd.read_parquet(data_dir / "storage" / "target_rate_by_category.parquet")
    pd.testing.assert_frame_equal(stored_rates, rates, check_dtype=False)


def test_a_stored_table_that_breaks_its_type_names_batch_column_and_rule(
    data_dir: Path, instance, monkeypatch
) -> None:
    from ml_assets.lib.data import batches

    real = batches.build_features

    def out_of_range(validated, spec):  # a bug in the feature code
        features = real(validated, spec).copy()
        features.loc[3, "numeric1"] = -5e9
        return features

    monkeypatch.setattr(batches, "build_features", out_of_range)
    result = materialize(data_dir, instance, "tag:stage=data")
    assert not result.success
    failure = next(event for event in result.all_events if event.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message
    assert "features breaks its schema" in message
    assert "column numeric1, rule greater_than_or_equal_to" in message
    assert "at batch demo.csv-" in message and "file demo.csv lines 5" in message


def test_each_data_asset_carries_its_contract_as_a_dagster_type() -> None:
    from ml_assets_tests.conftest import DEFS

    for name in ("raw_data", "validated_data", "quarantined_rows", "features"):
        out = DEFS.get_assets_def(name).op.outs[name]
        schema = out.dagster_type.metadata["schema"].schema
        names = [column.name for column in schema.columns]
        assert {"_batch", "_source_file", "_source_line"} <= set(names), name
        assert out.dagster_type.typing_type.__name__ == "BatchTable"
    features = DEFS.get_assets_def("features").op.outs["features"].dagster_type
    numeric1 = next(c for c in features.metadata["schema"].schema.columns if c.name == "numeric1")
    assert numeric1.type == "float64" and numeric1.constraints.other
