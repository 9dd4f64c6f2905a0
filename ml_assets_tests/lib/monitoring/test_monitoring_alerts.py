"""A hundred clean batches in a row raise no alert; a drifted one raises one that says what to do."""

import pandas as pd

from ml_assets.demo.data import DEMO_SPEC, make_demo_frame
from ml_assets.lib.contract.dataset import SPLIT, TRAIN
from ml_assets.lib.data.features import build_features
from ml_assets.lib.monitoring.drift import build_profile, compare
from ml_assets.lib.monitoring.drift_report import drift_alerts, profile_columns
from ml_assets.lib.monitoring.statistics import statistical_checks
from ml_assets.lib.project.project_config import DriftSection, StatisticsSection

DRIFT = DriftSection()


def features(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    frame = frame.assign(
        _batch=name, _source_file=f"{name}.csv", _source_line=range(2, 2 + len(frame))
    )
    return build_features(frame, DEMO_SPEC)


def report_of(profile, batches: dict[str, pd.DataFrame]) -> dict:
    """The parts of a drift report its alerts read, for batches already featurized."""
    compared = {
        name: compare(profile, rows, DRIFT.thresholds(), DRIFT.false_alarm_rate)
        for name, rows in batches.items()
    }
    return {
        "batches": compared,
        "drifted": {name: c["drifted"] for name, c in compared.items() if c["drifted"]},
        "thresholds": {name: [t.warn, t.error] for name, t in DRIFT.thresholds().items()},
    }


def test_a_hundred_clean_batches_raise_no_alert_and_a_drifted_one_raises_one() -> None:
    reference = features(make_demo_frame(5000, seed=1), "reference")
    numeric, categorical = profile_columns(DEMO_SPEC)
    profile = build_profile(reference[reference[SPLIT] == TRAIN], numeric, categorical, key="k")
    clean = {
        f"clean{seed}": features(make_demo_frame(200, seed=seed), f"clean{seed}")
        for seed in range(100, 200)
    }
    assert drift_alerts(report_of(profile, clean)) == {}
    everything = pd.concat([reference, *clean.values()], ignore_index=True)
    failing = [
        o.name
        for o in statistical_checks(everything, DEMO_SPEC, StatisticsSection())
        if not o.passed
    ]
    assert failing == []

    shifted = make_demo_frame(200, seed=300)
    shifted["numeric2"] += 15  # 1.5 sd
    alerts = drift_alerts(report_of(profile, {"moved": features(shifted, "moved")}))
    (alert,) = alerts.values()
    assert list(alerts) == ["moved"]
    message = alert["message"]
    assert message.startswith("moved: drift above the error thresholds in numeric2 ")
    assert "(error at 0.2, p " in message and "Next: look at the batch's rows" in message
    assert alert["figures"]["moved"]["numeric2"]["ks"] > 0.2
