"""A whole array of labels becomes plain Python values exactly as one label at a time does."""

import numpy as np
import pytest

from ml_assets.lib.core.values import plain, plain_list


@pytest.mark.parametrize(
    "values",
    [
        np.array([0, 1, 1]),
        np.array([0.5, -2.0]),
        np.array([True, False]),
        np.array(["yes", "no"]),
        np.array([np.int64(3), "a", np.float32(0.5), None], dtype=object),
    ],
)
def test_plain_list_is_plain_of_each_value(values: np.ndarray) -> None:
    expected = [plain(value) for value in values]
    assert plain_list(values) == expected
    assert [type(item) for item in plain_list(values)] == [type(item) for item in expected]
