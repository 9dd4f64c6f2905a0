#!/usr/bin/env bash
# Set up, lint, then run the whole test suite (slow end-to-end tests included); arguments go to
# one plain pytest run instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check ml_assets ml_assets_tests benchmarks scripts
if [ $# -gt 0 ]; then
  .venv/bin/python -m pytest "$@"
  exit
fi
# Two workers, a test file to each at a time: the end-to-end tests mostly wait on subprocesses.
.venv/bin/python -m pytest -n 2 --dist loadgroup --ignore=ml_assets_tests/production
# The production tests alone: they stop and start the shared services, and their Dask runs time
# out beside another worker.
.venv/bin/python -m pytest ml_assets_tests/production
