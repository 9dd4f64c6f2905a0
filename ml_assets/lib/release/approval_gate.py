"""The approval gate: may a candidate model replace the champion? Every criterion with its figures.

A candidate passes when it beats the trivial baseline by a margin and does not trail the plain
linear baseline by more than a tolerance beyond noise (both on the held-out primary metric); is
not worse than the current champion by more than a tolerance on the same held-out rows (the
champion is re-scored on the candidate's test side, so the comparison stays fair when data has
grown); keeps the gap between the slices of each sensitive column within a bound beyond noise;
and keeps every bounded metric of every slice with enough rows within its bound. With no
champion yet (the project's first model) the champion criterion is reported as skipped and the
others decide.
"""

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ml_assets.lib.contract.dataset import DatasetSpec
from ml_assets.lib.model.bootstrap import resample_counts
from ml_assets.lib.model.evaluation import (
    BOOTSTRAP_MAX_ROWS,
    BOOTSTRAP_ROUNDS,
    BOOTSTRAP_SCORERS,
    CONFIDENCE,
    LOWER_IS_BETTER,
    MIN_SLICE_ROWS,
    PRIMARY_METRIC,
    Outputs,
    calibration,
    cost_of,
    lift,
    number,
    positive_index,
    predict,
    score_model,
)
from ml_assets.lib.model.modeling import decision_of, model_inputs
from ml_assets.lib.project.project_config import ApprovalSection
from ml_assets.lib.release.registry import CHAMPION, ModelRegistry

Status = Literal["pass", "fail", "skipped"]
CHAMPION_CRITERION = "not_worse_than_champion"
COST_CRITERION = "not_costlier_than_champion"
ROUNDING = 1e-9
TRIVIAL_BASELINES = frozenset({"majority_class", "mean_predictor"})
# Per task, the slice metrics bounded when no bounds are configured (minimums: higher is better).
DEFAULT_SLICE_BOUNDS: dict[str, dict[str, float]] = {
    "binary": {"roc_auc": 0.6},
    "multiclass": {"f1_macro": 0.3},
    "regression": {"r2": 0.0},
}


class GateThresholds(ApprovalSection):
    """What the candidate is held to: the config's ``approval`` section, and how to read it.

    The defaults pass a sound model on the demo data. ``slice_bounds`` maps a slice metric to
    its bound: a minimum, or a maximum for metrics where lower is better (rmse, mae, log_loss);
    None bounds the task's primary metric (``DEFAULT_SLICE_BOUNDS``), an empty mapping nothing.
    """

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
    candidate_cost: float | None = None  # mean cost per row, each at its own cut-off (costs set)
    champion_cost: float | None = None
    champion_calibration: dict[str, float] | None = None  # Brier and ECE (binary tasks)


@dataclass(frozen=True)
class GateDecision:
    """Every criterion, and whether the candidate may become the champion."""

    criteria: list[Criterion]
    champion_version: str | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, dict[str, float]] = field(default_factory=dict)  # Brier, ECE by model

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
            "calibration": self.calibration,
        }


def _figure(value: float | None) -> str:
    return "–" if value is None else number(value)


def _at_least(value: float, bound: float) -> bool:
    """``value >= bound``, forgiving the rounding of a difference (0.89 - 0.9 < -0.01 in floats)."""
    return value >= bound - ROUNDING


def _status(passed: bool) -> Status:
    return "pass" if passed else "fail"


def baseline_criteria(report: Mapping[str, Any], thresholds: GateThresholds) -> list[Criterion]:
    """Per baseline: beats the trivial one by the margin, trails a model one within the tolerance.

    Against the strongest baseline the report holds a paired-bootstrap interval of the
    difference: a small test side (wine: 36 rows) moves macro F1 by 0.1 between resamples, so the
    candidate fails only when the whole 95% interval lies below −tolerance.
    """
    metric = PRIMARY_METRIC[report["task"]]
    candidate = report["metrics"].get(metric)
    verdict = report.get("verdict", {})
    criteria = []
    for name, scores in report["baselines"].items():
        gain = lift(report["metrics"], scores, metric)
        if name in TRIVIAL_BASELINES:
            least = thresholds.baseline_margin
            passed = not math.isnan(gain) and _at_least(gain, least)
            requirement, rule = f"lift ≥ {least:+.3f}", f"at least {least:+.4f}"
        else:
            least = -thresholds.linear_baseline_tolerance
            requirement = f"lift not all below {least:+.3f}"
            passed = not math.isnan(gain) and _at_least(gain, least)
            rule = f"at least {least:+.4f}"
            if verdict.get("against") == name and verdict.get("metric") == metric:
                low, high = verdict["interval"]
                passed = passed or _at_least(high, least)
                rule = f"95% interval [{low:+.4f}, {high:+.4f}] not all below {least:+.4f}"
        criteria.append(
            Criterion(
                name=f"beats_{name}",
                status=_status(passed),
                candidate=candidate,
                reference=scores.get(metric),
                requirement=requirement,
                description=f"{metric} {_figure(candidate)} against {name}'s "
                f"{_figure(scores.get(metric))}: lift {gain:+.4f} ({rule})",
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
    passed = _at_least(difference, -tolerance)
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


@dataclass(frozen=True)
class SliceGap:
    """The primary metric's gap between the best and worst slice of a column, with its interval.

    Slices are resampled separately (each keeps its size), 500 times; the interval is the 95%
    range of the resampled gaps. ``gap`` is None when fewer than two slices can be judged.
    """

    column: str
    metric: str
    slices: int
    gap: float | None = None
    low: float | None = None
    high: float | None = None
    worst: str | None = None
    best: str | None = None


def slice_gap(
    model: Any,
    test_rows: pd.DataFrame,
    spec: DatasetSpec,
    column: str,
    positive: Any = None,
    min_rows: int = MIN_SLICE_ROWS,
    seed: int = 42,
    rounds: int = BOOTSTRAP_ROUNDS,
    outputs: Outputs | None = None,
) -> SliceGap:
    """How far apart the slices of ``column`` with ``min_rows``+ rows score, beyond noise.

    ``outputs`` are the model's outputs on ``test_rows`` when already computed.
    """
    metric = PRIMARY_METRIC[spec.task]
    predicted, probabilities = outputs or predict(model, model_inputs(test_rows, spec), spec)
    truth = test_rows[spec.target].to_numpy()
    outputs = predicted
    if spec.task == "binary":
        index = positive_index(model.classes_, positive)
        outputs = probabilities[:, index]
        truth = np.array([str(label) for label in truth]) == str(model.classes_[index])
    rng = np.random.default_rng(seed)
    share = min(1.0, BOOTSTRAP_MAX_ROWS / max(len(test_rows), 1))
    points, samples = {}, {}
    for value, rows in test_rows.groupby(column, dropna=False, sort=True):
        if len(rows) < min_rows:
            continue
        at = test_rows.index.get_indexer(rows.index)
        whole = BOOTSTRAP_SCORERS[spec.task](truth[at], outputs[at])
        point = float(whole(np.ones((1, len(at)), dtype=np.int64))[0])
        if np.isnan(point):
            continue  # one class only: its metric is undefined
        name = "(missing)" if pd.isna(value) else str(value)
        points[name] = point
        at = _subsample(rng, at, max(min_rows, round(len(at) * share)))
        scorer = BOOTSTRAP_SCORERS[spec.task](truth[at], outputs[at])
        samples[name] = np.concatenate(list(map(scorer, resample_counts(rng, len(at), rounds))))
    if len(points) < 2:
        return SliceGap(column, metric, len(points))
    stacked = np.vstack(list(samples.values()))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample of one class: NaN
        gaps = np.nanmax(stacked, axis=0) - np.nanmin(stacked, axis=0)
    gaps = gaps[~np.isnan(gaps)]
    tail = (1 - CONFIDENCE) / 2 * 100
    return SliceGap(
        column,
        metric,
        len(points),
        gap=max(points.values()) - min(points.values()),
        low=float(np.percentile(gaps, tail)),
        high=float(np.percentile(gaps, 100 - tail)),
        worst=min(points, key=points.get),
        best=max(points, key=points.get),
    )


def _subsample(rng: np.random.Generator, rows: np.ndarray, size: int) -> np.ndarray:
    """``rows``, or a seeded subsample of ``size`` of them, for the resamples.

    Past ``BOOTSTRAP_MAX_ROWS`` test rows in all the slices share that many, each in
    proportion: resampling every row cost 1.7 s per 1e6 rows, and a subsample only widens the
    interval, so the criterion errs toward passing a sound model, never toward failing one.
    """
    if len(rows) <= size:
        return rows
    return np.sort(rng.choice(rows, size, replace=False))


def _between(gap: SliceGap) -> str:
    if gap.worst == gap.best or not gap.gap:
        return "(every slice scores the same)"
    return f"between {gap.worst} (worst) and {gap.best} (best)"


def fairness_criteria(gaps: Sequence[SliceGap], thresholds: GateThresholds) -> list[Criterion]:
    """Per sensitive column: fails when the gap exceeds the bound beyond noise.

    Small slices make gaps noisy (R² on 40 rows moves by 0.2 between resamples), so a fixed
    bound on the observed gap would fail sound models; the whole 95% interval must exceed it.
    """
    criteria = []
    bound = thresholds.max_fairness_gap
    requirement = f"95% interval of the gap not all above {bound:.3f}"
    for gap in gaps:
        name = f"fairness_gap_{gap.column}"
        if gap.gap is None:
            note = f"fewer than two slices of {gap.column} can be judged: skipped"
            criteria.append(Criterion(name, "skipped", None, bound, requirement, note))
            continue
        criteria.append(
            Criterion(
                name,
                _status(_at_least(bound, gap.low)),
                gap.gap,
                bound,
                requirement,
                f"{gap.metric} gap {gap.gap:.4f} {_between(gap)} of {gap.slices} slices, 95% "
                f"interval [{gap.low:.4f}, {gap.high:.4f}] (bound {bound:.4f})",
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
    passed = _at_least(bound, value) if lower else _at_least(value, bound)
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
    outputs: Outputs | None = None,
) -> ChampionComparison | None:
    """The champion (if any) and the candidate scored on the candidate's held-out rows.

    ``outputs`` are the candidate's outputs on ``test_rows`` when already computed.

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
        inputs = model_inputs(test_rows, spec)
        champion_outputs = predict(champion, inputs, spec)
        theirs = score_model(champion, test_rows, spec, positive, champion_outputs).get(metric)
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        return ChampionComparison(version, metric, rows, error=str(error))
    outputs = outputs or predict(candidate, inputs, spec)
    ours = score_model(candidate, test_rows, spec, positive, outputs).get(metric)
    extra: dict[str, Any] = {}
    if spec.task == "binary":
        truth = test_rows[spec.target]
        index = positive_index(champion.classes_, positive)
        is_positive = (truth.astype(str) == str(champion.classes_[index])).to_numpy()
        found = calibration(is_positive, champion_outputs[1][:, index])
        extra["champion_calibration"] = {"brier": found["brier"], "ece": found["ece"]}
        decision = decision_of(candidate)
        if decision is not None and decision.get("costs"):
            # Both at the project's costs, each deciding by its own cut-off, on the same rows.
            extra["candidate_cost"] = cost_of(truth, outputs[0], decision)
            extra["champion_cost"] = cost_of(truth, champion_outputs[0], decision)
    return ChampionComparison(version, metric, rows, ours, theirs, **extra)


def cost_criterion(comparison: ChampionComparison | None) -> list[Criterion]:
    """Not costlier than the champion at the decision's costs on the same rows (costs set)."""
    if comparison is None or comparison.candidate_cost is None:
        return []
    ours, theirs = comparison.candidate_cost, comparison.champion_cost
    passed = ours <= theirs + 1e-12
    return [
        Criterion(
            COST_CRITERION,
            _status(passed),
            ours,
            theirs,
            "candidate cost ≤ champion cost",
            f"expected cost per row {ours:.4g} against champion {comparison.champion_version}'s "
            f"{theirs:.4g} on the same {comparison.rows} held-out rows, each at its own cut-off",
        )
    ]


def judge(
    report: Mapping[str, Any],
    thresholds: GateThresholds,
    comparison: ChampionComparison | None,
    gaps: Sequence[SliceGap] = (),
) -> GateDecision:
    """Every criterion of the gate for one evaluated candidate (``gaps``: one per column)."""
    criteria: Sequence[Criterion] = [
        *baseline_criteria(report, thresholds),
        champion_criterion(comparison, thresholds),
        *cost_criterion(comparison),
        *fairness_criteria(gaps, thresholds),
        *slice_criteria(report, thresholds),
    ]
    calibrations = {}
    if "calibration" in report:
        calibrations["candidate"] = {k: report["calibration"][k] for k in ("brier", "ece")}
    if comparison is not None and comparison.champion_calibration is not None:
        calibrations[f"champion {comparison.champion_version}"] = comparison.champion_calibration
    return GateDecision(
        criteria=list(criteria),
        calibration=calibrations,
        champion_version=comparison.champion_version if comparison else None,
        thresholds={
            **thresholds.model_dump(),
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
        f"Champion compared with: {champion}; {decision['summary']}.",
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
    if decision.get("calibration"):
        lines += ["", "| model | Brier score | expected calibration error |", "|---|---|---|"]
        lines += [
            f"| {name} | {figures['brier']:.4f} | {figures['ece']:.4f} |"
            for name, figures in decision["calibration"].items()
        ]
    return "\n".join(lines) + "\n"
