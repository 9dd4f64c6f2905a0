"""Plain Python values of NumPy scalars, for reports, registry records and JSON answers."""

from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """``value`` as a Python scalar when it is a NumPy one (a label, a parameter), else as is."""
    return value.item() if isinstance(value, np.generic) else value


def plain_list(values: np.ndarray) -> list[Any]:
    """``[plain(value) for value in values]``; ``tolist`` converts as ``item`` does, in one call."""
    items = values.tolist()
    return [plain(item) for item in items] if values.dtype == object else items
