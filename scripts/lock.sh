#!/usr/bin/env bash
# Re-resolve requirements-lock.txt from pyproject.toml's ranges: the runtime dependencies, every
# extra and the build backend, each pinned with the SHA-256 of all its files, for Python 3.11 on
# Linux. Then run scripts/setup.sh and the tests, and commit the lock with pyproject.toml.
#   bash scripts/lock.sh               upgrade every package to the newest version allowed
#   bash scripts/lock.sh --no-upgrade  after editing pyproject.toml: keep each pin that still fits
#   bash scripts/lock.sh -P pandas     upgrade pandas alone (and what its new version needs)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) or sys.platform != "linux")' \
  || { echo "scripts/lock.sh: the lock is for Python 3.11 on Linux; set PYTHON to one" >&2; exit 1; }
# Resolve against pip's default index alone: one machine's pip settings (mirrors, extra indexes,
# local wheel folders, constraints) must not shape the lock that every machine installs.
unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_CONSTRAINT PIP_NO_INDEX
export PIP_CONFIG_FILE=/dev/null
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"$python" -m venv "$tools"
"$tools/bin/python" -m pip install --quiet --disable-pip-version-check pip==25.3 pip-tools==7.6.2
[ $# -gt 0 ] || set -- --upgrade
"$tools/bin/pip-compile" --quiet --all-extras --build-deps-for editable --allow-unsafe \
  --no-strip-extras --generate-hashes --no-emit-index-url --no-emit-find-links \
  --output-file requirements-lock.txt "$@" pyproject.toml
