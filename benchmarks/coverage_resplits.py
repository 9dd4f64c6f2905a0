"""Held-out coverage of the prediction ranges over seeded resplits: its mean and its noise.

One split's coverage on ``n`` held-out rows has a sampling SD of ``sqrt(c(1-c)/n)`` (0.036 on
penguins' ~69 rows at c = 0.9), and the calibration part's own draw adds as much again, so a
±0.03 bar on one split cannot be met on a small table by any method. For each table this runs
``ml-assets init`` and the default training once (as ``model_quality.py``) to find the chosen
family and settings, then, for each of ``--resplits`` seeds, draws a new random train/test
split at the contract's test fraction and refits those settings with ranges (``refit``, so
the search is not re-run: coverage is a property of the calibration, not of the search),
scoring the held-out coverage. Prints, per table: the coverage on the project's own hashed
split, the mean and SD over resplits, the range, the share of splits inside the binomial 99%
band around the target, and the mean set size (or width) and empty-set share.

    PYTHONPATH=/tmp/tables nice -n 10 .venv/bin/python benchmarks/coverage_resplits.py \\
        [--tables penguins ...] [--resplits 20] [--json F]
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from model_quality import TABLES, _first_run, _init, _require_packages, _train


def _split_coverage(model: Any, test: Any, spec: Any) -> dict[str, Any]:
    from ml_assets.lib.model import conformal
    from ml_assets.lib.model.modeling import model_inputs

    calibration = conformal.calibration_of(model)
    inputs = model_inputs(test, spec)
    if spec.is_classification:
        outputs = (None, model.predict_proba(inputs), model.classes_)
    else:
        outputs = (model.predict(inputs), None, None)
    return conformal.range_coverage(test[spec.target], *outputs, calibration)


def _band(rows: int, target: float) -> tuple[float, float]:
    """The central 99% of a binomial coverage estimate on ``rows`` rows at ``target``."""
    from scipy.stats import binom

    return binom.ppf(0.005, rows, target) / rows, binom.ppf(0.995, rows, target) / rows


def measure(name: str, work: Path, resplits: int) -> dict[str, Any]:
    """The hashed split's coverage, then ``resplits`` seeded resplits with the chosen settings."""
    from sklearn.model_selection import train_test_split

    from ml_assets.lib.contract.dataset import SPLIT
    from ml_assets.lib.model.modeling import refit
    from ml_assets.lib.project.project_config import load_project

    load, target, _ = TABLES[name]
    csv = work / f"{name}.csv"
    load().to_csv(csv, index=False)
    _init(csv, target, work / name)
    project = load_project(work / name / "ml_assets.yaml")
    spec, training = project.spec, project.config.training
    features, _ = _first_run(csv, project)
    own = _train(features[features[SPLIT] == "train"], spec, training, training.budget)
    hashed = _split_coverage(own.model, features[features[SPLIT] == "test"], spec)
    splits = []
    for seed in range(resplits):
        stratify = features[spec.target] if spec.is_classification else None
        train, test = train_test_split(
            features, test_size=spec.test_fraction, random_state=seed, stratify=stratify
        )
        fitted = refit(
            train,
            spec,
            own.estimator,
            own.best_params,
            seed=seed,
            coverage=training.coverage,
            n_jobs=training.n_jobs,
            feature_selection=training.feature_selection.model_dump(),
        )
        splits.append(_split_coverage(fitted, test, spec))
    coverages = np.array([split["coverage"] for split in splits])
    rows = int(np.median([split["rows"] for split in splits]))
    low, high = _band(rows, training.coverage)
    size = "mean_set_size" if spec.is_classification else "mean_width"
    return {
        "table": name,
        "estimator": own.estimator,
        "target": training.coverage,
        "hashed_split": {"coverage": hashed["coverage"], "rows": hashed["rows"]},
        "resplits": resplits,
        "test_rows": rows,
        "sampling_sd": float(np.sqrt(training.coverage * (1 - training.coverage) / rows)),
        "mean": float(coverages.mean()),
        "sd": float(coverages.std(ddof=1)),
        "min": float(coverages.min()),
        "max": float(coverages.max()),
        "within_0.03": float(np.mean(np.abs(coverages - training.coverage) <= 0.03)),
        "band_99": [float(low), float(high)],
        "within_band": float(np.mean((coverages >= low) & (coverages <= high))),
        "size": float(np.mean([split[size] for split in splits])),
        "empty_share": float(
            np.mean([split.get("empty_sets", 0) / split["rows"] for split in splits])
        ),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    """One Markdown table of the figures."""
    print(
        "| table | chosen | own split (rows) | resplits: mean ± SD | min–max | sampling SD "
        "(test rows) | within ±0.03 | 99% band, within | mean size/width | empty sets |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        low, high = row["band_99"]
        print(
            f"| {row['table']} | {row['estimator']} | {row['hashed_split']['coverage']:.3f} "
            f"({row['hashed_split']['rows']}) | {row['mean']:.3f} ± {row['sd']:.3f} "
            f"(n={row['resplits']}) | {row['min']:.3f}–{row['max']:.3f} | "
            f"{row['sampling_sd']:.3f} ({row['test_rows']}) | {row['within_0.03']:.0%} | "
            f"{low:.3f}–{high:.3f}, {row['within_band']:.0%} | {row['size']:.4g} | "
            f"{row['empty_share']:.1%} |"
        )


def main(argv: list[str] | None = None) -> int:
    """Measure the tables and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="*", choices=sorted(TABLES), default=list(TABLES))
    parser.add_argument("--resplits", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    _require_packages()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ml_assets_coverage_") as folder:
        for name in args.tables:
            rows.append(measure(name, Path(folder), args.resplits))
            print(f"measured {name}", file=sys.stderr)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
