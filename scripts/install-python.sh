#!/usr/bin/env bash
# The project's virtualenv (.venv) with the exact versions of requirements.lock.
# Wheels are kept in the cache outside the checkout (VPP_STACK__CACHE_DIR, default
# ~/.cache/vpp, which also holds the Keycloak distribution), so a
# fresh clone installs PyTorch and the rest without downloading them again.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
CACHE=${VPP_STACK__CACHE_DIR:-$HOME/.cache/vpp}
WHEELS="$CACHE/wheels"
PYTHON=${PYTHON:-python3}
stamp="$VENV/.vpp-installed"
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip="$VENV/bin/python -m pip --disable-pip-version-check -q"
mkdir -p "$WHEELS"

# Offline from the wheel cache first; fetch into the cache only what it lacks.
if ! $pip install --no-index --find-links "$WHEELS" -r requirements.lock 2>/dev/null; then
  echo "fetching wheels into $WHEELS (PyTorch alone is several GB the first time)"
  $pip download --dest "$WHEELS" --find-links "$WHEELS" -r requirements.lock
  $pip install --no-index --find-links "$WHEELS" -r requirements.lock
fi
$pip install --no-index --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
