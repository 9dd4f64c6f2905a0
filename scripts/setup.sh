#!/usr/bin/env bash
# Set up .venv with a locked environment and the project (editable), and point Dagster at the
# project-local instance in dagster_home/ whenever the venv is activated.
#   bash scripts/setup.sh        the runtime set (requirements-lock.txt): what the pipeline needs
#   bash scripts/setup.sh --dev  everything (requirements-dev-lock.txt): production extras, tests, lint
set -euo pipefail
cd "$(dirname "$0")/.."
lock=requirements-lock.txt
case "${1:-}" in
  "") ;;
  --dev) lock=requirements-dev-lock.txt ;;
  *) echo "usage: bash scripts/setup.sh [--dev]" >&2; exit 2 ;;
esac
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes)
# First the pip the project chose (requirements-bootstrap.txt, hash-checked): the pip a venv
# comes with is whatever its Python bundled, and pip < 23.3 cannot install a hashed lock holding
# a package with extras (dask[array,dataframe]). Every pip since 8 installs this file.
"${pip[@]}" -r requirements-bootstrap.txt
# Then exactly the locked versions, each file checked against its hash; then the project itself,
# its ranges not resolved again and built by the locked setuptools. Upgrade with scripts/lock.sh.
"${pip[@]}" -r "$lock"
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  --no-deps --no-build-isolation -e .
grep -q 'DAGSTER_HOME=' .venv/bin/activate \
  || printf '\nexport DAGSTER_HOME="%s/dagster_home"\n' "$PWD" >> .venv/bin/activate
mkdir -p dagster_home
# Create the instance's databases once: two processes starting on a fresh SQLite instance (a
# sensor's run and one from the CLI) race creating its tables ("table ... already exists").
[ -e dagster_home/history/runs.db ] \
  || DAGSTER_HOME="$PWD/dagster_home" .venv/bin/dagster instance migrate > /dev/null
# Runs killed with SIGKILL never report their end: mark those whose process is gone as failed and
# free any concurrency slot they hold (ml_assets/run_recovery.py).
DAGSTER_HOME="$PWD/dagster_home" .venv/bin/python -m ml_assets.run_recovery
