"""What the pipeline needs to know about a dataset: target, feature columns, task, split."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Task = Literal["binary", "multiclass", "regression"]

BATCH = "_batch"
SOURCE_FILE = "_source_file"
SOURCE_LINE = "_source_line"
ROW_KEY = "_row_key"
SPLIT = "_split"
TRAIN, TEST = "train", "test"
SOURCE_COLUMNS = (BATCH, SOURCE_FILE, SOURCE_LINE)
REASON = "_reason"
FAILURES = "_failures"


@dataclass(frozen=True)
class DatasetSpec:
    """The columns and task of one tabular dataset, independent of how it is validated."""

    name: str
    target: str
    task: Task
    numeric_features: tuple[str, ...]
    categorical_features: tuple[str, ...]
    sensitive_columns: tuple[str, ...] = ()
    key: str | None = None
    derived_features: Mapping[str, str] = field(default_factory=dict)
    test_fraction: float = 0.2
    positive_label: str | int | float | bool | None = None

    def __post_init__(self) -> None:
        """Refuse specs whose columns collide or whose split cannot work."""
        inputs = self.input_columns
        if self.target in inputs:
            raise ValueError(f"target column {self.target!r} is also listed as a feature")
        if len(set(inputs)) != len(inputs):
            raise ValueError(f"feature columns are listed twice: {inputs}")
        reserved = {*SOURCE_COLUMNS, ROW_KEY, SPLIT, REASON, FAILURES}
        clash = reserved & {*inputs, self.target, *self.derived_features}
        if clash:
            raise ValueError(f"column names {sorted(clash)} are reserved by the pipeline")
        if self.task not in ("binary", "multiclass", "regression"):
            raise ValueError(f"task must be binary, multiclass or regression, got {self.task!r}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")

    @property
    def input_columns(self) -> list[str]:
        """The declared feature columns as they arrive in the data, numeric first."""
        return [*self.numeric_features, *self.categorical_features]

    @property
    def model_numeric_columns(self) -> list[str]:
        """Numeric inputs of the model: the declared ones plus every derived column."""
        return [*self.numeric_features, *self.derived_features]

    @property
    def model_columns(self) -> list[str]:
        """Every column the model's Pipeline reads, in a fixed order."""
        return [*self.model_numeric_columns, *self.categorical_features]

    @property
    def scored_columns(self) -> list[str]:
        """What training and evaluation read of features: inputs, target, slices, split."""
        return list(
            dict.fromkeys([*self.model_columns, self.target, *self.sensitive_columns, SPLIT])
        )

    @property
    def is_classification(self) -> bool:
        """Whether the target is a label (classification) rather than a number."""
        return self.task != "regression"
