#!/usr/bin/env bash
# Set up (first time only) and start Boundary on http://localhost:8501 — one server process (a laptop).
# For a team's host: `bash scripts/start.sh --workers 2 --server.address 0.0.0.0` (or BOUNDARY_WORKERS=2):
# serve.py runs that many processes behind the one port (README "Host it for your team").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python serve.py --workers "${BOUNDARY_WORKERS:-1}" "$@"
