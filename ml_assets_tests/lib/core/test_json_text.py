"""Encoding many objects in one call writes each exactly as encoding it alone would."""

import json

import hypothesis.strategies as st
from hypothesis import given, settings

from ml_assets.lib.core.json_text import encode_each

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
