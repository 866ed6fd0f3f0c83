#!/usr/bin/env bash
# Build the operator dashboard (web/) into web/dist, which the API serves at /.
# `npm ci` installs the exact versions of web/package-lock.json; nothing is fetched at
# run time. Skipped when web/dist is newer than every source, config and the lockfile
# (FORCE=1 rebuilds).
set -euo pipefail
cd "$(dirname "$0")/../web"

if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is missing: install Node.js 20 or newer (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi

stamp=dist/index.html
if [ "${FORCE:-0}" != 1 ] && [ -f "$stamp" ] && [ -d node_modules ] \
  && [ -z "$(find src public index.html package.json package-lock.json tsconfig.json vite.config.ts \
           -newer "$stamp" -print -quit)" ]; then
  exit 0
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
# vite prints the sizes; the gzipped total of what the browser downloads:
total=$(cat dist/assets/* dist/index.html | wc -c)
gz=$(for f in dist/assets/* dist/index.html; do gzip -9c "$f" | wc -c; done | awk '{s+=$1} END {print s}')
echo "dashboard built: web/dist, $((total / 1024)) KiB raw, $((gz / 1024)) KiB gzipped (app shell and assets)"
