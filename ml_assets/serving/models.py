"""The models the service holds, and the watcher that follows the registry's aliases.

A new version is loaded (sha256-verified by the registry), checked against the project and run on
one row before a single reference is replaced, so a request sees either the old pair of models
or the new one, never a half-loaded model. A version that fails any of this is reported and tried
again only after a minute; the model already serving keeps serving.
"""

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ml_assets.lib.contract.dataset import DatasetSpec
from ml_assets.lib.core.threads import AST_PARSING
from ml_assets.lib.core.values import plain_list
from ml_assets.lib.model.conformal import calibration_of, intervals, prediction_sets
from ml_assets.lib.model.evaluation import decide, positive_index
from ml_assets.lib.model.modeling import model_inputs
from ml_assets.lib.release.prediction_log import ARMS

CHAMPION, CHALLENGER = ARMS
RETRY_SECONDS = 60.0  # a refused version is tried again after this long (a storage outage ends)
LOGGER = logging.getLogger("ml_assets.serving")


class Registry(Protocol):
    """What the service reads of ``ml_assets.lib.release.registry.ModelRegistry``."""

    def alias(self, name: str) -> str | None:
        """The version an alias names, or None."""

    def load(self, version: str) -> tuple[object, Any]:
        """The model and its record, its sha256 verified."""

    def refuse_unapproved(self, version: str) -> None:
        """Raise when the approval gate's latest verdict on ``version`` is a failure."""


def utc_now() -> str:
    """The current time as ISO-8601 UTC, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Outputs:
    """A model's outputs for some records: labels or numbers, and class probabilities."""

    predictions: list[Any]
    probabilities: np.ndarray | None
    classes: list[Any] | None
    positive: int | None  # column of the positive class (binary tasks)
    # Each record's range: [lower, upper] (regression) or its set of classes; None without.
    ranges: list[Any] | None = None

    def finite(self) -> bool:
        """Whether every number is finite: JSON has no NaN or infinity to answer or log."""
        if self.probabilities is not None:
            return bool(np.isfinite(self.probabilities).all())
        numbers = [self.predictions, *([] if self.ranges is None else [self.ranges])]
        return all(np.isfinite(np.asarray(values, dtype=float)).all() for values in numbers)


@dataclass(frozen=True)
class ServedModel:
    """A loaded, checked model and its registry record."""

    model: Any
    record: Any  # ml_assets.lib.release.registry.ModelVersion
    spec: DatasetSpec
    positive: int | None

    @property
    def version(self) -> str:
        """The registry version, e.g. ``v0003``."""
        return self.record.version

    def predict(self, frame: pd.DataFrame) -> Outputs:
        """Labels and probabilities (classification) or numbers (regression) for typed rows."""
        inputs = model_inputs(frame, self.spec)
        calibration = calibration_of(self.model)
        if not self.spec.is_classification:
            values = self.model.predict(inputs)
            ranges = None
            if calibration is not None:
                ranges = np.column_stack(intervals(values, calibration)).tolist()
            return Outputs([float(value) for value in values], None, None, None, ranges)
        probabilities = self.model.predict_proba(inputs)
        classes = plain_list(np.asarray(self.model.classes_))
        labels = plain_list(decide(self.model, probabilities))
        ranges = None
        if calibration is not None:
            ranges = prediction_sets(probabilities, classes, calibration)
        return Outputs(labels, probabilities, classes, self.positive, ranges)


def prepare(model: Any, record: Any, spec: DatasetSpec) -> ServedModel:
    """Check that ``model`` can serve this project and warm it up on one all-missing row."""
    if record.task != spec.task:
        raise ValueError(f"{record.version} is a {record.task} model; the project is {spec.task}")
    needed = [str(name) for name in getattr(model, "feature_names_in_", spec.model_columns)]
    unknown = sorted(set(needed) - set(spec.model_columns))
    if unknown:
        raise ValueError(
            f"{record.version} reads columns {unknown} the project's contract does not provide"
        )
    positive = None
    if spec.task == "binary":
        label = record.extra.get("positive_label")  # as the evaluation resolved it
        label = spec.positive_label if label is None else label
        positive = positive_index(np.asarray(model.classes_), label)
    served = ServedModel(model, record, spec, positive)
    missing_row = pd.DataFrame({name: [np.nan] for name in spec.model_columns})
    served.predict(missing_row)
    return served


@dataclass(frozen=True)
class Models:
    """The champion and challenger served now; replaced whole, never changed in place."""

    champion: ServedModel | None = None
    challenger: ServedModel | None = None

    def get(self, alias: str) -> ServedModel | None:
        """The model serving ``alias``."""
        return self.champion if alias == CHAMPION else self.challenger


@dataclass
class LoadProblem:
    """A version that could not be served, and why."""

    alias: str
    version: str | None
    error: str
    time: str = field(default_factory=utc_now)


class ModelWatcher:
    """Follows the registry's ``champion`` and ``challenger`` aliases, loading what they name.

    A challenger the approval gate failed is never loaded (and dropped if a later verdict fails
    it), so neither the canary nor the shadow can use it; the verdict is read at every poll.

    ``refresh`` runs on a background thread every ``poll_seconds`` (and may be called directly);
    requests only read ``models``, one attribute.
    """

    def __init__(
        self,
        registry: Registry,
        spec: DatasetSpec,
        poll_seconds: float = 1.0,
    ) -> None:
        self.registry = registry
        self.spec = spec
        self.poll_seconds = poll_seconds
        self.models = Models()
        self.problems: dict[str, LoadProblem] = {}
        self.last_check: str | None = None
        self._refused: dict[str, tuple[str, float]] = {}  # alias -> (version, retry at)
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> Models:
        """Read both aliases; load and swap in any version that changed. Never raises."""
        with self._refresh_lock:
            current = self.models
            served = {alias: current.get(alias) for alias in ARMS}
            for alias in ARMS:
                served[alias] = self._follow(alias, served[alias])
            if served[CHAMPION] is not current.champion or (
                served[CHALLENGER] is not current.challenger
            ):
                self.models = Models(served[CHAMPION], served[CHALLENGER])
            self.last_check = utc_now()
            return self.models

    def _follow(self, alias: str, serving: ServedModel | None) -> ServedModel | None:
        try:
            version = self.registry.alias(alias)
        except Exception as error:  # the registry is unreadable: keep what is serving
            self._report(alias, None, f"cannot read the alias: {error}")
            return serving
        if version is None:
            self.problems.pop(alias, None)
            if alias == CHAMPION and serving is not None:
                self._report(alias, None, "the registry has no champion; serving the last one")
                return serving
            return None
        if alias == CHALLENGER:  # only approved models serve, whatever an alias says
            try:
                self.registry.refuse_unapproved(version)
            except Exception as error:  # failed the gate (even after it was loaded), or unreadable
                self._report(alias, version, f"{type(error).__name__}: {error}")
                return None
        if serving is not None and serving.version == version:
            self.problems.pop(alias, None)
            return serving
        refused = self._refused.get(alias)
        if refused is not None and refused[0] == version and time.monotonic() < refused[1]:
            return serving  # refused a moment ago: the registry keeps versions immutable
        try:
            with AST_PARSING:  # skops' numpy headers are parsed while requests run
                model, record = self.registry.load(version)
            loaded = prepare(model, record, self.spec)
        except Exception as error:
            kept = f"; still serving {serving.version}" if serving else ""
            self._report(alias, version, f"{type(error).__name__}: {error}{kept}")
            self._refused[alias] = (version, time.monotonic() + RETRY_SECONDS)
            return serving
        self.problems.pop(alias, None)
        LOGGER.info("serving %s as %s", version, alias)
        return loaded

    def _report(self, alias: str, version: str | None, error: str) -> None:
        known = self.problems.get(alias)
        if known is None or (known.version, known.error) != (version, error):
            self.problems[alias] = LoadProblem(alias, version, error)
            LOGGER.error("%s %s: %s", alias, version or "(none)", error)

    def start(self) -> None:
        """Load the current aliases now, then keep following them on a daemon thread."""
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="model-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following the registry (the models stay loaded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.refresh()
