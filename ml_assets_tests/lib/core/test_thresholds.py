"""The one threshold type: a figure that reaches a level takes it; a figure not significant is ok."""

import pytest
from pydantic import ValidationError

from ml_assets.lib.core.thresholds import ERROR, OK, WARN, Threshold, worst


@pytest.mark.parametrize(
    ("value", "verdict"),
    [(0.0, OK), (0.099, OK), (0.1, WARN), (0.2, WARN), (0.25, ERROR), (9, ERROR)],
)
def test_a_figure_that_reaches_a_level_takes_it(value: float, verdict: str) -> None:
    assert Threshold(warn=0.1, error=0.25).level(value) == verdict


def test_a_figure_that_is_not_significant_or_not_a_number_is_ok() -> None:
    threshold = Threshold(warn=0.1, error=0.25)
    assert threshold.level(5.0, significant=False) == OK
    assert threshold.level(float("nan")) == OK


def test_a_threshold_refuses_an_error_level_below_its_warning_and_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="must not exceed error"):
        Threshold(warn=0.3, error=0.1)
    with pytest.raises(ValidationError, match="extra"):
        Threshold(warn=0.1, error=0.2, eror=0.3)


def test_the_worst_verdict_wins_and_none_is_ok() -> None:
    assert worst([OK, ERROR, WARN]) == ERROR
    assert worst([]) == OK
