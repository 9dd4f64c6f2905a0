"""Training, fingerprints and safe model storage."""

import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.feature_selection import f_classif
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from threadpoolctl import threadpool_limits

from ml_assets.demo.data import DEMO_SPEC
from ml_assets.lib.contract.dataset import DatasetSpec
from ml_assets.lib.core import storage
from ml_assets.lib.core.storage import (
    TRUSTED_MODEL_TYPES,
    ArtifactLoadError,
    atomic_write,
    atomic_write_bytes,
    dump_model,
    load_model_bytes,
)
from ml_assets.lib.data.features import build_features
from ml_assets.lib.model import modeling
from ml_assets.lib.model.modeling import (
    AUTO,
    AUTO_FAMILIES,
    BUDGET_SPACES,
    EARLY_STOPPING,
    ENSEMBLE,
    ENSEMBLE_STEPS,
    ESTIMATORS,
    budget_shares,
    build_model,
    build_pipeline,
    default_scoring,
    feature_report,
    greedy_weights,
    model_fingerprint,
    model_inputs,
    refit,
    resolve_n_jobs,
    train_model,
)
from ml_assets_tests.lib.data.test_features import validated


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
SELECTIONS = {
    "none": None,
    "variance": {"method": "variance"},
    "mutual_info": {"method": "univariate", "k": 2},
    "f_test": {"method": "univariate", "k": 2, "score": "f_test"},
    "model": {"method": "model"},
}
COMBINATIONS = [
    (estimator, task, selection)
    for estimator in sorted(ESTIMATORS)
    for task in sorted(SPECS)
    for selection in sorted(SELECTIONS)
]


@pytest.mark.parametrize(("estimator", "task", "selection"), COMBINATIONS)
def test_every_estimator_and_selector_round_trips_through_skops_with_the_trusted_list(
    train_rows, estimator, task, selection, monkeypatch
) -> None:
    spec = SPECS[task]
    model = train_model(
        train_rows,
        spec,
        estimator,
        search="none",
        cv_folds=2,
        feature_selection=SELECTIONS[selection],
    ).model
    data = dump_model(model)
    assert set(skops.io.get_untrusted_types(data=data)) <= set(TRUSTED_MODEL_TYPES)
    monkeypatch.setattr(storage, "_held", None)  # read back from the bytes, not the model held
    loaded = load_model_bytes(data, "model")
    assert loaded is not model
    assert model_fingerprint(loaded) == model_fingerprint(model)
    inputs = model_inputs(train_rows, spec)
    assert (loaded.predict(inputs) == model.predict(inputs)).all()


@pytest.mark.parametrize(
    "values",
    [["a", "b", "c"], ["a", None, "b"], [1, None, 3], [True, False, None], [None, None, None]],
)
def test_model_inputs_give_categories_as_text_and_missing_ones_as_nan(train_rows, values) -> None:
    rows = train_rows.head(3).assign(category=pd.Series(values, dtype="object").to_numpy())
    column = model_inputs(rows, DEMO_SPEC)["category"].tolist()
    expected = [np.nan if value is None else str(value) for value in values]
    assert [type(value) for value in column] == [type(value) for value in expected]
    assert [value for value in column if value == value] == [v for v in expected if v == v]


def small_ensemble(spec: DatasetSpec) -> object:
    """A two-member blend as ``auto`` builds one, unfitted."""
    return build_model(
        spec, ENSEMBLE, {"linear": {"weight": 2}, "hist_gradient_boosting": {"weight": 1}}
    )


def test_trusted_list_holds_only_types_some_estimator_or_selector_needs(train_rows) -> None:
    inputs = model_inputs(train_rows, DEMO_SPEC)
    ensemble = small_ensemble(DEMO_SPEC).fit(inputs, train_rows[DEMO_SPEC.target])
    needed = set(skops.io.get_untrusted_types(data=dump_model(ensemble)))
    for estimator, task, selection in COMBINATIONS:
        model = train_model(
            train_rows,
            SPECS[task],
            estimator,
            search="none",
            cv_folds=2,
            feature_selection=SELECTIONS[selection],
        ).model
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


def test_the_model_a_process_stored_is_read_back_as_the_same_object_once_checked(
    forest, monkeypatch
) -> None:
    """The steps of one run share the model instead of deserialising it four or five times."""
    data = dump_model(forest)
    loads = []
    monkeypatch.setattr(storage, "_loads", lambda *args: loads.append(args) or object())
    assert load_model_bytes(data, "m.skops") is forest
    assert load_model_bytes(data, "m.skops") is forest
    with pytest.raises(ArtifactLoadError, match="refusing to load untrusted types"):
        load_model_bytes(data, "m.skops", trusted=())  # another trusted list is checked again
    assert loads == []
    dump_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]))  # now the one held
    assert load_model_bytes(data, "m.skops") is not forest  # read anew
    assert len(loads) == 1


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
        "import sys, threading; from ml_assets.lib.core.storage import preload_skops; "
        "before = 'skops.io' in sys.modules; thread = preload_skops(); "
        "other = thread is not threading.current_thread(); thread.join(); "
        "print(before, other, 'skops.io' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "True", "True"], done.stderr[-2000:]


def numeric_table(kind: str, seed: int = 1) -> tuple[pd.DataFrame, DatasetSpec]:
    """Data on which one family is truly best, by construction.

    linear: a linear target, which trees only approximate in steps. random_forest: a pure
    interaction (x0 * x1) on 90 rows, where boosting's 20-row leaves leave one split per tree,
    an additive model that cannot represent it. hist_gradient_boosting: a smooth additive
    target in six inputs, which boosting fits term by term and a forest only coarsely.
    """
    rng = np.random.default_rng(seed)
    if kind == "linear":
        inputs = rng.normal(size=(300, 8))
        target = inputs @ rng.normal(size=8) + rng.normal(0, 0.3, 300)
    elif kind == "random_forest":
        inputs = rng.uniform(-1, 1, size=(90, 2))
        target = 4 * inputs[:, 0] * inputs[:, 1] + rng.normal(0, 0.1, 90)
    else:
        inputs = rng.uniform(-2, 2, size=(1000, 6))
        target = np.sin(2 * inputs).sum(axis=1) + rng.normal(0, 0.2, 1000)
    names = [f"x{i}" for i in range(inputs.shape[1])]
    frame = pd.DataFrame(inputs, columns=names).assign(y=target)
    spec = DatasetSpec(
        name=kind,
        target="y",
        task="regression",
        numeric_features=tuple(names),
        categorical_features=(),
    )
    return frame, spec


@pytest.mark.parametrize("family", AUTO_FAMILIES)
def test_auto_picks_the_family_that_truly_wins_and_lists_every_candidate(family) -> None:
    frame, spec = numeric_table(family)
    result = train_model(frame, spec, AUTO, cv_folds=3)
    assert result.estimator == family
    assert [candidate["estimator"] for candidate in result.candidates] == list(AUTO_FAMILIES)
    means = {c["estimator"]: c["cv_mean"] for c in result.candidates}
    assert result.cv_mean == means[family] == max(means.values())
    chosen = next(c for c in result.candidates if c["estimator"] == family)
    assert chosen["best_params"] == result.best_params and chosen["cv_std"] >= 0
    step = result.model.named_steps["estimator"]
    assert type(step) is ESTIMATORS[family][False]
    assert {key: step.get_params()[key] for key in result.best_params} == result.best_params
    summary = result.summary()
    assert summary["estimator"] == family and summary["cv_metric"] == "r2"


def blended_table() -> tuple[pd.DataFrame, DatasetSpec]:
    """Linear terms, a wave and a step: boosting fits most of it, the linear model its slopes."""
    rng = np.random.default_rng(3)
    inputs = rng.uniform(-2, 2, size=(300, 4))
    target = (
        2 * inputs[:, 0]
        + inputs[:, 1]
        + np.sin(3 * inputs[:, 2])
        + (inputs[:, 3] > 0)
        + rng.normal(0, 0.3, 300)
    )
    names = [f"x{i}" for i in range(4)]
    spec = DatasetSpec(
        name="blend",
        target="y",
        task="regression",
        numeric_features=tuple(names),
        categorical_features=(),
    )
    return pd.DataFrame(inputs, columns=names).assign(y=target), spec


def test_auto_keeps_a_blend_of_the_families_when_it_beats_each_on_the_same_folds() -> None:
    frame, spec = blended_table()
    runs = [train_model(frame, spec, AUTO, cv_folds=3, n_jobs=jobs) for jobs in (1, 2)]
    result = runs[0]
    assert result.estimator == ENSEMBLE
    names = [c["estimator"] for c in result.candidates]
    assert names == [*AUTO_FAMILIES, ENSEMBLE]
    means = {c["estimator"]: c["cv_mean"] for c in result.candidates}
    assert result.cv_mean == means[ENSEMBLE] > max(means[name] for name in AUTO_FAMILIES)
    members = result.best_params
    assert len(members) >= 2 and sum(m["weight"] for m in members.values()) <= ENSEMBLE_STEPS
    assert list(result.model.named_estimators_) == list(members)
    assert result.model.weights == [m["weight"] for m in members.values()]
    # Every input is kept (no selector) and the trials count the families' settings only.
    assert [row["feature"] for row in feature_report(result.model, spec)[0]] == spec.model_columns
    assert result.search_facts["trials"] == sum(c["settings_tried"] for c in result.candidates[:3])
    # One model whatever n_jobs; the same settings refitted outside the search are that model.
    assert model_fingerprint(runs[1].model) == model_fingerprint(result.model)
    again = refit(frame, spec, ENSEMBLE, members, n_jobs=1)
    assert model_fingerprint(again) == model_fingerprint(result.model)
    alone = train_model(frame, spec, AUTO, cv_folds=3, ensemble=False)
    assert alone.estimator == max(AUTO_FAMILIES, key=means.__getitem__)


def test_refit_keeps_the_feature_selection_the_search_ran_with(train_rows) -> None:
    selection = {"method": "univariate", "k": 2, "score": "f_test"}
    result = train_model(
        train_rows, DEMO_SPEC, "linear", search="none", feature_selection=selection
    )
    again = refit(train_rows, DEMO_SPEC, "linear", result.best_params, feature_selection=selection)
    assert model_fingerprint(again) == model_fingerprint(result.model)
    assert len(feature_report(again, DEMO_SPEC)[0]) == 2


def test_a_classifier_blend_averages_its_members_probabilities_by_weight(train_rows) -> None:
    inputs, target = model_inputs(train_rows, DEMO_SPEC), train_rows[DEMO_SPEC.target]
    blend = small_ensemble(DEMO_SPEC).fit(inputs, target)
    linear = build_model(DEMO_SPEC, "linear").fit(inputs, target)
    boosting = build_model(DEMO_SPEC, "hist_gradient_boosting").fit(inputs, target)
    expected = (2 * linear.predict_proba(inputs) + boosting.predict_proba(inputs)) / 3
    np.testing.assert_allclose(blend.predict_proba(inputs), expected)
    assert list(blend.classes_) == list(linear.classes_)
    loaded = load_model_bytes(dump_model(blend), "blend")
    assert model_fingerprint(loaded) == model_fingerprint(blend)
    assert (loaded.predict(inputs) == blend.predict(inputs)).all()


def test_greedy_weights_blend_members_whose_errors_cancel_and_keep_a_sole_best() -> None:
    truth = np.linspace(-1, 1, 200)
    noise = np.random.default_rng(0).normal(0, 0.5, 200)

    def score(predicted: np.ndarray) -> float:
        return -float(np.mean((predicted - truth) ** 2))

    assert greedy_weights({"a": truth + noise, "b": truth - noise}, score) == {"a": 1, "b": 1}
    assert greedy_weights({"bad": truth + noise, "good": truth}, score) == {"good": 1}
    assert greedy_weights({"a": truth + noise, "b": truth + noise}, score) == {"a": 1}


def test_auto_searches_the_tree_families_by_successive_halving() -> None:
    frame, spec = numeric_table("random_forest")
    searches = {
        c["estimator"]: c["search"] for c in train_model(frame, spec, AUTO, cv_folds=3).candidates
    }
    assert searches == {
        "linear": "grid",
        "random_forest": "halving grid",
        "hist_gradient_boosting": "halving grid",
    }


def test_auto_refuses_a_single_estimators_search_space(train_rows) -> None:
    with pytest.raises(ValueError, match="with estimator 'auto' each family"):
        train_model(train_rows, DEMO_SPEC, AUTO, search_space={"C": [1.0]})


def noisy_table(rows: int = 400, seed: int = 3) -> tuple[pd.DataFrame, DatasetSpec]:
    """Two informative inputs, one pure-noise input and one constant, with a binary label."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(rows, 2))
    label = np.where(signal[:, 0] + signal[:, 1] + rng.normal(0, 0.3, rows) > 0, "yes", "no")
    frame = pd.DataFrame(
        {
            "signal_a": signal[:, 0],
            "signal_b": signal[:, 1],
            "noise": rng.normal(size=rows),
            "constant": 1.0,
            "label": label,
        }
    )
    spec = DatasetSpec(
        name="noisy",
        target="label",
        task="binary",
        numeric_features=("signal_a", "signal_b", "noise", "constant"),
        categorical_features=(),
    )
    return frame, spec


@pytest.mark.parametrize(
    ("selection", "dropped"),
    [
        ({"method": "variance"}, {"constant"}),
        ({"method": "univariate", "k": 2}, {"noise", "constant"}),
        ({"method": "univariate", "k": 2, "score": "f_test"}, {"noise", "constant"}),
        ({"method": "model"}, {"noise", "constant"}),
    ],
)
def test_feature_selection_drops_noise_and_reports_its_scores(selection, dropped) -> None:
    frame, spec = noisy_table()
    result = train_model(
        frame, spec, "linear", search="none", cv_folds=3, feature_selection=selection
    )
    assert {row["feature"] for row in result.features_dropped} == dropped
    kept = [row["feature"] for row in result.features_kept]
    assert set(kept) == {"signal_a", "signal_b", "noise", "constant"} - dropped
    scores = [row["score"] for row in result.features_kept if row["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    assert result.model.named_steps["estimator"].n_features_in_ == len(kept)
    assert result.summary()["feature_selection"] == selection["method"]


def test_no_selection_keeps_every_input_without_a_selector_step() -> None:
    frame, spec = noisy_table()
    result = train_model(frame, spec, "linear", search="none", cv_folds=3)
    assert "selector" not in result.model.named_steps and result.features_dropped == []
    assert [row["feature"] for row in result.features_kept] == list(spec.numeric_features)


def test_feature_selection_is_fitted_on_training_rows_only() -> None:
    """A column that gives the label away on the test side alone must not be selected."""
    frame, spec = noisy_table(rows=600)
    features = frame.assign(_split=["train"] * 400 + ["test"] * 200)
    test = features["_split"] == "test"
    features.loc[test, "noise"] = np.where(features.loc[test, "label"] == "yes", 5.0, -5.0)
    train = features[~test]
    selection = {"method": "univariate", "k": 2, "score": "f_test"}
    result = train_model(
        train, spec, "linear", search="none", cv_folds=3, feature_selection=selection
    )
    assert "noise" in {row["feature"] for row in result.features_dropped}
    transformed = result.model.named_steps["preprocessor"].transform(model_inputs(train, spec))
    expected, _ = f_classif(transformed, train["label"])
    fitted = result.model.named_steps["selector"].scores_
    np.testing.assert_allclose(fitted[:3], expected[:3])
    on_all_rows, _ = f_classif(
        result.model.named_steps["preprocessor"].transform(model_inputs(features, spec)),
        features["label"],
    )
    assert on_all_rows[2] > fitted[2] * 10  # the leak would have been visible to a leaky fit


def test_integer_codes_and_booleans_one_hot_beside_missing_values() -> None:
    spec = DatasetSpec(
        name="codes",
        target="label",
        task="binary",
        numeric_features=("x",),
        categorical_features=("plan_code", "flag"),
    )
    frame = pd.DataFrame(
        {
            "x": np.arange(40, dtype=float),
            "plan_code": pd.array([1, 2, None, 9] * 10, dtype="Int64"),
            "flag": pd.array([True, False, None, True] * 10, dtype="boolean"),
            "label": ["a", "b"] * 20,
        }
    )
    result = train_model(frame, spec, "linear", search="none", cv_folds=2)
    names = [row["feature"] for row in result.features_kept]
    assert {"plan_code=1", "plan_code=9", "plan_code=missing", "flag=True"} <= set(names)


def test_decisions_by_cost_or_precision_score_every_cut_off_as_described() -> None:
    from ml_assets.lib.model.modeling import expected_cost, recall_at_precision

    truth = [1, 1, 1, 0, 0, 0, 0, 0]
    decided = [1, 0, 0, 1, 0, 0, 0, 0]  # one hit, two misses, one false alarm
    assert expected_cost(truth, decided, pos_label=1, false_positive=1, false_negative=5) == 11 / 8
    assert recall_at_precision(truth, decided, pos_label=1, min_precision=0.5) == 1 / 3
    assert recall_at_precision(truth, decided, pos_label=1, min_precision=0.8) == 0.5 - 1


def test_a_tuned_cut_off_travels_with_the_model_and_decides_its_labels(train_rows, forest) -> None:
    from ml_assets.lib.model.evaluation import decide
    from ml_assets.lib.model.modeling import DECISION

    costly_misses = {"costs": {"false_positive": 1, "false_negative": 20}}
    result = train_model(train_rows, DEMO_SPEC, search="none", cv_folds=3, decision=costly_misses)
    loaded = load_model_bytes(dump_model(result.model), "tuned.skops")
    decision = getattr(loaded, DECISION)
    assert decision == result.decision and decision["positive_label"] == 1
    assert result.summary()["decision"] == decision
    assert decision["threshold"] < 0.5  # a miss costs 20 false alarms: say positive sooner
    probabilities = np.array([[0.6, 0.4], [0.99, 0.01], [0.2, 0.8]])
    expected = [int(p >= decision["threshold"]) for p in probabilities[:, 1]]
    assert decide(loaded, probabilities).tolist() == expected
    assert decide(forest, probabilities).tolist() == [0, 0, 1]  # untuned: the most probable
    assert not hasattr(forest, DECISION)


@pytest.fixture(scope="module")
def larger_train_rows():
    table = build_features(validated(800), DEMO_SPEC)
    return table[table["_split"] == "train"]


@pytest.mark.parametrize("family", ["random_forest", "hist_gradient_boosting"])
def test_budgeted_search_gives_one_model_whatever_n_jobs_and_on_a_rerun(
    larger_train_rows, family
) -> None:
    runs = [
        train_model(
            larger_train_rows, DEMO_SPEC, family, budget=6, cv_folds=3, n_jobs=jobs, coverage=0.9
        )
        for jobs in (1, 2, 1)
    ]
    assert [run.search_facts["n_jobs"] for run in runs] == [1, min(2, resolve_n_jobs(-1)), 1]
    assert len({model_fingerprint(run.model) for run in runs}) == 1
    assert runs[0].best_params == runs[1].best_params
    # The wide space is searched, boosting with early stopping on an inner split.
    assert set(BUDGET_SPACES[family][True]) <= set(runs[0].best_params)
    if family == "hist_gradient_boosting":
        step = runs[0].model.named_steps["estimator"]
        assert step.early_stopping is True and step.n_iter_ < EARLY_STOPPING["max_iter"]
    assert runs[0].search_facts["trials"] == 6 and runs[0].search_facts["cut"] is None


def test_a_forest_alone_is_searched_on_threads_of_this_process(train_rows, monkeypatch) -> None:
    """Worker processes cost more to start than a small forest search: same model on threads."""
    from sklearn.ensemble import _forest

    built = []
    build = _forest._parallel_build_trees

    def recorded(*args, **kwargs):
        built.append(1)  # only a tree built in this process is counted
        return build(*args, **kwargs)

    monkeypatch.setattr(_forest, "_parallel_build_trees", recorded)
    space = {"n_estimators": [4], "min_samples_leaf": [1, 3]}
    fitted = []
    for jobs in (2, 1):
        built.clear()
        result = train_model(
            train_rows, DEMO_SPEC, "random_forest", "grid", space, cv_folds=3, n_jobs=jobs
        )
        assert len(built) == 2 * 3 * 4 + 4  # every fold of both candidates, then the final fit
        fitted.append(model_fingerprint(result.model))
    assert fitted[0] == fitted[1]


def test_the_final_forest_fit_builds_its_trees_on_every_core_given(train_rows, monkeypatch) -> None:
    """joblib gave a context's n_jobs only to the backend it names: trees were fitted serially."""
    import threading
    import time

    from sklearn.ensemble import _forest

    threads: set[int] = set()
    build = _forest._parallel_build_trees

    def recorded(*args, **kwargs):
        threads.add(threading.get_ident())
        time.sleep(0.05)  # every worker gets a tree
        return build(*args, **kwargs)

    monkeypatch.setattr(_forest, "_parallel_build_trees", recorded)
    params = {"n_estimators": 6}
    model = build_pipeline(DEMO_SPEC, "random_forest", params, seed=42)
    plan = modeling._SearchPlan(
        spec=DEMO_SPEC,
        inputs=model_inputs(train_rows, DEMO_SPEC),
        target=train_rows[DEMO_SPEC.target],
        search="none",
        folds=None,
        scoring=default_scoring(DEMO_SPEC),
        n_iter=1,
        seed=42,
        selection=modeling.FeatureSelection.of(None),
        n_jobs=2,
    )
    modeling._fit_final(model, plan)
    assert len(threads) == 2
    threads.clear()
    serial = build_pipeline(DEMO_SPEC, "random_forest", params, seed=42)
    modeling._fit_final(serial, replace(plan, n_jobs=1))
    assert len(threads) == 1
    assert model_fingerprint(model) == model_fingerprint(serial)

    # The fitted copies a blend and a model-based selector keep are the same model either way.
    blend = {"random_forest": {**params, "weight": 1}, "hist_gradient_boosting": {"weight": 1}}
    chosen = [(ENSEMBLE, blend, None), ("random_forest", params, {"method": "model"})]
    for estimator, settings, selection in chosen:
        fitted = []
        for jobs in (1, 2):
            model = build_model(DEMO_SPEC, estimator, settings, 42, selection)
            with threadpool_limits(limits=1, user_api="openmp"):  # as train_model fits
                modeling._fit_final(model, replace(plan, n_jobs=jobs))
            fitted.append(model_fingerprint(model))
        assert fitted[0] == fitted[1], estimator


def test_a_budgeted_search_reports_its_best_trial_as_cross_validation_scores_it(
    train_rows,
) -> None:
    result = train_model(
        train_rows, DEMO_SPEC, "hist_gradient_boosting", budget=5, cv_folds=3, coverage=None
    )
    (candidate,) = result.candidates
    assert candidate["search"] == "tpe (budget)" and candidate["settings_tried"] == 5
    with threadpool_limits(limits=1, user_api="openmp"):
        again = cross_val_score(
            build_pipeline(DEMO_SPEC, "hist_gradient_boosting", result.best_params, seed=42),
            model_inputs(train_rows, DEMO_SPEC),
            train_rows[DEMO_SPEC.target],
            cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=42),
            scoring=default_scoring(DEMO_SPEC),
        )
    assert again.tolist() == pytest.approx(result.cv_scores, abs=1e-12)


def test_a_budget_larger_than_a_listed_space_scores_each_setting_once(train_rows) -> None:
    result = train_model(
        train_rows,
        DEMO_SPEC,
        "linear",
        search_space={"C": [0.1, 10.0]},
        budget=6,
        cv_folds=3,
        coverage=None,
    )
    (candidate,) = result.candidates
    assert candidate["settings_tried"] == 2 and result.search_facts["trials"] == 2
    assert result.best_params["C"] in (0.1, 10.0)


def test_a_trial_that_failed_on_a_fold_is_never_the_best(train_rows, monkeypatch) -> None:
    def scores(model, *args, **kwargs):  # C 10 fails a fold but would score best
        c = model.get_params()["estimator__C"]
        return np.array([np.nan, 1.0, 1.0]) if c > 1 else np.full(3, c)

    monkeypatch.setattr(modeling, "cross_val_score", scores)
    space = {"C": [0.01, 0.05, 10.0]}
    options = {"search_space": space, "budget": 8, "cv_folds": 3, "coverage": None}
    result = train_model(train_rows, DEMO_SPEC, "linear", **options)
    assert result.best_params["C"] == 0.05 and result.cv_scores == [0.05] * 3
    monkeypatch.setattr(modeling, "cross_val_score", lambda *a, **k: np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="every linear trial failed"):
        train_model(train_rows, DEMO_SPEC, "linear", **options)


def test_a_different_seed_searches_differently(train_rows) -> None:
    base = train_model(train_rows, DEMO_SPEC, "linear", budget=4, cv_folds=3)
    seeded = train_model(train_rows, DEMO_SPEC, "linear", budget=4, cv_folds=3, seed=7)
    assert base.best_params != seeded.best_params
    assert model_fingerprint(base.model) != model_fingerprint(seeded.model)


def test_boosting_on_a_table_too_small_for_its_inner_split_has_no_early_stopping(
    train_rows,
) -> None:
    small = train_rows.iloc[:120]
    result = train_model(small, DEMO_SPEC, "hist_gradient_boosting", budget=3, cv_folds=3)
    assert "early_stopping" not in result.best_params
    assert result.model.named_steps["estimator"].early_stopping == "auto"


@pytest.mark.parametrize("budget", [3, 7, 20, 60, 61])
def test_a_budget_is_shared_exactly_and_boosting_gets_the_most(budget) -> None:
    shares = budget_shares(budget, AUTO_FAMILIES)
    assert sum(shares.values()) == budget and min(shares.values()) >= 1
    assert shares["hist_gradient_boosting"] == max(shares.values())
    assert abs(shares["random_forest"] - shares["linear"]) <= 1  # equal weights
    assert budget_shares(budget, ["linear"]) == {"linear": budget}


def test_a_budget_below_one_trial_per_family_is_refused(train_rows) -> None:
    with pytest.raises(ValueError, match="a budget of 2 trial"):
        train_model(train_rows, DEMO_SPEC, AUTO, budget=2)


def test_the_wall_clock_cap_cuts_the_search_and_says_so(train_rows) -> None:
    result = train_model(train_rows, DEMO_SPEC, AUTO, budget=3, cv_folds=3, time_limit=1e-6)
    assert [c["estimator"] for c in result.candidates] == ["linear"]
    cut = result.search_facts["cut"]
    assert "wall-clock cap of 1e-06 s" in cut and "random_forest, hist_gradient_boosting" in cut
    assert result.summary()["search"]["cut"] == cut


@pytest.mark.parametrize("bad", [0, -2])
def test_n_jobs_is_every_core_or_a_positive_count(bad) -> None:
    assert resolve_n_jobs(-1) >= 1 and resolve_n_jobs(1) == 1
    assert resolve_n_jobs(10_000) == resolve_n_jobs(-1)
    with pytest.raises(ValueError, match="n_jobs must be -1"):
        resolve_n_jobs(bad)
