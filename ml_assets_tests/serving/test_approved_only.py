"""Only approved models serve: a gate-failed challenger gets no request, shadowed or routed."""

import json
from pathlib import Path

import httpx
import pytest

from ml_assets.lib.release.prediction_log import read_prediction_log
from ml_assets.lib.release.registry import CHALLENGER, CHAMPION, ModelRegistry, RegistryError
from ml_assets.serving.server import ServingSettings, build_app, challenger_refusal
from ml_assets_tests.serving.support import (
    DEMO,
    RECORD,
    promote,
    register,
    running_service,
    wait_for,
)

KEYS = [f"customer-{index}" for index in range(200)]


def failed_challenger(registry: ModelRegistry, demo_models: list) -> tuple[str, str]:
    """A champion, and a gate-failed challenger, as a registry written before the rule had it."""
    champion, challenger = (register(registry, model) for model in demo_models[:2])
    registry.record_verdict(
        challenger, passed=False, summary="failed: not_worse_than_champion", actor="tests"
    )
    aliases = {"aliases": {CHAMPION: champion, CHALLENGER: challenger}, "sequence": 2}
    (registry.root / "aliases.json").write_text(json.dumps({**aliases, "last_change": None}))
    return champion, challenger


@pytest.mark.parametrize("option", [{"canary_fraction": 1.0}, {"shadow": True}])
def test_a_challenger_that_failed_the_gate_receives_no_request(
    tmp_path: Path, demo_models: list, option: dict
) -> None:
    with running_service(tmp_path, **option) as service:
        champion, challenger = failed_challenger(service.registry, demo_models)
        with httpx.Client(base_url=service.url) as client:
            wait_for(
                lambda: (
                    "challenger" in {p["alias"] for p in client.get("/health").json()["problems"]}
                )
            )
            answer = client.post("/predict", json={"records": [RECORD] * 200, "keys": KEYS})
            health = client.get("/health").json()
    assert answer.status_code == 200
    assert {p["arm"] for p in answer.json()["predictions"]} == {CHAMPION}
    assert health["versions"] == {CHAMPION: champion, CHALLENGER: None}
    [problem] = health["problems"]
    assert problem["version"] == challenger and "failed the approval gate" in problem["error"]
    log, _ = read_prediction_log(service.log_path)
    assert set(log["model_version"]) == {champion} and len(log) == 200


def test_an_alias_that_serves_refuses_a_gate_failed_version_and_serve_says_why(
    tmp_path: Path, demo_models: list
) -> None:
    registry = ModelRegistry(tmp_path)
    champion, challenger = (register(registry, model) for model in demo_models[:2])
    promote(registry, CHAMPION, champion)
    assert "has no challenger" in challenger_refusal(registry, "--canary-fraction 0.3")
    registry.record_verdict(challenger, passed=False, summary="failed: x", actor="tests")
    for alias in (CHAMPION, CHALLENGER):
        with pytest.raises(RegistryError, match="failed the approval gate"):
            promote(registry, alias, challenger)
    registry.set_alias("failed_candidate", challenger, reason="gate", actor="tests")
    assert registry.aliases() == {CHAMPION: champion, "failed_candidate": challenger}
    assert challenger_refusal(registry, "--shadow") is not None
    assert challenger_refusal(registry, None) is None

    registry.record_verdict(challenger, passed=True, summary="all criteria passed", actor="t")
    promote(registry, CHALLENGER, challenger)  # a later run of the gate passed it
    assert challenger_refusal(registry, "--canary-fraction 0.3") is None


def test_shadow_mode_answers_with_the_champion_and_logs_both_on_the_same_requests(
    tmp_path: Path, demo_models: list
) -> None:
    with running_service(tmp_path, shadow=True) as service:
        registry = service.registry
        champion, challenger = (register(registry, model) for model in demo_models[:2])
        promote(registry, CHAMPION, champion)
        promote(registry, CHALLENGER, challenger)
        with httpx.Client(base_url=service.url) as client:
            wait_for(lambda: client.get("/health").json()["versions"][CHALLENGER] == challenger)
            answer = client.post("/predict", json={"records": [RECORD] * 50, "keys": KEYS[:50]})
            health = client.get("/health").json()
    assert answer.status_code == 200 and health["shadow"] is True
    assert {p["arm"] for p in answer.json()["predictions"]} == {CHAMPION}
    log, _ = read_prediction_log(service.log_path)
    served, shadow = log[log["arm"] == CHAMPION], log[log["arm"] == "shadow"]
    assert served["request_key"].tolist() == shadow["request_key"].tolist() == KEYS[:50]
    assert set(shadow["model_version"]) == {challenger} and set(served["model_version"]) == {
        champion
    }
    assert served["input_sha256"].tolist() == shadow["input_sha256"].tolist()


def test_shadow_and_a_canary_fraction_are_refused_together(tmp_path: Path) -> None:
    settings = ServingSettings(
        shadow=True,
        canary_fraction=0.2,
        registry_dir=str(tmp_path / "registry"),
        log_path=str(tmp_path / "predictions.jsonl"),
    )
    with pytest.raises(ValueError, match="takes no canary fraction"):
        build_app(settings, DEMO)


def test_a_served_challenger_that_a_later_gate_fails_is_dropped(
    tmp_path: Path, demo_models: list
) -> None:
    from ml_assets.serving.models import ModelWatcher

    registry = ModelRegistry(tmp_path)
    champion, challenger = (register(registry, model) for model in demo_models[:2])
    promote(registry, CHAMPION, champion)
    promote(registry, CHALLENGER, challenger)
    watcher = ModelWatcher(registry, DEMO.spec)
    assert watcher.refresh().challenger.version == challenger
    registry.record_verdict(challenger, passed=False, summary="failed: x", actor="tests")
    assert watcher.refresh().challenger is None
    assert "failed the approval gate" in watcher.problems[CHALLENGER].error
    assert watcher.models.champion.version == champion
