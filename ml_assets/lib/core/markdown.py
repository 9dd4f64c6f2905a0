"""Small Markdown tables for metadata and reports, readable in the Dagster UI and in a file."""

from collections.abc import Mapping, Sequence
from typing import Any


def cell(value: Any) -> str:
    """A value as a table cell: integers as integers, fractions to four significant digits."""
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) >= 1 else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A Markdown table of ``rows`` (their keys as columns unless ``columns`` is given)."""
    if not rows:
        return "none"
    names = list(columns or rows[0])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(row.get(name)) for name in names) + " |" for row in rows]
    return "\n".join(lines)
