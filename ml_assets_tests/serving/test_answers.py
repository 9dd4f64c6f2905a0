"""Each record's answer, gathered column by column, for every kind of model output."""

import numpy as np

from ml_assets.serving.models import Outputs
from ml_assets.serving.service import _answers

FIXED = {"arm": "champion", "model_version": "v0001"}


def test_a_binary_models_answers_carry_the_positive_probability_and_each_class() -> None:
    outputs = Outputs(["yes", "no"], np.array([[0.25, 0.75], [0.5, 0.5]]), ["no", "yes"], 1)
    assert _answers(outputs, ["a", "b"], "champion", "v0001") == [
        {"request_key": "a", **FIXED, "prediction": "yes", "probability": 0.75,
         "probabilities": {"no": 0.25, "yes": 0.75}, "interval": None, "prediction_set": None},
        {"request_key": "b", **FIXED, "prediction": "no", "probability": 0.5,
         "probabilities": {"no": 0.5, "yes": 0.5}, "interval": None, "prediction_set": None},
    ]  # fmt: skip


def test_a_multiclass_models_answers_carry_its_prediction_sets_and_no_single_probability() -> None:
    outputs = Outputs([2], np.array([[0.1, 0.3, 0.6]]), [0, 1, 2], None, [[1, 2]])
    [answer] = _answers(outputs, ["k"], "champion", "v0001")
    assert answer["probability"] is None and answer["prediction_set"] == [1, 2]
    assert answer["probabilities"] == {"0": 0.1, "1": 0.3, "2": 0.6}


def test_a_regression_models_answers_carry_its_intervals() -> None:
    outputs = Outputs([1.5, 2.5], None, None, None, [[1.0, 2.0], [2.0, 3.0]])
    assert _answers(outputs, ["a", "b"], "challenger", "v0002") == [
        {"request_key": "a", "arm": "challenger", "model_version": "v0002", "prediction": 1.5,
         "probability": None, "probabilities": None, "interval": [1.0, 2.0],
         "prediction_set": None},
        {"request_key": "b", "arm": "challenger", "model_version": "v0002", "prediction": 2.5,
         "probability": None, "probabilities": None, "interval": [2.0, 3.0],
         "prediction_set": None},
    ]  # fmt: skip
