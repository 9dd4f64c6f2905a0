#!/usr/bin/env bash
# Re-resolve the hashed locks from pyproject.toml's ranges, for Python 3.11 on Linux:
#   requirements-dev-lock.txt  everything: runtime dependencies, every extra (production, dev) and
#                              the build backend: what scripts/test.sh and CI install;
#   requirements-lock.txt      the runtime set alone (dependencies and the build backend), at the
#                              same versions as the dev lock: what scripts/demo.sh installs;
#   requirements-bootstrap.txt the pip that installs them (scripts/setup.sh installs it first).
# Then run scripts/setup.sh and the tests, and commit the locks with pyproject.toml.
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
# The locks' headers name this script rather than the temporary files it compiles from.
export CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh"
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"$python" -m venv "$tools/venv"
# The lock's own pip (hash-checked), then pip-tools on it.
"$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --require-hashes -r requirements-bootstrap.txt
"$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check pip-tools==7.6.2
compile() {
  "$tools/venv/bin/pip-compile" --quiet --allow-unsafe \
    --no-strip-extras --generate-hashes --no-emit-index-url --no-emit-find-links "$@"
}
[ $# -gt 0 ] || set -- --upgrade
compile --build-deps-for editable --all-extras --output-file requirements-dev-lock.txt "$@" pyproject.toml
# The runtime set is resolved under the dev lock's pins, so both install the same versions.
sed -nE 's/^([A-Za-z0-9][^ ]*==[^ ]+).*/\1/p' requirements-dev-lock.txt \
  | sed -E 's/\[[^]]*\]//' > "$tools/constraints.txt"
compile --build-deps-for editable --constraint "$tools/constraints.txt" \
  --output-file requirements-lock.txt pyproject.toml
sed -i "s|$tools/constraints.txt|requirements-dev-lock.txt|" requirements-lock.txt
# The bootstrap pip: the newest release pip-tools supports, pinned here once.
echo "pip==25.3" | compile --output-file requirements-bootstrap.txt -
