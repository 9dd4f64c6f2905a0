"""CSV exports that are safe to open in a spreadsheet (OWASP CSV-injection guidance)."""

import re

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def neutralize(value: object) -> object:
    """Prefix text a spreadsheet would run as a formula with ``'``; drop control characters."""
    if not isinstance(value, str):
        return value
    cleaned = _CONTROL.sub("", value)
    return "'" + cleaned if cleaned.startswith(_FORMULA_START) else cleaned


def safe_csv(frame: pd.DataFrame) -> str:
    """The frame as CSV text with every text cell and header neutralized."""
    safe = frame.rename(columns=lambda column: neutralize(str(column)))
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column].dtype):
            safe[column] = safe[column].astype("object").map(neutralize)
    return safe.to_csv(index=False, lineterminator="\n")
