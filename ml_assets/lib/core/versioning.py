"""Code versions derived from source, and the git state and packages every output records."""

import functools
import hashlib
import re
from pathlib import Path
from typing import Any

SOURCE_ROOT = Path(__file__).resolve().parents[3]  # the folder that holds the ml_assets package
FOLLOWED = "ml_assets.lib"


def source_version(*modules: str, extra: str = "", root: Path = SOURCE_ROOT) -> str:
    """Short hash of ``extra`` and the sources a step runs, found without importing them.

    Those are the named modules' and every ``ml_assets.lib`` module they import, directly or not.
    """
    digest = hashlib.sha256(extra.encode())
    for path in sorted(set().union(*(imported_sources(module, root) for module in modules))):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@functools.cache
def imported_sources(module: str, root: Path = SOURCE_ROOT) -> frozenset[Path]:
    """The source files of ``module`` and of the ``ml_assets.lib`` modules it reaches by imports.

    Imports inside functions count (a step imports its libraries when it runs); the walk reads
    the sources once per process and imports nothing.
    """
    found: dict[str, Path] = {}
    pending = [module]
    while pending:
        name = pending.pop()
        path = None if name in found else _source_file(name, root)
        if path is None:
            if name == module:
                raise ModuleNotFoundError(module)
            continue
        found[name] = path
        pending += [m for m in _imported_names(path) if m.startswith(f"{FOLLOWED}.")]
    return frozenset(found.values())


def _source_file(name: str, root: Path) -> Path | None:
    """The file of module ``name`` under ``root``; None for a name that is not a module."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_names(path: Path) -> list[str]:
    """Every ``ml_assets.lib`` name ``path`` imports; ``from a import b`` gives ``a`` and ``a.b``.

    A regular expression, not ``ast``: parsing the ~40 modules cost each load ~0.15 s, this
    ~0.03 s. A match inside a string only adds a module, which only makes a version safer.
    """
    names = []
    for match in _IMPORT.finditer(path.read_text(encoding="utf-8")):
        if match["module"]:
            names.append(match["module"])
            continue
        names.append(match["package"])
        listed = match["names"].strip("()").replace("\\", " ")
        for alias in listed.split(","):
            if alias.split():
                names.append(f"{match['package']}.{alias.split()[0]}")
    return names


_IMPORT = re.compile(
    rf"^[ \t]*(?:import[ \t]+(?P<module>{re.escape(FOLLOWED)}[\w.]*)"
    rf"|from[ \t]+(?P<package>{re.escape(FOLLOWED)}[\w.]*)[ \t]+import[ \t]+"
    r"(?P<names>\([^)]*\)|[^\n]*))",
    re.MULTILINE,
)


# What every materialization records: the code, the configuration, and these packages' versions.
RECORDED_PACKAGES = ("dagster", "scikit-learn", "pandas", "pandera", "numpy", "skops")
REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
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
