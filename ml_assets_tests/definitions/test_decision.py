"""A cut-off tuned by cost decides alike in the report, the gate, batch scoring and ``/predict``."""

import json
from pathlib import Path

import httpx
import numpy as np
from sklearn.metrics import confusion_matrix

from ml_assets.lib.contract.dataset import SPLIT
from ml_assets.lib.data.batches import BatchStore
from ml_assets.lib.data.features import TEST
from ml_assets.lib.model.modeling import DECISION
from ml_assets.lib.release.registry import ModelRegistry
from ml_assets_tests.conftest import DEMO, materialize, stored, stored_table
from ml_assets_tests.serving.support import running_service, wait_for

COSTS = {"decision": {"false_positive_cost": 1.0, "false_negative_cost": 5.0}}


def test_the_tuned_cut_off_is_the_same_in_the_report_batch_scoring_and_the_service(
    data_dir: Path, instance
) -> None:
    assert materialize(data_dir, instance, training=COSTS).success
    registry = ModelRegistry(data_dir / "registry")
    model, record = registry.load(registry.alias("champion"))
    decision = getattr(model, DECISION)
    assert decision["rule"] == "least expected cost (false positive 1, false negative 5)"
    assert 0 < decision["threshold"] < 1 and decision["positive_label"] == 1
    report = json.loads((data_dir / "storage" / "evaluation_report.json").read_text())
    assert report["decision"]["threshold"] == decision["threshold"]
    assert report["decision"]["expected_cost"] >= 0
    assert {"brier", "ece", "curve"} <= set(report["calibration"])
    approval = json.loads((data_dir / "storage" / "model_approval.json").read_text())
    assert "candidate" in approval["calibration"]

    test = stored(data_dir, "features")
    test = test[test[SPLIT] == TEST].reset_index(drop=True)
    columns = list(DEMO.spec.input_columns)
    scoring = data_dir / "scoring"
    scoring.mkdir()
    test[columns].to_csv(scoring / "held_out.csv", index=False)
    assert materialize(data_dir, instance, selection="batch_predictions").success
    table = stored_table(data_dir, "batch_predictions")
    batch = BatchStore(data_dir / "storage" / "predictions").read(table)
    batch = batch.sort_values("_source_line").reset_index(drop=True)
    assert len(batch) == len(test)

    records = json.loads(test[columns].to_json(orient="records"))
    with running_service(data_dir) as service, httpx.Client(base_url=service.url) as client:
        wait_for(lambda: client.get("/health").status_code == 200)
        answer = client.post("/predict", json={"records": records})
    assert answer.status_code == 200, answer.text
    served = answer.json()["predictions"]

    probability = batch["probability_1"].to_numpy()
    expected = np.where(probability >= decision["threshold"], 1, 0)
    assert batch["prediction"].astype(int).tolist() == expected.tolist()
    assert [p["prediction"] for p in served] == expected.tolist()
    assert np.allclose([p["probability"] for p in served], probability)
    truth = test[DEMO.spec.target].astype(int)
    matrix = confusion_matrix(truth, expected, labels=report["classes"]).tolist()
    assert matrix == report["confusion_matrix"]
    assert record.version == answer.json()["versions"]["champion"]
    assert decision["threshold"] != 0.5  # tuned, not the most probable label's cut-off
