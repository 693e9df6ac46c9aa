#!/usr/bin/env bash
# Set everything up, then run the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check swrun tests bench scripts
exec .venv/bin/python -m pytest -q "$@" </dev/null
