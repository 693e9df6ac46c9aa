#!/usr/bin/env bash
# Idempotent set-up: system parts (when root and missing), then .venv with swrun and its dev extra.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}

log() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" = 0 ]; then
  missing=()
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v tmux >/dev/null 2>&1 || missing+=(tmux)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)   # the timeline HTML test
  command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)   # the kube_context tests
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
  fi
  if ! command -v pm2 >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    log "npm install -g pm2@7.0.4"
    npm install -g --silent pm2@7.0.4 </dev/null >/dev/null
  fi
else
  log "not root: skipping system packages (openssh-server, tmux, kubernetes-client, pm2)"
fi

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.swrun-installed
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # Exactly the versions in requirements.lock (hash-checked), so a clone installs next month what
  # it installs today; then swrun itself, editable, built by the locked hatchling.
  # scripts/lock.sh refreshes the lock.
  log "installing the locked dependencies into .venv (first time takes a minute or two)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes --no-deps \
    -r requirements.lock 2>&1 | { grep -v "is ignored" || true; } >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
    -e "$ROOT" 2>&1 | { grep -v "is ignored" || true; } >&2
  .venv/bin/python -m pip check >&2
  .venv/bin/python -c "import swrun, markdown_it, textual" >/dev/null
  echo "$want" > "$stamp"
fi
log "ready: $ROOT/.venv/bin/swrun"
