"""Fixtures of the serving tests: fitted demo models, shared by the whole session."""

from typing import Any

import pytest

from ml_assets_tests.serving.support import fit_demo_model


@pytest.fixture(scope="session")
def demo_models() -> list[Any]:
    """Three distinct fitted demo models."""
    return [fit_demo_model(seed) for seed in (1, 2, 3)]
