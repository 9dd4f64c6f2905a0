"""The code version every materialization records: git commit and tree state, packages."""

import subprocess
from pathlib import Path

from ml_assets.lib.core.versioning import (
    RECORDED_PACKAGES,
    git_state,
    imported_sources,
    package_versions,
    source_version,
)


def git(root: Path, *arguments: str) -> str:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    done = subprocess.run(
        ["git", *identity, "-C", str(root), *arguments], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_a_committed_tree_is_clean_and_named_by_its_commit(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "model.py").write_text("A = 1\n")
    git(tmp_path, "add", "model.py")
    git(tmp_path, "commit", "-qm", "first")
    assert git_state(tmp_path) == {"commit": git(tmp_path, "rev-parse", "HEAD"), "tree": "clean"}


def test_an_edited_or_new_file_makes_the_tree_dirty(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "model.py").write_text("A = 1\n")
    git(tmp_path, "add", "model.py")
    git(tmp_path, "commit", "-qm", "first")
    head = git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "model.py").write_text("A = 2\n")
    assert git_state(tmp_path) == {"commit": head, "tree": "dirty"}
    git(tmp_path, "checkout", "-q", "model.py")
    (tmp_path / "new_step.py").write_text("B = 1\n")
    assert git_state(tmp_path)["tree"] == "dirty"


def test_no_git_work_tree_is_unknown(tmp_path: Path) -> None:
    plain = tmp_path / "exported"
    plain.mkdir()
    assert git_state(plain) == {"commit": "unknown", "tree": "unknown"}
    git(tmp_path, "init", "-q")  # a folder inside someone else's repository is not its top
    assert git_state(plain) == {"commit": "unknown", "tree": "unknown"}


def test_the_recorded_packages_are_the_installed_ones() -> None:
    import numpy
    import sklearn

    versions = package_versions()
    assert list(versions) == list(RECORDED_PACKAGES)
    assert (
        versions["numpy"] == numpy.__version__ and versions["scikit-learn"] == sklearn.__version__
    )
    assert package_versions(("no-such-package-here",)) == {"no-such-package-here": "not installed"}


def _package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root.joinpath(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_code_version_follows_the_lib_modules_a_step_reaches(tmp_path: Path) -> None:
    _package(
        tmp_path,
        {
            "ml_assets.assets.step": "import dagster\n\ndef step():\n"
            "    from ml_assets.lib.model import fit\n",
            "ml_assets.lib.model": "from ml_assets.lib import helpers\nfrom ml_assets.lib.x import y\n",
            "ml_assets.lib.helpers": "from ml_assets.lib.deep import CONSTANT\n",
            "ml_assets.lib.deep": "CONSTANT = 1\n",
            "ml_assets.lib.x": "y = 1\n",
            "ml_assets.lib.unused": "Z = 1\n",
        },
    )
    before = source_version("ml_assets.assets.step", root=tmp_path)
    assert {p.stem for p in imported_sources("ml_assets.assets.step", tmp_path)} == {
        "step",
        "model",
        "helpers",
        "deep",
        "x",
    }
    (tmp_path / "ml_assets" / "lib" / "unused.py").write_text("Z = 2\n")
    assert source_version("ml_assets.assets.step", root=tmp_path) == before
    (tmp_path / "ml_assets" / "lib" / "deep.py").write_text("CONSTANT = 2\n")
    assert source_version("ml_assets.assets.step", root=tmp_path) != before


def test_the_batch_steps_version_covers_the_landing_module_it_reaches() -> None:
    names = {p.stem for p in imported_sources("ml_assets.assets.batches")}
    assert {"batches", "landing", "ingestion", "validation", "features"} <= names
