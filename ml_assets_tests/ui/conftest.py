"""The UI tests' server: a fresh `dagster dev` whose code location is loaded, stopped whatever happens."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_assets_tests.end_to_end.test_daemon import wait_for
from ml_assets_tests.ui.server import FreshDagsterDev


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FreshDagsterDev]:
    started = FreshDagsterDev(tmp_path)
    try:
        wait_for(started.location_loaded, 180, "the code location to load")
        yield started
    finally:
        started.stop()
