#!/usr/bin/env bash
# Debian's Chromium for the browser test (ml_assets_tests/ui/test_browser.py), installed with
# apt-get when it is missing. Playwright drives /usr/bin/chromium; its own browsers are never
# downloaded.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium
