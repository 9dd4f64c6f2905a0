"""Code versions derived from source, so editing a step's logic makes its asset stale."""

import hashlib
import importlib.util
from pathlib import Path


def source_version(*modules: str, extra: str = "") -> str:
    """Short hash of ``extra`` and the named modules' source files, found without importing them."""
    digest = hashlib.sha256(extra.encode())
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(module)
        digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()[:12]
