"""Plain Python values of NumPy scalars, for reports, registry records and JSON answers."""

from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """``value`` as a Python scalar when it is a NumPy one (a label, a parameter), else as is."""
    return value.item() if isinstance(value, np.generic) else value
