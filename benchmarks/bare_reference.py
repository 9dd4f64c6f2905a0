"""The bare reference: the project's pure functions, in the assets' order, with no Dagster at all.

It does the work of ``dagster asset materialize -m ml_assets --select '*'``: one stage per step of
that run, named after it (the asset, the multi-asset check, ``<asset>:freshness_check``), in the
run's order, each calling the ``ml_assets.lib`` functions its step calls, on the same inputs.
Every artifact is stored as the IO manager stores it (batch tables and reports as JSON, with a
report's Markdown and HTML beside it; the model with skops; the rows as Parquet through
``ml_assets.lib``), so the difference between the two commands is orchestration alone. It never
imports ``dagster``. A stage hands its output to the next in memory where a step has the IO
manager read its inputs back from storage: those reads are part of what orchestration costs.

    python benchmarks/bare_reference.py --data-dir DIR [--stop-after features] [--timings out.json]

It reads ``DIR/landing``, and the files the serving assets read where they read them
(``DIR/scoring``, ``DIR/labels``, ``DIR/serving/predictions.jsonl``); it writes to
``DIR/bare_storage`` (``--storage`` to change it), ingestion records, registry and alerts
included. Prints the seconds spent in each stage as JSON on stdout (and in ``--timings``).
"""

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()

# The steps of --select 'raw_data,validated_data,quarantined_rows,features' (--stop-after
# features): the data step and the checks that ride along with its assets.
INGEST_STAGES = ("batches", "raw_data:freshness_check", "statistical_checks")
DEFAULT_TRAINING = {
    "estimator": "random_forest",
    "search": "grid",
    "search_space": {"n_estimators": [10]},
    "cv_folds": 3,
    "n_iter": 10,
    "seed": 42,
}
# Defaults of the run config the benchmark leaves alone (the drift, live_performance and ab_test
# sections, BatchScoringConfig; the approval gate's are GateThresholds'): `probes.py
# consistency` checks that they equal the project's.
DRIFT_MIN_BATCH_ROWS = 50
MAX_LIVE_DROP = 0.05
SCORING_SUBDIR = "scoring"
PREDICTION_LOG = "serving/predictions.jsonl"
LABELS_SUBDIR = "labels"
ACTOR = "bare reference"  # who changes the registry, where the pipeline names its run


class Stopwatch:
    """Seconds per named stage, in the order the stages ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, work: Callable[..., Any], *args: Any) -> Any:
        """Run ``work(*args)`` and add its wall time to stage ``name``."""
        began = time.perf_counter()
        try:
            return work(*args)
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began


@dataclass(frozen=True)
class Bare:
    """What the resources give the steps (settings, IO manager, registry, alerts), without Dagster.

    ``settings`` are the settings resource's values the stages read; the IO manager's folder,
    the ingestion records, the registry and the alerts all live under ``storage``.
    """

    project: Any
    settings: dict[str, Any]
    data_dir: Path
    storage: Path

    def layout(self) -> Any:
        """Where the stages write: every data-folder file under ``storage`` too."""
        from ml_assets.lib.core.layout import Layout

        return Layout(str(self.storage), storage_url=str(self.storage))

    def store(self) -> Any:
        """The batch store, where the settings' ``batch_store`` puts it under the storage."""
        from upath import UPath

        from ml_assets.lib.data.batches import BatchStore

        return BatchStore(UPath(self.storage) / "batches")

    def rows(self, features: Any, columns: list[str] | None = None) -> Any:
        """The rows of a batch table, read from the batch store as every asset body reads them."""
        return self.store().read(features, columns)

    def registry(self) -> Any:
        """The model registry (the pipeline's is ``<data_dir>/registry``)."""
        from ml_assets.lib.release.registry import ModelRegistry

        return ModelRegistry(str(self.storage / "registry"))

    def save_table(self, name: str, table: Any) -> None:
        """A batch table as the IO manager stores it: the JSON list of its batches."""
        from ml_assets.lib.core.storage import atomic_write_text

        atomic_write_text(self.storage / f"{name}.json", table.to_json())

    def save_model(self, name: str, model: Any) -> None:
        """A model as the IO manager stores it: skops."""
        from ml_assets.lib.core.storage import atomic_write_bytes, dump_model

        atomic_write_bytes(self.storage / f"{name}.skops", dump_model(model))

    def save_report(self, name: str, report: dict) -> dict:
        """A report as the IO manager stores it: JSON, its ``markdown`` and ``html`` beside it.

        Returns the report as a step reads it back (from JSON, keys sorted, which orders the
        tables of the reports built on it), without reading the file.
        """
        from ml_assets.lib.core.storage import atomic_write_text

        path = self.storage / f"{name}.json"
        for key, suffix in (("markdown", ".md"), ("html", ".html")):
            if report.get(key):
                atomic_write_text(path.with_suffix(suffix), report[key])
        kept = {key: value for key, value in report.items() if key not in ("markdown", "html")}
        text = json.dumps(kept, indent=2, sort_keys=True, default=str)
        atomic_write_text(path, text)
        return json.loads(text)

    def alert(self, kind: str, message: str, **details: Any) -> None:
        """One alert line in ``alerts.jsonl``, as the alert sink appends it."""
        from ml_assets.lib.data.batch_records import now_iso

        alert = {"time": now_iso(), "kind": kind, "message": message, **details}
        with open(self.storage / "alerts.jsonl", "a") as handle:
            handle.write(json.dumps(alert, sort_keys=True, default=str) + "\n")

    def alert_once(
        self, condition: str, state: str | None, kind: str, message: str, **details: Any
    ) -> None:
        """Alert unless ``condition`` is still in ``state``; None: healthy, the sink's resolve."""
        from ml_assets.lib.monitoring.alert_state import remember_state

        changed = remember_state(self.storage / "alert_state.json", condition, state)
        if changed and state is not None:
            self.alert(kind, message, condition=condition, **details)


def check(name: str, passed: bool, description: str) -> bool:
    """A check's verdict; a failure is printed, as the command's log shows it."""
    if not passed:
        print(f"check {name} failed: {description}", file=sys.stderr)
    return passed


def training_set_gates(bare: Bare, records: Any) -> list:
    """The blocking checks of ``features``, under the settings' limits."""
    from ml_assets.lib.data.training_set_gates import TrainingLimits, training_gates

    columns, settings = bare.project.columns, bare.settings
    nullable = [name for name in columns.nullable if name in columns.data_columns]
    limits = TrainingLimits(
        settings["min_rows"], settings["default_max_null_share"], settings["max_null_share"]
    )
    return training_gates(records, bare.project.spec, nullable, limits)


def batches(bare: Bare) -> Any:
    """``batches``: new landing files into batches, their records, the four tables, its checks."""
    from ml_assets.lib.data.batches import BatchRules, refresh_batches, write_ingestion_records

    settings, store = bare.settings, bare.store()
    rules = BatchRules(
        bare.project.contract,
        bare.project.spec,
        settings["max_quarantined_share"],
        settings["max_file_bytes"],
        "bare",  # the code version names the batch folder; the pipeline hashes its sources
    )
    with store.lock():
        refresh = refresh_batches(bare.data_dir / "landing", store, rules)
        write_ingestion_records(bare.layout(), refresh)
        for record in refresh.newly_rejected:
            message = f"{record.batch} rejected: {record.reason}"
            print(message, file=sys.stderr)
            bare.alert("batch_rejected", message, batch=record.batch, asset="validated_data")
        for name in ("raw_data", "validated_data", "quarantined_rows", "features"):
            bare.save_table(name, refresh.table(name))
    batch_checks(bare, refresh)
    return refresh.table("features")


def batch_checks(bare: Bare, refresh: Any) -> None:
    """The checks the batches step yields; its training-set gates block what comes after."""
    from ml_assets.lib.data.batch_records import REFUSED

    refused = [entry.file for entry in refresh.others if entry.status == REFUSED]
    left_out = [record.batch for record in refresh.rejected] + refused
    check("validated_data:batches_accepted", not left_out, f"left out: {left_out}")
    quarantined = sum(record.rows_quarantined for record in refresh.records)
    check("validated_data:contract_failures", not quarantined, f"{quarantined} row(s)")
    failed = [
        gate.name
        for gate in training_set_gates(bare, refresh.records)
        if not check(f"features:{gate.name}", gate.passed, gate.description)
    ]
    if failed:  # blocking checks: Dagster skips every step after them and fails the run
        raise SystemExit(f"training set not usable: {failed}")


def freshness_check(bare: Bare, file: str, hours: float) -> bool:
    """A last-update freshness check of the asset stored as ``file``, on its modification time.

    Dagster's reads the asset's last materialization from its instance instead.
    """
    age = time.time() - (bare.storage / file).stat().st_mtime
    asset = Path(file).stem
    return check(f"{asset}:freshness_check", age <= hours * 3600, f"updated {age:.0f} s ago")


def statistical_checks(bare: Bare, features: Any) -> list:
    """``statistical_checks``: each batch of ``features`` against its training side."""
    from ml_assets.lib.monitoring.statistics import judged_columns, statistical_checks

    limits = bare.project.config.statistics
    spec = bare.project.spec
    outcomes = statistical_checks(bare.rows(features, judged_columns(spec)), spec, limits)
    for outcome in outcomes:
        check(f"features:{outcome.name}", outcome.passed, outcome.description)
    return outcomes


def feature_store(bare: Bare, features: Any) -> None:
    """``feature_store``: the batches the store lacks, as Parquet; its manifest as a report."""
    from upath import UPath

    from ml_assets.lib.data.feature_store import (
        FeatureStore,
        StoreLayout,
        store_manifest,
        sync_feature_store,
    )

    project = bare.project
    layout = StoreLayout.of(project.spec, project.config.feature_store.event_timestamp)
    store = FeatureStore(UPath(bare.storage) / "feature_store", features.version, layout)
    result = sync_feature_store(store, features, bare.store())
    manifest = store_manifest(store, result, features.data_version)
    bare.save_report("feature_store", manifest)


def trained_model(bare: Bare, features: Any, training: dict) -> tuple[Any, dict]:
    """``trained_model``: the seeded search on the train side, refit; the model and its facts.

    The facts are what later steps read from its materialization in the Dagster instance: its
    metadata, the code version and the versions the IO manager records.
    """
    from ml_assets.lib.contract.dataset import SPLIT, TRAIN
    from ml_assets.lib.core.environment import MODEL_PACKAGES, drift_from_lock, lock_hash
    from ml_assets.lib.core.storage import preload_skops
    from ml_assets.lib.core.versioning import process_versions, source_version
    from ml_assets.lib.model.modeling import model_fingerprint, train_model

    project = bare.project
    preload_skops()  # as the asset does: the skops import overlaps with training
    rows = bare.rows(features, project.spec.scored_columns)
    train = rows[rows[SPLIT] == TRAIN]
    del rows
    selection = project.config.training.feature_selection.model_dump()
    decision = project.config.decision.model_dump()
    result = train_model(
        train, project.spec, **{"feature_selection": selection, "decision": decision, **training}
    )
    versions = process_versions()
    facts = {
        "fingerprint": model_fingerprint(result.model),
        "training": result.summary(),
        "training_set": features.data_version,
        "batches": features.batches,
        "lock_hash": lock_hash() or "none (installed without the lock file)",
        "packages_off_the_lock": ", ".join(sorted(drift_from_lock(names=MODEL_PACKAGES))) or "none",
        "code_version": source_version("ml_assets.assets.training", extra=repr(project.spec)),
        "code_commit": versions["git"]["commit"],
        "code_tree": versions["git"]["tree"],
        "config_hash": project.config_hash,
        "package_versions": versions["packages"],
    }
    bare.save_model("trained_model", result.model)
    return result.model, json.loads(json.dumps(facts, sort_keys=True))  # as the event log has them


def evaluation_report(bare: Bare, model: Any, features: Any, facts: dict) -> dict:
    """``evaluation_report``: held-out metrics, baselines, slices, pictures and importances."""
    from ml_assets.lib.data.batch_records import CHUNK_ROWS
    from ml_assets.lib.model.evaluation import evaluate_table, provenance, report_markdown
    from ml_assets.lib.model.modeling import model_fingerprint
    from ml_assets.lib.model.plots import evaluation_images, images_markdown, report_html

    project, seed = bare.project, bare.settings["seed"]
    fingerprint = model_fingerprint(model)
    report, held_out = evaluate_table(
        model,
        lambda columns: bare.store().chunks(features, columns, CHUNK_ROWS),
        project.spec,
        seed=seed,
        training=facts["training"],
        min_slice_rows=bare.settings["min_slice_rows"],
    )
    report["provenance"] = provenance(fingerprint, features, project.config_hash)
    images, importances = evaluation_images(model, held_out, project.spec, report, seed)
    report["permutation_importance"] = importances
    markdown = report_markdown(report) + images_markdown(images)
    html = report_html("Evaluation report", markdown)
    stored = bare.save_report("evaluation_report", {**report, "markdown": markdown, "html": html})
    verdict = report["verdict"]
    check(
        "evaluation_report:beats_baselines",
        verdict["verdict"] != "worse",
        f"{verdict['verdict']} than {verdict['against']}",
    )
    return stored


def drift_report(bare: Bare, model: Any, features: Any, facts: dict, evaluation: dict) -> None:
    """``drift_report``: each batch against the training set of the model serving when it came.

    Every batch of the raw table (rejected ones on their rows that convert), ranked by the
    evaluation's permutation importance, as the asset does.
    """
    from ml_assets.lib.core.thresholds import ERROR, WARN
    from ml_assets.lib.data.batch_records import BatchTable
    from ml_assets.lib.model.modeling import model_fingerprint
    from ml_assets.lib.model.plots import report_html
    from ml_assets.lib.monitoring.drift_report import (
        champions,
        drift_markdown,
        drift_report,
        drifted_columns,
        retraining_marker_path,
        trained_on,
        write_retraining_marker,
    )
    from ml_assets.lib.project.project_config import DriftSection

    store, models = bare.store(), bare.registry()
    # Without a champion the asset searches the trained models' materializations: here, this one.
    report = drift_report(
        store,
        features,
        bare.project.spec,
        candidates=champions(models) or [trained_on(facts, "trained_model")],
        scorer=champion_scorer(models, (model, model_fingerprint(model))),
        thresholds=DriftSection().thresholds(),
        min_batch_rows=DRIFT_MIN_BATCH_ROWS,
        false_alarm_rate=DriftSection().false_alarm_rate,
        arrived=BatchTable.from_json((bare.storage / "raw_data.json").read_text()).records,
        contract=bare.project.contract,
        importance=evaluation.get("permutation_importance", {}),
    )
    markdown = drift_markdown(report, drift_images(store, report))
    write_retraining_marker(retraining_marker_path(str(bare.storage)), report)
    drift_alert(bare, report["drifted"])
    html = report_html("Drift report", markdown)
    bare.save_report("drift_report", {**report, "markdown": markdown, "html": html})
    for name, level in (("drift_below_warning", WARN), ("drift_below_error", ERROR)):
        failing = drifted_columns(report, level)
        check(f"drift_report:{name}", not failing, f"drift at {level} level in {failing}")


def champion_scorer(models: Any, current: tuple) -> Callable[[Any], tuple]:
    """The model (and fingerprint) a reference is scored with: a champion's, loaded once each."""
    loaded: dict[str, tuple] = {}

    def scorer(reference: Any) -> tuple:
        """The registered model of a champion; the current trained_model otherwise."""
        version = reference.registry_version
        if version is None:
            return current
        if version not in loaded:
            loaded[version] = (models.load(version)[0], reference.model_version)
        return loaded[version]

    return scorer


def drift_alert(bare: Bare, drifted: dict[str, list[str]]) -> None:
    """One alert naming the drifted columns; the same drift again stays silent."""
    named = "; ".join(f"{batch}: {', '.join(columns)}" for batch, columns in drifted.items())
    state = json.dumps({batch: sorted(columns) for batch, columns in drifted.items()})
    bare.alert_once(
        "drift:drift_report",
        state if drifted else None,
        "drift",
        f"drift above the error thresholds in {named}: retraining is due",
        asset="drift_report",
        check="drift_below_error",
        batch=sorted(drifted),
    )


def drift_images(store: Any, report: dict) -> dict[str, str]:
    """Per compared batch, its columns' reference and current distributions as an inline PNG."""
    from ml_assets.lib.model.plots import drift_panels, image_markdown
    from ml_assets.lib.monitoring.drift_report import load_profile

    return {
        batch: image_markdown(
            f"drift of {batch}",
            drift_panels(comparison, load_profile(store, comparison["reference"]["profile"])),
        )
        for batch, comparison in report["batches"].items()
    }


def live_performance(bare: Bare, model: Any, features: Any, evaluation: dict) -> None:
    """``live_performance``: the serving model on batches it did not learn and labels files."""
    from ml_assets.lib.monitoring.drift_report import batch_rows
    from ml_assets.lib.monitoring.live_performance import dropped, labelled_files, live_row

    spec, store, models = bare.project.spec, bare.store(), bare.registry()
    positive = evaluation.get("positive_label", spec.positive_label)
    serving, name, held_out, learned = serving_model(models, model, evaluation)
    rows = {
        batch: live_row(serving, batch_rows(store, features.version, batch), spec, held_out)
        for batch in features.batches
        if batch not in learned
    }
    files, errors = labelled_files(
        bare.data_dir, serving, spec, held_out, positive, models.metrics_of
    )
    rows |= files
    drops = dropped(rows, MAX_LIVE_DROP)
    report = {"model": name, "rows": rows, "errors": errors, "dropped": drops}
    report["max_drop"] = MAX_LIVE_DROP
    drop_alert(bare, name, drops)
    bare.save_report("live_performance", {**report, "markdown": live_markdown(report)})
    check("live_performance:live_performance_holds", not drops and not errors, f"{drops} {errors}")


def drop_alert(bare: Bare, model: str, drops: dict[str, float]) -> None:
    """One alert per set of dropped sources; silence while it stays the same."""
    named = ", ".join(f"{source} ({drop:.3f})" for source, drop in drops.items())
    bare.alert_once(
        "performance:live_performance",
        json.dumps(sorted(drops)) if drops else None,
        "performance_drop",
        f"{model}: live metric dropped more than {MAX_LIVE_DROP} in {named}",
        asset="live_performance",
        check="live_performance_holds",
        batch=sorted(drops),
    )


def live_markdown(report: dict) -> str:
    """The live metrics as a table, with the files that could not be scored."""
    from ml_assets.lib.core.markdown import table

    rows = [
        {"source": source, **{k: v for k, v in row.items() if k != "metrics"}}
        for source, row in report["rows"].items()
    ]
    lines = [f"# Live performance of {report['model']}", ""]
    lines += [table(rows) if rows else "No newly labelled data yet.", ""]
    lines += [f"- {file} not scored: {error}" for file, error in report["errors"].items()]
    return "\n".join(lines) + "\n"


def serving_model(models: Any, model: Any, evaluation: dict) -> tuple:
    """The champion (loaded, with its held-out metrics and batches), else the trained model."""
    version = models.alias("champion")
    if version is not None:
        champion, record = models.load(version)
        return champion, f"champion {version}", record.metrics, set(record.batches)
    provenance = evaluation.get("provenance", {})
    return model, "trained_model", evaluation["metrics"], set(provenance.get("batches", []))


def model_approval(bare: Bare, model: Any, evaluation: dict, features: Any, facts: dict) -> dict:
    """``model_approval``: the candidate registered, the gate's decision on it."""
    from ml_assets.lib.model.modeling import model_fingerprint
    from ml_assets.lib.release.approval_gate import GateThresholds, decision_markdown
    from ml_assets.lib.release.deployment import check_provenance, review_candidate

    project = bare.project
    check_provenance(evaluation, model_fingerprint(model), features.data_version)
    training = evaluation.get("training") or {}
    record = {
        "metrics": evaluation["metrics"],
        "params": training.get("best_params", {}),
        "data_version": features.data_version,
        "batches": list(features.batches),
        "code_version": facts["code_version"],
        "config_hash": project.config_hash,
        "task": project.spec.task,
        "extra": {
            "estimator": training.get("estimator"),
            "positive_label": evaluation.get("positive_label"),
            "evaluated_at": evaluation["provenance"]["created_at"],
            "registered_by": ACTOR,
            "lock_hash": facts["lock_hash"],
            "packages_off_the_lock": facts["packages_off_the_lock"],
        },
    }
    decision = review_candidate(
        bare.registry(),
        model,
        evaluation,
        bare.rows(features, project.spec.scored_columns),
        project.spec,
        GateThresholds(**project.config.approval.model_dump()),
        record,
        ACTOR,
    )
    markdown = decision_markdown(decision, decision["candidate_version"])
    stored = bare.save_report("model_approval", {**decision, "markdown": markdown})
    if not check("model_approval:approval_gate", decision["passed"], decision["summary"]):
        # A failed blocking check: Dagster skips every step after it and fails the run.
        raise SystemExit(f"{decision['candidate_version']} failed the approval gate")
    return stored


def model_card(bare: Bare, evaluation: dict, features: Any, facts: dict, outcomes: list) -> None:
    """``model_card``: the card's facts as JSON, Markdown and HTML, also under ``model_cards/``.

    Its drift section is this run's statistical_checks outcomes, as the asset is to read them
    from that check's results (for now it computes them again).
    """
    from upath import UPath

    from ml_assets.lib.core.storage import atomic_write_text
    from ml_assets.lib.model.model_card import (
        card_html,
        card_markdown,
        event_time_span,
        model_card_facts,
    )
    from ml_assets.lib.release.lineage import card_path, registry_facts

    project, provenance = bare.project, evaluation["provenance"]
    fingerprint = provenance["model_version"]
    lineage = {"fingerprint": fingerprint, "evaluated_at": provenance["created_at"]}
    keys = ("code_commit", "code_tree", "config_hash", "package_versions", "training_set")
    lineage |= {key: facts[key] for key in keys}
    card = model_card_facts(
        spec=project.spec,
        contract=project.columns,
        description=project.config.dataset.description,
        report=evaluation,
        records=features.records,
        lineage=lineage,
        statistics=[f"{o.name}: {o.description}" for o in outcomes if not o.passed],
        registry=registry_facts(bare.registry(), fingerprint),
        event_range=event_time_span(
            bare.store(), features, bare.project.config.feature_store.event_timestamp
        ),
    )
    markdown, page = card_markdown(card), card_html(card)
    per_model = card_path(UPath(bare.layout().model_cards), fingerprint)
    atomic_write_text(per_model, json.dumps(card, indent=2, sort_keys=True, default=str))
    atomic_write_text(per_model.with_suffix(".md"), markdown)
    atomic_write_text(per_model.with_suffix(".html"), page)
    bare.save_report("model_card", {**card, "markdown": markdown})


def production_model(bare: Bare, decision: dict) -> None:
    """``production_model``: ``champion`` moved to the candidate (the registry holds the model)."""
    from ml_assets.lib.release.deployment import promote

    promote(bare.registry(), decision, ACTOR)


def batch_predictions(bare: Bare) -> None:
    """``batch_predictions``: the champion's predictions for every file of the scoring folder."""
    from upath import UPath

    from ml_assets.lib.core.storage import preload_skops
    from ml_assets.lib.data.batch_records import BatchTable
    from ml_assets.lib.model.scoring import (
        PREDICTIONS,
        registry_champion,
        score_folder,
        scoring_rules,
    )

    folder = bare.data_dir / SCORING_SUBDIR
    files = folder.is_dir() and any(folder.iterdir())
    champion = registry_champion(bare.registry()) if files else None
    if champion is None:
        bare.save_table("batch_predictions", BatchTable(PREDICTIONS, "", ()))
        return
    preload_skops()
    settings = bare.settings
    rules = scoring_rules(
        bare.project.contract,
        bare.project.spec,
        settings["max_quarantined_share"],
        settings["max_file_bytes"],
        "bare",  # as for the batches: the pipeline's is a hash of its sources
        champion,
    )
    run = score_folder(folder, UPath(bare.storage) / "predictions", rules, champion)
    for rejected in run.refresh.newly_rejected:
        message = f"{rejected.batch} not scored: {rejected.reason}"
        print(message, file=sys.stderr)
        bare.alert("scoring_batch_rejected", message, batch=rejected.batch)
    bare.save_table("batch_predictions", run.predictions)


def ab_test_report(bare: Bare) -> None:
    """``ab_test_report``: champion against challenger on the served requests labelled since."""
    from ml_assets.lib.data.batch_records import now_iso
    from ml_assets.lib.release.ab_analysis import (
        ABSettings,
        analyse,
        join_outcomes,
        read_labels,
        report_markdown,
    )

    spec = bare.project.spec
    log_path, labels_dir = bare.data_dir / PREDICTION_LOG, bare.data_dir / LABELS_SUBDIR
    settings = ABSettings(metric="accuracy" if spec.is_classification else "r2")
    base = {"created_at": now_iso(), "log": str(log_path), "labels": str(labels_dir)}
    if not log_path.exists():
        return nothing_to_compare(bare, base, f"nothing logged yet at {log_path}")
    from ml_assets.lib.release.prediction_log import read_prediction_log

    log, skipped = read_prediction_log(log_path)
    labels = read_labels(labels_dir, spec.target)
    base["skipped_log_lines"] = skipped
    base["label_files"], base["label_problems"] = labels.files, labels.problems
    if labels.frame.empty:
        return nothing_to_compare(bare, base, f"no labels yet in {labels_dir}")
    outcomes, counts = join_outcomes(log, labels.frame)
    report = {**base, "counts": counts, **analyse(outcomes, settings)}
    report["conflicting_labels"] = labels.conflicting_keys
    bare.save_report("ab_test_report", {**report, "markdown": report_markdown(report)})


def nothing_to_compare(bare: Bare, base: dict, why: str) -> None:
    """The A/B report when there is no evidence yet: why."""
    report = {**base, "recommendation": None, "reason": why, "markdown": f"{why}\n"}
    bare.save_report("ab_test_report", report)


def ingest(watch: Stopwatch, bare: Bare) -> tuple[Any, list]:
    """The steps of the data assets: the batches, then the checks on them."""
    features = watch.run("batches", batches, bare)
    hours = bare.project.config.checks.landing_window_hours
    watch.run("raw_data:freshness_check", freshness_check, bare, "raw_data.json", hours)
    outcomes = watch.run("statistical_checks", statistical_checks, bare, features)
    return features, outcomes


def everything(watch: Stopwatch, bare: Bare, training: dict) -> None:
    """Every step of ``--select '*'``, in the order the run executes them (independent ones aside).

    The order matters where a step reads the registry: drift_report and live_performance find
    no champion yet, and the model card shows the candidate before production_model promotes it.
    """
    watch.run("ab_test_report", ab_test_report, bare)  # no inputs: the run starts with it
    features, outcomes = ingest(watch, bare)
    watch.run("feature_store", feature_store, bare, features)
    model, facts = watch.run("trained_model", trained_model, bare, features, training)
    hours = bare.project.config.checks.retraining_window_hours
    watch.run("trained_model:freshness_check", freshness_check, bare, "trained_model.skops", hours)
    evaluation = watch.run("evaluation_report", evaluation_report, bare, model, features, facts)
    watch.run("drift_report", drift_report, bare, model, features, facts, evaluation)
    watch.run("live_performance", live_performance, bare, model, features, evaluation)
    decision = watch.run("model_approval", model_approval, bare, model, evaluation, features, facts)
    watch.run("model_card", model_card, bare, evaluation, features, facts, outcomes)
    watch.run("production_model", production_model, bare, decision)
    watch.run("batch_predictions", batch_predictions, bare)


def run(
    data_dir: Path, storage: Path, stop_after: str, training: dict, seed: int | None = None
) -> dict[str, float]:
    """Every stage up to ``stop_after``; returns seconds per stage."""
    watch = Stopwatch()
    project, settings = watch.run("import", _project_and_settings)
    if seed is not None:
        settings["seed"] = seed
    storage.mkdir(parents=True, exist_ok=True)
    bare = Bare(project, settings, data_dir, storage)
    if stop_after == "features":
        ingest(watch, bare)
    else:
        everything(watch, bare, training)
    return watch.seconds


def _project_and_settings() -> tuple[Any, dict[str, Any]]:
    """The active project and the settings the stages read, as the definitions' defaults have them.

    The settings module imports Dagster, so this asks ``ml_assets.lib`` directly;
    ``benchmarks/probes.py consistency`` checks that they equal the settings' before measuring.
    """
    import pandas  # noqa: F401 - the frame library, imported here so its cost is "import"

    from ml_assets.lib.project.project_config import load_project

    project = load_project()
    project.contract  # noqa: B018 - loaded here, as the step loads it, so it counts as import
    checks = project.config.checks
    settings = {
        "max_quarantined_share": checks.max_quarantined_share,
        "max_file_bytes": checks.max_file_bytes,
        "min_rows": checks.min_rows,
        "default_max_null_share": checks.default_max_null_share,
        "max_null_share": dict(checks.max_null_share),
        "min_slice_rows": checks.min_slice_rows,
        "seed": project.config.training.seed,
    }
    return project, settings


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding landing/")
    parser.add_argument("--storage", type=Path, help="artifact folder (default DATA/bare_storage)")
    parser.add_argument(
        "--stop-after",
        choices=["features", "all"],
        default="all",
        help="features: only the data step and its checks",
    )
    parser.add_argument(
        "--training",
        default=json.dumps(DEFAULT_TRAINING),
        help="JSON keyword arguments of train_model (estimator, search, search_space, ...)",
    )
    parser.add_argument("--seed", type=int, help="seed of the evaluation (default: the settings')")
    parser.add_argument("--timings", type=Path, help="also write the stage timings here")
    args = parser.parse_args(argv)
    training = json.loads(args.training)
    seconds = run(
        args.data_dir,
        args.storage or args.data_dir / "bare_storage",
        args.stop_after,
        training,
        seed=args.seed,
    )
    seconds["total_in_process"] = time.perf_counter() - STARTED
    text = json.dumps(seconds, indent=2)
    if args.timings:
        args.timings.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
