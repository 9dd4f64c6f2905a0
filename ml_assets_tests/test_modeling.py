"""Training, fingerprints and safe model storage."""

import pickle
from pathlib import Path

import pytest
import skops.io

from ml_assets.demo.data import DEMO_SPEC
from ml_assets.lib.dataset import DatasetSpec
from ml_assets.lib.features import build_features
from ml_assets.lib.modeling import ESTIMATORS, model_fingerprint, model_inputs, train_model
from ml_assets.lib.storage import (
    TRUSTED_MODEL_TYPES,
    ArtifactLoadError,
    atomic_write,
    atomic_write_bytes,
    dump_model,
    load_model_bytes,
)
from ml_assets_tests.test_features import validated


@pytest.fixture(scope="module")
def train_rows():
    table = build_features(validated(400), DEMO_SPEC)
    return table[table["_split"] == "train"]


@pytest.fixture(scope="module")
def forest(train_rows):
    return train_model(train_rows, DEMO_SPEC, "random_forest", search="none", cv_folds=3).model


def test_search_reports_params_and_cv_spread(train_rows) -> None:
    result = train_model(
        train_rows,
        DEMO_SPEC,
        "random_forest",
        search="grid",
        search_space={"max_depth": [2, None]},
        cv_folds=3,
    )
    assert set(result.best_params) == {"max_depth"}
    assert len(result.cv_scores) == 3 and 0.5 < result.cv_mean <= 1.0 and result.cv_std >= 0
    assert result.model.named_steps["estimator"].max_depth == result.best_params["max_depth"]


def test_randomized_search_is_seeded(train_rows) -> None:
    space = {"C": [0.01, 0.1, 1.0, 10.0, 100.0]}
    runs = [
        train_model(
            train_rows,
            DEMO_SPEC,
            "linear",
            search="random",
            search_space=space,
            n_iter=2,
            cv_folds=3,
        )
        for _ in range(2)
    ]
    assert runs[0].best_params == runs[1].best_params
    assert model_fingerprint(runs[0].model) == model_fingerprint(runs[1].model)


def test_unknown_estimator_is_refused(train_rows) -> None:
    with pytest.raises(ValueError, match="unknown estimator 'svm'"):
        train_model(train_rows, DEMO_SPEC, "svm")


REGRESSION = DatasetSpec(
    name="regression",
    target="numeric2",
    task="regression",
    numeric_features=("numeric1",),
    categorical_features=("category",),
)
SPECS = {"classification": DEMO_SPEC, "regression": REGRESSION}
COMBINATIONS = [(estimator, task) for estimator in sorted(ESTIMATORS) for task in sorted(SPECS)]


@pytest.mark.parametrize(("estimator", "task"), COMBINATIONS)
def test_every_estimator_round_trips_through_skops_with_the_trusted_list(
    train_rows, estimator, task
) -> None:
    spec = SPECS[task]
    model = train_model(train_rows, spec, estimator, search="none", cv_folds=3).model
    data = dump_model(model)
    assert set(skops.io.get_untrusted_types(data=data)) <= set(TRUSTED_MODEL_TYPES)
    loaded = load_model_bytes(data, "model")
    assert model_fingerprint(loaded) == model_fingerprint(model)
    inputs = model_inputs(train_rows, spec)
    assert (loaded.predict(inputs) == model.predict(inputs)).all()


def test_trusted_list_holds_only_types_some_estimator_needs(train_rows) -> None:
    needed = set()
    for estimator, task in COMBINATIONS:
        model = train_model(train_rows, SPECS[task], estimator, search="none", cv_folds=3).model
        needed |= set(skops.io.get_untrusted_types(data=dump_model(model)))
    assert needed == set(TRUSTED_MODEL_TYPES)


def test_fingerprint_changes_with_the_fitted_content(train_rows, forest) -> None:
    other = train_model(
        train_rows, DEMO_SPEC, "random_forest", search="none", cv_folds=3, seed=7
    ).model
    assert model_fingerprint(other) != model_fingerprint(forest)


class Planted:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/ml_assets_pwned_marker"),))


def test_pickle_payload_is_refused_and_never_executed(tmp_path: Path) -> None:
    marker = Path("/tmp/ml_assets_pwned_marker")
    marker.unlink(missing_ok=True)
    with pytest.raises(ArtifactLoadError, match="not a skops archive"):
        load_model_bytes(pickle.dumps(Planted()), "planted.skops")
    assert not marker.exists()


def test_untrusted_types_truncated_and_tampered_archives_are_refused(forest) -> None:
    data = dump_model(forest)
    with pytest.raises(ArtifactLoadError, match="refusing to load untrusted types"):
        load_model_bytes(data, "m.skops", trusted=())
    with pytest.raises(ArtifactLoadError, match="m.skops: damaged model archive"):
        load_model_bytes(data[: len(data) // 2], "m.skops")


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "artifact.bin"
    atomic_write_bytes(target, b"good")

    def crash(handle) -> None:
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, crash)
    assert target.read_bytes() == b"good"
    assert [path.name for path in tmp_path.iterdir()] == ["artifact.bin"]


def test_skops_is_preloaded_in_the_background() -> None:
    """The import happens on another thread and leaves the module cached for dump_model."""
    import subprocess
    import sys

    script = (
        "import sys, threading; from ml_assets.lib.storage import preload_skops; "
        "before = 'skops.io' in sys.modules; thread = preload_skops(); "
        "other = thread is not threading.current_thread(); thread.join(); "
        "print(before, other, 'skops.io' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "True", "True"], done.stderr[-2000:]
