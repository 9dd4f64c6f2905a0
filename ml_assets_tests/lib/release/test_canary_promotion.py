"""Canary-first promotion and ``ml-assets promote``: who ends up champion and challenger, and why."""

from pathlib import Path

import pytest

from ml_assets.lib.release.deployment import CANARY, promote
from ml_assets.lib.release.registry import (
    CHALLENGER,
    CHAMPION,
    AliasConflict,
    IntegrityError,
    ModelRegistry,
    RegistryError,
)
from ml_assets.lib.release.rollback import promote_challenger, rollback
from ml_assets_tests.lib.release.test_registry import RECORD, fitted


def decision(version: str, champion: str | None, passed: bool = True) -> dict:
    """What model_approval hands production_model."""
    return {
        "candidate_version": version,
        "champion_version": champion,
        "passed": passed,
        "summary": "all criteria passed" if passed else "not_worse_than_champion failed",
    }


def registered(registry: ModelRegistry, count: int) -> list[str]:
    return [registry.register(fitted(seed), **RECORD).version for seed in range(count)]


def test_canary_mode_makes_a_passed_candidate_challenger_and_keeps_the_champion(
    tmp_path: Path,
) -> None:
    registry = ModelRegistry(tmp_path)
    one, two = registered(registry, 2)
    first = promote(registry, decision(one, None), "run-1", canary=True)
    assert first.moved and first.challenger is None  # no champion yet: nothing to canary against
    assert registry.alias(CHAMPION) == one

    second = promote(registry, decision(two, one), "run-2", canary=True)
    assert (registry.alias(CHAMPION), registry.alias(CHALLENGER)) == (one, two)
    assert not second.moved and second.version.version == one
    assert second.challenger.version == two
    assert second.message() == (
        "challenger: v0002 (passed the approval gate; canary before promotion, champion v0001 "
        "keeps serving)"
    )
    change = registry.history()[-1]
    assert (change["alias"], change["version"], change["action"]) == (CHALLENGER, two, CANARY)
    assert change["actor"] == "run-2" and "canary before promotion" in change["reason"]
    again = promote(registry, decision(two, one), "run-3", canary=True)
    assert again.challenger.version == two and registry.history()[-1] == change


def test_canary_mode_keeps_the_gates_guarantees(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    one, two, three = registered(registry, 3)
    registry.set_alias(CHAMPION, one, reason="first", actor="a", action="promote")
    with pytest.raises(RegistryError, match="the approval gate refused v0002"):
        promote(registry, decision(two, one, passed=False), "run", canary=True)
    registry.set_alias(CHAMPION, three, reason="moved", actor="a", action="promote")
    with pytest.raises(AliasConflict, match="the champion is now v0003, but the gate compared"):
        promote(registry, decision(two, one), "run", canary=True)
    assert registry.alias(CHALLENGER) is None and registry.alias(CHAMPION) == three


def test_promote_refuses_without_a_challenger_an_unknown_version_or_a_tampered_file(
    tmp_path: Path,
) -> None:
    registry = ModelRegistry(tmp_path)
    one, two = registered(registry, 2)
    registry.set_alias(CHAMPION, one, reason="first", actor="a", action="promote")
    with pytest.raises(RegistryError, match=r"no challenger .*\(registered: v0001, v0002\)"):
        promote_challenger(registry, reason="r", actor="a")
    with pytest.raises(KeyError, match="'v0009' is not in the registry"):
        promote_challenger(registry, "v0009", reason="r", actor="a")
    registry.set_alias(CHALLENGER, two, reason="canary", actor="a", action=CANARY)
    with pytest.raises(RegistryError, match="v0001 is already the champion"):
        promote_challenger(registry, one, reason="r", actor="a")
    path = Path(registry.model_path(two))
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(IntegrityError, match="v0002: .* has sha256"):
        promote_challenger(registry, reason="r", actor="a")
    assert (registry.alias(CHAMPION), registry.alias(CHALLENGER)) == (one, two)


def test_promote_moves_the_champion_drops_the_challenger_and_rollback_undoes_it(
    tmp_path: Path,
) -> None:
    registry = ModelRegistry(tmp_path)
    one, two = registered(registry, 2)
    registry.set_alias(CHAMPION, one, reason="first", actor="a", action="promote")
    registry.set_alias(CHALLENGER, two, reason="canary", actor="a", action=CANARY)
    result = promote_challenger(registry, reason="won the A/B test", actor="alice@host")
    assert result.message() == "champion: v0001 -> v0002 (won the A/B test; by alice@host)"
    assert registry.aliases() == {CHAMPION: two}
    promoted, dropped = registry.history()[-2:]
    assert (promoted["alias"], promoted["version"], promoted["previous"]) == (CHAMPION, two, one)
    assert (promoted["action"], promoted["reason"]) == ("promote", "won the A/B test")
    assert promoted["actor"] == "alice@host"
    assert (dropped["alias"], dropped["version"], dropped["action"]) == (CHALLENGER, None, "remove")
    back = rollback(registry, reason="worse in production", actor="bob")
    assert (back.previous, back.current) == (two, one)


def test_reject_drops_the_challenger_keeps_its_version_and_refuses_when_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from ml_assets import cli
    from ml_assets.lib.core.layout import REGISTRY_DIR_ENV
    from ml_assets.lib.release.rollback import reject_challenger

    registry = ModelRegistry(tmp_path)
    one, two = registered(registry, 2)
    registry.set_alias(CHAMPION, one, reason="first", actor="a", action="promote")
    registry.set_alias(CHALLENGER, two, reason="canary", actor="a", action=CANARY)
    monkeypatch.setenv(REGISTRY_DIR_ENV, str(tmp_path))
    assert cli.main(["reject", "--reason", "lost the A/B test"]) == 0
    assert capsys.readouterr().out.startswith(
        "challenger v0002 dropped (lost the A/B test); champion v0001 serves alone"
    )
    assert registry.aliases() == {CHAMPION: one} and registry.get(two).version == two
    change = registry.history()[-1]
    assert (change["alias"], change["version"], change["previous"]) == (CHALLENGER, None, two)
    assert (change["action"], change["reason"]) == ("reject", "lost the A/B test")
    assert cli.main(["reject"]) == 2
    assert "no challenger in the registry" in capsys.readouterr().err
    registry.set_alias(CHALLENGER, two, reason="canary", actor="a", action=CANARY)
    real = registry.alias

    def moved_meanwhile(name: str):
        found = real(name)
        registry.set_alias(CHALLENGER, one, reason="someone else", actor="b")
        return found

    monkeypatch.setattr(registry, "alias", moved_meanwhile)
    with pytest.raises(AliasConflict, match="challenger points at v0001, not v0002"):
        reject_challenger(registry, reason="r", actor="a")
    assert real(CHALLENGER) == one
