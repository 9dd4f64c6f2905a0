"""Is the A/B verdict valid when the report is read every hour? Simulated experiments, two designs.

For A/A (no effect) and effects of 0.5, 1 and 2 points of accuracy, each of ``--experiments``
experiments receives ``--per-hour`` labelled requests an hour for ``--days`` days and is looked
at every hour, as ``ab_test_report``'s hourly cron does. Two designs:

- split: each request served by one arm, the challenger taking ``--canary-fraction`` of them;
- shadow (paired): every request scored by both arms, the models disagreeing on
  ``--disagreement`` of the requests (the rest both right or both wrong).

At each look the rule of ``ml_assets.lib.release.ab_analysis.recommend`` is applied to the
always-valid interval ``cs_radius`` gives (promote: the interval above 0; keep: below
``min_effect``), with ``min_samples_per_arm`` as in the report. For contrast, the fixed-alpha z-test
the report used before, re-run at every look. It prints, per design and effect: the share of
experiments with any promote over the horizon (A/A: a wrong promote; target at most 5%), the power,
and the median hours to a promote.

    .venv/bin/python benchmarks/ab_validity.py                 # 1,000 experiments each
    .venv/bin/python benchmarks/ab_validity.py --experiments 200
"""

import argparse
import json
import math
import time

import numpy as np
from scipy import stats

from ml_assets.lib.release.ab_analysis import ABSettings, cs_radius

EFFECTS = (0.0, 0.005, 0.01, 0.02)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--per-hour", type=int, default=200, help="labelled requests an hour")
    parser.add_argument("--accuracy", type=float, default=0.80, help="the champion's accuracy")
    parser.add_argument("--canary-fraction", type=float, default=0.5)
    parser.add_argument("--disagreement", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args()


def split_looks(rng, args, effect: float, hours: int) -> tuple[np.ndarray, ...]:
    """Cumulative (estimate, variance, rows of the smaller arm) at every hourly look."""
    shape = (args.experiments, hours)
    rows_b = rng.binomial(args.per_hour, args.canary_fraction, shape)
    rows_a = args.per_hour - rows_b
    hits_a = rng.binomial(rows_a, args.accuracy)
    hits_b = rng.binomial(rows_b, args.accuracy + effect)
    n_a, n_b = rows_a.cumsum(1), rows_b.cumsum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_a, p_b = hits_a.cumsum(1) / n_a, hits_b.cumsum(1) / n_b
        variance = p_a * (1 - p_a) / (n_a - 1) + p_b * (1 - p_b) / (n_b - 1)
    return p_b - p_a, variance, np.minimum(n_a, n_b)


def shadow_looks(rng, args, effect: float, hours: int) -> tuple[np.ndarray, ...]:
    """The same for paired requests: the per-request difference is -1, 0 or +1."""
    only_b = (args.disagreement + effect) / 2
    only_a = (args.disagreement - effect) / 2
    counts = rng.multinomial(
        args.per_hour, [only_a, only_b, 1 - only_a - only_b], (args.experiments, hours)
    )
    n = np.cumsum(np.full((args.experiments, hours), args.per_hour), 1)
    minus, plus = counts[..., 0].cumsum(1), counts[..., 1].cumsum(1)
    mean = (plus - minus) / n
    variance = ((plus + minus) / n - mean**2) * n / (n - 1) / n
    return mean, variance, n


def judge(estimate, variance, rows, settings: ABSettings, fixed: bool) -> dict[str, float]:
    """Promote share, median hours to it, and keep share, over all experiments."""
    if fixed:  # the report's old rule: a z-test at alpha at every look
        radius = stats.norm.ppf(1 - settings.alpha / 2) * np.sqrt(variance)
    else:
        radius = cs_radius(variance, settings.min_effect, settings.alpha)
    enough = rows >= settings.min_samples_per_arm
    promote = enough & (estimate - radius > 0)
    keep = enough & (estimate + radius < settings.min_effect) & ~fixed
    decided = promote | keep
    first = np.where(decided.any(1), decided.argmax(1), -1)
    ends = np.take_along_axis(promote, np.maximum(first, 0)[:, None], 1)[:, 0] & (first >= 0)
    promoted = promote.any(1) if fixed else ends  # the first verdict is the one acted upon
    hours = first[promoted] + 1
    return {
        "promote": float(promoted.mean()),
        "keep": float((keep.any(1) & ~promoted).mean()) if not fixed else 0.0,
        "median_hours_to_promote": float(np.median(hours)) if hours.size else math.nan,
    }


def main() -> None:
    args = _arguments()
    settings = ABSettings()
    hours = args.days * 24
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    results = []
    for design, looks in (("split", split_looks), ("shadow", shadow_looks)):
        for effect in EFFECTS:
            estimate, variance, rows = looks(rng, args, effect, hours)
            for method, fixed in (("always-valid", False), ("z-test every hour", True)):
                if fixed and effect:
                    continue  # the old test's power is not a figure anyone should act on
                figures = judge(estimate, variance, rows, settings, fixed)
                results.append({"design": design, "effect": effect, "method": method, **figures})
    print(
        f"{args.experiments} experiments per row, {args.days} days of hourly looks, "
        f"{args.per_hour} labelled requests an hour, champion accuracy {args.accuracy}, "
        f"canary fraction {args.canary_fraction}, shadow disagreement {args.disagreement}, "
        f"alpha {settings.alpha}, min_effect {settings.min_effect}"
    )
    print(f"{'design':8} {'effect':>7} {'method':18} {'promote':>8} {'keep':>6} {'median h':>9}")
    for row in results:
        target = "  (A/A: wrong promotes, target <= 5%)" if row["effect"] == 0 else ""
        print(
            f"{row['design']:8} {row['effect']:>7.3f} {row['method']:18} {row['promote']:>8.1%} "
            f"{row['keep']:>6.1%} {row['median_hours_to_promote']:>9.0f}{target}"
        )
    print(f"({time.perf_counter() - started:.1f} s)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"arguments": vars(args), "results": results}, handle, indent=1)


if __name__ == "__main__":
    main()
