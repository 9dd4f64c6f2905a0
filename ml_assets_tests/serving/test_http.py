"""The service over real HTTP on loopback: predictions, refusals, limits, hot swap and canary."""

import copy
import hashlib
import json
import threading
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from ml_assets.demo.data import make_demo_frame
from ml_assets.lib.data.features import derive_columns
from ml_assets.lib.model.conformal import ATTRIBUTE
from ml_assets.lib.model.modeling import ENSEMBLE, build_model, model_inputs
from ml_assets.lib.release.prediction_log import LOG_FIELDS, read_prediction_log
from ml_assets.serving.models import Outputs, ServedModel
from ml_assets.serving.service import challenger_share, input_sha256
from ml_assets_tests.serving.support import (
    DEMO,
    RECORD,
    promote,
    register,
    running_service,
    wait_for,
)


def test_predict_returns_each_records_prediction_set_at_the_models_coverage(
    tmp_path: Path, demo_models: list
) -> None:
    model = copy.deepcopy(demo_models[0])
    setattr(model, ATTRIBUTE, {"kind": "set", "coverage": 0.9, "quantile": 0.6, "rows": 80})
    records = [RECORD, {**RECORD, "numeric1": 9.5}, {**RECORD, "numeric1": None}]
    with running_service(tmp_path) as service:
        promote(service.registry, "champion", register(service.registry, model))
        with httpx.Client(base_url=service.url) as client:
            wait_for(lambda: client.get("/health").status_code == 200)
            response = client.post("/predict", json={"records": records})
    assert response.status_code == 200, response.text
    for prediction in response.json()["predictions"]:
        probabilities = prediction["probabilities"]
        plausible = [int(label) for label, p in probabilities.items() if p >= 0.4]
        assert prediction["prediction_set"] == sorted(plausible)
        assert prediction["interval"] is None


def test_a_blended_champion_is_served_from_the_registry_with_its_ranges(tmp_path: Path) -> None:
    """auto's blend (a soft-voting ensemble of Pipelines) loads with the trusted types and answers."""
    frame = make_demo_frame(400, seed=3)
    frame = pd.concat([frame, derive_columns(frame, DEMO.spec)], axis=1)
    members = {"linear": {"weight": 3}, "random_forest": {"weight": 1, "n_estimators": 10}}
    model = build_model(DEMO.spec, ENSEMBLE, members).fit(
        model_inputs(frame, DEMO.spec), frame[DEMO.spec.target]
    )
    setattr(model, ATTRIBUTE, {"kind": "set", "coverage": 0.9, "quantile": 0.6, "rows": 80})
    with running_service(tmp_path) as service:
        promote(service.registry, "champion", register(service.registry, model))
        with httpx.Client(base_url=service.url) as client:
            wait_for(lambda: client.get("/health").status_code == 200)
            response = client.post("/predict", json={"records": [RECORD]})
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    row = pd.DataFrame([RECORD]).astype({"numeric1": "float64", "numeric2": "float64"})
    row["numeric_ratio"] = row["numeric1"] / row["numeric2"]
    expected = model.predict_proba(model_inputs(row, DEMO.spec))[0]
    assert np.isclose(prediction["probability"], expected[1])
    assert prediction["prediction_set"] == [i for i, p in enumerate(expected) if p >= 0.4]


def test_the_champion_predicts_with_probabilities_and_every_prediction_is_logged(
    tmp_path: Path, demo_models: list
) -> None:
    with running_service(tmp_path) as service:
        version = register(service.registry, demo_models[0])
        promote(service.registry, "champion", version)
        with httpx.Client(base_url=service.url) as client:
            wait_for(lambda: client.get("/health").status_code == 200)
            records = [RECORD, {**RECORD, "numeric1": None, "category": "C", "target": 1}]
            response = client.post(
                "/predict", json={"records": records}, headers={"X-Request-Key": "order-7"}
            )
            model = client.get("/model").json()
            health = client.get("/health").json()
            docs = client.get("/docs")
            openapi = client.get("/openapi.json").json()
    assert response.status_code == 200, response.text
    body = response.json()
    frame = pd.DataFrame(records)[["numeric1", "numeric2", "category"]]
    frame["numeric1"] = frame["numeric1"].astype("float64")
    frame["numeric_ratio"] = frame["numeric1"] / frame["numeric2"]
    expected = demo_models[0].predict_proba(model_inputs(frame, DEMO.spec))
    assert body["versions"] == {"champion": version, "challenger": None}
    predictions = body["predictions"]
    assert [p["request_key"] for p in predictions] == ["order-7:0", "order-7:1"]
    assert [p["arm"] for p in predictions] == ["champion", "champion"]
    assert np.allclose([p["probability"] for p in predictions], expected[:, 1])
    assert [p["prediction"] for p in predictions] == expected.argmax(axis=1).tolist()
    assert np.allclose([p["probabilities"]["0"] for p in predictions], expected[:, 0])
    assert all(p["prediction_set"] is None and p["interval"] is None for p in predictions)

    record = service.registry.get(version)
    assert model["version"] == version and model["sha256"] == record.sha256
    assert model["batches"] == ["demo.csv-0123abcd"] and model["metrics"] == {"roc_auc": 0.9}
    assert model["challenger"] is None
    assert health["status"] == "ok" and health["problems"] == []
    assert docs.status_code == 200 and "/predict" in openapi["paths"]

    lines = service.log_path.read_text().splitlines()
    assert len(lines) == 2
    log, skipped = read_prediction_log(service.log_path)
    assert skipped == 0 and list(log.columns) == list(LOG_FIELDS)
    assert log["request_key"].tolist() == ["order-7:0", "order-7:1"]
    canonical = [
        json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for r in records
    ]
    hashes = [hashlib.sha256(text.encode()).hexdigest() for text in canonical]
    assert log["input_sha256"].tolist() == hashes == [input_sha256(r) for r in records]
    assert log["model_version"].tolist() == [version, version]
    assert np.allclose(log["probability"], expected[:, 1])
    assert (log["latency_ms"] > 0).all() and str(log["time"].dt.tz) == "UTC"


def test_records_that_break_the_contract_are_refused_naming_record_field_and_rule(
    tmp_path: Path, demo_models: list
) -> None:
    with running_service(tmp_path) as service:
        promote(service.registry, "champion", register(service.registry, demo_models[0]))
        records = [
            RECORD,
            {**RECORD, "numeric2": 400, "category": "D"},
            {"numeric1": "abc", "category": "A", "colour": "red"},
        ]
        with httpx.Client(base_url=service.url) as client:
            wait_for(lambda: client.get("/health").status_code == 200)
            response = client.post("/predict", json={"records": records})
            wrong_keys = client.post("/predict", json={"records": [RECORD], "keys": ["a", "b"]})
            not_json = client.post(
                "/predict", content=b"{", headers={"Content-Type": "application/json"}
            )
    assert response.status_code == 422
    failures = {(f["record"], f["field"], f["rule"]) for f in response.json()["detail"]}
    assert failures == {
        (1, "numeric2", "less_than_or_equal_to(100.0)"),
        (1, "category", "isin(['A', 'B', 'C'])"),
        (2, "numeric1", "dtype('float64')"),
        (2, "numeric2", "not_nullable"),
        (2, "colour", "column_in_schema"),
    }
    assert response.json()["error_count"] == 5
    first = response.json()["detail"][0]
    assert first["msg"] == "record 1: numeric2: less_than_or_equal_to(100.0) failed for 400"
    assert wrong_keys.status_code == 422 and "one key per record" in wrong_keys.json()["detail"]
    assert not_json.status_code == 422
    assert not service.log_path.exists() or service.log_path.read_text() == ""


def test_oversized_requests_are_refused_with_413_naming_the_limit(
    tmp_path: Path, demo_models: list
) -> None:
    with running_service(tmp_path, max_records=5, max_body_bytes=2_000) as service:
        promote(service.registry, "champion", register(service.registry, demo_models[0]))
        with httpx.Client(base_url=service.url) as client:
            wait_for(lambda: client.get("/health").status_code == 200)
            too_many = client.post("/predict", json={"records": [RECORD] * 6})
            too_large = client.post("/predict", json={"records": [RECORD] * 100})
            streamed = client.post(
                "/predict",
                content=iter([b'{"records": [', b" " * 3_000, b"]}"]),
                headers={"Content-Type": "application/json"},
            )
            within = client.post("/predict", json={"records": [RECORD] * 5})
    assert too_many.status_code == 413
    assert "6 records exceed the limit of 5 per request" in too_many.json()["detail"]
    assert too_large.status_code == 413
    assert "exceeds the limit of 2000 bytes (max_body_bytes)" in too_large.json()["detail"]
    assert streamed.status_code == 413  # no Content-Length: counted as it arrives
    assert within.status_code == 200 and len(within.json()["predictions"]) == 5


def test_the_champion_is_swapped_under_load_without_a_failed_request(
    tmp_path: Path, demo_models: list
) -> None:
    with running_service(tmp_path) as service:
        registry = service.registry
        first, second = (register(registry, model) for model in demo_models[:2])
        third = register(registry, demo_models[2], task="regression")  # another project's
        with httpx.Client(base_url=service.url) as client:
            unavailable = client.post("/predict", json={"records": [RECORD]})
            health = client.get("/health")
            promote(registry, "champion", first)  # picked up without a restart
            wait_for(lambda: client.get("/health").status_code == 200)

            served: list[tuple[int, str | None]] = []
            stop = threading.Event()

            def keep_predicting() -> None:
                with httpx.Client(base_url=service.url) as own:
                    while not stop.is_set():
                        answer = own.post("/predict", json={"records": [RECORD] * 20})
                        versions = {p["model_version"] for p in answer.json()["predictions"]}
                        served.append((answer.status_code, ",".join(sorted(versions))))

            workers = [threading.Thread(target=keep_predicting) for _ in range(3)]
            for worker in workers:
                worker.start()
            wait_for(lambda: len(served) >= 10)
            promote(registry, "champion", second)
            wait_for(lambda: served[-1][1] == second)
            count_at_swap = len(served)
            wait_for(lambda: len(served) >= count_at_swap + 10)

            promote(registry, "champion", third)
            wait_for(lambda: client.get("/health").json()["status"] == "degraded")
            after_failure = len(served)
            wait_for(lambda: len(served) >= after_failure + 10)
            stop.set()
            for worker in workers:
                worker.join()
            degraded = client.get("/health").json()
            model = client.get("/model").json()
    assert unavailable.status_code == 503 and "no champion yet" in unavailable.json()["detail"]
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    assert {status for status, _ in served} == {200}
    assert {versions for _, versions in served} == {first, second}  # never a mixture, never v3
    # Once one answer came from the new champion, only requests already in flight on the other
    # workers may still come from the old one.
    settled = served[count_at_swap + len(workers) - 1 :]
    assert len(settled) >= 5 and {versions for _, versions in settled} == {second}
    assert degraded["versions"]["champion"] == second
    [problem] = degraded["problems"]
    assert problem["alias"] == "champion" and problem["version"] == third
    assert "is a regression model; the project is binary" in problem["error"]
    assert f"still serving {second}" in problem["error"]
    assert model["version"] == second


def test_the_canary_routes_its_share_of_keys_to_the_challenger_consistently(
    tmp_path: Path, demo_models: list
) -> None:
    with running_service(tmp_path, canary_fraction=0.2) as service:
        registry = service.registry
        champion, challenger = (register(registry, model) for model in demo_models[:2])
        promote(registry, "champion", champion)
        promote(registry, "challenger", challenger)
        keys = [f"customer-{index}" for index in range(3_000)]
        with httpx.Client(base_url=service.url) as client:
            wait_for(lambda: client.get("/health").json()["versions"]["challenger"] == challenger)
            batches = [
                client.post("/predict", json={"records": [RECORD] * 300, "keys": keys[at:][:300]})
                for at in range(0, len(keys), 300)
            ]
            singles = [
                client.post("/predict", json={"records": [RECORD]}, headers={"X-Request-Key": key})
                for key in keys[:200]
            ]
            registry.remove_alias("challenger", reason="test", actor="tests")
            wait_for(lambda: client.get("/health").json()["versions"]["challenger"] is None)
            alone = client.post("/predict", json={"records": [RECORD] * 300, "keys": keys[:300]})
    predictions = [p for answer in batches for p in answer.json()["predictions"]]
    arms = {p["request_key"]: p["arm"] for p in predictions}
    assert list(arms) == keys
    share = sum(arm == "challenger" for arm in arms.values()) / len(keys)
    assert abs(share - 0.2) < 0.03
    assert all((arms[key] == "challenger") == (challenger_share(key) < 0.2) for key in keys)
    versions = {p["arm"]: p["model_version"] for p in predictions}
    assert versions == {"champion": champion, "challenger": challenger}
    single_arms = [answer.json()["predictions"][0]["arm"] for answer in singles]
    assert single_arms == [arms[key] for key in keys[:200]]  # the same key, the same arm
    assert {p["arm"] for p in alone.json()["predictions"]} == {"champion"}
    log, skipped = read_prediction_log(service.log_path)
    assert skipped == 0 and len(log) == len(keys) + 200 + 300
    logged = log.iloc[: len(keys)]
    assert dict(zip(logged["request_key"], logged["arm"], strict=True)) == arms


def test_a_nan_or_an_infinity_predicted_is_refused_before_it_is_logged(
    tmp_path: Path, demo_models: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JSON has neither: the answer's writer turns them into null, so the service refuses them."""
    assert not Outputs([1.0, 2.0], None, None, None, [[0.0, np.inf], [1.0, 3.0]]).finite()
    assert Outputs([1.0, 2.0], None, None, None, [[0.0, 1.0], [1.0, 3.0]]).finite()
    nan = Outputs([1], np.array([[np.nan, 1.0]]), [0, 1], 1)
    with running_service(tmp_path) as service:
        promote(service.registry, "champion", register(service.registry, demo_models[0]))
        with httpx.Client(base_url=service.url) as client:
            wait_for(lambda: client.get("/health").status_code == 200)
            monkeypatch.setattr(ServedModel, "predict", lambda self, frame: nan)
            response = client.post("/predict", json={"records": [RECORD]})
    assert response.status_code == 500
    assert read_prediction_log(service.log_path)[0].empty
