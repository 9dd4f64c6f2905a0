"""The one threshold type: a warning and an error level, and the verdict ok, warn or error.

Every graded figure of the monitoring (the statistical checks of a batch, drift) is judged by
a ``Threshold``, and the configuration's sections use the same type, so a value means the same
wherever it is set: a figure that reaches ``warn`` warns, one that reaches ``error`` errs.
"""

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, model_validator

OK, WARN, ERROR = "ok", "warn", "error"
SEVERITY_ORDER = {OK: 0, WARN: 1, ERROR: 2}


class Threshold(BaseModel):
    """A significant figure that reaches ``warn`` warns, one that reaches ``error`` errs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warn: float = Field(ge=0, description="A significant figure reaching this warns.")
    error: float = Field(ge=0, description="A significant figure reaching this errs.")

    @model_validator(mode="after")
    def _warn_first(self) -> "Threshold":
        if self.warn > self.error:
            raise ValueError(f"warn ({self.warn}) must not exceed error ({self.error})")
        return self

    def level(self, value: float, significant: bool = True) -> str:
        """The verdict on one figure; a figure that is not significant (or NaN) is ok."""
        if not significant:
            return OK
        if value >= self.error:
            return ERROR
        return WARN if value >= self.warn else OK


def worst(verdicts: Iterable[str]) -> str:
    """The most severe of some verdicts (ok when there are none)."""
    return max(verdicts, key=SEVERITY_ORDER.__getitem__, default=OK)
