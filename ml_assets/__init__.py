"""ml_assets: the tabular ML workflow as Dagster assets.

The package does no wiring at import, so the plain modules under ``ml_assets.lib`` stay cheap to
import. ``defs`` is resolved lazily so that ``dagster ... -m ml_assets`` finds the Definitions
built in ``ml_assets.definitions``.
"""

from typing import Any

__all__ = ["defs"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from ml_assets.definitions import defs

        return defs
    raise AttributeError(f"module 'ml_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
