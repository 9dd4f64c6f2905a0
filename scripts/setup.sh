#!/usr/bin/env bash
# Set up .venv with the locked environment and the project (editable), and point Dagster at the
# project-local instance in dagster_home/ whenever the venv is activated.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
# Exactly the locked versions (runtime, dev tools and the build backend), each file checked
# against its hash; then the project itself, its ranges not resolved again and built by the
# locked setuptools. Upgrade the lock with scripts/lock.sh.
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  --require-hashes -r requirements-lock.txt
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
