"""The model watcher on its own: what it does when the registry changes under it."""

import time
from pathlib import Path

import pytest

from ml_assets.lib.release.registry import ModelRegistry
from ml_assets.serving import models as models_module
from ml_assets.serving.models import ModelWatcher
from ml_assets_tests.serving.support import DEMO, promote, register


def test_a_champion_whose_file_changed_after_promotion_is_refused_and_the_old_one_serves(
    tmp_path: Path, demo_models: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models_module, "RETRY_SECONDS", 2.0)
    registry = ModelRegistry(tmp_path / "registry")
    first, second = (register(registry, model) for model in demo_models[:2])
    loads = []
    load = registry.load
    monkeypatch.setattr(registry, "load", lambda version: loads.append(version) or load(version))
    watcher = ModelWatcher(registry, DEMO.spec)
    promote(registry, "champion", first)
    assert watcher.refresh().champion.version == first
    promote(registry, "champion", second)
    stored = registry.model_path(second).read_bytes()
    registry.model_path(second).write_bytes(b"PK tampered")
    models = watcher.refresh()
    assert models.champion.version == first
    problem = watcher.problems["champion"]
    assert problem.version == second
    assert "IntegrityError" in problem.error and "sha256" in problem.error
    assert f"still serving {first}" in problem.error
    assert watcher.refresh() is models and loads == [first, second]  # not retried at every poll

    registry.model_path(second).write_bytes(stored)  # the storage is back
    time.sleep(2.1)
    assert watcher.refresh().champion.version == second and watcher.problems == {}
    promote(registry, "champion", first)  # a rollback
    assert watcher.refresh().champion.version == first


def test_an_unreadable_registry_keeps_the_loaded_models_serving(
    tmp_path: Path, demo_models: list
) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    promote(registry, "champion", register(registry, demo_models[0]))
    watcher = ModelWatcher(registry, DEMO.spec)
    loaded = watcher.refresh()
    (tmp_path / "registry" / "aliases.json").write_text("{not json")
    assert watcher.refresh() is loaded
    assert "cannot read the alias" in watcher.problems["champion"].error
