#!/usr/bin/env bash
# Installs what a fresh Debian bookworm machine lacks (as root), and the npm packages the
# integration tests drive the gateway with. Idempotent: does nothing when all is present.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libh2o-evloop-dev libcurl4-openssl-dev libnng-dev libprotobuf-c-dev protobuf-c-compiler
      libsqlite3-dev libssl-dev libcjson-dev
      openssl curl ca-certificates wrk nginx-light util-linux procps gdb
      prometheus # for promtool (tests/integration/metrics.test.mjs checks both /metrics with it)
      chromium  # the dashboard's browser tests (tests/integration/dashboard_browser.test.mjs, playwright-core)
      faketime sqlite3) # libfaketime: clock_jump.test.mjs steps the wall clock; the sqlite3 CLI: kill9, usage_spool, soak
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from Debian (nodejs + npm) or from elsewhere with npm bundled: ask for the
# commands, not the packages.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# nginx-light's package starts a system nginx on port 80; the benchmark runs its own.
# Likewise prometheus' (on :9090, the demo mock's port); only its promtool is wanted.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi

if [ -f "$here/tests/integration/package.json" ]; then
  if [ ! -d "$here/tests/integration/node_modules" ] || \
     [ "$here/tests/integration/package-lock.json" -nt "$here/tests/integration/node_modules/.package-lock.json" ]; then
    echo "deps: npm ci (tests/integration)"
    (cd "$here/tests/integration" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
