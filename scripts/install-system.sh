#!/usr/bin/env bash
# Debian packages the local stack runs on. Installs only what is missing; needs root.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have redis-server || missing+=(redis-server)
have mosquitto || missing+=(mosquitto)
have mvn || missing+=(maven)
have java || missing+=(openjdk-17-jre-headless)
have promtool || missing+=(prometheus)   # `make run-observability`; promtool checks the rules
have docker-compose || missing+=(docker-compose)   # only to validate docker-compose.yml
have chromium || missing+=(chromium)               # the dashboard's browser tests (Playwright)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing Debian packages: ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
