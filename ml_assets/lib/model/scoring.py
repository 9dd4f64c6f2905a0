"""Batch scoring: each file of a scoring folder is validated and scored once per champion.

A scoring file is a batch as a landing file is (``<file>-<8 hex of sha256>``), identified, read
and validated by the same code, against the contract without its target: rows that break it are
quarantined with their reasons, a file that cannot be read or is mostly wrong is rejected whole,
and the other files go on. Predictions carry probabilities, the model version and each row's
source file and line; they are kept under ``<root>/<model version>/<rules>/<batch>/``, so an
unchanged champion finds every batch done and reads nothing, and a new champion rescores.
"""

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa

from ml_assets.lib.contract.dataset import SOURCE_COLUMNS, DatasetSpec
from ml_assets.lib.core.frames import map_columns, write_frame
from ml_assets.lib.core.safe_csv import write_safe_csv
from ml_assets.lib.core.storage import atomic_write, atomic_write_text
from ml_assets.lib.data.batch_records import (
    QUARANTINED,
    BatchRecord,
    BatchTable,
    Refresh,
)
from ml_assets.lib.data.batches import (
    RECORD_FILE,
    BatchRules,
    BatchStore,
    CheckedBatch,
    check_batch,
    refresh_batches,
)
from ml_assets.lib.data.features import derive_columns
from ml_assets.lib.data.ingestion import IngestionError

PREDICTIONS = "predictions"
PREDICTION = "prediction"
MODEL_VERSION = "model_version"
PROBABILITY = "probability_"


@dataclass(frozen=True)
class Champion:
    """The model to score with: its registry version, its file's sha256, and how to load it."""

    version: str
    sha256: str
    load: Callable[[], Any]


def registry_champion(registry: Any) -> Champion | None:
    """The ``ModelRegistry``'s champion (its model loaded only when asked for), or None yet."""
    version = registry.alias("champion")
    if version is None:
        return None
    return Champion(version, registry.get(version).sha256, lambda: registry.load(version)[0])


@dataclass(frozen=True)
class ScoringRun:
    """What one pass over the scoring folder found and did."""

    model_version: str
    refresh: Refresh
    models_loaded: int

    @property
    def predictions(self) -> BatchTable:
        """The scored batches, readable with ``BatchStore(root).read``."""
        accepted = tuple(record for record in self.refresh.records if record.accepted)
        return BatchTable(PREDICTIONS, f"{self.model_version}/{self.refresh.version}", accepted)

    @property
    def quarantined(self) -> BatchTable:
        """The batches with quarantined rows, readable the same way."""
        table = self.refresh.table(QUARANTINED)
        return replace(table, version=f"{self.model_version}/{table.version}")

    @property
    def rows_scored(self) -> int:
        """Rows with a prediction, over every scored batch."""
        return sum(record.rows_valid for record in self.refresh.records if record.accepted)


class PredictionStore(BatchStore):
    """A batch store whose tables also get a spreadsheet-safe CSV beside their Parquet."""

    def save(self, version: str, record: BatchRecord, tables: Mapping[str, pd.DataFrame]) -> None:
        """Write every Parquet and CSV file at once, a thread each, then the record.

        Arrow writes without holding the GIL, so on 2 cores the four files of a million scored
        rows take the time of the largest one; the record, written last, marks the batch done.
        """
        folder = self.folder(version, record.batch)
        writes = [
            functools.partial(write_frame, folder / f"{name}.parquet", frame)
            for name, frame in tables.items()
        ]
        writes += [
            functools.partial(
                atomic_write, folder / f"{name}.csv", functools.partial(write_safe_csv, frame=frame)
            )
            for name, frame in tables.items()
            if len(frame)
        ]
        map_columns(_call, writes)
        atomic_write_text(folder / RECORD_FILE, record.to_json())


def _call(write: Callable[[], None]) -> None:
    write()


def scoring_rules(
    contract: pandera.DataFrameSchema,
    spec: DatasetSpec,
    max_quarantined_share: float,
    max_file_bytes: int,
    code_version: str,
    champion: Champion,
) -> BatchRules:
    """The batch rules of scoring with ``champion``: the contract without its target.

    The champion's sha256 joins the code version, so the rules' version changes with the model
    file itself, even if a registry were rebuilt and reused a version name.
    """
    return BatchRules(
        contract.remove_columns([spec.target]),
        spec,
        max_quarantined_share,
        max_file_bytes,
        hashlib.sha256(f"{code_version}|{champion.sha256}".encode()).hexdigest(),
    )


class ChampionUnavailable(OSError):
    """The champion's model cannot be loaded: a fault of the registry's storage, not of a file.

    An ``OSError``, so the batch refresh re-raises it instead of rejecting the batch being
    scored: no batch is marked done, and the next run scores them once the model loads.
    """

    def __init__(self, version: str, error: Exception) -> None:
        super().__init__(f"champion {version} cannot be loaded: {error}")


def score_folder(folder: Path, root: Any, rules: BatchRules, champion: Champion) -> ScoringRun:
    """Score every file of ``folder`` not yet scored by ``champion``.

    The model loads only when a batch needs it, on a thread, while that batch is read and
    validated (the skops import alone takes over a second).
    """
    loads: list[Future] = []
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-champion")

    def loading() -> Future:
        if not loads:
            loads.append(pool.submit(champion.load))
        return loads[0]

    def model() -> Any:
        try:
            return loading().result()
        except Exception as error:  # noqa: BLE001 - whatever stops the load, name the version
            raise ChampionUnavailable(champion.version, error) from error

    def process(file: str, sha256: str, size: int, data: Any, rules: BatchRules):
        loading()
        return score_batch(file, sha256, size, data, rules, champion.version, model)

    store = PredictionStore(root / champion.version)
    try:
        with store.lock():
            refresh = refresh_batches(folder, store, rules, process)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return ScoringRun(champion.version, refresh, len(loads))


def score_batch(
    file: str,
    sha256: str,
    size: int,
    data: bytes | IngestionError,
    rules: BatchRules,
    model_version: str,
    model: Callable[[], Any],
) -> tuple[BatchRecord, dict[str, pd.DataFrame]]:
    """Read, validate and score one batch, or say why it is rejected and keep its rows.

    A target column in the file is ignored (scoring labelled rows is allowed); any other
    column outside the contract is refused as at ingestion when the contract is strict.
    """
    checked = check_batch(
        file, sha256, size, data, rules, ignore=[rules.spec.target], keep_extra=False
    )
    if not isinstance(checked, CheckedBatch):
        record, tables = checked
        return record, {name: table for name, table in tables.items() if name == QUARANTINED}
    predictions = predict_rows(model(), checked.valid, rules.spec, model_version)
    record = replace(checked.record, rows_valid=len(predictions))
    return record, {PREDICTIONS: predictions, QUARANTINED: checked.quarantined}


def range_columns(model: Any, predicted: Any, probabilities: Any) -> dict[str, Any]:
    """Each row's range: ``prediction_lower``/``_upper``, or ``prediction_set`` (JSON labels).

    None when the model was fitted without ranges (``training.coverage`` empty).
    """
    from ml_assets.lib.model.conformal import calibration_of, intervals, prediction_sets

    calibration = calibration_of(model)
    if calibration is None:
        return {}
    if probabilities is None:
        lower, upper = intervals(predicted, calibration)
        return {f"{PREDICTION}_lower": lower, f"{PREDICTION}_upper": upper}
    sets = prediction_sets(probabilities, model.classes_, calibration)
    return {f"{PREDICTION}_set": [json.dumps(members) for members in sets]}


def predict_rows(model: Any, valid: pd.DataFrame, spec: DatasetSpec, version: str) -> pd.DataFrame:
    """The model's prediction (and class probabilities) for each valid row, with its source.

    The key column, when the dataset has one, is kept so predictions join back to the rows.
    """
    from ml_assets.lib.model.evaluation import predict
    from ml_assets.lib.model.modeling import model_inputs

    inputs = pd.concat([valid[spec.input_columns], derive_columns(valid, spec)], axis=1)
    labels, probabilities = predict(model, model_inputs(inputs, spec), spec)
    columns: dict[str, Any] = {name: valid[name] for name in SOURCE_COLUMNS}
    if spec.key:
        columns[spec.key] = valid[spec.key]
    columns[PREDICTION] = labels
    if probabilities is not None:
        for index, label in enumerate(model.classes_):
            columns[f"{PROBABILITY}{label}"] = probabilities[:, index]
    columns.update(range_columns(model, labels, probabilities))
    columns[MODEL_VERSION] = pd.arrays.ArrowExtensionArray(pa.repeat(version, len(valid)))
    return pd.DataFrame(columns, index=valid.index).reset_index(drop=True)
