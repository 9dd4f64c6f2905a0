"""The drift report: each new batch against the training set of the model that was serving.

The reference is found through lineage, never as "the latest file": a model's recorded training
set (its data version and batches) is located in the batch store and binned once per model and
training set (the profile is cached under the storage folder). A batch is compared with the
champion's training set when a champion exists and has not learned from it; otherwise with the
newest trained model whose training set did not hold it. A batch every model learned from is the
reference itself and is not compared.
"""

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ml_assets.lib.batch_records import FEATURES, BatchTable
from ml_assets.lib.dataset import SPLIT, TRAIN, DatasetSpec
from ml_assets.lib.drift import (
    PREDICTION,
    SEVERITY_ORDER,
    Profile,
    Threshold,
    build_profile,
    compare,
    model_scores,
    profile_key,
    table_rows,
    worst,
)
from ml_assets.lib.layout import Layout
from ml_assets.lib.markdown import table


@dataclass(frozen=True)
class TrainedOn:
    """A model and the training set it learned from, as its lineage records them."""

    model_version: str
    data_version: str
    batches: tuple[str, ...]
    source: str
    registry_version: str | None = None


def champions(registry: Any) -> list[TrainedOn]:
    """Every model that was champion: the current one first, then back through the history."""
    order: list[str] = []
    current = registry.alias("champion")
    if current:
        order.append(current)
    for change in reversed(registry.history()):
        version = change.get("version")
        if change.get("alias") == "champion" and version and version not in order:
            order.append(version)
    found = []
    for version in order:
        record = registry.get(version)
        role = "champion" if version == current else "former champion"
        found.append(
            TrainedOn(
                record.fingerprint,
                record.data_version,
                tuple(record.batches),
                f"{role} {version}",
                registry_version=version,
            )
        )
    return found


def locate_training_set(store: Any, trained: TrainedOn) -> BatchTable | None:
    """The features table a model was trained on, found by its recorded data version."""
    if not store.root.exists():
        return None
    for folder in sorted(path for path in store.root.iterdir() if path.is_dir()):
        records = [store.record(folder.name, batch) for batch in trained.batches]
        if any(record is None for record in records):
            continue
        candidate = BatchTable(FEATURES, folder.name, tuple(records))
        if candidate.data_version == trained.data_version:
            return candidate
    return None


def scored(frame: pd.DataFrame, model: Any, spec: DatasetSpec) -> pd.DataFrame:
    """The frame with the model's scores as one more column."""
    from ml_assets.lib.modeling import model_inputs

    scores = model_scores(
        model, model_inputs(frame, spec), spec.positive_label, spec.is_classification
    )
    return frame.assign(**{PREDICTION: pd.Series(scores, index=frame.index)})


def profile_columns(spec: DatasetSpec) -> tuple[list[str], list[str]]:
    """Numeric and categorical columns to compare: the model's inputs and its scores."""
    numeric, categorical = list(spec.model_numeric_columns), list(spec.categorical_features)
    (categorical if spec.task == "multiclass" else numeric).append(PREDICTION)
    return numeric, categorical


def reference_profile(
    store: Any, training_set: BatchTable, model: Any, model_version: str, spec: DatasetSpec
) -> Profile:
    """The training side of a training set, scored and binned once (cached with the model)."""
    from ml_assets.lib.storage import atomic_write_text

    key = profile_key(model_version, training_set.data_version, repr(spec))
    path = profile_path(store, key)
    if path.exists():
        return Profile.from_json(path.read_text())
    rows = store.read(training_set)
    rows = scored(rows[rows[SPLIT] == TRAIN].reset_index(drop=True), model, spec)
    profile = build_profile(rows, *profile_columns(spec), key=key)
    atomic_write_text(path, profile.to_json())
    return profile


def profile_path(store: Any, key: str) -> Any:
    """Where a reference profile is cached, beside the batch store."""
    from upath import UPath

    return UPath(_storage_layout(store).drift_profiles) / f"{key}.json"


def _storage_layout(store: Any) -> Layout:
    """The layout of the storage that holds ``store`` (the batch store)."""
    return Layout("", storage_url=str(store.root.parent))


def load_profile(store: Any, key: str) -> Profile:
    """A cached reference profile (the drift report names it per batch)."""
    return Profile.from_json(profile_path(store, key).read_text())


def batch_rows(store: Any, version: str, batch: str) -> pd.DataFrame:
    """One batch's feature rows."""
    from ml_assets.lib.frames import read_frames

    return read_frames([store.folder(version, batch) / f"{FEATURES}.parquet"])


def drift_report(
    store: Any,
    features: BatchTable,
    spec: DatasetSpec,
    candidates: Sequence[TrainedOn],
    scorer: Callable[[TrainedOn], tuple[Any, str]],
    thresholds: Mapping[str, Threshold],
    min_batch_rows: int,
) -> dict[str, Any]:
    """Every batch of ``features`` against its reference; the verdict and the drifted columns.

    ``candidates`` are the models that could have been serving, newest first; ``scorer`` gives
    the model (and its fingerprint) whose scores are compared for a reference.
    """
    compared: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    located: dict[TrainedOn, BatchTable | None] = {}
    profiles: dict[TrainedOn, Profile] = {}
    for record in features.records:
        if record.rows_valid < min_batch_rows:
            skipped[record.batch] = f"{record.rows_valid} rows (fewer than {min_batch_rows})"
            continue
        reference, reason = choose_reference(
            record.batch, candidates, lambda trained: locate_training_set(store, trained), located
        )
        if reference is None:
            skipped[record.batch] = reason
            continue
        model, model_version = scorer(reference)
        if reference not in profiles:
            profiles[reference] = reference_profile(
                store, located[reference], model, model_version, spec
            )
        compared[record.batch] = {
            "reference": {
                "source": reference.source,
                "model_version": reference.model_version,
                "data_version": reference.data_version,
                "batches": list(reference.batches),
                "profile": profiles[reference].key,
                "scored_with": model_version,
            },
            **_comparison(
                store, features, record.batch, model, spec, profiles[reference], thresholds
            ),
        }
    drifted = {batch: c["drifted"] for batch, c in compared.items() if c["drifted"]}
    return {
        "scored_with": sorted({c["reference"]["scored_with"] for c in compared.values()}),
        "verdict": worst(c["verdict"] for c in compared.values()),
        "batches": compared,
        "not_compared": skipped,
        "drifted": drifted,
        "retraining_due": bool(drifted),
        "thresholds": {name: [t.warn, t.error] for name, t in thresholds.items()},
    }


def choose_reference(
    batch: str,
    candidates: Sequence[TrainedOn],
    locate: Callable[[TrainedOn], BatchTable | None],
    located: dict[TrainedOn, BatchTable | None],
) -> tuple[TrainedOn | None, str]:
    """The newest candidate not trained on ``batch`` whose training set can be found.

    ``candidates`` are newest first; returns the one chosen, or None and why. ``located``
    remembers what ``locate`` found for each candidate.
    """
    reason = "part of the reference training set"
    for trained in candidates:
        if batch in trained.batches:
            continue
        if trained not in located:
            located[trained] = locate(trained)
        if located[trained] is not None:
            return trained, ""
        reason = f"training set {trained.data_version} of {trained.source} is not in the store"
    return None, reason


def _comparison(
    store: Any,
    features: BatchTable,
    batch: str,
    model: Any,
    spec: DatasetSpec,
    profile: Profile,
    thresholds: Mapping[str, Threshold],
) -> dict[str, Any]:
    """One batch against one profile, computed once per batch, profile and thresholds."""
    from upath import UPath

    from ml_assets.lib.storage import atomic_write_text

    judged = json.dumps({n: [t.warn, t.error] for n, t in sorted(thresholds.items())})
    key = profile_key(profile.key, features.version, batch, judged)
    path = UPath(_storage_layout(store).drift_comparisons) / f"{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    rows = scored(batch_rows(store, features.version, batch), model, spec)
    comparison = compare(profile, rows, thresholds)
    atomic_write_text(path, json.dumps(comparison))
    return comparison


def drift_markdown(report: Mapping[str, Any], images: Mapping[str, str] | None = None) -> str:
    """The report as Markdown: the verdict, then each batch's per-column table."""
    lines = [f"# Drift report: {report['verdict']}", ""]
    if report["drifted"]:
        named = "; ".join(
            f"{batch}: {', '.join(cols)}" for batch, cols in report["drifted"].items()
        )
        lines += [f"**Drift above the error thresholds**: {named}. Retraining is due.", ""]
    if not report["batches"]:
        lines += ["No batch compared (each one's reason is below).", ""]
    for batch, comparison in report["batches"].items():
        reference = comparison["reference"]
        lines += [
            f"## {batch}: {comparison['verdict']}",
            "",
            f"{comparison['rows']} rows against {comparison['reference_rows']} training rows of "
            f"{reference['source']} (model {reference['model_version'][:16]}, training set "
            f"{reference['data_version']}: {', '.join(reference['batches'])}).",
            "",
            table(table_rows(comparison)),
            "",
        ]
        if images and batch in images:
            lines += [images[batch], ""]
    for batch, reason in report["not_compared"].items():
        lines.append(f"- {batch} not compared: {reason}")
    thresholds = ", ".join(f"{n} {w}/{e}" for n, (w, e) in report["thresholds"].items())
    lines += ["", f"Thresholds (warn/error): {thresholds}.", ""]
    return "\n".join(lines)


def trained_on(metadata: Mapping[str, Any], source: str) -> TrainedOn | None:
    """A trained model's lineage from plain metadata values (None when it was not recorded)."""
    if not {"fingerprint", "training_set", "batches"} <= set(metadata):
        return None
    batches = metadata["batches"]
    batches = json.loads(batches) if isinstance(batches, str) else batches
    return TrainedOn(
        str(metadata["fingerprint"]), str(metadata["training_set"]), tuple(batches), source
    )


def retraining_marker_path(storage_dir: str) -> Any:
    """Where the drift report says the model is due for retraining (any fsspec URL)."""
    from upath import UPath

    return UPath(Layout("", storage_url=storage_dir).retraining_marker)


def write_retraining_marker(path: Any, report: Mapping[str, Any]) -> None:
    """Mark retraining due with the drifted batches and columns, or clear the mark."""
    from ml_assets.lib.batch_records import now_iso
    from ml_assets.lib.storage import atomic_write_text

    if not report["retraining_due"]:
        if path.exists():
            path.unlink()
        return
    marker = {"drifted": report["drifted"], "scored_with": report["scored_with"], "at": now_iso()}
    atomic_write_text(path, json.dumps(marker, indent=2, sort_keys=True))


def read_retraining_marker(path: Any) -> dict[str, Any] | None:
    """The drifted batches that made retraining due, or None when it is not."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def drifted_columns(report: Mapping[str, Any], level: str) -> dict[str, list[str]]:
    """Per compared batch of a drift report, its columns at ``level`` or worse (others left out)."""
    floor = SEVERITY_ORDER[level]
    failing = {
        batch: [
            c for c, s in comparison["columns"].items() if SEVERITY_ORDER[s["verdict"]] >= floor
        ]
        for batch, comparison in report["batches"].items()
    }
    return {batch: columns for batch, columns in failing.items() if columns}
