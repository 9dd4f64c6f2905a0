"""A/B analysis of a canary or a shadow: the serving prediction log joined with later labels.

Each arm (champion, challenger) is judged on the requests whose label has arrived, with the
latest model version of that arm only, one prediction per request key (the last), so every
outcome counted is an independent request of one model. The verdict is always valid: a mixture
sequential probability ratio test (Johari, Pekelis & Walsh's mSPRT, normal mixture over the
effect) whose confidence sequence holds at every look at once, so an hourly report may be read
every hour without inflating false promotions. When both arms scored the same requests (shadow
mode) the test is paired on the per-request difference, which cancels what the requests share.
"""

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.project.project_config import ABTestSection
from ml_assets.lib.release.prediction_log import SHADOW

CHAMPION, CHALLENGER = "champion", "challenger"
ARMS = (CHAMPION, CHALLENGER)
PROMOTE, KEEP, NEED_MORE_DATA = "promote", "keep", "need more data"
REQUEST_KEY = "request_key"
LABEL = "label"
CORRECT = "correct"
SHADOWED = "shadowed"  # outcome column: the challenger's prediction came from the shadow
METRICS = ("accuracy", "r2")
_DEFAULTS = ABTestSection()  # the configuration's ab_test section, its defaults


@dataclass(frozen=True)
class ABSettings:
    """How the arms are compared and what counts as enough evidence."""

    metric: str = "accuracy"
    alpha: float = _DEFAULTS.alpha
    min_effect: float = _DEFAULTS.min_effect
    min_samples_per_arm: int = _DEFAULTS.min_samples_per_arm

    def __post_init__(self) -> None:
        """Refuse settings no test can run with."""
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {list(METRICS)}, got {self.metric!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if not self.min_effect > 0:
            raise ValueError(f"min_effect must be above 0, got {self.min_effect}")


@dataclass(frozen=True)
class Labels:
    """Labels by request key (the last one wins), and the files that could not be used."""

    frame: pd.DataFrame
    files: list[str]
    problems: list[str]
    conflicting_keys: int


def read_labels(folder: Path, target: str) -> Labels:
    """Every labels file of ``folder`` (CSV, Parquet, JSON lines), read by the ingestion code.

    A file without the ``request_key`` or target column is listed with why, the others go on.
    A key labelled twice keeps its last label (files in name order), and is counted when the
    labels disagree.
    """
    from ml_assets.lib.contract.dataset import SOURCE_FILE, SOURCE_LINE
    from ml_assets.lib.data.ingestion import (
        IngestionError,
        check_columns,
        landing_paths,
        parse_landing_bytes,
        read_capped,
    )

    paths, refused = landing_paths(folder) if folder.is_dir() else ([], [])
    problems = [entry.reason for entry in refused]
    frames, files = [], []
    for path in paths:
        try:
            frame = parse_landing_bytes(read_capped(path), path.name)
            check_columns(frame, path.name, [REQUEST_KEY, target], strict=False)
        except IngestionError as error:
            problems.append(str(error))
            continue
        files.append(path.name)
        frames.append(frame[[REQUEST_KEY, target, SOURCE_FILE, SOURCE_LINE]])
    if not frames:
        return Labels(pd.DataFrame(columns=[REQUEST_KEY, LABEL]), files, problems, 0)
    stacked = pd.concat(frames, ignore_index=True).dropna(subset=[REQUEST_KEY, target])
    stacked = stacked.astype({REQUEST_KEY: "object", target: "object"})
    distinct = stacked.groupby(REQUEST_KEY)[target].nunique()
    last = stacked.drop_duplicates(REQUEST_KEY, keep="last")
    frame = last[[REQUEST_KEY, target]].rename(columns={target: LABEL}).reset_index(drop=True)
    return Labels(frame, files, problems, int((distinct > 1).sum()))


def label_text(value: Any) -> str:
    """A label as comparable text: ``1``, ``"1"`` and ``1.0`` are the same label."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return repr(number)


def join_outcomes(log: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The labelled predictions of each arm's latest model version, one per request key.

    Returns the outcomes (arm, model version, prediction, label, whether it was right) and how
    many log rows were left out and why.
    """
    shadowed = log["arm"] == SHADOW
    log = log.assign(arm=log["arm"].where(~shadowed, CHALLENGER), **{SHADOWED: shadowed})
    known = log[log["arm"].isin(ARMS)].sort_values("time", kind="stable")
    latest = known.groupby("arm")["model_version"].last()
    current = known[known["model_version"] == known["arm"].map(latest)]
    unique = current.drop_duplicates([SHADOWED, REQUEST_KEY], keep="last")
    keyed = unique.assign(**{REQUEST_KEY: unique[REQUEST_KEY].map(str)})
    labelled = keyed.merge(labels.assign(**{REQUEST_KEY: labels[REQUEST_KEY].map(str)}))
    columns = ["arm", "model_version", REQUEST_KEY, "prediction", LABEL, SHADOWED]
    outcomes = labelled[columns].copy()
    outcomes[CORRECT] = outcomes["prediction"].map(label_text) == outcomes[LABEL].map(label_text)
    counts = {
        "logged": len(log),
        "unknown_arm": len(log) - len(known),
        "earlier_versions": len(known) - len(current),
        "repeated_keys": len(current) - len(unique),
        "unlabelled": len(unique) - len(labelled),
        "labelled": len(labelled),
    }
    return outcomes.reset_index(drop=True), counts


def request_scores(outcomes: pd.DataFrame, metric: str) -> np.ndarray:
    """One score per labelled request whose mean over an arm is that arm's metric.

    Accuracy: 1 when the prediction is right. R²: one minus the squared error over the labels'
    variance (all labelled requests), so an arm's mean is its R² up to that shared scale.
    """
    if metric == "accuracy":
        return outcomes[CORRECT].to_numpy(dtype="float64")
    truth = outcomes[LABEL].astype("float64").to_numpy()
    error = truth - outcomes["prediction"].astype("float64").to_numpy()
    spread = float(np.var(truth)) or 1.0
    return 1.0 - error**2 / spread


def cs_radius(variance: Any, mixture_sd: float, alpha: float) -> Any:
    """Half-width of the always-valid interval of an estimate with ``variance`` (arrays too).

    The set of effects the normal-mixture likelihood ratio (mixing sd ``mixture_sd``) does not
    reject at ``alpha`` (Johari, Pekelis & Walsh 2017): it covers the true effect at every
    sample size at once with probability 1 - alpha, so looking after every batch of labels
    costs nothing. It narrows as about sqrt(log n / n), a little slower than a fixed-n interval.
    """
    mixture = mixture_sd**2
    variance = np.asarray(variance, dtype="float64")
    total = variance + mixture
    with np.errstate(divide="ignore", invalid="ignore"):
        squared = variance * total / mixture * (np.log(total / variance) - 2 * math.log(alpha))
    return np.sqrt(np.where(variance > 0, squared, 0.0))


def sequential_comparison(
    scores: Mapping[str, np.ndarray], paired: bool, settings: "ABSettings"
) -> dict[str, Any]:
    """Challenger minus champion on per-request scores, with its always-valid interval.

    ``paired``: both arrays hold the same requests in the same order (shadow mode), and the
    test runs on their difference; otherwise the arms are independent samples (a split).
    """
    champion, challenger = scores[CHAMPION], scores[CHALLENGER]
    if paired:
        difference = challenger - champion
        variance = float(np.var(difference, ddof=1)) / len(difference)
        per_request = float(np.var(difference, ddof=1))
    else:
        variance = float(
            np.var(champion, ddof=1) / len(champion) + np.var(challenger, ddof=1) / len(challenger)
        )
        # The variance one more labelled request adds, at the arms' current shares.
        total = len(champion) + len(challenger)
        per_request = float(
            np.var(champion, ddof=1) * total / len(champion)
            + np.var(challenger, ddof=1) * total / len(challenger)
        )
    effect = float(challenger.mean() - champion.mean())
    mixture_sd = settings.min_effect
    radius = float(cs_radius(variance, mixture_sd, settings.alpha))
    low, high = effect - radius, effect + radius
    labelled = len(champion) if paired else len(champion) + len(challenger)
    return {
        "design": "paired (shadow)" if paired else "split",
        "test": f"mSPRT confidence sequence (normal mixture, sd {mixture_sd:g}), always valid",
        "metric_a": float(champion.mean()),
        "metric_b": float(challenger.mean()),
        "effect": effect,
        "standard_error": math.sqrt(variance) if variance > 0 else 0.0,
        "interval_low": low,
        "interval_high": high,
        "labelled_requests": labelled,
        "needed_requests": requests_for_decision(per_request, settings),
    }


def requests_for_decision(per_request_variance: float, settings: "ABSettings") -> int | None:
    """Labelled requests after which the confidence sequence is narrower than ``min_effect``.

    From then on an effect of ``min_effect`` (or none at all) reaches a verdict when the
    estimate lands on its expected value: the typical size of a decided test at that effect.
    """
    from scipy.optimize import brentq

    if not per_request_variance > 0:
        return None
    effect = settings.min_effect
    # The radius grows with the estimate's variance: find the variance where it is min_effect.
    target = brentq(
        lambda v: float(cs_radius(v, effect, settings.alpha)) - effect, 1e-300, effect**2
    )
    return math.ceil(per_request_variance / target)


def recommend(comparison: Mapping[str, Any], settings: "ABSettings") -> tuple[str, str]:
    """Promote, keep or ask for more data, with the reason in figures.

    Promote when the always-valid interval lies above zero; keep when it lies below
    ``min_effect`` (the challenger is not better by an effect worth having); otherwise the
    evidence is not in yet, and the reason says how many more labelled requests it typically
    takes.
    """
    effect = comparison["effect"]
    low, high = comparison["interval_low"], comparison["interval_high"]
    span = (
        f"{settings.metric} difference {effect:+.4f}, {1 - settings.alpha:.0%} always-valid "
        f"interval [{low:+.4f}, {high:+.4f}]"
    )
    if low > 0:
        return PROMOTE, f"the challenger is better: {span}"
    if high < settings.min_effect:
        return KEEP, f"the challenger is not better by {settings.min_effect} or more: {span}"
    needed, have = comparison["needed_requests"], comparison["labelled_requests"]
    more = (
        f"; about {max(needed - have, 0)} more labelled requests decide an effect of "
        f"{settings.min_effect}"
        if needed
        else ""
    )
    return NEED_MORE_DATA, f"not conclusive yet: {span}{more}"


def paired_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame | None:
    """Champion and shadow outcomes of the same requests, one row each, or None (a split).

    A shadow scores every request the champion answers, so the arms are paired by request key.
    """
    shadow = outcomes[outcomes[SHADOWED]]
    if shadow.empty:
        return None
    champion = outcomes[(outcomes["arm"] == CHAMPION) & ~outcomes[SHADOWED]]
    return champion.merge(shadow, on=REQUEST_KEY, suffixes=("_a", "_b"))


def analyse(outcomes: pd.DataFrame, settings: ABSettings) -> dict[str, Any]:
    """Compare the arms of ``outcomes`` (from ``join_outcomes``) on the configured metric.

    Shadow outcomes (both arms on the same requests) are compared pairwise, canary outcomes
    (each request served by one arm) as independent samples.
    """
    if SHADOWED not in outcomes:
        outcomes = outcomes.assign(**{SHADOWED: False})
    pairs = paired_outcomes(outcomes)
    if pairs is not None:
        arms = {
            arm: pairs[[f"{name}{suffix}" for name in ("model_version", "prediction", LABEL)]]
            .set_axis(["model_version", "prediction", LABEL], axis=1)
            .assign(**{CORRECT: pairs[f"{CORRECT}{suffix}"]})
            for arm, suffix in ((CHAMPION, "_a"), (CHALLENGER, "_b"))
        }
    else:
        arms = {arm: outcomes[outcomes["arm"] == arm] for arm in ARMS}
    rows = [len(arms[arm]) for arm in ARMS]
    report: dict[str, Any] = {
        "settings": asdict(settings),
        "design": "paired (shadow)" if pairs is not None else "split",
        "rows_per_arm": dict(zip(ARMS, rows, strict=True)),
    }
    report["model_versions"] = {
        arm: (str(frame["model_version"].iloc[-1]) if len(frame) else None)
        for arm, frame in arms.items()
    }
    if min(rows) == 0:
        missing = [arm for arm, count in zip(ARMS, rows, strict=True) if count == 0]
        report["recommendation"] = NEED_MORE_DATA
        report["reason"] = f"no labelled predictions of the {' and the '.join(missing)}"
        return report
    fewest = min(rows)
    if fewest < settings.min_samples_per_arm:
        arm = ARMS[rows.index(fewest)]
        report["recommendation"] = NEED_MORE_DATA
        report["reason"] = (
            f"{arm} has {fewest} labelled predictions (minimum {settings.min_samples_per_arm})"
        )
        return report
    labelled = pd.concat([arms[CHAMPION], arms[CHALLENGER]], ignore_index=True)
    scale = request_scores(labelled, settings.metric)
    scores = {CHAMPION: scale[: rows[0]], CHALLENGER: scale[rows[0] :]}
    comparison = sequential_comparison(scores, pairs is not None, settings)
    recommendation, reason = recommend(comparison, settings)
    report.update(comparison=comparison, recommendation=recommendation, reason=reason)
    return report


def report_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown for the UI: the recommendation first, then the figures."""
    from ml_assets.lib.core.markdown import table

    comparison = report.get("comparison") or {}
    metric = report["settings"]["metric"]
    figures = {CHAMPION: comparison.get("metric_a"), CHALLENGER: comparison.get("metric_b")}
    arms = [
        {
            "arm": arm,
            "model version": report["model_versions"][arm],
            "labelled predictions": report["rows_per_arm"][arm],
            metric: figures[arm],
        }
        for arm in ARMS
    ]
    lines = [f"**{report['recommendation']}**: {report['reason']}", "", table(arms)]
    if comparison:
        lines += [
            "",
            f"{comparison['design']} design, {comparison['test']}: effect "
            f"{comparison['effect']:+.4f}, interval [{comparison['interval_low']:+.4f}, "
            f"{comparison['interval_high']:+.4f}], valid however often this report is read.",
        ]
        if comparison["needed_requests"]:
            lines += [
                "",
                f"A verdict at the minimum detectable effect {report['settings']['min_effect']} "
                f"typically takes {comparison['needed_requests']} labelled requests "
                f"({comparison['labelled_requests']} so far).",
            ]
    return "\n".join(lines) + "\n"
