#!/usr/bin/env bash
# Opens loratune's pages in headless Chromium (scripts/browser/check.js): screenshots, and a
# failure on console errors, missing images or elements wider than the page.
#   scripts/browser_check.sh SCREENSHOT_DIR PAGE...
# Needs node/npm and Chromium (`apt-get install -y chromium`, or CHROMIUM=/path/to/chrome);
# installs playwright-core (scripts/browser/package.json) into scripts/browser/node_modules.
# `cargo test --test browser_check -- --ignored` generates every page kind from the tiny
# fixture models and runs this.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v node >/dev/null || { echo "browser check: node is missing (apt-get install -y nodejs npm)" >&2; exit 2; }
if [ ! -d "$here/browser/node_modules/playwright-core" ]; then
    npm install --prefix "$here/browser" --no-audit --no-fund --silent
fi
exec node "$here/browser/check.js" "$@"
