#!/usr/bin/env bash
# Set everything up, start the local lab, and run the blue-green production runbook through it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
SW=.venv/bin/swrun
say() { printf '\n== %s\n' "$*" >&2; }

say "swrun lab up   (blue and green app hosts over real sshd + PM2, MongoDB-wire server, moto)"
$SW lab up
eval "$($SW lab env)"

say "swrun check runbooks/*.md"
$SW check runbooks/*.md

say "swrun plan runbooks/blue-green-production.md"
$SW plan runbooks/blue-green-production.md

LOG=logs/demo/blue-green-$(date -u +%Y%m%dT%H%M%SZ).toml
say "swrun execute runbooks/blue-green-production.md (watched waits shortened to 10s for the demo)"
$SW execute runbooks/blue-green-production.md --yes --confirm-environment production \
    --var MONITOR=10s --var WATCH_EVERY=2s --log "$LOG"

say "swrun timeline $LOG"
$SW timeline "$LOG" --format md

cat >&2 <<TXT

== Done. The lab is still up for the tour in README.md:
   swrun run runbooks/rollback.md          (the terminal console)
   swrun timeline $LOG --format html -o timeline.html
   swrun lab down                          (stops everything the lab started)
TXT
