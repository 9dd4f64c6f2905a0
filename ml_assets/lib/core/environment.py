"""The locked environment a model was built in: the lock file's hash and any drift from it."""

import functools
import hashlib
import re
from pathlib import Path

# The runtime lock, beside pyproject.toml in a checkout (the dev lock adds only tools and extras
# at the same pins); absent when the package was installed from a wheel.
LOCK_FILE = Path(__file__).resolve().parents[3] / "requirements-lock.txt"

# A pinned line of pip-compile's output: `name==version`, or `name[extras]==version`.
_PINNED_LINE = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE
)


def lock_hash(lock_file: Path = LOCK_FILE) -> str | None:
    """SHA-256 hex of the lock file, naming the exact environment to rebuild a model in."""
    try:
        return hashlib.sha256(lock_file.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


# The packages that decide what a fitted model is and whether its file loads.
MODEL_PACKAGES = (
    "dagster",
    "numpy",
    "pandas",
    "pandera",
    "pyarrow",
    "scikit-learn",
    "scipy",
    "skops",
)


# The packages whose versions can change a batch's tables: the CSV and Parquet readers (pyarrow,
# pandas), number and date parsing (numpy, pandas, python-dateutil, pytz, tzdata) and the contract's
# checks (pandera). Neither a dev tool (ruff, pytest) nor the server nor Dagster itself can.
BATCH_PACKAGES = (
    "numpy",
    "pandas",
    "pandera",
    "pyarrow",
    "python-dateutil",
    "pytz",
    "tzdata",
)


@functools.cache
def installed_versions(names: tuple[str, ...]) -> str:
    """``name==version`` of each named package as installed, one per line (``none`` if absent).

    What a stored result's version hashes, rather than the whole lock, so that bumping an unrelated
    package reprocesses nothing. Cached: the definitions ask at every load (about 3 ms a package).
    """
    import importlib.metadata

    lines = []
    for name in names:
        try:
            lines.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"{name}==none")
    return "\n".join(lines)


def drift_from_lock(
    lock_file: Path = LOCK_FILE, names: tuple[str, ...] | None = None
) -> dict[str, tuple[str, str | None]]:
    """Locked packages whose installed version differs: name -> (locked, installed or None).

    Empty when this interpreter runs exactly the locked versions (as scripts/setup.sh installs
    them), so a recorded lock hash can be trusted to describe the environment; also empty
    without a lock file. ``names`` limits the look-up (each costs a metadata scan: all 122 locked
    packages take 0.09 s, a tenth of a small run's training step).
    """
    import importlib.metadata  # only when asked: it costs more than the hash

    try:
        text = lock_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    drift = {}
    for name, locked in _PINNED_LINE.findall(text):
        if names is not None and name not in names:
            continue
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != locked:
            drift[name] = (locked, installed)
    return drift
