"""The prediction log: exact keys, whole lines, and a torn last line that costs only itself."""

import json
from pathlib import Path

import pytest

from ml_assets.lib.release.prediction_log import (
    LOG_FIELDS,
    PredictionLog,
    log_entry,
    read_prediction_log,
)


def entry(index: int, arm: str = "champion") -> dict:
    return log_entry(
        time_iso=f"2026-01-01T00:00:{index:02d}.000+00:00",
        request_key=f"key-{index}",
        model_version="v0001",
        arm=arm,
        input_sha256="0" * 64,
        prediction=index % 2,
        probability=0.25,
        latency_ms=1.5,
    )


def test_entries_round_trip_with_exactly_the_log_keys(tmp_path: Path) -> None:
    path = tmp_path / "serving" / "predictions.jsonl"
    log = PredictionLog(path)
    log.append([entry(0), entry(1, "challenger")])
    log.close()
    lines = path.read_text().splitlines()
    assert [list(json.loads(line)) for line in lines] == [list(LOG_FIELDS)] * 2
    frame, skipped = read_prediction_log(path)
    assert skipped == 0
    assert frame["request_key"].tolist() == ["key-0", "key-1"]
    assert frame["arm"].tolist() == ["champion", "challenger"]
    assert frame["time"].dt.second.tolist() == [0, 1] and str(frame["time"].dt.tz) == "UTC"
    with pytest.raises(ValueError, match="a log entry has the keys"):
        PredictionLog(path).append([{**entry(2), "extra": 1}])
    with pytest.raises(ValueError, match="arm must be one of"):
        entry(3, arm="canary")
    assert entry(3, arm="shadow")["arm"] == "shadow"  # serve --shadow: logged, never answered
    empty, none_skipped = read_prediction_log(tmp_path / "missing.jsonl")
    assert empty.empty and list(empty.columns) == list(LOG_FIELDS) and none_skipped == 0


def test_a_line_torn_by_a_crash_is_skipped_and_the_next_writer_does_not_extend_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "predictions.jsonl"
    log = PredictionLog(path)
    log.append([entry(0), entry(1), entry(2)])
    log.close()
    whole = path.read_bytes()
    torn_line = (json.dumps(entry(3)) + "\n").encode()[:40]
    path.write_bytes(whole + torn_line)  # the process died in the middle of its write

    frame, skipped = read_prediction_log(path)
    assert frame["request_key"].tolist() == ["key-0", "key-1", "key-2"] and skipped == 1

    restarted = PredictionLog(path)
    restarted.append([entry(4), entry(5)])
    restarted.close()
    assert path.read_bytes().startswith(whole + torn_line + b"\n")  # earlier lines untouched
    frame, skipped = read_prediction_log(path)
    assert frame["request_key"].tolist() == ["key-0", "key-1", "key-2", "key-4", "key-5"]
    assert skipped == 1
