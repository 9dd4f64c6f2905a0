"""Atomic artifact writes and safe model (de)serialisation with skops; never pickle."""

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

WriteFn = Callable[[IO[bytes]], None]

# The types this project's models hold beyond the scikit-learn and numpy types skops trusts by
# default (a test keeps the list exact for every supported estimator). Loading refuses any other
# type, so a planted archive cannot instantiate arbitrary classes.
TRUSTED_MODEL_TYPES: tuple[str, ...] = (
    "functools.partial",
    "ml_assets.lib.modeling.mutual_information_classif",
    "ml_assets.lib.modeling.mutual_information_regression",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._univariate_selection.f_regression",
    "sklearn.tree._tree.Tree",
    "sklearn.utils.validation.check_array",
)


class ArtifactLoadError(ValueError):
    """A stored artifact is missing, truncated, tampered with or of an untrusted type."""


def is_local_path(path: Any) -> bool:
    """Whether ``path`` lives on the local filesystem (where os.replace makes writes atomic)."""
    protocol = getattr(path, "protocol", "")
    return isinstance(path, Path) and protocol in ("", "file", "local")


def atomic_write(path: Any, write: WriteFn) -> None:
    """Write through ``write`` to a temporary file beside ``path``, then rename it into place.

    A crash or a full disk mid-write leaves the previous file untouched. Object stores publish an
    object only when its upload completes, so there the plain write is already all-or-nothing.
    """
    if not is_local_path(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write(handle)
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Any, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: Any, text: str) -> None:
    """Atomically replace ``path`` with UTF-8 ``text``."""
    atomic_write_bytes(path, text.encode("utf-8"))


def preload_skops() -> threading.Thread:
    """Start importing skops on a background thread, to overlap it with training.

    Importing ``skops.io`` builds its list of trusted types by searching every loaded module for
    each NumPy and SciPy ufunc: half a second in a bare script, well over a second in a process
    that also holds Dagster. Training runs on one core and mostly outside the GIL, so the import
    costs almost nothing when it happens meanwhile.
    """
    thread = threading.Thread(target=_import_skops, name="preload-skops", daemon=True)
    thread.start()
    return thread


def _import_skops() -> None:
    with contextlib.suppress(ImportError):
        import skops.io  # noqa: F401 - imported for its side effect: the module is cached


def dump_model(model: Any) -> bytes:
    """Serialise a fitted estimator with skops."""
    import skops.io

    return skops.io.dumps(model)


def load_model_bytes(data: bytes, source: str, trusted: Iterable[str] = TRUSTED_MODEL_TYPES) -> Any:
    """Load a skops archive, refusing untrusted types, pickles and damaged files by name."""
    import zipfile

    import skops.io

    if not data.startswith(b"PK"):
        raise ArtifactLoadError(f"{source}: not a skops archive (pickle or other payload refused)")
    try:
        untrusted = set(skops.io.get_untrusted_types(data=data)) - set(trusted)
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as error:
        raise ArtifactLoadError(f"{source}: damaged model archive ({error})") from error
    if untrusted:
        raise ArtifactLoadError(
            f"{source}: refusing to load untrusted types {sorted(untrusted)}; "
            "add them to TRUSTED_MODEL_TYPES only if you trust where this file came from"
        )
    try:
        return skops.io.loads(data, trusted=list(trusted))
    except Exception as error:
        raise ArtifactLoadError(f"{source}: model archive cannot be loaded ({error})") from error
