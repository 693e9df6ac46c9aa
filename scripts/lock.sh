#!/usr/bin/env bash
# Refresh requirements.lock from pyproject.toml's ranges: every runtime, dev and build dependency
# pinned with its hashes, resolved for Python 3.11 against PyPI. Run it, run ./scripts/test.sh,
# and commit the lock with what changed in it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"$PY" -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip install -q --disable-pip-version-check pip-tools==7.6.2
"$tools/venv/bin/pip-compile" -q --generate-hashes --allow-unsafe --extra dev --all-build-deps \
  --no-emit-find-links --no-emit-index-url --strip-extras \
  --index-url https://pypi.org/simple --pip-args "--no-cache-dir" \
  -o requirements.lock pyproject.toml "$@"
echo "lock: requirements.lock refreshed; now run ./scripts/test.sh" >&2
