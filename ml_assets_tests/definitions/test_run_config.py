"""One override rule for every threshold: the YAML section sets the launchpad's default, a run's
config overrides it, and the rest of the section keeps the YAML's values."""

from typing import Any

import dagster as dg
import pytest
import yaml

from ml_assets.definitions import build_definitions
from ml_assets.lib.project.project_config import DEMO_CONFIG, load_project

# One value per section, none of them its default: (section, path in the section, value).
CHANGED = [
    ("checks", ("min_rows", None), 321),
    ("checks", ("min_slice_rows", None), 17),
    ("statistics", ("mean_shift", "warn"), 0.45),
    ("statistics", ("min_batch_rows", None), 77),
    ("drift", ("psi", "error"), 0.4),
    ("drift", ("min_batch_rows", None), 60),
    ("live_performance", ("max_drop", None), 0.08),
    ("ab_test", ("alpha", None), 0.1),
    ("approval", ("champion_tolerance", None), -0.02),
    ("training", ("cv_folds", None), 4),
]
# Where the launchpad shows each section: a resource's config or an op's.
PLACE = {
    "checks": ("resources", "settings"),
    "statistics": ("ops", "statistical_checks"),
    "drift": ("ops", "drift_report"),
    "live_performance": ("ops", "live_performance"),
    "ab_test": ("ops", "ab_test_report"),
    "approval": ("ops", "model_approval"),
    "training": ("ops", "trained_model"),
}


def _place(section: str, key: str, inner: str | None) -> list[str]:
    return [*PLACE[section], "config", key, *([inner] if inner else [])]


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> dg.JobDefinition:
    """The asset job of the demo project with each value of ``CHANGED`` in its YAML."""
    folder = tmp_path_factory.mktemp("project")
    demo = load_project(DEMO_CONFIG).config
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["contract"]["schema_file"] = str(DEMO_CONFIG.parent / "contract.yaml")
    config["dataset"]["data_dir"] = str(folder / "data")
    for section, (key, inner), value in CHANGED:
        place = config.setdefault(section, {})
        if inner is None:
            place[key] = value
        else:
            # a threshold in the YAML gives both levels
            place[key] = {**getattr(getattr(demo, section), key).model_dump(), inner: value}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return build_definitions(load_project(path)).resolve_implicit_global_asset_job_def()


def _default(job: dg.JobDefinition, path: list[str]) -> Any:
    """The launchpad's default at ``path`` of the run config."""
    config_type = job.run_config_schema.config_type
    for name in path[:-1]:
        config_type = config_type.fields[name].config_type
    return config_type.fields[path[-1]].default_value


def _at(config: dict, path: list[str]) -> Any:
    for name in path:
        config = config[name]
    return config


@pytest.mark.parametrize(("section", "key", "value"), CHANGED)
def test_the_yaml_value_is_the_launchpads_default(job, section, key, value) -> None:
    assert _default(job, _place(section, *key)) == value


def test_a_nested_threshold_keeps_its_other_yaml_level() -> None:
    demo = load_project(DEMO_CONFIG).config
    job = build_definitions(load_project(DEMO_CONFIG)).resolve_implicit_global_asset_job_def()
    default = _default(job, ["ops", "drift_report", "config", "psi"])
    assert default == demo.drift.psi.model_dump()


@pytest.mark.parametrize(("section", "key", "value"), CHANGED)
def test_a_run_config_overrides_one_value_and_keeps_the_others(job, section, key, value) -> None:
    path = _place(section, *key)
    override = value * 2
    run_config: dict = {}
    place = run_config
    for name in path[:-1]:
        place = place.setdefault(name, {})
    place[path[-1]] = override
    resolved = dg.validate_run_config(job, run_config)
    assert _at(resolved, path) == override
    others = [(s, k, v) for s, k, v in CHANGED if s != section or k != key]
    assert all(_at(resolved, _place(s, *k)) == v for s, k, v in others)


def test_an_overridden_threshold_still_obeys_the_section(job) -> None:
    from ml_assets.section_config import section_config

    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"ops": {"drift_report": {"config": {"psi": {"warn": "x"}}}}})
    drift = section_config(load_project(DEMO_CONFIG).config.drift, "DriftConfig")
    with pytest.raises(ValueError, match="must not exceed error"):
        drift(psi={"warn": 0.3, "error": 0.2}).section()
