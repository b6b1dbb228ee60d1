#!/usr/bin/env bash
# Sets up a fresh Debian bookworm machine (as root), builds everything, and starts a demo
# gateway on 127.0.0.1:8080 in front of the bundled mock provider (127.0.0.1:9090), with the
# demo key sk-sy-demo-0000000000000000. `scripts/setup.sh stop` stops both.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
var="$here/var"
mkdir -p "$var"

stop() {
  for p in dp mock; do
    if [ -f "$var/$p.pid" ]; then kill "$(cat "$var/$p.pid")" 2>/dev/null || true; rm -f "$var/$p.pid"; fi
  done
}
if [ "${1:-}" = "stop" ]; then stop; exit 0; fi

"$here/scripts/deps.sh"
"$here/scripts/build.sh" normal
stop

"$here/build/tests/mockllm/switchyard-mockllm" --listen 127.0.0.1:9090 >"$var/mock.out" 2>"$var/mock.log" &
echo $! >"$var/mock.pid"
DEMO_UPSTREAM_KEY=demo-upstream-secret "$here/build/dataplane/switchyard-dp" \
  --config "$here/deploy/demo.json" --listen 127.0.0.1:8080 >"$var/dp.out" 2>"$var/dp.log" &
echo $! >"$var/dp.pid"

for _ in $(seq 50); do
  curl -fsS http://127.0.0.1:8080/readyz >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS http://127.0.0.1:8080/readyz >/dev/null
cat <<MSG
Switchyard data plane is up on http://127.0.0.1:8080/v1 (logs: var/dp.log; stop: scripts/setup.sh stop)
Try:
  curl -s http://127.0.0.1:8080/v1/chat/completions -H 'Authorization: Bearer sk-sy-demo-0000000000000000' \\
    -d '{"model":"demo-fast","messages":[{"role":"user","content":"Hello!"}]}'
MSG
