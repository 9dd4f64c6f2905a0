#!/usr/bin/env bash
# Set up, then materialize every asset (and run every check) on the bundled demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DAGSTER_HOME="$PWD/dagster_home"
.venv/bin/dagster asset materialize -m ml_assets --select '*'
echo "Evaluation report: data/demo/storage/evaluation_report.md"
