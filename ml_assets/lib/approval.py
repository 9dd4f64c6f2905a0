"""The approval gate: may a candidate model replace the champion? Every criterion with its figures.

A candidate passes when it beats the trivial baseline by a margin and does not trail the plain
linear baseline by more than a tolerance (both on the primary metric of the held-out side); is not
worse than the current champion by more than a tolerance on the same held-out rows (the champion
is re-scored on the candidate's test side, so the comparison stays fair when data has grown); keeps
the fairness gap of each sensitive column within a bound; and keeps every bounded metric of every
slice with enough rows within its bound. With no champion yet (the project's first model) the
champion criterion is reported as skipped and the others decide.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

from ml_assets.lib.dataset import DatasetSpec
from ml_assets.lib.evaluation import LOWER_IS_BETTER, PRIMARY_METRIC, lift, number, score_model
from ml_assets.lib.registry import CHAMPION, ModelRegistry

Status = Literal["pass", "fail", "skipped"]
CHAMPION_CRITERION = "not_worse_than_champion"
TRIVIAL_BASELINES = frozenset({"majority_class", "mean_predictor"})
# Per task, the slice metrics bounded when no bounds are configured (minimums: higher is better).
DEFAULT_SLICE_BOUNDS: dict[str, dict[str, float]] = {
    "binary": {"roc_auc": 0.6},
    "multiclass": {"f1_macro": 0.3},
    "regression": {"r2": 0.0},
}


@dataclass(frozen=True)
class GateThresholds:
    """What the candidate is held to; the defaults pass a sound model on the demo data.

    ``slice_bounds`` maps a slice metric to its bound: a minimum, or a maximum for metrics where
    lower is better (rmse, mae, log_loss); None bounds the task's primary metric
    (``DEFAULT_SLICE_BOUNDS``), an empty mapping bounds nothing.
    """

    baseline_margin: float = 0.02
    linear_baseline_tolerance: float = 0.01
    champion_tolerance: float = 0.01
    max_fairness_gap: float = 0.1
    slice_bounds: Mapping[str, float] | None = None
    compare_with_champion: bool = True

    def bounds_for(self, task: str) -> dict[str, float]:
        """The slice bounds that apply to ``task``."""
        return dict(DEFAULT_SLICE_BOUNDS[task] if self.slice_bounds is None else self.slice_bounds)


@dataclass(frozen=True)
class Criterion:
    """One test of the gate: the candidate's figure, what it is compared with, and the verdict."""

    name: str
    status: Status
    candidate: float | None
    reference: float | None
    requirement: str
    description: str

    @property
    def passed(self) -> bool:
        """A skipped criterion does not stop the candidate."""
        return self.status != "fail"


@dataclass(frozen=True)
class ChampionComparison:
    """The champion and the candidate scored on the same held-out rows, or why they could not be."""

    champion_version: str
    metric: str
    rows: int
    candidate_score: float | None = None
    champion_score: float | None = None
    error: str | None = None
    same_model: bool = False


@dataclass(frozen=True)
class GateDecision:
    """Every criterion, and whether the candidate may become the champion."""

    criteria: list[Criterion]
    champion_version: str | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no criterion failed."""
        return all(criterion.passed for criterion in self.criteria)

    @property
    def failures(self) -> list[Criterion]:
        """The criteria that failed, in gate order."""
        return [criterion for criterion in self.criteria if not criterion.passed]

    def summary(self) -> str:
        """One line: how many criteria passed, or what failed and by how much."""
        if self.passed:
            skipped = [c for c in self.criteria if c.status == "skipped"]
            note = f" ({len(skipped)} skipped: {skipped[0].description})" if skipped else ""
            judged = len(self.criteria) - len(skipped)
            return f"passed all {judged} judged criteria{note}"
        return "failed: " + "; ".join(f"{c.name}: {c.description}" for c in self.failures)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the stored decision and the asset check's metadata."""
        return {
            "passed": self.passed,
            "summary": self.summary(),
            "champion_version": self.champion_version,
            "thresholds": self.thresholds,
            "criteria": [asdict(criterion) for criterion in self.criteria],
        }


def _figure(value: float | None) -> str:
    return "–" if value is None else number(value)


def _status(passed: bool) -> Status:
    return "pass" if passed else "fail"


def baseline_criteria(report: Mapping[str, Any], thresholds: GateThresholds) -> list[Criterion]:
    """Per baseline: the primary metric's lift over it against the margin (or the tolerance)."""
    metric = report["primary_metric"]
    candidate = report["metrics"].get(metric)
    criteria = []
    for name, scores in report["baselines"].items():
        trivial = name in TRIVIAL_BASELINES
        least = thresholds.baseline_margin if trivial else -thresholds.linear_baseline_tolerance
        gain = lift(report["metrics"], scores, metric)
        passed = not math.isnan(gain) and gain >= least
        criteria.append(
            Criterion(
                name=f"beats_{name}",
                status=_status(passed),
                candidate=candidate,
                reference=scores.get(metric),
                requirement=f"lift ≥ {least:+.3f}",
                description=f"{metric} {_figure(candidate)} against {name}'s "
                f"{_figure(scores.get(metric))}: lift {gain:+.4f} (at least {least:+.4f})",
            )
        )
    return criteria


def champion_criterion(
    comparison: ChampionComparison | None, thresholds: GateThresholds
) -> Criterion:
    """Not worse than the champion by more than the tolerance on the same held-out rows."""
    name, tolerance = CHAMPION_CRITERION, thresholds.champion_tolerance
    requirement = f"candidate ≥ champion − {tolerance:.3f}"
    if not thresholds.compare_with_champion:
        note = "skipped by configuration (compare_with_champion is off)"
        return Criterion(name, "skipped", None, None, requirement, note)
    if comparison is None:
        return Criterion(
            name, "skipped", None, None, requirement, "no champion: skipped (first model)"
        )
    if comparison.same_model:
        note = f"the candidate is the champion ({comparison.champion_version}): nothing to compare"
        return Criterion(name, "skipped", None, None, requirement, note)
    if comparison.error is not None:
        return Criterion(
            name,
            "fail",
            None,
            None,
            requirement,
            f"champion {comparison.champion_version} could not be re-scored: "
            f"{comparison.error}; roll it back or repair it before promoting another model",
        )
    ours, theirs, metric = comparison.candidate_score, comparison.champion_score, comparison.metric
    if ours is None or theirs is None:
        note = f"{metric} is undefined on the {comparison.rows} held-out rows (one class): skipped"
        return Criterion(name, "skipped", ours, theirs, requirement, note)
    difference = lift({metric: ours}, {metric: theirs}, metric)
    passed = difference >= -tolerance
    return Criterion(
        name,
        _status(passed),
        ours,
        theirs,
        requirement,
        f"{metric} {_figure(ours)} against champion {comparison.champion_version}'s "
        f"{_figure(theirs)} on the same {comparison.rows} held-out rows: difference "
        f"{difference:+.4f} (at least {-tolerance:+.4f})",
    )


def fairness_criteria(report: Mapping[str, Any], thresholds: GateThresholds) -> list[Criterion]:
    """Per sensitive column: its largest gap between slices against the bound."""
    criteria = []
    bound = thresholds.max_fairness_gap
    for column, fairness in report["fairness"].items():
        largest = fairness["largest_gap"]
        name = f"fairness_gap_{column}"
        if not largest.get("metric"):
            note = f"fewer than two slices of {column} with {fairness['min_rows']}+ rows: skipped"
            criteria.append(Criterion(name, "skipped", None, bound, f"gap ≤ {bound:.3f}", note))
            continue
        gap = largest["gap"]
        criteria.append(
            Criterion(
                name,
                _status(gap <= bound),
                gap,
                bound,
                f"gap ≤ {bound:.3f}",
                f"largest gap {largest['metric']} {gap:.4f} between {largest['worst']} (worst) "
                f"and {largest['best']} (best) (at most {bound:.4f})",
            )
        )
    return criteria


def slice_criteria(report: Mapping[str, Any], thresholds: GateThresholds) -> list[Criterion]:
    """Every bounded metric of every slice with enough rows (smaller slices decide nothing)."""
    criteria = []
    for column, fairness in report["fairness"].items():
        for group, scores in fairness["groups"].items():
            if scores["rows"] < fairness["min_rows"]:
                continue
            for metric, bound in thresholds.bounds_for(report["task"]).items():
                criteria.append(_slice_criterion(column, group, scores, metric, bound))
    return criteria


def _slice_criterion(
    column: str, group: str, scores: Mapping[str, Any], metric: str, bound: float
) -> Criterion:
    name = f"slice_{column}={group}_{metric}"
    lower = metric in LOWER_IS_BETTER
    requirement = f"{metric} {'≤' if lower else '≥'} {bound:.3f}"
    value = scores.get(metric)
    if value is None or math.isnan(value):
        note = f"{metric} is undefined on {column}={group} ({scores['rows']} rows): skipped"
        return Criterion(name, "skipped", None, bound, requirement, note)
    passed = value <= bound if lower else value >= bound
    return Criterion(
        name,
        _status(passed),
        value,
        bound,
        requirement,
        f"{metric} {value:.4f} on {column}={group} ({scores['rows']} rows) "
        f"(at {'most' if lower else 'least'} {bound:.4f})",
    )


def compare_with_champion(
    registry: ModelRegistry,
    candidate: Any,
    fingerprint: str,
    test_rows: pd.DataFrame,
    spec: DatasetSpec,
    positive: Any = None,
) -> ChampionComparison | None:
    """The champion (if any) and the candidate scored on the candidate's held-out rows.

    A champion that cannot be loaded or cannot score these rows (its file changed, its inputs
    are no longer in the data) is reported with the error, which fails the gate: a model is
    never promoted past a champion nobody can compare it with.
    """
    version = registry.alias(CHAMPION)
    if version is None:
        return None
    metric, rows = PRIMARY_METRIC[spec.task], len(test_rows)
    try:
        champion, record = registry.load(version)
        if record.fingerprint == fingerprint:
            return ChampionComparison(version, metric, rows, same_model=True)
        theirs = score_model(champion, test_rows, spec, positive).get(metric)
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        return ChampionComparison(version, metric, rows, error=str(error))
    ours = score_model(candidate, test_rows, spec, positive).get(metric)
    return ChampionComparison(version, metric, rows, ours, theirs)


def judge(
    report: Mapping[str, Any],
    thresholds: GateThresholds,
    comparison: ChampionComparison | None,
) -> GateDecision:
    """Every criterion of the gate for one evaluated candidate."""
    criteria: Sequence[Criterion] = [
        *baseline_criteria(report, thresholds),
        champion_criterion(comparison, thresholds),
        *fairness_criteria(report, thresholds),
        *slice_criteria(report, thresholds),
    ]
    return GateDecision(
        criteria=list(criteria),
        champion_version=comparison.champion_version if comparison else None,
        thresholds={
            **asdict(thresholds),
            "slice_bounds": thresholds.bounds_for(report["task"]),
        },
    )


def decision_markdown(decision: Mapping[str, Any], candidate_version: str) -> str:
    """The decision as a table a person reads to see why a candidate passed or failed."""
    verdict = "passed" if decision["passed"] else "**failed**"
    champion = decision["champion_version"] or "none (first model)"
    lines = [
        f"# Approval gate: {candidate_version} {verdict}",
        "",
        f"Champion compared with: {champion}. {decision['summary']}.",
        "",
        "| criterion | status | candidate | reference | requirement | detail |",
        "|---|---|---|---|---|---|",
    ]
    for criterion in decision["criteria"]:
        lines.append(
            f"| {criterion['name']} | {criterion['status']} | {_figure(criterion['candidate'])} "
            f"| {_figure(criterion['reference'])} | {criterion['requirement']} "
            f"| {criterion['description']} |"
        )
    return "\n".join(lines) + "\n"
