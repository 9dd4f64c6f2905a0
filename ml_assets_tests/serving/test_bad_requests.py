"""No request body makes ``/predict`` answer 5xx: a property over generated bodies, and the classics."""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, example, given, settings

from ml_assets_tests.serving.support import (
    RECORD,
    Service,
    fit_demo_model,
    promote,
    register,
    running_service,
    wait_for,
)

FIELDS = ["numeric1", "numeric2", "category", "target", "colour"]
SCALARS = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.text(max_size=20)
    | st.sampled_from(["NaN", "inf", "-Infinity", "1e999", "1,5", "A", "B", ""])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
RECORDS = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), VALUES, max_size=5)
BODIES = (
    st.fixed_dictionaries(
        {"records": st.lists(RECORDS, max_size=4)},
        optional={"keys": st.lists(VALUES, max_size=4) | VALUES},
    )
    | VALUES
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder: Path = tmp_path_factory.mktemp("bad_requests")
    with running_service(folder) as running:
        promote(running.registry, "champion", register(running.registry, fit_demo_model(0)))
        with httpx.Client(base_url=running.url) as client:
            wait_for(lambda: client.get("/health").status_code == 200)
        yield running


def post(service: Service, body: str) -> httpx.Response:
    headers = {"content-type": "application/json"}
    return httpx.post(f"{service.url}/predict", content=body, headers=headers, timeout=30)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES)
@example(body={"records": [{**RECORD, "numeric1": float("nan")}]})
@example(body={"records": [{**RECORD, "numeric2": float("-inf")}], "keys": [float("inf")]})
def test_no_generated_body_gets_a_5xx(service: Service, body: object) -> None:
    answer = post(service, json.dumps(body, allow_nan=True))
    assert answer.status_code < 500, answer.text
    if answer.status_code == 422:
        failures = answer.json()["detail"]
        assert isinstance(failures, str) or all(
            {"field", "rule", "value"} <= set(failure) for failure in failures
        )


@pytest.mark.parametrize(
    ("value", "rule", "shown"),
    [
        ("NaN", "dtype('float64')", "NaN"),
        ("Infinity", "finite", "Infinity"),
        ("-Infinity", "finite", "-Infinity"),
        ("1e999", "finite", "Infinity"),
        ("-4.2e99999", "finite", "-Infinity"),
        ("[" * 200 + "]" * 200, "scalar (a number, text, true/false or null)", "[[[...]]]"),
    ],
)
def test_non_finite_huge_and_nested_values_are_422_naming_field_rule_and_value(
    service: Service, value: str, rule: str, shown: str
) -> None:
    body = '{"records": [{"numeric1": ' + value + ', "numeric2": 3, "category": "A"}]}'
    answer = post(service, body)
    assert answer.status_code == 422, answer.text
    [failure] = answer.json()["detail"]
    assert (failure["record"], failure["field"], failure["rule"]) == (0, "numeric1", rule)
    assert failure["value"] == shown


@pytest.mark.parametrize(
    "body",
    ["[" * 100_000, '{"records": [{"numeric1": 1' + "0" * 5000 + "}]}", "{", "NaN"],
)
def test_bodies_the_json_parser_cannot_read_are_4xx(service: Service, body: str) -> None:
    assert 400 <= post(service, body).status_code < 500


def test_a_key_with_a_lone_surrogate_is_answered_and_logged(service: Service) -> None:
    body = '{"records": [' + json.dumps(RECORD) + '], "keys": ["\\ud800"]}'
    answer = post(service, body)  # UTF-8 cannot hold it: the answer and the log escape it
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["request_key"] == "\ud800"
    assert service.log_path.read_text().splitlines()[-1].count('"\\ud800"') == 1
