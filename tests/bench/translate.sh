#!/usr/bin/env bash
# The cost of dialect translation (docs/providers.md): switchyard-dp's CPU per streamed request
# and per streamed chunk, for each client dialect × provider dialect pair, against the same
# mock. The OpenAI → OpenAI pair is the byte-splice baseline of the same run; the others pay
# for reading every event and writing it in the client's shape.
#
#   tests/bench/translate.sh                  # BENCH_SECONDS=6 per pair, BENCH_ROUNDS=3 interleaved
#
# Layout as run.sh: the data plane (--threads 1) alone on CPU 1, wrk and the mock on CPU 0.
# CPU time is read from /proc/<pid>/stat (utime + stime) around each wrk run: it counts only the
# data plane's own work, so the figure does not depend on how fast wrk or the mock are.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$here/build}
DP_BIN=${DP_BIN:-$BUILD_DIR/dataplane/switchyard-dp}
MOCK_BIN=${MOCK_BIN:-$BUILD_DIR/tests/mockllm/switchyard-mockllm}
BENCH_SECONDS=${BENCH_SECONDS:-6}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_CONNS=${BENCH_CONNS:-16}
CHUNKS=${CHUNKS:-32}
SUT_CPU=${SUT_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
for c in wrk taskset curl; do command -v $c >/dev/null || { echo "translate.sh: needs $c" >&2; exit 2; }; done

WORK=$(mktemp -d /tmp/sy-translate-XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM

KEY=sk-sy-bench-0000000000000000
KEY_SHA=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)

taskset -c "$LOAD_CPU" "$MOCK_BIN" --listen 127.0.0.1:0 >"$WORK/mock.out" 2>"$WORK/mock.log" &
PIDS+=($!)
for _ in $(seq 100); do MOCK_PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/mock.out"); [ -n "$MOCK_PORT" ] && break; sleep 0.05; done
cat >"$WORK/dp.json" <<EOF
{
  "providers": [ { "id": "oai", "kind": "openai", "base_url": "http://127.0.0.1:$MOCK_PORT/v1", "api_key_env": "MOCK_KEY" },
                 { "id": "anth", "kind": "anthropic", "base_url": "http://127.0.0.1:$MOCK_PORT/v1", "api_key_env": "MOCK_KEY" } ],
  "models": [ { "id": "o", "provider": "oai", "upstream": "gpt-mock+chunks=$CHUNKS" },
              { "id": "a", "provider": "anth", "upstream": "claude-mock+chunks=$CHUNKS" } ],
  "workspaces": [ { "id": "ws", "active": true } ],
  "keys": [ { "id": "k", "sha256": "$KEY_SHA", "workspace": "ws", "allowed_models": ["*"] } ]
}
EOF
MOCK_KEY=x taskset -c "$SUT_CPU" "$DP_BIN" --config "$WORK/dp.json" --listen 127.0.0.1:0 --port-file "$WORK/dp.port" \
    --threads 1 --log-level warn 2>"$WORK/dp.log" &
DP_PID=$!; PIDS+=("$DP_PID")
for _ in $(seq 100); do [ -s "$WORK/dp.port" ] && break; sleep 0.05; done
DP_PORT=$(cat "$WORK/dp.port")

# pair: client path, model, body
lua() { # path model dialect
    local body
    if [ "$3" = anthropic ]; then
        body="{\"model\":\"$2\",\"max_tokens\":200,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story about a lighthouse keeper.\"}]}"
    else
        body="{\"model\":\"$2\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story about a lighthouse keeper.\"}]}"
    fi
    cat >"$WORK/$3-$2.lua" <<EOF
wrk.method = "POST"
wrk.path = "$1"
wrk.body = '$body'
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("BENCH %d %d\n", summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
EOF
    echo "$WORK/$3-$2.lua"
}
declare -A PATHS=([openai]=/v1/chat/completions [anthropic]=/v1/messages)
PAIRS=("openai o" "openai a" "anthropic a" "anthropic o")
cpu_ticks() { awk '{print $14 + $15}' "/proc/$DP_PID/stat"; }
HZ=$(getconf CLK_TCK)
declare -A US_REQ US_CHUNK
for pair in "${PAIRS[@]}"; do US_REQ[$pair]=""; done
for round in $(seq "$BENCH_ROUNDS"); do
    for pair in "${PAIRS[@]}"; do
        set -- $pair
        script=$(lua "${PATHS[$1]}" "$2" "$1")
        # the answer must be a real stream (checked once per pair)
        if [ "$round" = 1 ]; then
            n=$(curl -sN "http://127.0.0.1:$DP_PORT${PATHS[$1]}" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
                -d "$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$script")" | grep -c '^data: ' || true)
            [ "$n" -ge "$CHUNKS" ] || { echo "translate.sh: $pair streamed $n events" >&2; exit 1; }
        fi
        taskset -c "$LOAD_CPU" wrk -t1 -c"$BENCH_CONNS" -d1s -s "$script" "http://127.0.0.1:$DP_PORT" >/dev/null 2>&1 || true
        t0=$(cpu_ticks)
        out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$BENCH_CONNS" -d"${BENCH_SECONDS}s" -s "$script" "http://127.0.0.1:$DP_PORT")
        t1=$(cpu_ticks)
        read -r _ reqs errs < <(grep '^BENCH ' <<<"$out")
        [ "$errs" = 0 ] || { echo "translate.sh: $pair: $errs errors" >&2; exit 1; }
        us=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
        US_REQ[$pair]+="$us "
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base=$(median <<<"${US_REQ[openai o]}")
printf '\n%-28s %14s %14s %18s %10s\n' "client -> provider" "CPU us/request" "CPU us/chunk" "extra us/chunk" "vs splice"
for pair in "${PAIRS[@]}"; do
    set -- $pair
    prov=$([ "$2" = o ] && echo openai || echo anthropic)
    m=$(median <<<"${US_REQ[$pair]}")
    printf '%-28s %14s %14s %18s %9sx\n' "$1 -> $prov" "$m" "$(awk -v m="$m" -v c="$CHUNKS" 'BEGIN{printf "%.2f", m / c}')" \
        "$(awk -v m="$m" -v b="$base" -v c="$CHUNKS" 'BEGIN{printf "%.2f", (m - b) / c}')" \
        "$(awk -v m="$m" -v b="$base" 'BEGIN{printf "%.2f", m / b}')"
done
echo "($BENCH_ROUNDS rounds x ${BENCH_SECONDS}s, $CHUNKS content chunks per stream, $BENCH_CONNS connections; medians)"
