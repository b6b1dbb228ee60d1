#!/usr/bin/env bash
# Instructions per request of switchyard-dp, counted by valgrind's callgrind: repeatable for the
# same binary and inputs whatever else the machine does, so two builds can be compared exactly
# where the wall-clock benchmark (run.sh) only sees noise on a shared VM.
#
#   tests/bench/instructions.sh [DP_BIN ...]      # default: build/dataplane/switchyard-dp
#
# For each binary: the data plane runs under callgrind in front of the mock; the script sends N
# requests of one mode (keep-alive, one at a time) and, in a second run, none; the difference
# divided by N is the cost of one request (start-up and the idle loop cancel out). Modes
# (MODES=…): chat (OpenAI client and provider, not streamed), stream (the same, 8 content
# chunks: the byte splice), and with TRANSLATE=1 the translating pairs: oa-stream (OpenAI client,
# Anthropic provider), aa-stream (Anthropic client and provider), ao-stream (Anthropic client,
# OpenAI provider). Per chunk = the difference to `stream` / 8.
#
# BUS=1: the data plane follows a control plane (switchyard-cp from build/, a prepaid workspace
# and its key) with --spool-dir, so each request also makes its usage record — the path a
# billing node runs (the usage ring, the spooler thread, its fsyncs and batches: callgrind counts
# every thread). CP_BIN=... picks the control plane. CG_KEEP=DIR keeps each callgrind output there
# (cg.<build dir>.<mode>.<N>) for callgrind_annotate --inclusive=yes.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
N=${N:-400}
MOCK_BIN=${MOCK_BIN:-$here/build/tests/mockllm/switchyard-mockllm}
CP_BIN=${CP_BIN:-$here/build/controlplane/switchyard-cp}
[ $# -gt 0 ] || set -- "$here/build/dataplane/switchyard-dp"
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind" >&2; exit 2; }
WORK=$(mktemp -d /tmp/sy-instr-XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM
KEY=sk-sy-bench-0000000000000000
KEY_SHA=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
"$MOCK_BIN" --listen 127.0.0.1:0 >"$WORK/mock.out" 2>/dev/null &
PIDS+=($!)
for _ in $(seq 100); do MOCK_PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/mock.out"); [ -n "$MOCK_PORT" ] && break; sleep 0.05; done
if [ "${TRANSLATE:-0}" = 1 ]; then
    ANTH=', { "id": "anth", "kind": "anthropic", "base_url": "http://127.0.0.1:'$MOCK_PORT'/v1", "api_key_env": "MOCK_KEY" }'
    ANTHM=', { "id": "anth-stream", "provider": "anth", "upstream": "claude-mock+chunks=8" }'
    MODES=${MODES:-"chat stream oa-stream aa-stream ao-stream"}
else
    ANTH=; ANTHM=; MODES=${MODES:-"chat stream"}
fi
cat >"$WORK/dp.json" <<EOF
{ "providers": [ { "id": "mock", "kind": "openai", "base_url": "http://127.0.0.1:$MOCK_PORT/v1", "api_key_env": "MOCK_KEY" } $ANTH ],
  "models": [ { "id": "bench", "provider": "mock", "upstream": "mock-1" }, { "id": "bench-stream", "provider": "mock", "upstream": "mock-1+chunks=8" } $ANTHM ],
  "workspaces": [ { "id": "ws", "active": true } ],
  "keys": [ { "id": "k", "sha256": "$KEY_SHA", "workspace": "ws", "allowed_models": ["*"] } ] }
EOF
cat >"$WORK/load.mjs" <<'EOF'
import http from 'node:http';
const [port, n] = process.argv.slice(2, 4).map(Number);
const mode = process.argv[4];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const model = { chat: 'bench', stream: 'bench-stream', 'oa-stream': 'anth-stream', 'aa-stream': 'anth-stream', 'ao-stream': 'bench-stream' }[mode];
const anthropic = mode.startsWith('a');
const path = anthropic ? '/v1/messages' : '/v1/chat/completions';
const user = 'Summarise the plot of a short story about a lighthouse keeper in three sentences.';
const body = JSON.stringify(anthropic
  ? { model, stream: true, max_tokens: 64, system: 'You are a helpful assistant.', messages: [{ role: 'user', content: user }] }
  : { model, stream: mode !== 'chat', max_tokens: 64, messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: user }] });
for (let i = 0; i < n; i++) {
  await new Promise((resolve, reject) => {
    const req = http.request({ port, path, method: 'POST', agent, headers: { authorization: 'Bearer sk-sy-bench-0000000000000000', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}
EOF
DP_SRC=(--config "$WORK/dp.json")
if [ "${BUS:-0}" = 1 ]; then
    free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
    PUB="tcp://127.0.0.1:$(free_port)"; REP="tcp://127.0.0.1:$(free_port)"
    TOKEN=op-bench-0000000000000000
    cat >"$WORK/catalog.json" <<EOF
{ "providers": [ { "id": "mock", "kind": "openai", "base_url": "http://127.0.0.1:$MOCK_PORT/v1", "api_key_env": "MOCK_KEY", "probe": { "interval_ms": 0 } } ],
  "models": [ { "id": "bench", "provider": "mock", "upstream": "mock-1", "input_per_m": "1", "output_per_m": "2", "context_window": 128000, "capabilities": ["chat"] },
              { "id": "bench-stream", "provider": "mock", "upstream": "mock-1+chunks=8", "input_per_m": "1", "output_per_m": "2", "context_window": 128000, "capabilities": ["chat"] } ],
  "workspaces": [], "keys": [] }
EOF
    SWITCHYARD_OPERATOR_TOKEN=$TOKEN "$CP_BIN" --db "$WORK/cp.db" --catalog "$WORK/catalog.json" --listen 127.0.0.1:0 \
        --port-file "$WORK/cp.port" --bus-pub "$PUB" --bus-rep "$REP" 2>"$WORK/cp.log" &
    PIDS+=($!)
    for _ in $(seq 100); do [ -s "$WORK/cp.port" ] && break; sleep 0.05; done
    CP="http://127.0.0.1:$(cat "$WORK/cp.port")"
    api() { curl -sf -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -X POST "$CP$1" -d "$2"; }
    api /api/workspaces '{"id":"ws","name":"ws"}' >/dev/null
    api /api/workspaces/ws/credits '{"amount_usd":"1000000","reference":"bench"}' >/dev/null
    KEY=$(api /api/workspaces/ws/keys '{"name":"k","allowed_models":["*"]}' | sed 's/.*"key":"\([^"]*\)".*/\1/')
    sed -i "s/sk-sy-bench-0000000000000000/$KEY/" "$WORK/load.mjs"
    DP_SRC=(--control-plane-sub "$PUB" --control-plane-req "$REP")
fi
count() { # bin n mode -> total instructions
    local out="$WORK/cg.out" port
    rm -f "$WORK/dp.port" "$out"
    local spool=()
    [ "${BUS:-0}" = 1 ] && { rm -rf "$WORK/spool"; spool=(--spool-dir "$WORK/spool" --node-id bench); }
    MOCK_KEY=x valgrind --tool=callgrind --callgrind-out-file="$out" "$1" "${DP_SRC[@]}" "${spool[@]}" --listen 127.0.0.1:0 \
        --port-file "$WORK/dp.port" --threads 1 --log-level warn 2>"$WORK/vg.log" &
    local pid=$!
    for _ in $(seq 600); do [ -s "$WORK/dp.port" ] && break; sleep 0.1; done
    port=$(cat "$WORK/dp.port")
    if [ "${BUS:-0}" = 1 ]; then # the key reaches the node with its first snapshot
        for _ in $(seq 300); do
            [ "$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $KEY" "http://127.0.0.1:$port/v1/models")" = 200 ] && break
            sleep 0.1
        done
    fi
    node "$WORK/load.mjs" "$port" "$2" "$3"
    kill -TERM "$pid"; wait "$pid" || true
    [ -n "${CG_KEEP:-}" ] && cp "$out" "$CG_KEEP/cg.$(basename "$(dirname "$(dirname "$1")")").$3.$2"
    awk '/^summary:/ {print $2}' "$out"
}
printf '%-60s %-10s %16s\n' binary mode "instructions/req"
for bin in "$@"; do
    for mode in $MODES; do
        idle=$(count "$bin" 0 "$mode")
        busy=$(count "$bin" "$N" "$mode")
        printf '%-60s %-10s %16d\n' "$bin" "$mode" $(( (busy - idle) / N ))
    done
done
echo "(N=$N requests per mode, one at a time over keep-alive; callgrind instruction counts)"
