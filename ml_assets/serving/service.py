"""One prediction request end to end: keys, canary routing, validation, prediction and the log.

In shadow mode every request is also scored by the challenger, logged (arm ``shadow``) and never
answered, so the A/B analysis compares both models on the same requests.

Framework-free, so the HTTP layer only maps requests and errors; everything a request reads of
the models is one snapshot taken when it starts, so a swap mid-request changes nothing for it.
"""

import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ml_assets.lib.core.json_text import canonical, canonical_each
from ml_assets.lib.release.prediction_log import SHADOW, PredictionLog, log_entry
from ml_assets.serving.models import (
    CHALLENGER,
    CHAMPION,
    Models,
    ModelWatcher,
    Outputs,
    utc_now,
)
from ml_assets.serving.records import RecordValidator

_SHARE_SCALE = float(2**64)


class TooManyRecords(ValueError):
    """A request holds more records than the service takes at once."""


class NoModel(RuntimeError):
    """No champion is loaded: the registry has none yet, or none could be loaded."""


class BadKeys(ValueError):
    """The request's keys do not match its records."""


class LogUnavailable(OSError):
    """The prediction log cannot be written: no prediction is returned unlogged."""


def challenger_share(key: str) -> float:
    """Where ``key`` falls in [0, 1): its sha256 as a fraction. The same key always lands there."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SHARE_SCALE


def route(key: str, canary_fraction: float, models: Models) -> str:
    """The arm that serves ``key``: the challenger for keys below the canary fraction."""
    challenger = models.challenger
    if challenger is None or models.champion is None:
        return CHAMPION
    if challenger.version == models.champion.version:
        return CHAMPION
    return CHALLENGER if challenger_share(key) < canary_fraction else CHAMPION


def request_keys(header_key: str | None, body_keys: Sequence[str] | None, count: int) -> list[str]:
    """One key per record: the body's ``keys``; else the header's (``<key>:<i>`` past one record).

    With neither, a random key is made, so the prediction can still be found in the log.
    """
    if body_keys is not None:
        if len(body_keys) != count:
            raise BadKeys(f"{len(body_keys)} keys for {count} records: give one key per record")
        return list(body_keys)
    base = header_key or uuid.uuid4().hex
    return [base] if count == 1 else [f"{base}:{index}" for index in range(count)]


def input_sha256(record: Mapping[str, Any]) -> str:
    """sha256 of the record's canonical JSON (sorted keys, no spaces, UTF-8)."""
    return hashlib.sha256(canonical(record)).hexdigest()


def input_hashes(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """``input_sha256`` of each record."""
    return [hashlib.sha256(text).hexdigest() for text in canonical_each(records)]


def _refuse_non_finite(outputs: Outputs, version: str) -> None:
    """Fail the request (500) as the JSON encoder did: no NaN or infinity is answered or logged."""
    if not outputs.finite():
        raise ValueError(f"{version} predicted a NaN or an infinity, which JSON cannot carry")


def _answers(outputs: Outputs, keys: list[str], arm: str, version: str) -> list[dict[str, Any]]:
    """Each record's prediction as ``/predict`` answers it, its fields gathered column by column."""
    nothing = [None] * len(keys)
    probability, probabilities, intervals, sets = nothing, nothing, nothing, nothing
    if outputs.probabilities is not None:
        names = [str(label) for label in outputs.classes]
        rows = outputs.probabilities.tolist()
        probabilities = [dict(zip(names, row, strict=True)) for row in rows]
        if outputs.positive is not None:
            probability = [row[outputs.positive] for row in rows]
    if outputs.ranges is not None and outputs.classes is not None:
        sets = outputs.ranges
    elif outputs.ranges is not None:
        intervals = outputs.ranges
    predictions = outputs.predictions
    columns = zip(keys, predictions, probability, probabilities, intervals, sets, strict=True)
    return [
        {
            "request_key": key,
            "arm": arm,
            "model_version": version,
            "prediction": prediction,
            "probability": positive,
            "probabilities": each_class,
            "interval": interval,
            "prediction_set": plausible,
        }
        for key, prediction, positive, each_class, interval, plausible in columns
    ]


class PredictionService:
    """Validates records, routes each key to an arm, predicts, and logs every prediction."""

    def __init__(
        self,
        validator: RecordValidator,
        watcher: ModelWatcher,
        log: PredictionLog,
        canary_fraction: float = 0.0,
        max_records: int = 10_000,
        shadow: bool = False,
    ) -> None:
        if not 0.0 <= canary_fraction <= 1.0:
            raise ValueError(f"canary_fraction must be within [0, 1], got {canary_fraction}")
        if shadow and canary_fraction > 0:
            raise ValueError(
                "shadow mode scores every request with both models and answers with the "
                "champion: it takes no canary fraction (use one or the other)"
            )
        self.validator = validator
        self.watcher = watcher
        self.log = log
        self.canary_fraction = canary_fraction
        self.max_records = max_records
        self.shadow = shadow

    def predict(self, records: Sequence[Mapping[str, Any]], keys: list[str]) -> dict[str, Any]:
        """Predictions for ``records`` (one per key), logged before they are returned."""
        started = time.perf_counter()
        if len(records) > self.max_records:
            raise TooManyRecords(
                f"{len(records)} records exceed the limit of {self.max_records} per request "
                "(max_records): split them over several requests"
            )
        models = self.watcher.models
        if models.champion is None:
            raise NoModel(self.unavailable_reason())
        frame = self.validator.model_frame(records)
        arms = [route(key, self.canary_fraction, models) for key in keys]
        predictions: list[dict[str, Any]] = [{}] * len(records)
        for arm in sorted(set(arms)):
            served = models.get(arm)
            rows = [index for index, chosen in enumerate(arms) if chosen == arm]
            outputs = served.predict(frame if len(rows) == len(arms) else frame.iloc[rows])
            _refuse_non_finite(outputs, served.version)
            answers = _answers(outputs, [keys[row] for row in rows], arm, served.version)
            for row, answer in zip(rows, answers, strict=True):
                predictions[row] = answer
        shadowed = self._shadow(models, frame, keys)
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        now = utc_now()
        hashes = input_hashes(records)
        hashes += hashes if shadowed else []
        entries = [
            log_entry(
                time_iso=now,
                request_key=prediction["request_key"],
                model_version=prediction["model_version"],
                arm=prediction["arm"],
                input_sha256=digest,
                prediction=prediction["prediction"],
                probability=prediction["probability"],
                latency_ms=latency_ms,
            )
            for prediction, digest in zip([*predictions, *shadowed], hashes, strict=True)
        ]
        try:
            self.log.append(entries)
        except OSError as error:
            raise LogUnavailable(
                f"the prediction log {self.log.path} cannot be written: {error}"
            ) from error
        return {"predictions": predictions, "versions": self.versions(models)}

    def _shadow(self, models: Models, frame: Any, keys: list[str]) -> list[dict[str, Any]]:
        """The challenger's predictions for every record, to log beside the champion's answers.

        Only in shadow mode with an approved challenger other than the champion; never returned.
        """
        challenger = models.challenger
        if not self.shadow or challenger is None or models.champion is None:
            return []
        if challenger.version == models.champion.version:
            return []
        outputs = challenger.predict(frame)
        _refuse_non_finite(outputs, challenger.version)
        return [
            {
                "request_key": key,
                "arm": SHADOW,
                "model_version": challenger.version,
                "prediction": outputs.predictions[row],
                "probability": (
                    float(outputs.probabilities[row][outputs.positive])
                    if outputs.probabilities is not None and outputs.positive is not None
                    else None
                ),
            }
            for row, key in enumerate(keys)
        ]

    @staticmethod
    def versions(models: Models) -> dict[str, str | None]:
        """The version serving each arm."""
        return {
            CHAMPION: models.champion.version if models.champion else None,
            CHALLENGER: models.challenger.version if models.challenger else None,
        }

    def unavailable_reason(self) -> str:
        """Why no champion is loaded, and what to do."""
        problem = self.watcher.problems.get(CHAMPION)
        if problem is not None:
            return f"no champion could be loaded: {problem.error}"
        return (
            "the registry has no champion yet: run the pipeline so that production_model "
            "promotes one"
        )

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether a champion is serving, and the state of both aliases."""
        models = self.watcher.models
        problems = [vars(problem) for problem in list(self.watcher.problems.values())]
        serving = models.champion is not None
        body = {
            "status": ("degraded" if problems else "ok") if serving else "unavailable",
            "versions": self.versions(models),
            "canary_fraction": self.canary_fraction,
            "shadow": self.shadow,
            "problems": problems,
            "last_check": self.watcher.last_check,
        }
        if not serving:
            body["reason"] = self.unavailable_reason()
        return serving, body

    def model_info(self) -> dict[str, Any]:
        """The champion's registry record (and the challenger's)."""
        models = self.watcher.models
        if models.champion is None:
            raise NoModel(self.unavailable_reason())
        challenger = models.challenger
        return {
            **describe(models.champion.record),
            "challenger": describe(challenger.record) if challenger else None,
            "canary_fraction": self.canary_fraction,
            "shadow": self.shadow,
        }


def describe(record: Any) -> dict[str, Any]:
    """What ``GET /model`` shows of a registry version."""
    return {
        "version": record.version,
        "sha256": record.sha256,
        "fingerprint": record.fingerprint,
        "created_at": record.created_at,
        "task": record.task,
        "metrics": dict(record.metrics),
        "params": dict(record.params),
        "data_version": record.data_version,
        "batches": list(record.batches),
        "code_version": record.code_version,
        "config_hash": record.config_hash,
    }
