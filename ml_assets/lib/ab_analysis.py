"""A/B analysis of a canary: the serving prediction log joined with labels that arrive later.

Each arm (champion, challenger) is judged on the requests whose label has arrived, with the
latest model version of that arm only, one prediction per request key (the last), so every
outcome counted is an independent request of one model. Accuracy is compared with a
two-proportion z-test, the other metrics with a bootstrap interval of their difference; the
recommendation says promote, keep or need more data, with the sample size each arm needs for
the observed effect at the configured power and significance.
"""

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.bootstrap import f1_macro_scorer, r2_scorer, resample_counts

CHAMPION, CHALLENGER = "champion", "challenger"
ARMS = (CHAMPION, CHALLENGER)
PROMOTE, KEEP, NEED_MORE_DATA = "promote", "keep", "need more data"
REQUEST_KEY = "request_key"
LABEL = "label"
CORRECT = "correct"
BOOTSTRAP_SCORERS = {"f1_macro": f1_macro_scorer, "r2": r2_scorer}
METRICS = ("accuracy", *BOOTSTRAP_SCORERS)


@dataclass(frozen=True)
class ABSettings:
    """How the arms are compared and what counts as enough evidence."""

    metric: str = "accuracy"
    alpha: float = 0.05
    power: float = 0.8
    min_effect: float = 0.01
    min_samples_per_arm: int = 100
    bootstrap_rounds: int = 2000
    seed: int = 42

    def __post_init__(self) -> None:
        """Refuse settings no test can run with."""
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {list(METRICS)}, got {self.metric!r}")
        if not (0 < self.alpha < 1 and 0 < self.power < 1):
            raise ValueError(f"alpha and power must be in (0, 1), got {self.alpha}, {self.power}")


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
    from ml_assets.lib.dataset import SOURCE_FILE, SOURCE_LINE
    from ml_assets.lib.ingestion import (
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
    known = log[log["arm"].isin(ARMS)].sort_values("time", kind="stable")
    latest = known.groupby("arm")["model_version"].last()
    current = known[known["model_version"] == known["arm"].map(latest)]
    unique = current.drop_duplicates(REQUEST_KEY, keep="last")
    keyed = unique.assign(**{REQUEST_KEY: unique[REQUEST_KEY].map(str)})
    labelled = keyed.merge(labels.assign(**{REQUEST_KEY: labels[REQUEST_KEY].map(str)}))
    outcomes = labelled[["arm", "model_version", REQUEST_KEY, "prediction", LABEL]].copy()
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


def two_proportion_test(
    successes_a: int, rows_a: int, successes_b: int, rows_b: int, alpha: float
) -> dict[str, float]:
    """Two-sided z-test of ``p_b - p_a`` (pooled standard error) and its Wald interval.

    The interval uses the unpooled standard error, which does not assume the arms are equal.
    """
    from scipy import stats

    p_a, p_b = successes_a / rows_a, successes_b / rows_b
    pooled = (successes_a + successes_b) / (rows_a + rows_b)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / rows_a + 1 / rows_b))
    se = math.sqrt(p_a * (1 - p_a) / rows_a + p_b * (1 - p_b) / rows_b)
    effect = p_b - p_a
    z = effect / se_pooled if se_pooled > 0 else 0.0
    half = stats.norm.ppf(1 - alpha / 2) * se
    return {
        "metric_a": p_a,
        "metric_b": p_b,
        "effect": effect,
        "z": z,
        "p_value": float(2 * stats.norm.sf(abs(z))),
        "interval_low": effect - half,
        "interval_high": effect + half,
    }


def proportion_sample_size(
    p_a: float, p_b: float, alpha: float, power: float, ratio: float = 1.0
) -> tuple[int, int] | None:
    """Rows each arm needs for a two-sided z-test to detect ``p_b - p_a`` (Fleiss, no correction).

    ``ratio`` is the second arm's size over the first's (a canary's split); None when the two
    proportions are equal, since no sample size detects no difference.
    """
    from scipy import stats

    if p_a == p_b or ratio <= 0:
        return None
    z_alpha, z_power = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    pooled = (p_a + ratio * p_b) / (1 + ratio)
    spread = z_alpha * math.sqrt(pooled * (1 - pooled) * (1 + 1 / ratio))
    spread += z_power * math.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b) / ratio)
    rows_a = math.ceil(spread**2 / (p_b - p_a) ** 2)
    return rows_a, math.ceil(ratio * rows_a)


def bootstrap_difference(
    arm_a: pd.DataFrame, arm_b: pd.DataFrame, metric: str, rounds: int, alpha: float, seed: int
) -> dict[str, float]:
    """The metric's difference (b - a) and its percentile interval, each arm resampled alone."""
    rng = np.random.default_rng(seed)
    scores = []
    for arm in (arm_a, arm_b):
        truth, predicted = _arrays(arm, metric)
        scorer = BOOTSTRAP_SCORERS[metric](truth, predicted)
        full = scorer(np.ones((1, len(arm)), dtype="int64"))[0]
        drawn = np.concatenate(
            [scorer(counts) for counts in resample_counts(rng, len(arm), rounds)]
        )
        scores.append((full, drawn))
    (full_a, drawn_a), (full_b, drawn_b) = scores
    differences = drawn_b - drawn_a
    low, high = np.nanquantile(differences, [alpha / 2, 1 - alpha / 2])
    return {
        "metric_a": float(full_a),
        "metric_b": float(full_b),
        "effect": float(full_b - full_a),
        "standard_error": float(np.nanstd(differences, ddof=1)),
        "interval_low": float(low),
        "interval_high": float(high),
    }


def _arrays(arm: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    convert = (lambda column: column.astype("float64")) if metric == "r2" else _texts
    return convert(arm[LABEL]).to_numpy(), convert(arm["prediction"]).to_numpy()


def _texts(column: pd.Series) -> pd.Series:
    return column.map(label_text)


def scaled_sample_size(
    rows: Sequence[int], standard_error: float, effect: float, alpha: float, power: float
) -> tuple[int, int] | None:
    """Rows each arm needs for ``effect`` when the standard error shrinks as one over root n."""
    from scipy import stats

    if effect == 0 or not math.isfinite(standard_error):
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    factor = (z * standard_error / abs(effect)) ** 2
    return math.ceil(rows[0] * factor), math.ceil(rows[1] * factor)


def recommend(
    comparison: dict[str, float], rows: Sequence[int], settings: ABSettings
) -> tuple[str, str]:
    """Promote, keep or ask for more data, with the reason in figures.

    Promote when the challenger is significantly better; keep when it is not better by the
    smallest effect worth having (``min_effect``); otherwise the evidence is not in yet.
    """
    effect = comparison["effect"]
    low, high = comparison["interval_low"], comparison["interval_high"]
    span = (
        f"{settings.metric} difference {effect:+.4f}, {1 - settings.alpha:.0%} interval "
        f"[{low:+.4f}, {high:+.4f}]"
    )
    fewest = min(rows)
    if fewest < settings.min_samples_per_arm:
        arm = ARMS[list(rows).index(fewest)]
        return NEED_MORE_DATA, (
            f"{arm} has {fewest} labelled predictions (minimum {settings.min_samples_per_arm})"
        )
    if low > 0 and comparison.get("p_value", 0.0) < settings.alpha:
        return PROMOTE, f"the challenger is better: {span}"
    if high < settings.min_effect:
        return KEEP, (f"the challenger is not better by {settings.min_effect} or more: {span}")
    return NEED_MORE_DATA, f"not conclusive yet: {span}"


def analyse(outcomes: pd.DataFrame, settings: ABSettings) -> dict[str, Any]:
    """Compare the arms of ``outcomes`` (from ``join_outcomes``) on the configured metric."""
    arms = {arm: outcomes[outcomes["arm"] == arm] for arm in ARMS}
    rows = [len(arms[arm]) for arm in ARMS]
    report: dict[str, Any] = {
        "settings": asdict(settings),
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
    champion, challenger = arms[CHAMPION], arms[CHALLENGER]
    if settings.metric == "accuracy":
        hits = [int(champion[CORRECT].sum()), int(challenger[CORRECT].sum())]
        comparison = two_proportion_test(hits[0], rows[0], hits[1], rows[1], settings.alpha)
        comparison["test"] = "two-proportion z-test"
        needed = proportion_sample_size(
            comparison["metric_a"],
            comparison["metric_b"],
            settings.alpha,
            settings.power,
            rows[1] / rows[0],
        )
    else:
        comparison = bootstrap_difference(
            champion,
            challenger,
            settings.metric,
            settings.bootstrap_rounds,
            settings.alpha,
            settings.seed,
        )
        comparison["test"] = f"bootstrap percentile interval ({settings.bootstrap_rounds} rounds)"
        needed = scaled_sample_size(
            rows,
            comparison["standard_error"],
            comparison["effect"],
            settings.alpha,
            settings.power,
        )
    recommendation, reason = recommend(comparison, rows, settings)
    report.update(
        comparison=comparison,
        needed_per_arm=dict(zip(ARMS, needed, strict=True)) if needed else None,
        recommendation=recommendation,
        reason=reason,
    )
    return report


def report_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown for the UI: the recommendation first, then the figures."""
    from ml_assets.lib.markdown import table

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
        p_value = f", p = {comparison['p_value']:.4g}" if "p_value" in comparison else ""
        lines += [
            "",
            f"{comparison['test']}: effect {comparison['effect']:+.4f}, interval "
            f"[{comparison['interval_low']:+.4f}, {comparison['interval_high']:+.4f}]{p_value}",
        ]
    needed = report.get("needed_per_arm")
    if needed:
        settings = report["settings"]
        lines += [
            "",
            f"Needed for the observed effect at power {settings['power']} and alpha "
            f"{settings['alpha']}: {needed[CHAMPION]} champion and {needed[CHALLENGER]} "
            "challenger labelled predictions.",
        ]
    return "\n".join(lines) + "\n"
