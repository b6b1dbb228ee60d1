#!/usr/bin/env bash
# Sets up a fresh Debian bookworm machine (as root), builds everything, and starts the whole
# product on loopback: the control plane (SQLite file under var/, the dashboard, the bus), two
# data-plane nodes following it over the bus, and the bundled mock provider; then a demo
# workspace with credit, the demo key and a dashboard login, and prints how to use them.
#   scripts/setup.sh        install, build, start (again: restarts; the database is kept)
#   scripts/setup.sh stop   stops all of it
# The smallest deployment — one data plane from a config file, no control plane — is
# `switchyard-dp --config deploy/demo.json` (README, "Standalone").
#
# Ports (override with the environment, e.g. for a second copy): SY_DP1_PORT (8080),
# SY_DP2_PORT (8082), SY_CP_PORT (8090: the dashboard and admin API), SY_BUS_PUB_PORT (7001),
# SY_BUS_REP_PORT (7002), SY_MOCK_PORT (9090). SY_SETUP_NO_BUILD=1 skips installing and building
# (the binaries must be in SY_BUILD_DIR, default build/).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
var="${SY_VAR_DIR:-$here/var}"
build="${SY_BUILD_DIR:-$here/build}"
dp1=${SY_DP1_PORT:-8080} dp2=${SY_DP2_PORT:-8082} cpp=${SY_CP_PORT:-8090}
pub=${SY_BUS_PUB_PORT:-7001} rep=${SY_BUS_REP_PORT:-7002} mockp=${SY_MOCK_PORT:-9090}
mkdir -p "$var"
chmod 700 "$var"

stop() {
  for p in dp1 dp2 cp mock; do
    if [ -f "$var/$p.pid" ]; then
      pid=$(cat "$var/$p.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$var/$p.pid"
    fi
  done
}
if [ "${1:-}" = "stop" ]; then stop; exit 0; fi

if [ "${SY_SETUP_NO_BUILD:-}" != 1 ]; then
  "$here/scripts/deps.sh"
  "$here/scripts/build.sh" normal
fi
stop

wait_http() { # URL: waits up to 10 s for a 200
  for _ in $(seq 100); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  curl -fsS "$1" >/dev/null
}

# secrets of this demo, made once and kept in var/ (mode 0600)
umask 077
[ -s "$var/operator-token" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$var/operator-token"
[ -s "$var/demo-password" ] || head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$var/demo-password"
umask 022
token=$(cat "$var/operator-token")
password=$(cat "$var/demo-password")
email=demo@switchyard.local

# the demo catalog (deploy/demo.json) pointed at this run's mock port
sed "s#127.0.0.1:9090#127.0.0.1:$mockp#g" "$here/deploy/demo.json" >"$var/catalog.json"

"$build/tests/mockllm/switchyard-mockllm" --listen "127.0.0.1:$mockp" >"$var/mock.out" 2>"$var/mock.log" &
echo $! >"$var/mock.pid"

SWITCHYARD_OPERATOR_TOKEN=$token "$build/controlplane/switchyard-cp" \
  --db "$var/cp.sqlite" --catalog "$var/catalog.json" --listen "127.0.0.1:$cpp" \
  --bus-pub "tcp://127.0.0.1:$pub" --bus-rep "tcp://127.0.0.1:$rep" \
  --web-dir "$here/web" --public-api-url "http://127.0.0.1:$dp1/v1" \
  >"$var/cp.out" 2>"$var/cp.log" &
echo $! >"$var/cp.pid"
wait_http "http://127.0.0.1:$cpp/healthz"

for n in 1 2; do
  port=$([ $n = 1 ] && echo "$dp1" || echo "$dp2")
  mkdir -p "$var/dp$n/spool" "$var/dp$n/cache"
  DEMO_UPSTREAM_KEY=demo-upstream-secret "$build/dataplane/switchyard-dp" \
    --control-plane-sub "tcp://127.0.0.1:$pub" --control-plane-req "tcp://127.0.0.1:$rep" \
    --node-id "demo-dp$n" --spool-dir "$var/dp$n/spool" --cache-dir "$var/dp$n/cache" \
    --listen "127.0.0.1:$port" >"$var/dp$n.out" 2>"$var/dp$n.log" &
  echo $! >"$var/dp$n.pid"
done

api() { # METHOD PATH [JSON]: the admin API with the operator token; prints the body
  curl -sS -X "$1" "http://127.0.0.1:$cpp$2" -H "authorization: Bearer $token" \
    ${3:+-H 'content-type: application/json' --data "$3"}
}
# the demo workspace and key come from the catalog's first import; $25 of credit, once
api POST /api/workspaces/ws_demo/credits '{"amount_usd":"25.00","reference":"demo-credit","note":"setup.sh"}' >/dev/null
# the dashboard login: an owner of ws_demo, made once through an owner invitation
code=$(curl -sS -X POST "http://127.0.0.1:$cpp/api/auth/login" -H 'content-type: application/json' \
  --data "{\"email\":\"$email\",\"password\":\"$password\"}" -o /dev/null -w '%{http_code}')
if [ "$code" != 200 ]; then
  invite=$(api POST /api/workspaces/ws_demo/invites '{"role":"owner"}' | sed -n 's/.*"invite":"\([0-9a-f]*\)".*/\1/p')
  curl -fsS -X POST "http://127.0.0.1:$cpp/api/auth/signup" -H 'content-type: application/json' \
    --data "{\"email\":\"$email\",\"password\":\"$password\",\"invite\":\"$invite\"}" >/dev/null
fi

wait_http "http://127.0.0.1:$dp1/readyz"
wait_http "http://127.0.0.1:$dp2/readyz"
key=sk-sy-demo-0000000000000000
for port in "$dp1" "$dp2"; do # the key reached both nodes over the bus
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/models" -H "authorization: Bearer $key")" = 200 ] && break
    sleep 0.1
  done
done

cat <<MSG
Switchyard is up (logs and state in $var; stop: scripts/setup.sh stop)
  API (OpenAI-compatible):  http://127.0.0.1:$dp1/v1  and  http://127.0.0.1:$dp2/v1  (two data-plane nodes)
  API key:                  $key   (workspace ws_demo, \$25.00 of credit)
  Dashboard:                http://127.0.0.1:$cpp/   log in as $email / $password
  Operator token:           in $var/operator-token (admin API and the dashboard's Operator page)
Try:
  curl -s http://127.0.0.1:$dp1/v1/chat/completions -H 'Authorization: Bearer $key' \\
    -d '{"model":"auto","messages":[{"role":"user","content":"Hello!"}]}'
MSG
