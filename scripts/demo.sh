#!/usr/bin/env bash
# Set everything up, then show swrun's main job on the bundled example runbook.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
RB=runbooks/local-smoke.md
echo "== swrun check $RB" >&2
.venv/bin/swrun check "$RB"
echo "== swrun plan $RB" >&2
.venv/bin/swrun plan "$RB"
