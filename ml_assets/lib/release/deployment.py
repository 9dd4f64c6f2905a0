"""From an evaluated candidate to the champion: register, judge, then promote or keep it aside.

``review_candidate`` registers every candidate (so a rejected one stays inspectable), runs the
approval gate, keeps its verdict in the registry, and on a failure points ``failed_candidate`` at it
with the reason: an alias no serving path routes to, since only approved models serve. It never
touches ``champion``. ``promote`` moves ``champion`` to a candidate whose gate
passed, and only if the champion is still the one the gate compared it with; in canary mode
it points ``challenger`` at it instead, so the champion keeps serving while a canary judges it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ml_assets.lib.contract.dataset import SPLIT, DatasetSpec
from ml_assets.lib.data.features import TEST
from ml_assets.lib.model.evaluation import predict
from ml_assets.lib.model.modeling import model_inputs
from ml_assets.lib.release.approval_gate import (
    GateThresholds,
    compare_with_champion,
    judge,
    slice_gap,
)
from ml_assets.lib.release.registry import (
    CHALLENGER,
    CHAMPION,
    FAILED_CANDIDATE,
    AliasConflict,
    ModelRegistry,
    ModelVersion,
    RegistryError,
)

PROMOTE, CANARY, GATE_FAILED = "promote", "canary", "gate_failed"


class StaleEvaluation(ValueError):
    """The evaluation report is of another model or another training set than the inputs."""


def check_provenance(report: Mapping[str, Any], fingerprint: str, data_version: str) -> None:
    """Refuse to judge a model by a report written for another model or another training set."""
    provenance = report.get("provenance", {})
    if provenance.get("model_version") != fingerprint:
        raise StaleEvaluation(
            f"evaluation_report is of model {provenance.get('model_version')}, but trained_model "
            f"is {fingerprint}: rematerialize evaluation_report first"
        )
    if provenance.get("data_version") != data_version:
        raise StaleEvaluation(
            f"evaluation_report was computed on training set {provenance.get('data_version')}, "
            f"but features now holds {data_version}: rematerialize trained_model first"
        )


def review_candidate(
    registry: ModelRegistry,
    candidate: Any,
    report: Mapping[str, Any],
    rows: pd.DataFrame,
    spec: DatasetSpec,
    thresholds: GateThresholds,
    record_fields: Mapping[str, Any],
    actor: str,
) -> dict[str, Any]:
    """Register the candidate, run the gate, and keep a failed one as ``failed_candidate``.

    ``rows`` are the training set's rows; the champion is re-scored on their test side, the very
    rows the report scored the candidate on. Returns the decision: ``candidate_version``,
    ``candidate_sha256``, ``passed``, ``summary``, ``champion_version``, ``thresholds``,
    ``criteria`` and ``failed_candidate`` (the version kept aside as failed, or None). A failed
    candidate that was the challenger stops being one.
    """
    test_rows = rows[rows[SPLIT] == TEST]
    fingerprint = report["provenance"]["model_version"]
    positive = report.get("positive_label")
    # The candidate's outputs on its held-out rows, computed once for every criterion.
    outputs = predict(candidate, model_inputs(test_rows, spec), spec)
    comparison = (
        compare_with_champion(
            registry, candidate, fingerprint, test_rows, spec, positive, outputs=outputs
        )
        if thresholds.compare_with_champion
        else None
    )
    gaps = [
        slice_gap(
            candidate,
            test_rows,
            spec,
            column,
            positive,
            fairness["min_rows"],
            outputs=outputs,
        )
        for column, fairness in report["fairness"].items()
    ]
    decision = judge(report, thresholds, comparison, gaps)
    extra = {**record_fields.get("extra", {}), "gate": decision.as_dict()}
    record = registry.register(candidate, **{**record_fields, "extra": extra})
    outcome = {
        "candidate_version": record.version,
        "candidate_sha256": record.sha256,
        **decision.as_dict(),
        "failed_candidate": None,
    }
    registry.record_verdict(
        record.version, passed=decision.passed, summary=decision.summary(), actor=actor
    )
    if not decision.passed and registry.alias(CHAMPION) != record.version:
        reason = f"failed the approval gate: {decision.summary()}"
        registry.set_alias(
            FAILED_CANDIDATE, record.version, reason=reason, actor=actor, action=GATE_FAILED
        )
        if registry.alias(CHALLENGER) == record.version:
            registry.remove_alias(CHALLENGER, reason=reason, actor=actor, expected=record.version)
        outcome["failed_candidate"] = record.version
    return outcome


@dataclass(frozen=True)
class Promotion:
    """What ``promote`` did: the champion before and after, whether it moved, the canary."""

    version: ModelVersion
    previous: str | None
    moved: bool
    challenger: ModelVersion | None = None

    def message(self) -> str:
        """One line for the run's log and the asset's description."""
        if self.challenger is not None:
            return (
                f"challenger: {self.challenger.version} (passed the approval gate; canary "
                f"before promotion, champion {self.version.version} keeps serving)"
            )
        if not self.moved:
            return f"{self.version.version} is already the champion: nothing changed"
        before = self.previous or "none"
        return f"champion: {before} -> {self.version.version} (passed the approval gate)"


def promote(
    registry: ModelRegistry, decision: Mapping[str, Any], actor: str, *, canary: bool = False
) -> Promotion:
    """Point ``champion`` at the decision's candidate; refused unless its gate passed.

    Also refused when the champion moved after the gate compared against it (a rollback in
    between): the comparison no longer holds, so the gate must run again. With ``canary`` and a
    champion in place, the candidate becomes ``challenger`` instead (``ml-assets promote`` ends
    the canary); with no champion yet it becomes champion, as there is nothing to compare with.
    """
    version = decision["candidate_version"]
    if not decision["passed"]:
        raise RegistryError(f"the approval gate refused {version}: {decision['summary']}")
    current = registry.alias(CHAMPION)
    if current == version:
        return Promotion(registry.verify(version), current, moved=False)
    if current != decision["champion_version"]:
        raise AliasConflict(
            f"the champion is now {current or 'none'}, but the gate compared {version} with "
            f"{decision['champion_version'] or 'no champion'}: rematerialize model_approval"
        )
    if canary and current is not None:
        if registry.alias(CHALLENGER) == version:  # a rerun: already in canary, record nothing
            return Promotion(registry.verify(current), current, False, registry.verify(version))
        registry.set_alias(
            CHALLENGER,
            version,
            reason=f"passed the approval gate, canary before promotion: {decision['summary']}",
            actor=actor,
            action=CANARY,
        )
        if registry.alias(FAILED_CANDIDATE) == version:
            registry.remove_alias(FAILED_CANDIDATE, reason=f"{version} passed", actor=actor)
        return Promotion(registry.verify(current), current, False, registry.get(version))
    registry.set_alias(
        CHAMPION,
        version,
        reason=f"passed the approval gate: {decision['summary']}",
        actor=actor,
        action=PROMOTE,
        expected=current,
    )
    for alias in (CHALLENGER, FAILED_CANDIDATE):
        if registry.alias(alias) == version:
            registry.remove_alias(alias, reason=f"{version} promoted to champion", actor=actor)
    return Promotion(registry.get(version), current, moved=True)
