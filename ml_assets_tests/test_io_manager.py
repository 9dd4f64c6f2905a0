"""The artifact IO manager hands a table just written to the next step, never a stale one."""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from upath import UPath

from ml_assets.lib.frames import TEXT, FrameHandoff, read_frame, reads_back_identical, write_frame
from ml_assets.resources.io_manager import ArtifactIOManager

KEY = dg.AssetKey("features")
METADATA = {"storage_format": "parquet"}


def table(rows: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "number": rng.normal(size=rows),
            "count": rng.integers(0, 9, size=rows),
            "label": pd.Series(rng.choice(["a", "b"], size=rows)).astype(TEXT),
        }
    )


def store(manager: ArtifactIOManager, frame: pd.DataFrame) -> None:
    context = dg.build_output_context(asset_key=KEY, definition_metadata=METADATA)
    manager.handle_output(context, frame)


def load(manager: ArtifactIOManager) -> pd.DataFrame:
    upstream = dg.build_output_context(asset_key=KEY, definition_metadata=METADATA)
    return manager.load_input(dg.build_input_context(asset_key=KEY, upstream_output=upstream))


@pytest.fixture
def manager(tmp_path: Path) -> ArtifactIOManager:
    return ArtifactIOManager(base_path=UPath(tmp_path))


def test_the_next_reader_gets_the_frame_written_and_it_equals_the_file(
    manager: ArtifactIOManager, tmp_path: Path
) -> None:
    frame = table()
    store(manager, frame)
    assert load(manager) is frame
    pd.testing.assert_frame_equal(read_frame(tmp_path / "features.parquet"), frame)
    again = load(manager)
    assert again is not frame
    pd.testing.assert_frame_equal(again, frame)


def test_a_file_replaced_after_the_write_is_read_from_disk(
    manager: ArtifactIOManager, tmp_path: Path
) -> None:
    store(manager, table(seed=1))
    replacement = table(seed=2)
    write_frame(tmp_path / "features.parquet", replacement)
    pd.testing.assert_frame_equal(load(manager), replacement)


def test_frames_that_would_read_back_different_are_not_handed_over(
    manager: ArtifactIOManager,
) -> None:
    objects = table().astype({"label": object})
    shifted = table().set_axis(range(10, 60))
    assert not reads_back_identical(objects) and not reads_back_identical(shifted)
    store(manager, objects)
    loaded = load(manager)
    assert loaded is not objects and loaded["label"].dtype == TEXT


def test_the_handoff_holds_only_the_latest_frames(tmp_path: Path) -> None:
    handoff = FrameHandoff(capacity=2)
    paths = [tmp_path / f"{name}.parquet" for name in "abc"]
    for path in paths:
        write_frame(path, table())
        handoff.keep(path, table())
    assert handoff.take(paths[0]) is None
    assert handoff.take(paths[2]) is not None and handoff.take(paths[2]) is None
