"""`ml-assets`: start a project for your own table (config + inferred contract) without code."""

import argparse
import contextlib
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ml_assets.lib.contract.dataset import SOURCE_COLUMNS
from ml_assets.lib.contract.inference import (
    Inference,
    contract_yaml,
    infer_columns,
    infer_task,
    minority_label,
)
from ml_assets.lib.core.layout import Layout
from ml_assets.lib.core.storage import atomic_write_text
from ml_assets.lib.data.ingestion import IngestionError, read_landing_file
from ml_assets.lib.project.project_config import (
    CONFIG_ENV,
    ChecksSection,
    ConfigError,
    TrainingSection,
    load_project,
)
from ml_assets.serving.server import add_arguments as add_serve_arguments
from ml_assets.serving.server import serve_command

CONFIG_NAME = "ml_assets.yaml"
CONTRACT_NAME = "contract.yaml"
PROJECT_DATA_DIR = "data"  # what ``init`` writes as data_dir, beside the configuration
REGISTRY_HELP = f"folder or URL (default: {Layout('<data_dir>').registry})"
NULL_HEADROOM = 0.1  # a later batch may be a little emptier than the sample


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ml-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="write a project config and an inferred contract")
    infer = commands.add_parser(
        "infer-contract", help="infer a Pandera YAML contract from a sample"
    )
    for command in (init, infer):
        command.add_argument("sample", type=Path, help="a CSV, Parquet or JSON Lines sample file")
        command.add_argument("--target", required=True, help="the column to predict")
        command.add_argument("--task", choices=["binary", "multiclass", "regression"])
        command.add_argument("--key", help="a column that identifies a row (unique)")
        command.add_argument("--max-categories", type=int, default=50)
        command.add_argument("--force", action="store_true", help="overwrite existing files")
    infer.add_argument("-o", "--output", type=Path, required=True, help="the YAML file to write")
    init.add_argument("--out", type=Path, required=True, help="the project folder to create")
    init.add_argument("--name", help="dataset name (default: the sample's file name)")
    init.add_argument("--positive-label", help="the label of interest for binary tasks")
    init.add_argument("--sensitive", nargs="*", default=[], help="columns for fairness slices")
    init.add_argument("--drop", nargs="*", default=[], help="columns the model must not use")
    commands.add_parser("check-config", help=f"validate the file ${CONFIG_ENV} names")
    drifted = commands.add_parser(
        "drifted-batch", help="write a deliberately drifted copy of the demo data to land"
    )
    drifted.add_argument("--rows", type=int, default=2000, help="rows of the drifted batch")
    drifted.add_argument("--seed", type=int, default=7, help="seed of the drifted batch")
    rollback = commands.add_parser("rollback", help="point the champion back at a version")
    rollback.add_argument("--to", help="the version to restore (default: the previous champion)")
    rollback.add_argument("--reason", default="rolled back from the command line")
    rollback.add_argument("--registry", help=REGISTRY_HELP)
    promote = commands.add_parser("promote", help="point the champion at the challenger")
    promote.add_argument("version", nargs="?", help="the version (default: the challenger)")
    promote.add_argument("--reason", default="promoted from the command line")
    promote.add_argument("--registry", help=REGISTRY_HELP)
    reject = commands.add_parser("reject", help="drop the challenger (it stays registered)")
    reject.add_argument("--reason", default="rejected from the command line")
    reject.add_argument("--registry", help=REGISTRY_HELP)
    add_serve_arguments(commands.add_parser("serve", help="serve the champion over HTTP"))
    lineage = commands.add_parser("lineage", help="print a model version's whole lineage")
    lineage.add_argument("version", nargs="?", help="v0001, an alias (default: the champion)")
    return parser


def _write(path: Path, text: str, force: bool) -> None:
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    atomic_write_text(path, text)


def _infer(args: argparse.Namespace) -> tuple[pd.DataFrame, str, Inference]:
    sample = read_landing_file(args.sample)
    if args.target not in sample.columns:
        columns = [c for c in sample.columns if c not in SOURCE_COLUMNS]
        raise ValueError(f"{args.sample}: no target column {args.target!r}; columns are {columns}")
    task = args.task or infer_task(sample[args.target])
    inference = infer_columns(
        sample,
        target=args.target,
        task=task,
        key=args.key,
        max_categories=args.max_categories,
        name=args.sample.stem,
    )
    return sample, task, inference


def _null_limits(inference: Inference) -> dict[str, float]:
    """Limits above the sample's own empty share where the default would be too tight for it."""
    return {
        column: min(1.0, math.ceil((share + NULL_HEADROOM) * 20) / 20)
        for column, share in inference.null_shares.items()
        if share + NULL_HEADROOM > ChecksSection().default_max_null_share
    }


def _feature_plan(
    args: argparse.Namespace, inference: Inference, key: str | None
) -> tuple[list[str], dict[str, str]]:
    """Columns the model must not use, each with the reason, beside the user's own --drop."""
    reasons = {column: "--drop" for column in args.drop}
    for column in inference.identifiers:
        if column != key:
            reasons.setdefault(column, "an identifier (unique in the sample)")
    for column in inference.dates:
        reasons.setdefault(column, "dates are not model inputs")
    for column in inference.free_text:
        reasons.setdefault(column, "free text (too many distinct values to one-hot)")
    for column in inference.mostly_empty():
        share = inference.null_shares[column]
        reasons.setdefault(column, f"{share:.0%} empty in the sample")
    protected = {args.target, key, *args.sensitive}
    drop = [column for column in reasons if column not in protected or column in args.drop]
    return drop, {column: reasons[column] for column in drop}


def _init(args: argparse.Namespace) -> str:
    from ml_assets.lib.model.modeling import budget_for

    folder = args.out
    existing = [folder / name for name in (CONFIG_NAME, CONTRACT_NAME) if (folder / name).exists()]
    if existing and not args.force:
        raise FileExistsError(f"{existing[0]} exists; pass --force to overwrite it")
    sample, task, inference = _infer(args)
    key = args.key or (inference.identifiers[0] if inference.identifiers else None)
    positive, positive_note = _positive_label(args, sample, task)
    drop, drop_reasons = _feature_plan(args, inference, key)
    excluded = {args.target, key, *drop}
    codes = [c for c in inference.categorical if c not in excluded]
    has_codes = any(str(inference.schema.columns[c].dtype) != "str" for c in codes)
    limits = _null_limits(inference)
    dataset = {
        "name": args.name or args.sample.stem,
        "target": args.target,
        "task": task,
        "positive_label": positive,
        "key": key,
        "categorical_features": codes if has_codes else None,
        "drop": drop,
        "sensitive_columns": args.sensitive,
        "data_dir": PROJECT_DATA_DIR,
    }
    checks, training = ChecksSection(), TrainingSection()  # the defaults, written out to edit
    config = {
        "dataset": {name: value for name, value in dataset.items() if value not in (None, [])},
        "contract": {"schema_file": CONTRACT_NAME},
        "checks": {
            "min_rows": min(checks.min_rows, max(10, len(sample) // 2)),
            "max_quarantined_share": checks.max_quarantined_share,
            "default_max_null_share": checks.default_max_null_share,
            **({"max_null_share": limits} if limits else {}),
            "min_slice_rows": checks.min_slice_rows,
        },
        "training": {
            "estimator": "auto",
            "budget": budget_for(len(sample)),
            "cv_folds": training.cv_folds,
            "seed": training.seed,
            "n_jobs": training.n_jobs,
            "ensemble": training.ensemble,
            "feature_selection": {"method": training.feature_selection.method},
        },
    }
    notes = [f"{task} task on {args.target!r}" + (f"; {positive_note}" if positive_note else "")]
    notes.append(
        f"search budget {config['training']['budget']} trials for {len(sample)} rows "
        "(training.budget: more trials, a longer search)"
    )
    if key:
        notes.append(f"key {key!r}" + ("" if args.key else " (detected: unique in every row)"))
    notes += [
        *(f"not a feature: {column!r}, {reason}" for column, reason in drop_reasons.items()),
        *(
            f"null limit {limit:.0%} for {column!r} ({inference.null_shares[column]:.0%} empty "
            "in the sample)"
            for column, limit in limits.items()
        ),
    ]
    header = "".join(f"# {line}\n" for line in _header(args, folder) + notes)
    _publish(
        folder,
        {
            CONTRACT_NAME: contract_yaml(inference.schema, inference.reasons),
            CONFIG_NAME: header + yaml.safe_dump(config, sort_keys=False),
        },
    )
    written = f"wrote {folder / CONFIG_NAME} and {folder / CONTRACT_NAME}"
    return "\n".join([written, *(f"  {line}" for line in notes)])


def _header(args: argparse.Namespace, folder: Path) -> list[str]:
    return [
        f"ml_assets project for {args.sample.name}: review this file and {CONTRACT_NAME}, then",
        f"  export {CONFIG_ENV}={(folder / CONFIG_NAME).resolve()}",
        f"  cp {args.sample} {_landing(folder).resolve()}/",
        "  dagster asset materialize -m ml_assets --select '*'",
        "What init decided:",
    ]


def _landing(folder: Path) -> Path:
    return Layout(str(folder / PROJECT_DATA_DIR)).landing


def _publish(folder: Path, files: dict[str, str]) -> None:
    """Write ``files`` into a staging folder, validate them there, then move them into place.

    Nothing appears at ``folder`` unless the configuration loads: a new project folder is one
    rename; in an existing one each file is replaced by a rename of its own.
    """
    missing = [path for path in (folder, *folder.parents) if not path.exists()]
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, text in files.items():
            (staging / name).write_text(text)
        _landing(staging).mkdir(parents=True)
        load_project(staging / CONFIG_NAME)
        if folder.exists():
            for name in files:
                os.replace(staging / name, folder / name)
            _landing(folder).mkdir(parents=True, exist_ok=True)
        else:
            os.rename(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not folder.exists():  # failed: remove the parent folders made for it, innermost first
            for path in missing[1:]:
                with contextlib.suppress(OSError):
                    path.rmdir()


def _positive_label(args: argparse.Namespace, sample: pd.DataFrame, task: str) -> tuple[Any, str]:
    """The label of interest and why: --positive-label, else the minority class."""
    if task != "binary":
        return None, ""
    values = sample[args.target].dropna()
    labels = sorted(values.unique().tolist())
    if args.positive_label is not None:
        chosen, why = args.positive_label, "from --positive-label"
        if str(chosen) not in labels:
            raise ValueError(f"--positive-label {chosen!r} is not one of the labels {labels}")
    else:
        chosen = minority_label(values)
        share = float((values == chosen).mean())
        why = f"the minority class, {share:.0%} of the sample; --positive-label to change"
    label = int(chosen) if str(chosen).lstrip("-").isdigit() else chosen
    return label, f"positive label {label!r} ({why})"


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors print as one line naming the file and exit with status 2."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "init":
            message = _init(args)
        elif args.command == "infer-contract":
            _, task, inference = _infer(args)
            _write(args.output, contract_yaml(inference.schema, inference.reasons), args.force)
            columns = len(inference.schema.columns)
            message = f"wrote {args.output} ({columns} columns, {task} target)"
        elif args.command == "drifted-batch":
            from ml_assets.demo.drifted import write_drifted_to_project

            message = write_drifted_to_project(load_project(), rows=args.rows, seed=args.seed)
        elif args.command == "rollback":
            from ml_assets.lib.release.rollback import rollback_command

            message = rollback_command(args.to, args.reason, args.registry)
        elif args.command == "promote":
            from ml_assets.lib.release.rollback import promote_command

            message = promote_command(args.version, args.reason, args.registry)
        elif args.command == "reject":
            from ml_assets.lib.release.rollback import reject_command

            message = reject_command(args.reason, args.registry)
        elif args.command == "serve":
            return serve_command(args)
        elif args.command == "lineage":
            from ml_assets.lib.release.lineage import print_lineage

            message = print_lineage(load_project().layout(), args.version)
        else:
            project = load_project()
            project.contract  # noqa: B018 - the real Pandera schema, as every run will load it
            columns = project.columns.data_columns
            message = f"{project.path}: valid; dataset {project.spec.name!r}, columns {columns}"
    except (IngestionError, ConfigError, ValueError, FileExistsError) as error:
        print(f"ml-assets: {error}", file=sys.stderr)
        return 2
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
