#!/usr/bin/env bash
# The newcomer's path, as CI proves it: a fresh clone of this checkout's HEAD, no .venv, and the
# README's first command run literally, its venv made by the interpreter with its own bundled pip.
# Fails unless that command exits 0, prints where the report is and the report exists.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# The first command of the README's "Two commands" block, as a user would copy it.
command=$(sed -n '/^## Two commands/,/^## /p' "$root/README.md" \
  | sed -n '/^```bash$/,/^```$/p' | sed -n '2p' | sed -E 's/[[:space:]]+#.*$//')
[ -n "$command" ] || { echo "newcomer: no first command in README.md" >&2; exit 1; }
clone=$(mktemp -d /tmp/ml_assets_newcomer.XXXXXX)
trap 'rm -rf "$clone"' EXIT
git clone --quiet "$root" "$clone/ml_assets"
cd "$clone/ml_assets"
bundled=$(python3 -c 'import ensurepip; print(ensurepip.version())')
echo "newcomer: $(python3 --version) bundles pip $bundled; running: $command" >&2
start=$SECONDS
# Everything the command prints goes to a log; its tail is shown if it fails.
if ! bash -c "$command" > "$clone/log" 2>&1; then
  tail -n 40 "$clone/log" >&2
  echo "newcomer: '$command' failed in a fresh clone" >&2
  exit 1
fi
report=$(sed -n 's/^Evaluation report: //p' "$clone/log")
[ -n "$report" ] && [ -s "$report" ] \
  || { tail -n 20 "$clone/log" >&2; echo "newcomer: no evaluation report" >&2; exit 1; }
echo "newcomer: '$command' passed in $((SECONDS - start)) s; $(.venv/bin/pip --version | cut -d' ' -f1-2)" \
  "in .venv, $(.venv/bin/pip list --format=freeze | wc -l) packages, $(du -sh .venv | cut -f1)" >&2
