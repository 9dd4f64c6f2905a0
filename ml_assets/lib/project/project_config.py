"""The project configuration file: which dataset, its contract, checks, training and schedule.

One YAML file describes a dataset end to end; ``$ML_ASSETS_CONFIG`` chooses which file is active
(the bundled demo by default). It is validated on load, and every error names the key at fault.
The Pandera contract itself is loaded only when first used: what the rest of the configuration
needs from it (column names, kinds, nullability) can come from a ``ContractColumns`` summary, so
reading a configuration does not have to import pandas.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ml_assets.lib.contract.dataset import (
    BATCH,
    SOURCE_COLUMNS,
    SOURCE_FILE,
    SOURCE_LINE,
    DatasetSpec,
    Task,
)
from ml_assets.lib.contract.summary import ContractColumns
from ml_assets.lib.core.layout import DATA_DIR_ENV, LANDING, Layout
from ml_assets.lib.core.thresholds import Threshold

if TYPE_CHECKING:
    import pandera.pandas as pa

CONFIG_ENV = "ML_ASSETS_CONFIG"
PACKAGE_DIR = Path(__file__).resolve().parents[2]
DEMO_CONFIG = PACKAGE_DIR / "demo" / "config.yaml"
REPOSITORY_DATA_DIR = PACKAGE_DIR.parent / "data"
Label = str | int | float | bool


class ConfigError(ValueError):
    """The project configuration is invalid; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSection(_Strict):
    """Where the data lands and what the model should learn from it."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    target: str
    task: Task
    positive_label: Label | None = None
    key: str | None = None
    numeric_features: list[str] | None = None
    categorical_features: list[str] | None = None
    drop: list[str] = []
    sensitive_columns: list[str] = []
    derived_features: dict[str, str] = {}
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    data_dir: str | None = None
    landing_subdir: str = Field(default=LANDING, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    description: str | None = None  # the model's intended use, shown on its model card


class ContractSection(_Strict):
    """The Pandera contract: a YAML schema file or a ``module:DataFrameModel`` path, not both."""

    schema_file: str | None = None
    model: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ContractSection:
        if (self.schema_file is None) == (self.model is None):
            raise ValueError(
                "give exactly one of 'schema_file' (Pandera YAML) or 'model' (module:Class)"
            )
        return self


class ChecksSection(_Strict):
    """Thresholds of the data checks (the launchpad overrides them as the settings resource's)."""

    min_rows: int = Field(default=100, ge=1, description="Fewest rows the training set may have.")
    max_quarantined_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="A batch with a larger share of rows breaking the contract is rejected whole.",
    )
    default_max_null_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Largest null share in the training set of a nullable column without its own.",
    )
    max_null_share: dict[str, float] = Field(
        default={}, description="Largest null share in the training set, per column."
    )
    max_file_bytes: int = Field(
        default=512 * 1024**2, ge=1, description="Largest landing file, measured decompressed."
    )
    min_slice_rows: int = Field(
        default=30, ge=1, description="Fewest rows a fairness slice needs for its gap to be judged."
    )
    # Freshness windows: read when the definitions load (checks and sensors), not per run.
    landing_window_hours: float = Field(default=24.0, gt=0)
    retraining_window_hours: float = Field(default=8 * 24.0, gt=0)


class FeatureSelectionSection(_Strict):
    """Which preprocessed inputs the estimator sees (a Pipeline step fitted on train rows only).

    none; variance (drop inputs with variance at most ``threshold``, default 0); univariate
    (keep the ``k`` best by ``score``); model (keep inputs whose random-forest importance
    reaches ``threshold``: a number, "mean" (the default) or "median").
    """

    method: Literal["none", "variance", "univariate", "model"] = Field(
        default="none",
        description="none; variance (drop near-constant inputs); univariate (the k best by "
        "score); model (inputs a random forest finds important).",
    )
    k: int = Field(default=20, ge=1, description="Inputs kept by univariate.")
    score: Literal["mutual_info", "f_test"] = Field(
        default="mutual_info", description="The univariate score."
    )
    threshold: float | str | None = Field(
        default=None,
        description="variance: a number; model: a number, mean or median; empty: default.",
    )


class TrainingSection(_Strict):
    """Estimator and hyperparameter search; ``auto`` compares every family by cross-validation."""

    estimator: Literal["auto", "random_forest", "hist_gradient_boosting", "linear"] = Field(
        default="random_forest",
        description="The model's final step (linear: logistic regression or ridge, by task); "
        "auto cross-validates every family and keeps the best.",
    )
    search: Literal["grid", "random", "none"] = Field(
        default="grid", description="Cross-validated grid or randomized search, or none."
    )
    search_space: dict[str, list[Any]] | None = Field(
        default=None,
        description="Estimator parameter to candidate values, e.g. {max_depth: [null, 8]}; "
        "empty: the estimator's default space.",
    )
    cv_folds: int = Field(default=5, ge=2, description="Cross-validation folds")
    n_iter: int = Field(default=10, ge=1, description="Candidates of a randomized search.")
    seed: int = Field(default=42, description="Seed of folds, search and estimator.")
    feature_selection: FeatureSelectionSection = Field(
        default=FeatureSelectionSection(), description="Feature selection inside the Pipeline."
    )
    max_rows: int | None = Field(
        default=None,
        ge=1,
        description="Past this many training rows, train on a seeded, stratified sample of "
        "them (reported with a learning curve); empty: sized to the training machine's memory "
        "and the search's time (lib/model/training_sample.py).",
    )
    # Reproducible: a count, not a duration.
    budget: int | None = Field(
        default=None,
        ge=1,
        description="Trials of the budgeted search: Optuna's seeded TPE sampler draws this "
        "many settings from wide spaces, each cross-validated on every row (replaces search "
        "and n_iter); empty: off.",
    )
    # A cut breaks reproducibility, so it is off by default.
    time_limit: float | None = Field(
        default=None,
        gt=0,
        description="Seconds after which no further family's search starts (the report and "
        "the metadata say when it cut the search); empty: no cap.",
    )
    n_jobs: int = Field(
        default=-1,
        ge=-1,
        description="Workers fitting candidates, folds and the final model; -1: every core. "
        "The fitted model is the same whatever it is.",
    )
    ensemble: bool = Field(
        default=True,
        description="auto: blend the families' best models (greedy selection on their "
        "out-of-fold predictions) when the blend scores higher on the same folds.",
    )
    # A calibration part of the training side is set aside for the ranges.
    coverage: float | None = Field(
        default=0.9,
        gt=0,
        lt=1,
        description="Share of new rows each prediction's range should hold (split "
        "conformal on a calibration part of the training rows); empty: no ranges.",
    )

    @model_validator(mode="after")
    def _space_names_one_estimator(self) -> TrainingSection:
        if self.n_jobs == 0:
            raise ValueError("n_jobs: -1 (every core) or at least 1")
        if self.estimator == "auto" and self.budget is not None and self.budget < 3:
            raise ValueError("budget: estimator 'auto' searches 3 families, so at least 3 trials")
        if self.estimator == "auto" and self.search_space:
            raise ValueError(
                "search_space names one estimator's parameters; with estimator 'auto' each "
                "family searches its own space (name an estimator to set one)"
            )
        return self


class DecisionCosts(_Strict):
    """What each wrong decision costs, in any one unit (only their ratio matters)."""

    false_positive: float = Field(ge=0)
    false_negative: float = Field(ge=0)


class DecisionSection(_Strict):
    """How a binary model turns the positive label's probability into a decision.

    ``costs``: the cut-off of least expected cost; ``min_precision``: the cut-off of highest
    recall whose precision reaches it. Neither: the label of highest probability (0.5).
    """

    costs: DecisionCosts | None = None
    min_precision: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _one_rule(self) -> DecisionSection:
        if self.costs is not None and self.min_precision is not None:
            raise ValueError("give costs or min_precision, not both")
        return self

    @property
    def tuned(self) -> bool:
        """Whether a cut-off is to be tuned (else the most probable label is the decision)."""
        return self.costs is not None or self.min_precision is not None


class ScheduleSection(_Strict):
    """When the whole graph retrains on a clock."""

    retrain_cron: str = "0 3 * * 1"


class ColumnDocSection(_Strict):
    """What a feature means and who answers for it (shown in the feature store's column schema)."""

    description: str | None = None
    owner: str | None = None


class FeatureStoreSection(_Strict):
    """The offline feature store: which column is each row's event time, who owns each feature."""

    event_timestamp: str | None = None  # a datetime column of the contract; None: batch arrival
    owner: str = "unassigned"  # the owner of every feature without one of its own
    columns: dict[str, ColumnDocSection] = {}


class ApprovalSection(_Strict):
    """What a candidate is held to before it may replace the champion (primary metric)."""

    baseline_margin: float = Field(
        default=0.02,
        description="Least lift over the trivial baseline (majority class or mean predictor).",
    )
    linear_baseline_tolerance: float = Field(
        default=0.01,
        description="Most the candidate may trail the plain linear baseline (fails when the "
        "whole 95% bootstrap interval of the difference lies below; they tie on the demo).",
    )
    champion_tolerance: float = Field(
        default=0.01,
        description="Most the candidate may trail the champion, both scored on the "
        "candidate's held-out rows (negative: it must beat the champion by that much).",
    )
    max_fairness_gap: float = Field(
        default=0.1,
        ge=0,
        description="Largest gap of the primary metric between slices of a sensitive column "
        "(fails when its whole 95% bootstrap interval lies above).",
    )
    slice_bounds: dict[str, float] | None = Field(
        default=None,
        description="Per slice metric, its bound (a minimum; a maximum for rmse, mae, "
        "log_loss) on every slice with checks.min_slice_rows rows; empty: the primary metric "
        "(roc_auc ≥ 0.6, f1_macro ≥ 0.3, r2 ≥ 0); {} bounds nothing.",
    )
    compare_with_champion: bool = Field(
        default=True,
        description="Off: skip the champion criterion (when the champion cannot score the "
        "new data, e.g. after a contract change).",
    )


FALSE_ALARM_RATE = 0.01  # per monitoring check and batch: a clean batch flags at most this often
MAX_DROP = 0.05  # the primary metric's tolerated drop, live or estimated


class StatisticsSection(_Strict):
    """Thresholds of the statistical checks of each batch against the training set.

    The thresholds are practical minimums: a figure counts only when it is also significant at
    ``false_alarm_rate`` over the check's tests, so the defaults stay quiet on clean batches.
    """

    min_batch_rows: int = Field(
        default=100, ge=2, description="A batch with fewer rows is listed as too small to judge."
    )
    # 0.3 sd is between Cohen's small and medium effects, low enough that a 0.5 sd shift is
    # seen in 97% of 100-row batches.
    mean_shift: Threshold = Field(
        default=Threshold(warn=0.3, error=1.0),
        description="|batch mean - reference mean| / reference standard deviation.",
    )
    quantiles: list[float] = Field(
        default=[0.05, 0.5, 0.95], min_length=1, description="The quantiles compared."
    )
    quantile_shift: Threshold = Field(
        default=Threshold(warn=1.0, error=2.0),
        description="|batch quantile - reference quantile| / reference standard deviation.",
    )
    # On a count (kitchens: 1 in 96% of rows) a one-point change of share moves q95 by a unit.
    quantile_min_share: float = Field(
        default=0.03,
        ge=0,
        le=1,
        description="A quantile's move counts only when this share of rows crossed the "
        "reference's quantile.",
    )
    outlier_rule: Literal["robust_z", "iqr"] = Field(
        default="robust_z", description="robust_z (median and MAD) or iqr (quartiles)."
    )
    outlier_z: float = Field(
        default=3.5, gt=0, description="Robust z-score beyond which a value is an outlier."
    )
    iqr_factor: float = Field(
        default=3.0, gt=0, description="IQR multiples beyond the quartiles, for the iqr rule."
    )
    outlier_share: Threshold = Field(
        default=Threshold(warn=0.05, error=0.2),
        description="Share of a column's values outside the reference's robust range, beyond "
        "the reference's own share there.",
    )
    correlation_change: Threshold = Field(
        default=Threshold(warn=0.4, error=0.7),
        description="Largest |batch r - reference r| of a pair of numeric features.",
    )
    class_share_change: Threshold = Field(
        default=Threshold(warn=0.2, error=0.35),
        description="Largest |batch share - reference share| of a class.",
    )
    false_alarm_rate: float = Field(
        default=FALSE_ALARM_RATE,
        gt=0,
        lt=1,
        description="How often a clean batch may fail each check: a figure counts only when "
        "significant at this rate shared over the check's tests.",
    )


class DriftSection(_Strict):
    """Thresholds of the drift of each batch against its model's training set.

    Practical minimums: PSI 0.1/0.25 are the industry's "moderate"/"major" shift; KS 0.1 means a
    tenth of the rows crossed some value (a quarter-sd mean shift of a normal column); a
    category's share moved 10 points (linf), 1% of rows in new categories, 5 points more nulls.
    """

    psi: Threshold = Field(
        default=Threshold(warn=0.1, error=0.25),
        description="Population stability index of a numeric column (reference deciles).",
    )
    ks: Threshold = Field(
        default=Threshold(warn=0.1, error=0.2),
        description="Kolmogorov-Smirnov statistic of a numeric column.",
    )
    js_divergence: Threshold = Field(
        default=Threshold(warn=0.05, error=0.1),
        description="Jensen-Shannon divergence (base 2) of a categorical column's shares.",
    )
    linf: Threshold = Field(
        default=Threshold(warn=0.1, error=0.2),
        description="Largest change of a category's share.",
    )
    unseen_share: Threshold = Field(
        default=Threshold(warn=0.01, error=0.05),
        description="Share of rows in categories the reference never saw.",
    )
    null_change: Threshold = Field(
        default=Threshold(warn=0.05, error=0.1),
        description="Change of a column's null rate (its absolute value).",
    )
    min_batch_rows: int = Field(
        default=50, ge=1, description="A batch with fewer rows is too small to judge drift on."
    )
    false_alarm_rate: float = Field(
        default=FALSE_ALARM_RATE,
        gt=0,
        lt=1,
        description="How often a batch drawn from the reference may raise a flag: a statistic "
        "counts only when its p-value is below this rate divided by the batch's tests.",
    )
    max_drop: float = Field(
        default=MAX_DROP,
        ge=0,
        description="Largest drop of the estimated primary metric (classification, before "
        "labels) below the held-out one that is tolerated.",
    )

    def thresholds(self) -> dict[str, Threshold]:
        """Each statistic's threshold, by the statistic's name."""
        return {name: value for name, value in iter(self) if isinstance(value, Threshold)}


class LivePerformanceSection(_Strict):
    """How far the live metric may fall below the held-out one before it alerts."""

    max_drop: float = Field(
        default=MAX_DROP, ge=0, description="Largest drop of the primary metric that is tolerated."
    )


class ABTestSection(_Strict):
    """How much evidence the A/B analysis of champion and challenger needs for a verdict."""

    metric: Literal["auto", "accuracy", "r2"] = Field(
        default="auto",
        description="Compared metric; auto: accuracy for classification, r2 for regression.",
    )
    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Error rate of the always-valid interval (two-sided), whatever the number of "
        "looks: the report may be read every hour.",
    )
    min_effect: float = Field(
        default=0.01,
        gt=0,
        description="Minimum detectable effect: the smallest gain of the challenger worth "
        "promoting it for (below it: keep); also the mixture's spread and the effect the "
        "'labelled requests needed' figure is for.",
    )
    min_samples_per_arm: int = Field(
        default=100, ge=1, description="Fewest labelled predictions an arm needs for a verdict."
    )


class ProjectConfig(_Strict):
    """The whole configuration file."""

    dataset: DatasetSection
    contract: ContractSection
    checks: ChecksSection = ChecksSection()
    training: TrainingSection = TrainingSection()
    schedule: ScheduleSection = ScheduleSection()
    feature_store: FeatureStoreSection = FeatureStoreSection()
    statistics: StatisticsSection = StatisticsSection()
    drift: DriftSection = DriftSection()
    live_performance: LivePerformanceSection = LivePerformanceSection()
    ab_test: ABTestSection = ABTestSection()
    approval: ApprovalSection = ApprovalSection()
    decision: DecisionSection = DecisionSection()


@dataclass(frozen=True)
class Project:
    """A loaded, cross-checked configuration: the spec, the contract and where data lives."""

    path: Path
    config: ProjectConfig
    spec: DatasetSpec
    columns: ContractColumns
    data_dir: Path

    @cached_property
    def contract(self) -> pa.DataFrameSchema:
        """The Pandera contract, loaded on first use."""
        return load_contract(self.config.contract, self.path)

    @cached_property
    def config_hash(self) -> str:
        """Hash of the configuration file and the contract's source: what a run was set up by."""
        digest = hashlib.sha256(self.path.read_bytes())
        digest.update(self.contract_hash.encode())
        return digest.hexdigest()[:16]

    @cached_property
    def contract_hash(self) -> str:
        """Hash of the contract's source files alone (what validation depends on)."""
        digest = hashlib.sha256()
        for source in contract_sources(self.config.contract, self.path):
            digest.update(source.read_bytes())
        return digest.hexdigest()[:16]

    def resolved_data_dir(self) -> Path:
        """The data folder: ``$ML_ASSETS_DATA_DIR`` when set, else the configuration's."""
        return Path(os.environ.get(DATA_DIR_ENV) or self.data_dir)

    def layout(self) -> Layout:
        """Where this project's files are, for a process outside a run (``$ML_ASSETS_*`` apply)."""
        return Layout.from_environment(self.data_dir, self.config.dataset.landing_subdir)


def active_config_path() -> Path:
    """The file ``$ML_ASSETS_CONFIG`` names, or the bundled demo configuration."""
    return Path(os.environ.get(CONFIG_ENV) or DEMO_CONFIG).expanduser().resolve()


def load_project(path: Path | None = None) -> Project:
    """Read, validate and cross-check a configuration file and the contract it names."""
    path = path or active_config_path()
    return build_project(path, read_config(path))


def build_project(path: Path, config: ProjectConfig) -> Project:
    """Cross-check a parsed configuration against its contract.

    A YAML contract is summarised without importing Pandera; a ``DataFrameModel`` is imported.
    """
    contract = None
    if config.contract.schema_file is not None:
        columns = _yaml_columns(config.contract.schema_file, path)
    else:
        contract = load_contract(config.contract, path)
        columns = ContractColumns.of(contract)
    spec = _dataset_spec(config.dataset, columns, path)
    _cross_check(config, spec, columns, path)
    _cross_check_feature_store(config.feature_store, spec, columns, path)
    project = Project(path, config, spec, columns, _data_dir(config.dataset, path))
    if contract is not None:
        project.__dict__["contract"] = contract
    return project


def read_config(path: Path) -> ProjectConfig:
    """Parse and validate a configuration file (not the contract it names)."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from error
    try:
        config = ProjectConfig.model_validate(raw if raw is not None else {})
    except ValidationError as error:
        raise ConfigError(
            f"{path}: " + "; ".join(_describe(item) for item in error.errors())
        ) from None
    return config


def contract_sources(section: ContractSection, config_path: Path) -> list[Path]:
    """The files whose content defines the contract, found without importing anything heavy."""
    if section.schema_file is not None:
        return [_schema_path(section.schema_file, config_path)]
    module_name = (section.model or "").partition(":")[0]
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        spec = None
    return [Path(spec.origin)] if spec is not None and spec.origin else []


def _describe(error: Any) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "missing":
        return f"{key}: required key is missing"
    return f"{key}: {error['msg']}"


def load_contract(section: ContractSection, config_path: Path) -> pa.DataFrameSchema:
    """The Pandera schema a configuration names, with the pipeline's source columns added."""
    import pandera.pandas as pa

    if section.schema_file is not None:
        schema_path = _schema_path(section.schema_file, config_path)
        try:
            schema = pa.DataFrameSchema.from_yaml(schema_path)
        except OSError as error:
            raise ConfigError(
                f"{config_path}: contract.schema_file: cannot read {schema_path}"
            ) from error
        except Exception as error:
            raise ConfigError(
                f"{config_path}: contract.schema_file: {schema_path} is not a Pandera schema "
                f"({error})"
            ) from error
    else:
        module_name, _, class_name = (section.model or "").partition(":")
        try:
            schema = getattr(importlib.import_module(module_name), class_name).to_schema()
        except (ImportError, AttributeError, ValueError) as error:
            raise ConfigError(
                f"{config_path}: contract.model: cannot load {section.model!r} ({error})"
            ) from error
    return with_source_columns(schema)


def _yaml_columns(schema_file: str, config_path: Path) -> ContractColumns:
    schema_path = _schema_path(schema_file, config_path)
    try:
        return ContractColumns.from_yaml(schema_path)
    except OSError as error:
        message = f"{config_path}: contract.schema_file: cannot read {schema_path}"
        raise ConfigError(message) from error
    except (ValueError, yaml.YAMLError) as error:
        raise ConfigError(f"{config_path}: contract.schema_file: {error}") from error


def _schema_path(schema_file: str, config_path: Path) -> Path:
    return (config_path.parent / schema_file).resolve()


def with_source_columns(schema: pa.DataFrameSchema) -> pa.DataFrameSchema:
    """The contract plus the pipeline's own columns that say where each row came from."""
    import pandera.pandas as pa

    missing = {
        name: column
        for name, column in {
            BATCH: pa.Column(str),
            SOURCE_FILE: pa.Column(str),
            SOURCE_LINE: pa.Column("int64", pa.Check.ge(1)),
        }.items()
        if name not in schema.columns
    }
    return schema.add_columns(missing) if missing else schema


def _dataset_spec(section: DatasetSection, columns: ContractColumns, path: Path) -> DatasetSpec:
    excluded = {section.target, section.key, *section.drop, *SOURCE_COLUMNS}
    available = [name for name in columns.kinds if name not in excluded]
    numeric = section.numeric_features
    categorical = section.categorical_features
    if numeric is None:
        numeric = [
            name
            for name in available
            if columns.is_numeric(name) and name not in (categorical or [])
        ]
    if categorical is None:
        categorical = [name for name in available if name not in numeric]
    try:
        return DatasetSpec(
            name=section.name,
            target=section.target,
            task=section.task,
            numeric_features=tuple(numeric),
            categorical_features=tuple(categorical),
            sensitive_columns=tuple(section.sensitive_columns),
            key=section.key,
            derived_features=dict(section.derived_features),
            test_fraction=section.test_fraction,
            positive_label=section.positive_label,
        )
    except ValueError as error:
        raise ConfigError(f"{path}: dataset: {error}") from error


def _cross_check(
    config: ProjectConfig, spec: DatasetSpec, contract: ContractColumns, path: Path
) -> None:
    columns = set(contract.kinds)
    named = {
        "dataset.target": [spec.target],
        "dataset.key": [spec.key] if spec.key else [],
        "dataset.numeric_features": list(spec.numeric_features),
        "dataset.categorical_features": list(spec.categorical_features),
        "dataset.sensitive_columns": list(spec.sensitive_columns),
        "dataset.drop": config.dataset.drop,
        "checks.max_null_share": list(config.checks.max_null_share),
    }
    for key, names in named.items():
        unknown = [name for name in names if name not in columns]
        if unknown:
            raise ConfigError(
                f"{path}: {key}: {unknown} not in the contract's columns "
                f"{sorted(columns - set(SOURCE_COLUMNS))}"
            )
    if spec.task == "regression" and not contract.is_numeric(spec.target):
        raise ConfigError(
            f"{path}: dataset.task: regression needs a numeric target, "
            f"{spec.target!r} is {contract.kinds[spec.target]}"
        )
    if spec.task != "binary" and config.decision.tuned:
        raise ConfigError(
            f"{path}: decision: a tuned cut-off is for binary tasks; this one is {spec.task}"
        )
    if spec.task != "binary" and spec.positive_label is not None:
        raise ConfigError(
            f"{path}: dataset.positive_label: only binary tasks have a positive label"
        )


def _cross_check_feature_store(
    section: FeatureStoreSection, spec: DatasetSpec, contract: ContractColumns, path: Path
) -> None:
    event = section.event_timestamp
    if event is not None and contract.kinds.get(event) != "datetime":
        kind = contract.kinds.get(event, "not in the contract")
        raise ConfigError(
            f"{path}: feature_store.event_timestamp: {event!r} must be a datetime column of the "
            f"contract ({kind})"
        )
    stored = {*spec.model_columns, spec.target}
    unknown = sorted(set(section.columns) - stored)
    if unknown:
        raise ConfigError(
            f"{path}: feature_store.columns: {unknown} are not features of the store "
            f"{sorted(stored)}"
        )


def _data_dir(section: DatasetSection, config_path: Path) -> Path:
    if section.data_dir is None:
        return REPOSITORY_DATA_DIR / section.name
    return (config_path.parent / section.data_dir).resolve()
