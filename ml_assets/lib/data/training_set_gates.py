"""Gates on the training set (the accepted batches together), judged from their records alone.

Each batch's record carries its row, null and split counts, so the gates cost nothing as history
grows, and rejected batches never count against them: a bad file is the batch's problem, not the
training set's. The same function runs in the step that stores the batches (as blocking checks)
and again in every step that builds on them, so a later run cannot train past a failed gate.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ml_assets.lib.data.batch_records import ALL_ROWS, BatchRecord
from ml_assets.lib.contract.dataset import TEST, TRAIN, DatasetSpec

ENOUGH_ROWS, NULL_RATES, SPLIT_IS_USABLE = "enough_rows", "null_rates", "split_is_usable"


@dataclass(frozen=True)
class TrainingLimits:
    """The configured limits the training set is judged against."""

    min_rows: int
    default_max_null_share: float
    max_null_share: Mapping[str, float] = field(default_factory=dict)

    def null_limit(self, column: str) -> float:
        """The largest null share allowed for ``column``."""
        return self.max_null_share.get(column, self.default_max_null_share)


@dataclass(frozen=True)
class Gate:
    """One gate's verdict, its figures, and what to do when it fails."""

    name: str
    passed: bool
    description: str
    figures: dict[str, Any]
    table: list[dict[str, Any]] = field(default_factory=list)


def training_gates(
    records: Sequence[BatchRecord],
    spec: DatasetSpec,
    nullable: Sequence[str],
    limits: TrainingLimits,
) -> list[Gate]:
    """Enough rows, null rates within limits, and a split that can be trained and tested on."""
    accepted = [record for record in records if record.accepted]
    return [
        _enough_rows(accepted, limits),
        _null_rates(accepted, nullable, limits),
        _split_is_usable(accepted, spec),
    ]


def failed_gates(gates: Sequence[Gate]) -> list[Gate]:
    """The gates that did not pass."""
    return [gate for gate in gates if not gate.passed]


def _enough_rows(accepted: Sequence[BatchRecord], limits: TrainingLimits) -> Gate:
    rows = sum(record.rows_valid for record in accepted)
    facts = f"{rows} rows in the training set from {len(accepted)} accepted batch(es)"
    passed = rows >= limits.min_rows
    description = f"{facts} (minimum {limits.min_rows})"
    if not passed:
        description += (
            ": land more data (rejected batches are listed by validated_data: "
            "batches_accepted), or lower checks.min_rows"
        )
    figures = {"rows": rows, "minimum": limits.min_rows, "batches": len(accepted)}
    return Gate(ENOUGH_ROWS, passed, description, figures)


def _null_rates(
    accepted: Sequence[BatchRecord], nullable: Sequence[str], limits: TrainingLimits
) -> Gate:
    rows = sum(record.rows_valid for record in accepted)
    table = []
    for column in nullable:
        nulls = sum(record.null_counts.get(column, 0) for record in accepted)
        share = nulls / rows if rows else 0.0
        table.append({"column": column, "null_share": share, "limit": limits.null_limit(column)})
    over = [row for row in table if row["null_share"] > row["limit"]]
    if over:
        listed = "; ".join(
            f"{row['column']} {row['null_share']:.1%} (limit {row['limit']:.0%})" for row in over
        )
        description = (
            f"null share over its limit in the training set: {listed}: fill the gaps at the "
            "source, or raise checks.max_null_share for the column"
        )
    else:
        description = f"every nullable column within its limit ({len(table)} checked)"
    figures = {"columns_over_limit": ", ".join(row["column"] for row in over) or "none"}
    return Gate(NULL_RATES, not over, description, figures, table)


def _split_is_usable(accepted: Sequence[BatchRecord], spec: DatasetSpec) -> Gate:
    counts: dict[str, dict[str, int]] = {}
    for record in accepted:
        for label, sides in record.split_counts.items():
            total = counts.setdefault(label, {TRAIN: 0, TEST: 0})
            for side, rows in sides.items():
                total[side] = total.get(side, 0) + rows
    sides = {side: sum(c.get(side, 0) for c in counts.values()) for side in (TRAIN, TEST)}
    problems = [f"no {side} rows" for side in (TRAIN, TEST) if sides[side] == 0]
    if spec.is_classification:
        untrained = sorted(label for label, c in counts.items() if c.get(TRAIN, 0) == 0)
        problems += [f"class {label!r} has no training rows" for label in untrained]
        if len(counts) < 2:
            problems.append(f"only {len(counts)} class(es) in the training set: {sorted(counts)}")
    table = [
        {"label": label, TRAIN: c.get(TRAIN, 0), TEST: c.get(TEST, 0)}
        for label, c in sorted(counts.items())
        if label != ALL_ROWS
    ]
    description = (
        "; ".join(problems) + ": land more data (for those classes)"
        if problems
        else f"{sides[TRAIN]} training and {sides[TEST]} test rows"
        + (f"; all {len(counts)} classes have training rows" if spec.is_classification else "")
    )
    figures = {"train_rows": sides[TRAIN], "test_rows": sides[TEST]}
    return Gate(SPLIT_IS_USABLE, not problems, description, figures, table)
