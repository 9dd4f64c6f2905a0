"""The artifact IO manager: each declared format round-trips, atomically, under the one data folder."""

import json
from pathlib import Path

import dagster as dg
import pytest
from upath import UPath

from ml_assets.lib.core.storage import ArtifactLoadError
from ml_assets.lib.data.batch_records import BatchRecord, BatchTable
from ml_assets.resources.io_manager import ArtifactIOManager


def contexts(name: str, fmt: str) -> tuple[dg.OutputContext, dg.InputContext]:
    key = dg.AssetKey(name)
    output = dg.build_output_context(asset_key=key, definition_metadata={"storage_format": fmt})
    return output, dg.build_input_context(asset_key=key, upstream_output=output)


@pytest.fixture
def manager(tmp_path: Path) -> ArtifactIOManager:
    return ArtifactIOManager(base_path=UPath(tmp_path))


def test_a_batch_table_is_stored_as_its_list_of_batches(manager, tmp_path: Path) -> None:
    record = BatchRecord("a.csv-0123abcd", "a.csv", "0123abcd" * 8, 10, "accepted", "", rows_in=3)
    table = BatchTable("raw_data", "v1", (record,))
    output, load = contexts("raw_data", "batch_table")
    manager.handle_output(output, table)
    assert (
        json.loads((tmp_path / "raw_data.json").read_text())["records"][0]["batch"] == record.batch
    )
    assert manager.load_input(load) == table


def test_a_report_is_json_with_its_markdown_beside_it(manager, tmp_path: Path) -> None:
    output, load = contexts("evaluation_report", "report")
    manager.handle_output(output, {"metrics": {"f1": 0.5}, "markdown": "# Report\n"})
    assert (tmp_path / "evaluation_report.md").read_text() == "# Report\n"
    assert manager.load_input(load) == {"metrics": {"f1": 0.5}}
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "evaluation_report.json",
        "evaluation_report.md",
    ]


def test_a_missing_artifact_names_the_path_and_what_to_run(manager, tmp_path: Path) -> None:
    _, load = contexts("trained_model", "skops")
    with pytest.raises(
        ArtifactLoadError,
        match="trained_model.skops: no stored artifact; materialize trained_model first",
    ):
        manager.load_input(load)


def test_an_undeclared_format_is_refused(manager) -> None:
    output, _ = contexts("mystery", "pickle")
    with pytest.raises(ValueError, match="unknown storage_format 'pickle'"):
        manager.handle_output(output, object())


def test_an_asset_without_a_format_stores_a_dataframe_as_parquet(manager, tmp_path: Path) -> None:
    import pandas as pd

    key = dg.AssetKey("target_rate")
    output = dg.build_output_context(asset_key=key)
    frame = pd.DataFrame({"category": ["A", "B"], "rate": [0.25, 0.75]})
    manager.handle_output(output, frame)
    assert (tmp_path / "target_rate.parquet").exists()
    load = dg.build_input_context(
        asset_key=key, upstream_output=output, definition_metadata={"columns": ["rate"]}
    )
    pd.testing.assert_frame_equal(manager.load_input(load), frame[["rate"]])
    with pytest.raises(TypeError, match="target_rate returned a dict: an asset without a"):
        manager.handle_output(output, {"rate": 0.5})


def test_a_table_declared_as_a_dataframe_arrives_as_its_rows(tmp_path: Path) -> None:
    import pandas as pd

    class Store:
        def read(self, table, columns=None):
            return pd.DataFrame({"batch": table.batches, "columns": [columns] * len(table.batches)})

    manager = ArtifactIOManager(base_path=UPath(tmp_path), batch_store=Store())
    record = BatchRecord("a.csv-0123abcd", "a.csv", "0123abcd" * 8, 10, "accepted", "", rows_in=3)
    output, _ = contexts("features", "batch_table")
    manager.handle_output(output, BatchTable("features", "v1", (record,)))
    as_frame = dg.build_input_context(
        asset_key=dg.AssetKey("features"),
        upstream_output=output,
        dagster_type=dg.PythonObjectDagsterType(pd.DataFrame),
        definition_metadata={"columns": ["target"]},
    )
    rows = manager.load_input(as_frame)
    assert rows.to_dict("records") == [{"batch": record.batch, "columns": ["target"]}]
    _, as_table = contexts("features", "batch_table")
    assert manager.load_input(as_table).read().to_dict("records") == [
        {"batch": record.batch, "columns": None}
    ]
