"""Rollback: the previous champion follows promotions and rollbacks, and refusals change nothing."""

from pathlib import Path

import pytest

from ml_assets.lib.release.registry import CHAMPION, AliasConflict, ModelRegistry, RegistryError
from ml_assets.lib.release.rollback import (
    champion_lineage,
    previous_champion,
    registry_for_project,
    rollback,
)
from ml_assets_tests.lib.release.test_registry import RECORD, fitted


def change(version: str | None, action: str = "promote", alias: str = CHAMPION) -> dict:
    return {"alias": alias, "version": version, "action": action}


def test_a_version_rolled_away_from_is_not_previous() -> None:
    history = [change("v1"), change("v2", alias="challenger", action="challenge"), change("v2")]
    history.append(change("v3"))
    assert champion_lineage(history) == ["v1", "v2", "v3"]
    history.append(change("v2", action="rollback"))
    assert previous_champion(history) == "v1"
    history.append(change("v1", action="rollback"))
    assert previous_champion(history) is None
    history.append(change("v4"))
    assert champion_lineage(history) == ["v1", "v4"]
    # A rollback to a version off the stack (named with --to) is pushed like a promotion.
    history.append(change("v3", action="rollback"))
    assert champion_lineage(history) == ["v1", "v4", "v3"]


def test_rollback_refusals_leave_the_champion_alone(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    with pytest.raises(RegistryError, match="no champion"):
        rollback(registry, reason="r", actor="a")
    one, two = (registry.register(fitted(seed), **RECORD).version for seed in (0, 1))
    registry.set_alias(CHAMPION, one, reason="first", actor="a", action="promote")
    with pytest.raises(
        RegistryError, match=r"has no previous version .*\(registered: v0001, v0002\)"
    ):
        rollback(registry, reason="r", actor="a")
    with pytest.raises(RegistryError, match="v0001 is already the champion"):
        rollback(registry, one, reason="r", actor="a")
    result = rollback(registry, two, reason="named", actor="alice@host")
    assert (result.previous, result.current) == (one, two)
    assert registry.alias(CHAMPION) == two
    assert result.message() == "champion: v0001 -> v0002 (named; by alice@host)"
    with pytest.raises(AliasConflict, match="champion points at v0002, not v0001"):
        registry.set_alias(CHAMPION, one, reason="stale", actor="a", expected=one)
    assert registry.alias(CHAMPION) == two and len(registry.history()) == 2


def test_the_cli_finds_the_registry_where_the_resource_puts_it(monkeypatch) -> None:
    monkeypatch.delenv("ML_ASSETS_REGISTRY_DIR", raising=False)
    monkeypatch.setenv("ML_ASSETS_DATA_DIR", "memory://bucket/data/")
    assert str(registry_for_project().root) == "memory://bucket/data/registry"
    monkeypatch.setenv("ML_ASSETS_REGISTRY_DIR", "/srv/models")
    assert registry_for_project().root == Path("/srv/models")
    assert str(registry_for_project("s3://b/r").root) == "s3://b/r"
