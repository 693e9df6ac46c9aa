#!/usr/bin/env bash
# Set everything up, then show swrun's main job on the bundled example runbook.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
RB=runbooks/local-smoke.md
SW=.venv/bin/swrun
step() { printf '\n== %s\n' "$*" >&2; }
step "swrun check $RB";            $SW check "$RB"
step "swrun plan $RB";             $SW plan "$RB"
step "swrun execute --dry-run $RB"; $SW execute --dry-run "$RB" --log "$(mktemp -u /tmp/swrun-demo-XXXX.toml)"
step "swrun execute --yes $RB";    $SW execute --yes "$RB"
