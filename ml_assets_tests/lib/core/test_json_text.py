"""Encoding many objects in one call writes each exactly as encoding it alone would; the fast
reader reads what ``json.loads`` reads and the fast writer's text reads back as its values."""

import json
import math
from collections.abc import Callable

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from ml_assets.lib.core.json_text import dumps, encode_each, loads

ENCODERS = [
    json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False),
    json.JSONEncoder(),
]
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(alphabet="{}, :\"\\ab'é"),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
OBJECTS = st.lists(st.dictionaries(st.text(alphabet='{}, :"ab', max_size=4), VALUES), max_size=5)


@settings(deadline=None)  # a busy machine must not fail it
@given(objects=OBJECTS, which=st.sampled_from([0, 1]))
def test_each_object_is_encoded_as_it_would_be_alone(objects: list[dict], which: int) -> None:
    encoder = ENCODERS[which]
    assert encode_each(encoder, objects) == [encoder.encode(item) for item in objects]


def test_a_string_holding_the_boundary_between_objects_is_kept_whole() -> None:
    objects = [{"a": "},{"}, {"b": [{"c": 1}, {"d": 2}]}, {}]
    assert encode_each(ENCODERS[0], objects) == ['{"a":"},{"}', '{"b":[{"c":1},{"d":2}]}', "{}"]


def same(left: object, right: object) -> bool:
    """Equal and of the same types all the way down (NaN equal to NaN, -0.0 apart from 0.0)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float):
        return math.isnan(left) and math.isnan(right) or repr(left) == repr(right)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[key], right[key]) for key in left)
    return left == right


ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=8)  # lone surrogates too


def json_values(floats: st.SearchStrategy[float]) -> st.SearchStrategy[object]:
    """Values json.loads can return: any text, integers past 64 bits, the floats given."""
    scalars = st.none() | st.booleans() | st.integers(-(10**30), 10**30) | floats | ANY_TEXT
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
        max_leaves=8,
    )


JSON_VALUES = json_values(st.floats())
ODD_TEXTS = [
    "NaN", "-Infinity", "1e999", "-0", "-0.0", "1" + "0" * 4299, "1" + "0" * 4300,
    "[" * 200 + "]" * 200, "[" * 300 + "]" * 300, '{"a": 1, "a": 2}', '"\\ud800"',
    "\ufeff[1]", "[1,]", "{", "", " 2.5e-320 ", '"\\u00e9\\n"',
]  # fmt: skip


def loaded(text: str | bytes, load: Callable[[str | bytes], object]) -> object:
    try:
        return load(text)
    except (ValueError, RecursionError) as error:
        return type(error)


@settings(deadline=None)
@given(value=JSON_VALUES, ascii_only=st.booleans())
def test_loads_reads_the_values_json_loads_reads(value: object, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert same(loaded(text, loads), loaded(text, json.loads))


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_loads_answers_odd_texts_as_json_loads_does(text: str) -> None:
    data = text.encode("utf-8")
    assert same(loaded(data, loads), loaded(data, json.loads))


@settings(deadline=None)
@given(value=json_values(st.floats(allow_nan=False, allow_infinity=False)))
def test_dumps_writes_text_that_reads_back_as_the_value(value: object) -> None:
    assert same(json.loads(dumps(value)), json.loads(json.dumps(value)))


def test_dumps_writes_non_finite_numbers_as_null_and_big_integers_exactly() -> None:
    assert json.loads(dumps([math.nan, -math.inf, 1e-05])) == [None, None, 1e-05]
    assert json.loads(dumps([2**70, "\ud800"])) == [2**70, "\ud800"]  # orjson refuses both
