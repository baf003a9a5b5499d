#!/usr/bin/env bash
# Set up (first time only) and run the whole test suite, browser tests included.
# Browser tests need Debian's Chromium at /usr/bin/chromium; as root this installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
# The Spark conformance tests run a local Spark, which needs Java 17+; as root this installs Debian's headless JRE.
if ! command -v java >/dev/null && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null
fi
exec .venv/bin/python -m pytest -n 2 -q "$@"
