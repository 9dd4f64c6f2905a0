"""`ml-assets`: start a project for your own table (config + inferred contract) without code."""

import argparse
import sys
from pathlib import Path

import yaml

from ml_assets.lib.contract_inference import free_text_columns, infer_contract, infer_task
from ml_assets.lib.dataset import SOURCE_COLUMNS
from ml_assets.lib.ingestion import IngestionError, read_landing_file
from ml_assets.lib.project_config import CONFIG_ENV, ConfigError, load_project
from ml_assets.lib.storage import atomic_write_text

CONFIG_NAME = "ml_assets.yaml"
CONTRACT_NAME = "contract.yaml"


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
        command.add_argument("--range-margin", type=float, default=0.1)
        command.add_argument("--force", action="store_true", help="overwrite existing files")
    infer.add_argument("-o", "--output", type=Path, required=True, help="the YAML file to write")
    init.add_argument("--out", type=Path, required=True, help="the project folder to create")
    init.add_argument("--name", help="dataset name (default: the sample's file name)")
    init.add_argument("--positive-label", help="the label of interest for binary tasks")
    init.add_argument("--sensitive", nargs="*", default=[], help="columns for fairness slices")
    init.add_argument("--drop", nargs="*", default=[], help="columns the model must not use")
    commands.add_parser("check-config", help=f"validate the file ${CONFIG_ENV} names")
    return parser


def _write(path: Path, text: str, force: bool) -> None:
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    atomic_write_text(path, text)


def _infer(args: argparse.Namespace):
    sample = read_landing_file(args.sample)
    if args.target not in sample.columns:
        columns = [c for c in sample.columns if c not in SOURCE_COLUMNS]
        raise ValueError(f"{args.sample}: no target column {args.target!r}; columns are {columns}")
    task = args.task or infer_task(sample[args.target])
    contract = infer_contract(
        sample,
        target=args.target,
        task=task,
        key=args.key,
        max_categories=args.max_categories,
        range_margin=args.range_margin,
        name=args.sample.stem,
    )
    return sample, task, contract


def _init(args: argparse.Namespace) -> str:
    sample, task, contract = _infer(args)
    free_text = free_text_columns(contract, {args.target, args.key, *args.drop})
    dataset = {
        "name": args.name or args.sample.stem,
        "target": args.target,
        "task": task,
        "positive_label": _positive_label(args, sample, task),
        "key": args.key,
        "drop": [*args.drop, *free_text],
        "sensitive_columns": args.sensitive,
        "data_dir": "data",
    }
    config = {
        "dataset": {name: value for name, value in dataset.items() if value not in (None, [])},
        "contract": {"schema_file": CONTRACT_NAME},
        "checks": {"min_rows": min(100, max(10, len(sample) // 2)), "max_quarantined_share": 0.05},
        "training": {"estimator": "random_forest", "search": "grid", "cv_folds": 5, "seed": 42},
    }
    folder = args.out
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / CONTRACT_NAME, contract.to_yaml(), args.force)
    header = (
        f"# ml_assets project for {args.sample.name}: review this file and {CONTRACT_NAME}, then\n"
        f"#   export {CONFIG_ENV}={(folder / CONFIG_NAME).resolve()}\n"
        f"#   cp {args.sample} {(folder / 'data' / 'landing').resolve()}/\n"
        f"#   dagster asset materialize -m ml_assets --select '*'\n"
    )
    _write(folder / CONFIG_NAME, header + yaml.safe_dump(config, sort_keys=False), args.force)
    (folder / "data" / "landing").mkdir(parents=True, exist_ok=True)
    load_project(folder / CONFIG_NAME)
    notes = f" (free-text columns dropped: {free_text})" if free_text else ""
    written = f"wrote {folder / CONFIG_NAME} and {folder / CONTRACT_NAME}"
    return f"{written}: {task} task on {args.target!r}{notes}"


def _positive_label(args: argparse.Namespace, sample, task: str) -> object:
    if task != "binary":
        return None
    labels = sorted(sample[args.target].dropna().unique().tolist())
    chosen = args.positive_label if args.positive_label is not None else labels[-1]
    if str(chosen) not in labels:
        raise ValueError(f"--positive-label {chosen!r} is not one of the labels {labels}")
    return int(chosen) if str(chosen).lstrip("-").isdigit() else chosen


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors print as one line naming the file and exit with status 2."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "init":
            message = _init(args)
        elif args.command == "infer-contract":
            _, task, contract = _infer(args)
            _write(args.output, contract.to_yaml(), args.force)
            message = f"wrote {args.output} ({len(contract.columns)} columns, {task} target)"
        else:
            project = load_project()
            columns = project.columns.data_columns
            message = f"{project.path}: valid; dataset {project.spec.name!r}, columns {columns}"
    except (IngestionError, ConfigError, ValueError, FileExistsError) as error:
        print(f"ml-assets: {error}", file=sys.stderr)
        return 2
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
