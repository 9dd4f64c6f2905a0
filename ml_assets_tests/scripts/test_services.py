"""scripts/ci/services.sh reaches its install branch on a machine without PostgreSQL."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start_postgres_without_one(tmp_path: Path, ci: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Source services.sh for PostgreSQL alone, with no version installed and apt-get faked."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    calls = tmp_path / "apt-get.calls"
    apt_get = fake_bin / "apt-get"
    apt_get.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    apt_get.chmod(0o755)
    (tmp_path / "no-postgresql").mkdir()
    env = {
        **os.environ,
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "ML_ASSETS_SERVICES": "postgres",
        "ML_ASSETS_PG_ROOT": str(tmp_path / "no-postgresql"),
        "CI": ci,
    }
    script = 'set -euo pipefail; source scripts/ci/services.sh; echo "after services"'
    result = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    return result, calls


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the install branch runs as root only")


@needs_root
def test_without_postgresql_the_install_branch_runs_and_the_suite_goes_on(tmp_path: Path) -> None:
    result, calls = start_postgres_without_one(tmp_path, ci="")
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq postgresql"]
    assert "installing postgresql (apt-get)" in result.stderr
    assert "PostgreSQL (no /usr/lib/postgresql/*/bin) could not start" in result.stderr
    assert result.returncode == 0 and "after services" in result.stdout


@needs_root
def test_under_ci_a_postgresql_that_cannot_be_installed_fails_the_run(tmp_path: Path) -> None:
    result, calls = start_postgres_without_one(tmp_path, ci="true")
    assert calls.exists()
    assert result.returncode == 1 and "after services" not in result.stdout
