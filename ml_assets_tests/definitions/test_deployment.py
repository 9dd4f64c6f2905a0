"""The approval gate, promotion and rollback through Dagster, on small demo data."""

import json
from pathlib import Path

import dagster as dg

from ml_assets.automation.rollback import rollback_job
from ml_assets.cli import main
from ml_assets.definitions import build_assets, project_resources
from ml_assets.demo.data import make_demo_frame
from ml_assets.lib.release.registry import CHALLENGER, CHAMPION, FAILED_CANDIDATE, ModelRegistry
from ml_assets.resources.registry import ModelRegistryResource
from ml_assets_tests.conftest import (
    DEMO,
    FAST_TRAINING,
    check_results,
    settings_for,
    stored_table,
)


def run_graph(
    data_dir: Path, instance: dg.DagsterInstance, production: dict | None = None, **approval
) -> dg.ExecuteInProcessResult:
    """Materialize everything with fast training, the given gate and production settings."""
    return dg.materialize(
        build_assets(DEMO),
        selection="*",
        instance=instance,
        resources=project_resources(settings_for(data_dir)),
        run_config=dg.RunConfig(
            ops={
                "trained_model": {"config": FAST_TRAINING},
                "model_approval": {"config": approval},
                "production_model": {"config": production or {}},
            }
        ),
        raise_on_error=False,
    )


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def criteria(evaluation: dg.AssetCheckEvaluation) -> dict[str, dict]:
    return {row.data["name"]: row.data for row in evaluation.metadata["criteria"].records}


def test_the_gate_promotes_the_first_model_then_keeps_a_failed_one_where_nothing_serves(
    data_dir: Path, instance
) -> None:
    registry = ModelRegistry(data_dir / "registry")
    first = run_graph(data_dir, instance)
    assert first.success and {"model_approval", "production_model"} <= materialized(first)
    gate = check_results(first)["approval_gate"]
    assert gate.passed and gate.blocking
    rows = criteria(gate)
    assert rows["not_worse_than_champion"]["status"] == "skipped"
    assert rows["not_worse_than_champion"]["description"] == "no champion: skipped (first model)"
    assert rows["beats_majority_class"]["status"] == "pass"
    assert rows["beats_majority_class"]["reference"] == 0.5
    assert {"fairness_gap_category", "slice_category=A_roc_auc"} <= set(rows)
    assert registry.alias(CHAMPION) == "v0001" and registry.alias(CHALLENGER) is None
    record = registry.get("v0001")
    features = stored_table(data_dir, "features")
    assert record.data_version == features.data_version and record.task == "binary"
    assert record.batches == features.batches
    assert record.metrics["roc_auc"] > 0.9 and record.config_hash == DEMO.config_hash
    assert record.code_version and record.extra["lock_hash"]
    promoted = next(
        e
        for e in first.get_asset_materialization_events()
        if e.asset_key.path == ["production_model"]
    )
    assert promoted.materialization.metadata["champion"].value == "v0001"

    champion_file = registry.model_path("v0001")
    champion_bytes, aliases_before = champion_file.read_bytes(), registry.aliases()
    make_demo_frame(300, seed=7).to_csv(data_dir / "landing" / "more.csv", index=False)
    # The candidate must now beat the champion by 0.5 of ROC AUC: impossible, so the gate fails.
    refused = run_graph(data_dir, instance, champion_tolerance=-0.5)
    assert not refused.success
    assert "model_approval" in materialized(refused)
    assert "production_model" not in materialized(refused)
    gate = check_results(refused)["approval_gate"]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
    against = criteria(gate)["not_worse_than_champion"]
    assert against["status"] == "fail"
    assert against["candidate"] > 0.9 and against["reference"] > 0.9
    assert "against champion v0001's" in against["description"]
    assert "v0002 failed: not_worse_than_champion" in gate.description
    assert champion_file.read_bytes() == champion_bytes
    assert registry.alias(CHAMPION) == "v0001" == aliases_before[CHAMPION]
    # Only approved models serve: the failed candidate is kept under an alias nothing routes to.
    assert registry.alias(CHALLENGER) is None and registry.alias(FAILED_CANDIDATE) == "v0002"
    assert registry.verdict("v0002")["passed"] is False
    change = registry.history()[-1]
    assert (change["alias"], change["version"], change["action"]) == (
        FAILED_CANDIDATE,
        "v0002",
        "gate_failed",
    )
    assert change["reason"].startswith("failed the approval gate: failed: not_worse_than_champion")
    assert change["actor"] == f"dagster run {refused.run_id}"
    decision = json.loads((data_dir / "storage/model_approval.json").read_text())
    assert decision["candidate_version"] == "v0002" and decision["passed"] is False
    assert (
        "| not_worse_than_champion | fail |" in (data_dir / "storage/model_approval.md").read_text()
    )

    promoted = run_graph(data_dir, instance)  # default tolerance: the same candidate now passes
    assert promoted.success and "production_model" in materialized(promoted)
    assert registry.alias(CHAMPION) == "v0002" and registry.alias(CHALLENGER) is None
    assert registry.alias(FAILED_CANDIDATE) is None and registry.verdict("v0002")["passed"]
    assert len(registry.versions()) == 2  # the same fitted model: registered once
    assert [(h["alias"], h["action"]) for h in registry.history()] == [
        (CHAMPION, "promote"),
        (FAILED_CANDIDATE, "gate_failed"),
        (CHAMPION, "promote"),
        (FAILED_CANDIDATE, "remove"),
    ]


def registry_with_three_champions(root: Path) -> ModelRegistry:
    """v0001, v0002, v0003 promoted in turn (models fitted directly, no Dagster run)."""
    from ml_assets_tests.lib.release.test_registry import RECORD, fitted

    registry = ModelRegistry(root)
    for seed in range(3):
        version = registry.register(fitted(seed), **RECORD).version
        registry.set_alias(CHAMPION, version, reason="test", actor="test", action="promote")
    return registry


def test_rollback_from_the_job_and_from_the_command_line(tmp_path: Path, instance, capsys) -> None:
    root = tmp_path / "registry"
    registry = registry_with_three_champions(root)
    resources = {"registry": ModelRegistryResource(settings=settings_for(tmp_path))}
    done = rollback_job.execute_in_process(
        run_config={"ops": {"rollback_champion": {"config": {"reason": "v0003 misbehaves"}}}},
        resources=resources,
        instance=instance,
    )
    assert done.success and registry.alias(CHAMPION) == "v0002"
    change = registry.history()[-1]
    assert change["action"] == "rollback" and change["previous"] == "v0003"
    assert (
        change["reason"] == "v0003 misbehaves" and change["actor"] == f"dagster run {done.run_id}"
    )
    event = instance.get_latest_materialization_event(dg.AssetKey("production_model"))
    assert event.asset_materialization.metadata["champion"].value == "v0002"

    assert main(["rollback", "--registry", str(root), "--reason", "still bad"]) == 0
    assert "champion: v0002 -> v0001 (still bad; by " in capsys.readouterr().out
    assert registry.alias(CHAMPION) == "v0001" and "@" in registry.history()[-1]["actor"]
    assert main(["rollback", "--registry", str(root)]) == 2  # nothing before v0001
    assert "has no previous version to roll back to" in capsys.readouterr().err

    registry.model_path("v0003").write_bytes(b"PK tampered")
    assert main(["rollback", "--registry", str(root), "--to", "v0003"]) == 2
    assert "model version v0003:" in capsys.readouterr().err
    assert main(["rollback", "--registry", str(root), "--to", "v0042"]) == 2
    assert "'v0042' is not in the registry" in capsys.readouterr().err
    refused = rollback_job.execute_in_process(
        run_config={"ops": {"rollback_champion": {"config": {"to": "v0003"}}}},
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not refused.success and registry.alias(CHAMPION) == "v0001"


def test_canary_mode_makes_the_passed_candidate_challenger_and_keeps_the_champion(
    data_dir: Path, instance
) -> None:
    registry = ModelRegistry(data_dir / "registry")
    assert run_graph(data_dir, instance, production={"canary": True}).success
    assert registry.aliases() == {CHAMPION: "v0001"}  # no champion yet: canary mode promotes
    make_demo_frame(300, seed=7).to_csv(data_dir / "landing" / "more.csv", index=False)
    canary = run_graph(data_dir, instance, production={"canary": True})
    assert canary.success
    assert registry.aliases() == {CHAMPION: "v0001", CHALLENGER: "v0002"}
    change = registry.history()[-1]
    assert (change["action"], change["actor"]) == ("canary", f"dagster run {canary.run_id}")
    event = next(
        e
        for e in canary.get_asset_materialization_events()
        if e.asset_key.path == ["production_model"]
    )
    metadata = event.materialization.metadata
    assert metadata["champion"].value == "v0001" and metadata["challenger"].value == "v0002"
    assert metadata["promotion_mode"].value == "canary" and "code_commit" in metadata
    assert event.materialization.tags["dagster/data_version"] == registry.get("v0001").sha256
