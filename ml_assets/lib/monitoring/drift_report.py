"""The drift report: each new batch against the training set of the model that was serving.

The reference is found through lineage, never as "the latest file": a model's recorded training
set (its data version and batches) is located in the batch store and binned once per model and
training set (the profile is cached under the storage folder). A batch is compared with the
champion's training set when a champion exists and has not learned from it; otherwise with the
newest trained model whose training set did not hold it. A batch every model learned from is the
reference itself and is not compared. Every arriving batch is judged: a batch the contract
rejected is compared on its rows that convert to the contract's types (the rows that break a
range are often the drift itself), and each entry says whether the batch was accepted, rejected
(with the contract's reason) or quarantined in part.
"""

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml_assets.lib.contract.dataset import SPLIT, TRAIN, DatasetSpec
from ml_assets.lib.core.layout import Layout
from ml_assets.lib.core.markdown import table
from ml_assets.lib.core.thresholds import SEVERITY_ORDER, Threshold, worst
from ml_assets.lib.data.batch_records import FEATURES, RAW, BatchRecord, BatchTable
from ml_assets.lib.monitoring.drift import (
    PREDICTION,
    Profile,
    build_profile,
    compare,
    model_scores,
    profile_key,
    table_rows,
)


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


def scored(
    frame: pd.DataFrame, model: Any, spec: DatasetSpec, outputs: tuple[Any, Any] | None = None
) -> pd.DataFrame:
    """The frame with the model's scores as one more column.

    ``outputs`` are the model's (``evaluation.predict``) on ``frame`` when already computed:
    one pass through the model then serves drift and the performance estimate of a batch.
    """
    from ml_assets.lib.model.evaluation import predict
    from ml_assets.lib.model.modeling import model_inputs

    outputs = outputs or predict(model, model_inputs(frame, spec), spec)
    scores = model_scores(outputs, getattr(model, "classes_", None), spec.positive_label)
    return frame.assign(**{PREDICTION: pd.Series(scores, index=frame.index)})


def profile_columns(spec: DatasetSpec) -> tuple[list[str], list[str]]:
    """Numeric and categorical columns to compare: the model's inputs (its scores apart)."""
    return list(spec.model_numeric_columns), list(spec.categorical_features)


def reference_profile(
    store: Any, training_set: BatchTable, model: Any, model_version: str, spec: DatasetSpec
) -> Profile:
    """A training set binned once (cached with the model): inputs and scores.

    The inputs are the training side's. The model's scores are its held-out side's: on the rows
    it learned from a model is more confident than on any new batch, so scores of the training
    side would make every clean batch look drifted.
    """
    from ml_assets.lib.core.storage import atomic_write_text

    key = profile_key(model_version, training_set.data_version, repr(spec))
    path = profile_path(store, key)
    if path.exists():
        return Profile.from_json(path.read_text())
    every = store.read(training_set)
    train = every[every[SPLIT] == TRAIN].reset_index(drop=True)
    held_out = every[every[SPLIT] != TRAIN].reset_index(drop=True)
    profile = build_profile(
        train,
        *profile_columns(spec),
        key=key,
        scores=scored(held_out, model, spec)[PREDICTION] if len(held_out) else None,
    )
    if spec.is_classification:
        atomic_write_text(
            calibration_path(store, key),
            json.dumps(calibration_of(model, held_out, spec, train)),
        )
    atomic_write_text(path, profile.to_json())
    return profile


def calibration_path(store: Any, key: str) -> Any:
    """Where a reference's calibration for performance estimation is cached, beside its profile."""
    return profile_path(store, key).with_name(f"{key}.calibration.json")


def calibration_of(
    model: Any, held_out: pd.DataFrame, spec: DatasetSpec, train: pd.DataFrame | None = None
) -> dict[str, Any]:
    """The model's calibration and its primary metric on the reference's held-out side.

    The calibration is fitted on the held-out side and, given ``train``, on the training side's
    out-of-fold probabilities too (``performance_estimation.out_of_fold_probabilities``).
    """
    from ml_assets.lib.model.evaluation import PRIMARY_METRIC, score_model
    from ml_assets.lib.model.modeling import model_inputs
    from ml_assets.lib.monitoring.performance_estimation import (
        calibrate,
        out_of_fold_probabilities,
    )

    probabilities = model.predict_proba(model_inputs(held_out, spec))
    truth = list(held_out[spec.target])
    crossed = None
    if train is not None and len(train):
        crossed = out_of_fold_probabilities(model, model_inputs(train, spec), train[spec.target])
    if crossed is not None:
        probabilities, truth = np.vstack([crossed[0], probabilities]), crossed[1] + truth
    calibration = calibrate(probabilities, truth, model.classes_)
    metric = PRIMARY_METRIC[spec.task]
    return {
        "calibration": calibration.to_dict(),
        "metric": metric,
        "held_out": score_model(model, held_out, spec)[metric] if len(held_out) else None,
    }


def estimated_performance(
    model: Any,
    rows: pd.DataFrame,
    spec: DatasetSpec,
    reference: Mapping[str, Any],
    outputs: tuple[Any, Any] | None = None,
) -> dict[str, Any]:
    """The model's expected primary metric on a batch, its interval, and the realised one.

    The realised metric is there when the batch carries labels (every batch of the training
    data does); the estimate's error is estimate minus realised. ``outputs`` as ``scored``.
    """
    from ml_assets.lib.model.evaluation import positive_index, predict, score_model
    from ml_assets.lib.model.modeling import model_inputs
    from ml_assets.lib.monitoring.performance_estimation import Calibration, estimate

    metric = reference["metric"]
    positive = (
        positive_index(model.classes_, spec.positive_label) if spec.task == "binary" else None
    )
    predicted, raw = outputs or predict(model, model_inputs(rows, spec), spec)
    found = estimate(raw, Calibration.from_dict(reference["calibration"]), metric, positive)
    has_label = rows[spec.target].notna().to_numpy()
    labelled = rows[has_label]
    realised = None
    if len(labelled) and labelled[spec.target].astype(str).nunique() > 1:
        shared = (predicted[has_label], raw[has_label])
        realised = score_model(model, labelled, spec, outputs=shared)[metric]
    return {
        "metric": metric,
        **found,
        "held_out": reference["held_out"],
        "realised": realised,
        "error": None if realised is None else found["estimate"] - realised,
    }


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
    from ml_assets.lib.core.frames import read_frames

    return read_frames([store.folder(version, batch) / f"{FEATURES}.parquet"])


def drift_report(
    store: Any,
    features: BatchTable,
    spec: DatasetSpec,
    candidates: Sequence[TrainedOn],
    scorer: Callable[[TrainedOn], tuple[Any, str]],
    thresholds: Mapping[str, Threshold],
    min_batch_rows: int,
    false_alarm_rate: float,
    arrived: Sequence[BatchRecord] = (),
    contract: Any = None,
    importance: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Every batch of ``features`` against its reference; the verdict and the drifted columns.

    ``candidates`` are the models that could have been serving, newest first; ``scorer`` gives
    the model (and its fingerprint) whose scores are compared for a reference; a clean batch
    raises a flag at most ``false_alarm_rate`` of the time. ``arrived`` are every batch with
    rows (the raw table's records, rejected ones included: their rows that convert to
    ``contract``'s types are compared); ``importance`` (the evaluation's permutation importance)
    ranks each batch's drifted columns.
    """
    compared: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    located: dict[TrainedOn, BatchTable | None] = {}
    profiles: dict[TrainedOn, Profile] = {}
    records = {record.batch: record for record in arrived} | {
        record.batch: record for record in features.records
    }
    for record in records.values():
        rows = record.rows_valid if record.accepted else record.rows_in
        if rows < min_batch_rows:
            skipped[record.batch] = f"{rows} rows (fewer than {min_batch_rows})" + (
                "" if record.accepted else f"; rejected: {record.reason}"
            )
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
            "arrival": arrival(record),
            "reference": {
                "source": reference.source,
                "model_version": reference.model_version,
                "data_version": reference.data_version,
                "batches": list(reference.batches),
                "profile": profiles[reference].key,
                "scored_with": model_version,
            },
            **_comparison(
                store,
                features,
                record.batch,
                model,
                spec,
                profiles[reference],
                thresholds,
                false_alarm_rate,
                None
                if record.accepted
                else lambda batch=record.batch: convertible_rows(
                    store, features.version, batch, contract, spec
                ),
            ),
        }
        rank_columns(compared[record.batch], importance or {})
    drifted = {batch: c["drifted"] for batch, c in compared.items() if c["drifted"]}
    report = {
        "scored_with": sorted({c["reference"]["scored_with"] for c in compared.values()}),
        "verdict": worst(c["verdict"] for c in compared.values()),
        "batches": compared,
        "not_compared": skipped,
        "drifted": drifted,
        "retraining_due": bool(drifted),
        "thresholds": {name: [t.warn, t.error] for name, t in thresholds.items()},
        "false_alarm_rate": false_alarm_rate,
        "arrivals": {batch: arrival(record) for batch, record in records.items()},
        "importance": dict(importance or {}),
    }
    return report | {"headline": headline(report)}


def arrival(record: BatchRecord) -> dict[str, Any]:
    """What the contract made of a batch: accepted, quarantined in part, or rejected and why."""
    if not record.accepted:
        return {"status": "rejected", "reason": record.reason, "rows": record.rows_in}
    if record.rows_quarantined:
        share = record.rows_quarantined / max(record.rows_in, 1)
        reason = f"{record.rows_quarantined} of {record.rows_in} rows quarantined ({share:.1%})"
        return {"status": "quarantined in part", "reason": reason, "rows": record.rows_in}
    return {"status": "accepted", "reason": "", "rows": record.rows_in}


def convertible_rows(
    store: Any, version: str, batch: str, contract: Any, spec: DatasetSpec
) -> pd.DataFrame:
    """A rejected batch's rows whose every cell converts to the contract's type, as features.

    Range and category rules are not applied: the rows that break them are what drifted.
    """
    from ml_assets.lib.contract.dataset import SOURCE_COLUMNS
    from ml_assets.lib.contract.validation import column_kind, convert_text
    from ml_assets.lib.core.frames import read_frames
    from ml_assets.lib.data.features import build_features

    path = store.folder(version, batch) / f"{RAW}.parquet"
    if contract is None or not path.exists():
        return pd.DataFrame()
    raw = read_frames([path])
    converted, failed = {}, pd.Series(False, index=raw.index)
    for name, column in contract.columns.items():
        if name in SOURCE_COLUMNS or name not in raw:
            continue
        converted[name], rules = convert_text(raw[name], column_kind(column))
        for _, broke in rules:
            failed |= broke
    frame = pd.DataFrame(converted, index=raw.index)
    for name in SOURCE_COLUMNS:
        frame[name] = raw[name]
    return build_features(frame[~failed.to_numpy()].reset_index(drop=True), spec)


def rank_columns(comparison: dict[str, Any], importance: Mapping[str, float]) -> None:
    """Order a batch's columns (and drifted, warned lists) by severity, then the model's reliance.

    The model's scores (``_prediction``) come first among equals: a shift in them is the shift
    that matters by definition.
    """

    def key(name: str) -> tuple[int, float]:
        reliance = float("inf") if name == PREDICTION else importance.get(name, 0.0)
        return (-SEVERITY_ORDER[comparison["columns"][name]["verdict"]], -reliance)

    order = sorted(comparison["columns"], key=key)
    comparison["columns"] = {name: comparison["columns"][name] for name in order}
    for listed in ("drifted", "warned"):
        comparison[listed] = sorted(comparison[listed], key=key)
    for name in order:
        comparison["columns"][name]["importance"] = importance.get(name)


def headline(report: Mapping[str, Any]) -> str:
    """The report's worst finding in one line.

    Drift first (errors before warnings, the newest batch first among equals), then a rejected
    newest batch: never "ok" when the newest batch was rejected or shifted.
    """
    findings = []
    newest = next(reversed(report["arrivals"]), None)
    for batch, comparison in report["batches"].items():
        for name in comparison["drifted"] + comparison["warned"]:
            statistics = comparison["columns"][name]
            figures = ", ".join(f"{s} {statistics[s]:.3g}" for s in statistics["crossed"])
            findings.append(
                (SEVERITY_ORDER[statistics["verdict"]], batch == newest, batch, name, figures)
            )
            break  # the first is the most severe and the one the model relies on most
    if findings:
        level, _, batch, name, figures = max(findings, key=lambda f: (f[0], f[1]))
        return f"{'error' if level == 2 else 'warn'}: {batch} drifted most in {name} ({figures})"
    if newest is not None and report["arrivals"][newest]["status"] == "rejected":
        return f"warn: newest batch {newest} rejected ({report['arrivals'][newest]['reason']})"
    if not report["batches"]:
        return "ok: no batch compared"
    return f"ok: {len(report['batches'])} batch(es) compared, none shifted"


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
    false_alarm_rate: float,
    rows_of: Callable[[], pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """One batch against one profile, computed once per batch, profile and thresholds.

    ``rows_of`` reads the batch's rows when they are not the stored features (a rejected
    batch's convertible rows), only when the comparison is not cached yet.
    """
    from upath import UPath

    from ml_assets.lib.core.storage import atomic_write_text

    judged = json.dumps(
        [{n: [t.warn, t.error] for n, t in sorted(thresholds.items())}, false_alarm_rate]
    )
    key = profile_key(profile.key, features.version, batch, judged)
    path = UPath(_storage_layout(store).drift_comparisons) / f"{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    from ml_assets.lib.model.evaluation import predict
    from ml_assets.lib.model.modeling import model_inputs

    rows = rows_of() if rows_of else batch_rows(store, features.version, batch)
    outputs = predict(model, model_inputs(rows, spec), spec)  # one pass serves both
    comparison = compare(profile, scored(rows, model, spec, outputs), thresholds, false_alarm_rate)
    calibration = calibration_path(store, profile.key)
    if spec.is_classification and calibration.exists():
        reference = json.loads(calibration.read_text())
        comparison["performance"] = estimated_performance(model, rows, spec, reference, outputs)
    atomic_write_text(path, json.dumps(comparison))
    return comparison


def drift_markdown(report: Mapping[str, Any], images: Mapping[str, str] | None = None) -> str:
    """The report as Markdown: the worst finding, every arrival, each batch's per-column table.

    Columns are listed most severe first, then by the model's reliance on them.
    """
    lines = [f"# Drift report: {report['headline']}", ""]
    arrivals = [
        {
            "batch": batch,
            "contract": entry["status"],
            "reason": entry["reason"],
            "drift": report["batches"][batch]["verdict"]
            if batch in report["batches"]
            else "not compared",
        }
        for batch, entry in report["arrivals"].items()
    ]
    if arrivals:
        lines += ["Every batch since the reference, as the contract judged it:", ""]
        lines += [table(arrivals), ""]
    if report["drifted"]:
        named = "; ".join(
            f"{batch}: {', '.join(cols)}" for batch, cols in report["drifted"].items()
        )
        lines += [f"**Drift above the error thresholds**: {named}. Retraining is due.", ""]
    if not report["batches"]:
        lines += ["No batch compared (each one's reason is below).", ""]
    for batch, comparison in report["batches"].items():
        reference = comparison["reference"]
        status = comparison["arrival"]["status"]
        lines += [
            f"## {batch}: {comparison['verdict']} ({status})",
            "",
            f"{comparison['rows']} rows against {comparison['reference_rows']} training rows of "
            f"{reference['source']} (model {reference['model_version'][:16]}, training set "
            f"{reference['data_version']}: {', '.join(reference['batches'])}).",
            "",
            *performance_lines(comparison.get("performance")),
            table(table_rows(comparison)),
            "",
        ]
        if images and batch in images:
            lines += [images[batch], ""]
    for batch, reason in report["not_compared"].items():
        lines.append(f"- {batch} not compared: {reason}")
    thresholds = ", ".join(f"{n} {w}/{e}" for n, (w, e) in report["thresholds"].items())
    lines += [
        "",
        f"Thresholds (warn/error): {thresholds}. A statistic counts only when its p-value is "
        f"below {report['false_alarm_rate']:g} shared out over the batch's tests "
        "(`alarm_p_value`).",
        "",
    ]
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
    from ml_assets.lib.core.storage import atomic_write_text
    from ml_assets.lib.data.batch_records import now_iso

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


def drift_alerts(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """One alert per batch with error-level drift: its columns, figures, thresholds, next step.

    Keyed by batch, so the alert sink can stay silent while the same batch's finding stands.
    """
    alerts = {}
    for batch, columns in report["drifted"].items():
        comparison = report["batches"][batch]
        figures = {
            column: {
                name: comparison["columns"][column][name]
                for name in comparison["columns"][column]["crossed"]
            }
            for column in columns
        }
        named = "; ".join(
            f"{column} "
            + ", ".join(
                f"{name} {value:.3g} (error at {report['thresholds'][name][1]:g}, p "
                f"{comparison['columns'][column]['p_values'][name]:.2g})"
                for name, value in figures[column].items()
            )
            for column in columns
        )
        arrival = comparison.get("arrival", {"status": "accepted", "reason": ""})
        if arrival["status"] == "rejected":
            step = (
                f"the batch was rejected ({arrival['reason']}): check the source of the file; if "
                "the change is real, widen the contract and drop the file again"
            )
        else:
            step = (
                "look at the batch's rows in validated_data; if the change is real, retrain "
                "(retraining is marked due); if the file is wrong, take it out of the landing "
                "folder"
            )
        alerts[batch] = {
            "message": f"{batch}: drift above the error thresholds in {named}. Next: {step}",
            "figures": {batch: figures},
            "state": json.dumps(sorted(columns)),
        }
    return alerts


def performance_lines(performance: Mapping[str, Any] | None) -> list[str]:
    """The expected metric beside the held-out and the realised one, as a report line."""
    if not performance:
        return []
    line = (
        f"Expected {performance['metric']} before labels: {performance['estimate']:.3f} "
        f"[{performance['low']:.3f}, {performance['high']:.3f}]"
    )
    if performance["held_out"] is not None:
        line += f", held-out {performance['held_out']:.3f}"
    if performance["realised"] is not None:
        line += f"; realised {performance['realised']:.3f} (error {performance['error']:+.3f})"
    return [line + ".", ""]


def estimated_drops(report: Mapping[str, Any], max_drop: float) -> dict[str, dict[str, Any]]:
    """Batches whose estimated metric is more than ``max_drop`` below the held-out one.

    Only when the held-out value is also above the estimate's interval: a drop the batch's
    size cannot tell from chance is not alerted.
    """
    drops = {}
    for batch, comparison in report["batches"].items():
        performance = comparison.get("performance")
        if not performance or performance["held_out"] is None:
            continue
        drop = performance["held_out"] - performance["estimate"]
        if drop > max_drop and performance["held_out"] > performance["high"]:
            drops[batch] = {**performance, "drop": drop, "max_drop": max_drop}
    return drops


def drop_message(batch: str, drop: Mapping[str, Any]) -> str:
    """One estimated drop, with what to do."""
    return (
        f"{batch}: expected {drop['metric']} {drop['estimate']:.3f} "
        f"[{drop['low']:.3f}, {drop['high']:.3f}] is {drop['drop']:.3f} below the held-out "
        f"{drop['held_out']:.3f} (max_drop {drop['max_drop']:g}), estimated from the model's "
        "calibrated probabilities before labels. Next: look at the batch's drifted columns in "
        "drift_report; when its labels land, live_performance confirms or clears it; retrain "
        "if confirmed"
    )
