"""Atomic artifact writes and safe model (de)serialisation with skops; never pickle."""

import contextlib
import errno
import glob
import hashlib
import io
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ml_assets.lib.core.processes import process_is_alive

WriteFn = Callable[[IO[bytes]], None]

# The types this project's models hold beyond the scikit-learn and numpy types skops trusts by
# default (a test keeps the list exact for every supported estimator). Loading refuses any other
# type, so a planted archive cannot instantiate arbitrary classes.
TRUSTED_MODEL_TYPES: tuple[str, ...] = (
    "functools.partial",
    "ml_assets.lib.model.modeling.mutual_information_classif",
    "ml_assets.lib.model.modeling.mutual_information_regression",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._univariate_selection.f_regression",
    "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",
    "sklearn.utils.validation.check_array",
)


class ArtifactLoadError(ValueError):
    """A stored artifact is missing, truncated, tampered with or of an untrusted type."""


def is_local_path(path: Any) -> bool:
    """Whether ``path`` lives on the local filesystem (where os.replace makes writes atomic)."""
    protocol = getattr(path, "protocol", "")
    return isinstance(path, Path) and protocol in ("", "file", "local")


class ArtifactWriteError(OSError):
    """Storing an artifact failed: names the path, the operation, the cause and what to do."""

    def __init__(self, path: Any, operation: str, error: OSError) -> None:
        super().__init__(error.errno, error.strerror or str(error), str(path))
        self.operation = operation
        code = errno.errorcode.get(error.errno or 0, "")
        cause = os.strerror(error.errno) if error.errno else str(error)
        hint = _NEXT_STEPS.get(code, "check the folder and its disk, or move data_dir")
        self.message = (
            f"{path}: {operation} failed: {cause}{f' ({code})' if code else ''}; "
            f"{hint.format(folder=_parent_of(path))}"
        )

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple:
        """Pickle by the constructor's arguments, so the error crosses process boundaries."""
        return type(self), (self.filename, self.operation, OSError(self.errno, self.strerror))


_NEXT_STEPS = {
    "ENOSPC": "disk full at {folder}: free space or move data_dir to a larger disk",
    "EDQUOT": "disk quota exceeded at {folder}: free space, raise the quota or move data_dir",
    "EFBIG": "file size limit reached at {folder} (ulimit -f or the filesystem's maximum): "
    "raise the limit or move data_dir",
    "EACCES": "no permission to write in {folder}: give the user running Dagster write access "
    "or move data_dir",
    "EPERM": "no permission to write in {folder}: give the user running Dagster write access "
    "or move data_dir",
    "EROFS": "{folder} is on a read-only filesystem: remount it writable or move data_dir",
    "EIO": "the disk holding {folder} reported an I/O error: check it (dmesg) or move data_dir",
}


def _parent_of(path: Any) -> str:
    return str(path.parent) if hasattr(path, "parent") else os.path.dirname(str(path))


@contextlib.contextmanager
def _naming(path: Any, operation: str) -> Iterator[None]:
    """Re-raise an OSError of ``operation`` as an ArtifactWriteError naming ``path``."""
    try:
        yield
    except ArtifactWriteError:
        raise
    except OSError as error:
        if error.errno is None:
            raise
        raise ArtifactWriteError(path, operation, error) from error


def atomic_write(path: Any, write: WriteFn) -> None:
    """Write through ``write`` to a temporary file beside ``path``, then rename it into place.

    A crash or a full disk mid-write leaves the previous file untouched. The temporary file's
    name holds the writer's pid, so the next write of the same artifact removes what a dead
    writer left behind and never a file a live one is writing. Object stores have no rename but
    publish an object only when its upload completes (one PUT, or a multipart upload's final
    request), so there the whole artifact is serialised in memory first and sent in one upload:
    a failure while serialising uploads nothing, where an open file's close would publish the
    part already written.
    """
    if not is_local_path(path):
        buffer = io.BytesIO()
        write(buffer)
        with _naming(path, "creating the folder"):
            path.parent.mkdir(parents=True, exist_ok=True)
        with _naming(path, "writing"):
            path.fs.pipe_file(path.path, buffer.getvalue())
        return
    target = Path(path)
    with _naming(target, "creating the folder"):
        target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(target)
    with _naming(target, "creating a temporary file"):
        fd, tmp_name = tempfile.mkstemp(
            prefix=f"{_temp_prefix(target)}{os.getpid()}.", suffix=TEMP_SUFFIX, dir=target.parent
        )
    try:
        with os.fdopen(fd, "wb") as handle:
            with _naming(target, "writing"):
                write(handle)
                handle.flush()
            with _naming(target, "flushing to disk"):
                os.fsync(handle.fileno())
        with _naming(target, "replacing the file"):
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    with _naming(target, "flushing the folder to disk"):
        _fsync_directory(target.parent)


def _fsync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


TEMP_SUFFIX = ".tmp"


def _temp_prefix(target: Path) -> str:
    return f".{target.name}."


def remove_stale_temp_files(target: Path) -> list[Path]:
    """Remove the temporary files of ``target`` whose writer is dead; return what was removed.

    Only names of the form ``.<name>.<pid>.<random>.tmp`` are ours; a file whose writer is alive
    (and started before the file was last written, so the pid was not reused) is left alone.
    """
    prefix = _temp_prefix(target)
    removed = []
    for candidate in target.parent.glob(f"{glob.escape(prefix)}*{TEMP_SUFFIX}"):
        pid = _writer_pid(candidate.name[len(prefix) : -len(TEMP_SUFFIX)])
        if pid is None or pid == os.getpid():
            continue
        try:
            last_written = candidate.stat().st_mtime
        except FileNotFoundError:
            continue  # its writer renamed or removed it meanwhile
        if not process_is_alive(pid, last_written):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _writer_pid(middle: str) -> int | None:
    pid, dot, _random = middle.partition(".")
    return int(pid) if dot and pid.isdigit() else None


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


@dataclass(frozen=True)
class _HeldModel:
    """The model this process last stored or loaded, by its archive's sha256.

    ``trusted`` is the list of trusted types its archive passed (None: stored here, not yet
    checked).
    """

    sha256: str
    model: Any
    trusted: frozenset[str] | None


# One model held: the steps of a run in one process (the default executor) read the model the
# training step stored four or five times, and skops took 0.9 s per load of a 200 MB blend.
# Nothing downstream changes a fitted model, so they can share one object.
_held: _HeldModel | None = None


def dump_model(model: Any) -> bytes:
    """Serialise a fitted estimator with skops; the process holds it for a later load."""
    import skops.io

    global _held
    data = skops.io.dumps(model)
    _held = _HeldModel(hashlib.sha256(data).hexdigest(), model, None)
    return data


def load_model_bytes(data: bytes, source: str, trusted: Iterable[str] = TRUSTED_MODEL_TYPES) -> Any:
    """Load a skops archive, refusing untrusted types, pickles and damaged files by name.

    The same bytes as the model this process holds give that model, once they passed the same
    trust check (the model is never changed after fitting, so sharing it is safe).
    """
    import zipfile

    import skops.io

    global _held
    digest, allowed = hashlib.sha256(data).hexdigest(), frozenset(trusted)
    held = _held
    if held is not None and held.sha256 == digest and held.trusted == allowed:
        return held.model
    if not data.startswith(b"PK"):
        raise ArtifactLoadError(f"{source}: not a skops archive (pickle or other payload refused)")
    try:
        untrusted = set(skops.io.get_untrusted_types(data=data)) - allowed
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as error:
        raise ArtifactLoadError(f"{source}: damaged model archive ({error})") from error
    if untrusted:
        raise ArtifactLoadError(
            f"{source}: refusing to load untrusted types {sorted(untrusted)}; "
            "add them to TRUSTED_MODEL_TYPES only if you trust where this file came from"
        )
    same = held is not None and held.sha256 == digest
    model = held.model if same else _loads(data, source, allowed)
    _held = _HeldModel(digest, model, allowed)
    return model


def _loads(data: bytes, source: str, trusted: frozenset[str]) -> Any:
    import skops.io

    try:
        return skops.io.loads(data, trusted=sorted(trusted))
    except Exception as error:
        raise ArtifactLoadError(f"{source}: model archive cannot be loaded ({error})") from error
