"""Code versions derived from source, and the git state and packages every output records."""

import functools
import hashlib
import importlib.util
from pathlib import Path
from typing import Any


def source_version(*modules: str, extra: str = "") -> str:
    """Short hash of ``extra`` and the named modules' source files, found without importing them."""
    digest = hashlib.sha256(extra.encode())
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(module)
        digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()[:12]


# What every materialization records: the code, the configuration, and these packages' versions.
RECORDED_PACKAGES = ("dagster", "scikit-learn", "pandas", "pandera", "numpy", "skops")
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
UNKNOWN = "unknown"


def git_state(root: Path = REPOSITORY_ROOT) -> dict[str, str]:
    """The commit checked out at ``root`` and whether its tracked or new files differ from it.

    ``{"commit": ..., "tree": "clean" | "dirty"}``, or both "unknown" when git is missing or
    ``root`` is not the top of a git work tree (an installed wheel, an exported folder).
    """
    import subprocess

    def git(*arguments: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *arguments],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout

    try:
        if Path(git("rev-parse", "--show-toplevel").strip()).resolve() != root.resolve():
            return {"commit": UNKNOWN, "tree": UNKNOWN}
        commit = git("rev-parse", "HEAD").strip()
        changes = git("status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return {"commit": UNKNOWN, "tree": UNKNOWN}
    return {"commit": commit, "tree": "dirty" if changes.strip() else "clean"}


def package_versions(names: tuple[str, ...] = RECORDED_PACKAGES) -> dict[str, str]:
    """The installed version of each package (``"not installed"`` when absent)."""
    import importlib.metadata

    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@functools.cache
def process_versions() -> dict[str, Any]:
    """Git state and package versions, read once per process (a run is one process per step)."""
    return {"git": git_state(), "packages": package_versions()}


def settings_hash(values: dict) -> str:
    """A short hash of a run's settings, so a launchpad override is told apart from the defaults."""
    import json

    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
