"""The fast reader reads what ``json.loads`` reads, the fast writer's text reads back as its values,
and a record's hashed text is the standard library's to the byte."""

import json
import math
from collections.abc import Callable

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from ml_assets.lib.core.json_text import canonical, canonical_each, dumps, loads


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


CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
SIZES = st.sampled_from([0.0, -0.0, 1e-300, 1e-9, 1e-05, 9.99e-05, 1e-4, 0.5, 1e15, 1e16, 1e300])
RECORD_FLOATS = st.floats() | SIZES | SIZES.map(lambda size: -size)


@settings(deadline=None)
@given(record=st.dictionaries(ANY_TEXT, json_values(RECORD_FLOATS), max_size=4))
def test_a_records_canonical_text_is_the_standard_librarys(record: dict) -> None:
    try:
        expected: object = CANONICAL.encode(record).encode()
    except UnicodeEncodeError as error:  # a lone surrogate: no UTF-8 either way
        expected = type(error)
    try:
        written: object = canonical(record)
    except UnicodeEncodeError as error:
        written = type(error)
    assert written == expected


PLAIN_RECORDS = st.lists(
    st.dictionaries(
        st.text(alphabet='{}, :"ab', max_size=3),
        st.none() | st.booleans() | st.integers() | RECORD_FLOATS | st.text(alphabet='{}, :"ab'),
        max_size=3,
    ),
    max_size=5,
)


@settings(deadline=None)
@given(records=PLAIN_RECORDS)
def test_records_written_together_are_each_written_as_alone(records: list[dict]) -> None:
    assert canonical_each(records) == [CANONICAL.encode(record).encode() for record in records]


def test_a_text_holding_the_boundary_between_records_is_kept_whole() -> None:
    records = [{"a": "},{"}, {"b": 0.5}, {}]
    assert canonical_each(records) == [b'{"a":"},{"}', b'{"b":0.5}', b"{}"]


def test_canonical_text_sorts_keys_and_spells_numbers_as_json_does() -> None:
    record = {"b": 1e-05, "a": [2**70, "é"], "c": 0.25, "d": float("nan")}
    assert (
        canonical(record)
        == '{"a":[1180591620717411303424,"é"],"b":1e-05,"c":0.25,"d":NaN}'.encode()
    )
    assert canonical({"z": 0.25, "y": None, "x": True}) == b'{"x":true,"y":null,"z":0.25}'
