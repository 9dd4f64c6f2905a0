"""The online service's prediction log: append-only JSON lines that survive a crash mid-write.

Each call appends whole lines with a single ``write`` on a file opened ``O_APPEND``, so a crash
tears at most the last line. A writer that opens a log whose last line is torn ends it with a
newline first, so the fragment stays one unreadable line and never swallows the next one; the
reader skips such lines and counts them. ``fsync`` is batched (at most once per
``fsync_seconds``): a process crash loses nothing once ``write`` returned, a power cut at most
that interval.
"""

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

from ml_assets.lib.core.json_text import dumps

LOG_FIELDS = (
    "time",
    "request_key",
    "model_version",
    "arm",
    "input_sha256",
    "prediction",
    "probability",
    "latency_ms",
)
ARMS = ("champion", "challenger")
# The challenger's prediction for a request the champion answered (``serve --shadow``): logged
# for the paired A/B comparison, never returned to the caller.
SHADOW = "shadow"
LOGGED_ARMS = (*ARMS, SHADOW)


class PredictionLog:
    """Appends prediction entries to one JSON-lines file; safe to share between threads."""

    def __init__(self, path: str | os.PathLike, fsync_seconds: float = 1.0) -> None:
        self.path = Path(path)
        self.fsync_seconds = fsync_seconds
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        self._last_fsync = time.monotonic()
        self._torn = _ends_torn(self.path)  # end the torn line before the next one

    def append(self, entries: list[dict[str, Any]]) -> None:
        """Write ``entries`` as lines in one ``write``; each must have exactly ``LOG_FIELDS``.

        A non-finite number is written as null (the service refuses such predictions before).
        """
        for entry in entries:
            if tuple(entry) != LOG_FIELDS:
                raise ValueError(f"a log entry has the keys {list(LOG_FIELDS)}, got {list(entry)}")
        data = b"".join([dumps(entry) + b"\n" for entry in entries])
        with self._lock:
            if self._torn:
                data = b"\n" + data
            try:
                written = os.write(self._fd, data)
                while written < len(data):  # a regular file takes it whole unless the disk is full
                    written += os.write(self._fd, data[written:])
            except OSError:
                self._torn = True  # part of a line may be on disk: end it before the next write
                raise
            self._torn = False
            now = time.monotonic()
            if now - self._last_fsync >= self.fsync_seconds:
                os.fsync(self._fd)
                self._last_fsync = now

    def close(self) -> None:
        """Flush to disk and close the file."""
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1


def _ends_torn(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def log_entry(
    *,
    time_iso: str,
    request_key: str,
    model_version: str,
    arm: str,
    input_sha256: str,
    prediction: Any,
    probability: float | None,
    latency_ms: float,
) -> dict[str, Any]:
    """One log entry, its keys in ``LOG_FIELDS`` order."""
    if arm not in LOGGED_ARMS:
        raise ValueError(f"arm must be one of {LOGGED_ARMS}, got {arm!r}")
    return {
        "time": time_iso,
        "request_key": request_key,
        "model_version": model_version,
        "arm": arm,
        "input_sha256": input_sha256,
        "prediction": prediction,
        "probability": probability,
        "latency_ms": latency_ms,
    }


def read_prediction_log(path: str | os.PathLike) -> tuple[pd.DataFrame, int]:
    """The log's entries as a frame (``time`` as UTC timestamps) and how many lines were skipped.

    A line that is not a JSON object with exactly ``LOG_FIELDS`` (a torn last line, or the
    fragment a crash left before a restart) is skipped and counted; a missing log is empty.
    """
    try:
        lines = Path(path).read_bytes().split(b"\n")
    except FileNotFoundError:
        lines = []
    rows, skipped = [], 0
    for line in lines:
        if not line.strip():
            continue
        entry = _parse(line)
        if entry is None:
            skipped += 1
        else:
            rows.append(entry)
    frame = pd.DataFrame(rows, columns=list(LOG_FIELDS))
    frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
    frame["probability"] = frame["probability"].astype("float64")
    frame["latency_ms"] = frame["latency_ms"].astype("float64")
    return frame, skipped


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(entry, dict) or tuple(sorted(entry)) != tuple(sorted(LOG_FIELDS)):
        return None
    if entry["arm"] not in LOGGED_ARMS or not isinstance(entry["request_key"], str):
        return None
    latency = entry["latency_ms"]
    if not isinstance(latency, int | float) or not math.isfinite(latency):
        return None
    return entry
