#!/usr/bin/env bash
# Browser tests (issue 3): the authorization code flow in headless Chromium, driven by
# playwright-core, with an oauth4webapi test client. Installs what it needs, builds the server
# unless PORTCULLIS_BIN names one (a path relative to the repository root, or absolute), and
# runs `node --test`. Screenshots and the server log go to target/browser-artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing Chromium (Debian's chromium package)"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
# (Debian's wrapper script prints a harmless shell warning on stderr.)
/usr/bin/chromium --version 2>/dev/null

echo "== npm ci (e2e/browser)"
node --version
npm ci --no-audit --no-fund

if [ -z "${PORTCULLIS_BIN:-}" ]; then
  echo "== cargo build -p portcullis"
  (cd "$root" && cargo build -p portcullis --locked)
fi

echo "== browser tests"
rm -rf "$root/target/browser-artifacts"
# TAP output: it always ends with the summary (tests, pass, fail, …).
node --test --test-reporter=tap --test-timeout=180000
