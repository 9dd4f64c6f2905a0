#!/usr/bin/env bash
# Set up, lint, then run the whole test suite (slow end-to-end tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/ruff format --check ml_assets ml_assets_tests benchmarks scripts
.venv/bin/python -m pytest "$@"
