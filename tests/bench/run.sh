#!/usr/bin/env bash
# Switchyard data-plane benchmark: direct (wrk -> mock) vs nginx (plain reverse proxy) vs
# switchyard-dp: throughput at c8/c32, latency at c1, CPU and syscalls per request, time to the
# first byte of a slow stream, memory per held stream; issue 16's targets as switchyard/nginx
# ratios of the same run with PASS/FAIL (exit status 1 when one fails).
# See tests/bench/README.md. Loopback only; every process started here is stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
DP_BIN=${DP_BIN:-$BUILD_DIR/dataplane/switchyard-dp}
MOCK_BIN=${MOCK_BIN:-$BUILD_DIR/tests/mockllm/switchyard-mockllm}

BENCH_SECONDS=${BENCH_SECONDS:-10}     # each measured wrk run
BENCH_WARMUP=${BENCH_WARMUP:-2}        # wrk warm-up before each target/mode
BENCH_CONNS=${BENCH_CONNS:-32}         # the "c32" runs (both modes)
BENCH_CONNS_LOW=${BENCH_CONNS_LOW:-8}  # the "c8" runs (non-stream)
BENCH_TTFB_N=${BENCH_TTFB_N:-40}       # requests per target for the TTFB test
BENCH_STREAMS=${BENCH_STREAMS:-10000}  # concurrent streams for the memory test
BENCH_HOLD_NGINX=${BENCH_HOLD_NGINX:-1} # 1: the memory test also through nginx (reference)
BENCH_HOLD_RAMP=${BENCH_HOLD_RAMP:-256} # streams being opened at a time in the memory test
BENCH_HOLD_SECONDS=${BENCH_HOLD_SECONDS:-120} # length of one held stream (an event every 2 s): must outlast the ramp
BENCH_STRACE=${BENCH_STRACE:-1}        # 1: syscalls per request (strace -f -c) of nginx and switchyard-dp
BENCH_STRACE_SECONDS=${BENCH_STRACE_SECONDS:-5} # the wrk run counted under strace
BENCH_TARGETS=${BENCH_TARGETS:-"direct nginx switchyard"}
BENCH_ROUNDS=${BENCH_ROUNDS:-1}        # >1: targets interleaved per round, the table shows medians
BENCH_EXTRAS=${BENCH_EXTRAS:-1}        # 0: only the wrk table (and strace)
BENCH_PERF=${BENCH_PERF:-0}            # 1: perf record (dwarf call graphs) switchyard-dp in its first c32 run of BENCH_PERF_MODE; top 25 printed
BENCH_PERF_MODE=${BENCH_PERF_MODE:-nonstream} # which mode BENCH_PERF profiles: nonstream or stream
SUT_CPU=${SUT_CPU:-1}                  # the server under test, alone
LOAD_CPU=${LOAD_CPU:-0}                # wrk and the mock (when it is not under test)

# targets (issue 16; see README "Targets"): switchyard against nginx in the same run
T_RPS_RATIO=0.9        # switchyard req/s >= 0.9 x nginx (non-stream c8, c32; stream c32); goal 1.0
T_RPS_GOAL=1.0
T_CPU_RATIO=1.3        # switchyard cpu/req <= 1.3 x nginx's (same runs)
T_ADDED_P50_US=20      # (switchyard p50 at c1 - direct) - (nginx p50 at c1 - direct) = switchyard - nginx
T_TTFB_MS=0.3          # median first SSE line of a slow stream, switchyard - nginx (paired by round)
T_SYSCALLS=5           # switchyard-dp syscalls per non-stream request at c32
T_STREAM_KIB=32        # (VmHWM with N streams open - idle VmRSS) / N, every stream ending with [DONE]

die() { echo "run.sh: $*" >&2; exit 1; }
for b in wrk nginx node curl taskset; do command -v "$b" >/dev/null || die "$b not found (apt-get install wrk nginx-light nodejs curl util-linux)"; done
if [ "$BENCH_STRACE" = 1 ]; then command -v strace >/dev/null || die "strace not found (apt-get install strace, or BENCH_STRACE=0)"; fi
if [ "$BENCH_PERF" = 1 ]; then command -v perf >/dev/null || die "perf not found (apt-get install linux-perf, or BENCH_PERF=0)"; fi
case "$BENCH_PERF_MODE" in nonstream | stream) ;; *) die "BENCH_PERF_MODE=$BENCH_PERF_MODE: nonstream or stream" ;; esac
[ -x "$DP_BIN" ] || die "no $DP_BIN (build first: cmake --build $BUILD_DIR)"
[ -x "$MOCK_BIN" ] || die "no $MOCK_BIN (build first)"

WORK=$(mktemp -d /tmp/sy-bench.XXXXXX)
PIDS=()
# true while PID is still a child of this script (so a recycled PID is never signalled)
mine() { [ "$(awk '{print $4}' "/proc/$1/stat" 2>/dev/null)" = "$$" ]; }
cleanup() {
    local rc=$? p
    for p in "${PIDS[@]}"; do if mine "$p"; then kill "$p" 2>/dev/null || true; fi; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do mine "$p" || break; sleep 0.1; done
        if mine "$p"; then kill -9 "$p" 2>/dev/null || true; fi
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "run.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# run private copies, so that a rebuild during the run cannot swap the binaries under test
cp "$DP_BIN" "$WORK/switchyard-dp"; DP_BIN=$WORK/switchyard-dp
cp "$MOCK_BIN" "$WORK/switchyard-mockllm"; MOCK_BIN=$WORK/switchyard-mockllm
# a proxy holds two descriptors per held stream (client + upstream), the mock and the client one each
NOFILE=$(( 2 * BENCH_STREAMS + 4096 )); [ "$NOFILE" -lt 65536 ] && NOFILE=65536
ulimit -n "$NOFILE" 2>/dev/null || ulimit -n "$(ulimit -Hn)" # soft and hard (root may raise the hard limit)
NOFILE=$(ulimit -n)
# a proxy holding N streams needs 2N descriptors plus its own few; where the hard limit cannot be
# raised (a container), the memory test holds as many as fit and says so in its lines
HOLD_N=$BENCH_STREAMS
if [ "$NOFILE" -lt $(( 2 * BENCH_STREAMS + 200 )) ]; then
    HOLD_N=$(( (NOFILE - 200) / 2 ))
    HOLD_NOTE="descriptor limit $NOFILE (hard limit, not raisable here) fits $HOLD_N held streams per proxy, not $BENCH_STREAMS"
    echo "# WARNING: $HOLD_NOTE" >&2
fi

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_port() { # port pid name
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || die "$3 exited at start-up (log: $(tail -5 "$WORK/$3.log" 2>/dev/null))"
        sleep 0.05
    done
    die "$3 not listening on $1"
}
log() { echo "# $*" >&2; }
# runs a client in the background and waits for it, so that Ctrl-C/TERM is handled at once
run_bg() { "$@" & local p=$!; PIDS+=("$p"); wait "$p"; }

# ---------------------------------------------------------------- the request
KEY="sk-bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
KEY_SHA=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
export MOCK_KEY="sk-mock-upstream"

# ~1 KB chat request (the model is filled in per target)
PAD="You are a careful assistant. Answer briefly and precisely, cite nothing, and keep the tone neutral."
USER_TEXT="Summarise the following notes in three bullet points. The gateway forwards OpenAI-compatible chat requests to several providers, applies per-key budgets, meters tokens, and streams answers back as server-sent events. Operators configure providers, models and keys in a catalog; the data plane keeps an immutable snapshot and swaps it atomically on reload. Failover retries another provider when the first one fails before any byte reached the client."
make_body() { # model stream -> JSON on stdout
    printf '{"model":"%s","stream":%s,"max_tokens":64,"temperature":0.2,"messages":[{"role":"system","content":"%s %s %s"},{"role":"user","content":"%s"}]}' \
        "$1" "$2" "$PAD" "$PAD" "$PAD" "$USER_TEXT"
}
make_body bench false >"$WORK/body.json"
BODY_BYTES=$(wc -c <"$WORK/body.json")

# upstream model names (mock scenarios) per logical model
declare -A UPSTREAM=(
    [bench]="mock"
    [bench-stream]="mock+chunks=8+delay_ms=0"
    [bench-slow]="mock+ttft_ms=100+delay_ms=5+chunks=3"
    [bench-hold]="mock+chunks=$(( (BENCH_HOLD_SECONDS + 1) / 2 ))+delay_ms=2000"
)

# ---------------------------------------------------------------- processes
MOCK_PORT=0 MOCK_PID=0 NGINX_PORT=0 NGINX_PID=0 DP_PORT=0 DP_PID=0

start_mock() {
    : >"$WORK/mock.out"
    "$MOCK_BIN" --listen 127.0.0.1:0 --threads 1 >>"$WORK/mock.out" 2>"$WORK/mock.log" &
    MOCK_PID=$!; PIDS+=("$MOCK_PID")
    for _ in $(seq 100); do
        MOCK_PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/mock.out")
        [ -n "$MOCK_PORT" ] && break
        kill -0 "$MOCK_PID" 2>/dev/null || die "mock exited: $(cat "$WORK/mock.log")"
        sleep 0.05
    done
    [ -n "$MOCK_PORT" ] || die "mock did not print its port"
    wait_port "$MOCK_PORT" "$MOCK_PID" mock
}

start_nginx() {
    NGINX_PORT=$(free_port)
    mkdir -p "$WORK/nginx"
    cat >"$WORK/nginx/nginx.conf" <<EOF
user $(id -un) $(id -gn);
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx.log warn;
events { worker_connections $(( NOFILE - 64 )); }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/client_body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    upstream mock {
        server 127.0.0.1:$MOCK_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF
    taskset -c "$SUT_CPU" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >>"$WORK/nginx.log" 2>&1 &
    NGINX_PID=$!; PIDS+=("$NGINX_PID")
    wait_port "$NGINX_PORT" "$NGINX_PID" nginx
}

write_dp_config() {
    local models="" m
    for m in "${!UPSTREAM[@]}"; do
        models+="${models:+,}{\"id\":\"$m\",\"provider\":\"mock\",\"upstream\":\"${UPSTREAM[$m]}\"}"
    done
    cat >"$WORK/dp.json" <<EOF
{
  "providers": [ { "id": "mock", "kind": "openai", "base_url": "http://127.0.0.1:$MOCK_PORT/v1", "api_key_env": "MOCK_KEY" } ],
  "models": [ $models ],
  "limits": { "max_inflight": $(( BENCH_STREAMS + 1024 > 4096 ? BENCH_STREAMS + 1024 : 4096 )) },
  "workspaces": [ { "id": "ws_bench", "active": true } ],
  "keys": [ { "id": "key_bench", "sha256": "$KEY_SHA", "workspace": "ws_bench", "allowed_models": ["*"] } ]
}
EOF
}

start_dp() { # -> DP_PID DP_PORT
    rm -f "$WORK/dp.port"
    taskset -c "$SUT_CPU" "$DP_BIN" --config "$WORK/dp.json" --listen 127.0.0.1:0 --port-file "$WORK/dp.port" \
        --threads 1 --log-level warn >>"$WORK/switchyard.log" 2>&1 &
    DP_PID=$!; PIDS+=("$DP_PID")
    for _ in $(seq 100); do
        [ -s "$WORK/dp.port" ] && break
        kill -0 "$DP_PID" 2>/dev/null || die "switchyard-dp exited at start-up: $(tail -5 "$WORK/switchyard.log")"
        sleep 0.05
    done
    DP_PORT=$(cat "$WORK/dp.port")
    wait_port "$DP_PORT" "$DP_PID" switchyard
}

# dies with a precise message if the data plane is gone (exit code or signal, last log lines)
check_dp() { # context
    kill -0 "$DP_PID" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$DP_PID/stat" 2>/dev/null)" != Z ] && return 0
    local rc=0; wait "$DP_PID" 2>/dev/null || rc=$?
    die "switchyard-dp (pid $DP_PID) is gone $1: exit status $rc$( [ "$rc" -gt 128 ] && echo " = signal $((rc - 128))"; [ "$rc" = 0 ] && echo " (clean exit: did something send it SIGTERM?)"); log tail: $(tail -20 "$WORK/switchyard.log")"
}

stop_pid() {
    mine "$1" || return 0
    kill "$1" 2>/dev/null || true
    for _ in $(seq 50); do mine "$1" || break; sleep 0.1; done
    if mine "$1"; then kill -9 "$1" 2>/dev/null || true; fi
    wait "$1" 2>/dev/null || true
}

pin() { taskset -a -p -c "$2" "$1" >/dev/null; } # pid cpu (all threads)

port_of() { case $1 in direct) echo "$MOCK_PORT" ;; nginx) echo "$NGINX_PORT" ;; switchyard) echo "$DP_PORT" ;; esac; }
# the model name a target's client sends: the gateway maps catalog ids, the others see the mock's
model_of() { if [ "$1" = switchyard ]; then echo "$2"; else echo "${UPSTREAM[$2]}"; fi; }
# the process doing the work: for nginx its (single) worker, not the master
sut_pid() { case $1 in direct) echo "$MOCK_PID" ;; nginx) pgrep -P "$NGINX_PID" | head -1 ;; switchyard) echo "$DP_PID" ;; esac; }

# ---------------------------------------------------------------- wrk
write_lua() { # file model stream
    local body; body=$(make_body "$2" "$3")
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.body = [==[$body]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
}

# smoke check: one request through a target must answer 200 with the right shape
smoke() { # target mode
    local model stream url out code
    if [ "$2" = stream ]; then model=$(model_of "$1" bench-stream); stream=true; else model=$(model_of "$1" bench); stream=false; fi
    url="http://127.0.0.1:$(port_of "$1")/v1/chat/completions"
    out="$WORK/smoke.$1.$2"
    code=$(make_body "$model" "$stream" | curl -s -o "$out" -w '%{http_code}' --max-time 10 -X POST "$url" \
        -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary @-) || code=000
    if [ "$code" != 200 ] || { [ "$2" = stream ] && ! grep -q 'data: \[DONE\]' "$out"; } ||
        { [ "$2" = nonstream ] && ! grep -q '"chat.completion"' "$out"; }; then
        die "smoke request $1/$2 failed: HTTP $code: $(head -c 400 "$out")"
    fi
}

declare -A R # R[target.mode.tag.field.round], then R[target.mode.tag.field] = median over the rounds
run_wrk() { # target mode conns seconds tag round
    local t=$1 mode=$2 c=$3 d=$4 tag=$5 r=$6 lua="$WORK/$1.$2.lua" model stream line
    if [ "$mode" = stream ]; then model=$(model_of "$t" bench-stream); stream=true; else model=$(model_of "$t" bench); stream=false; fi
    write_lua "$lua" "$model" "$stream"
    local out="$WORK/wrk.$t.$mode.$tag.$r.txt"
    run_bg taskset -c "$LOAD_CPU" wrk -t1 -c"$c" -d"${d}s" --timeout 5s --latency -s "$lua" \
        "http://127.0.0.1:$(port_of "$t")/v1/chat/completions" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
    [ "$tag" = warm ] && return 0
    line=$(grep '^BENCH ' "$out") || die "no BENCH line from wrk: $(cat "$out")"
    local kv k v p="$t.$mode.$tag"
    for kv in ${line#BENCH }; do k=${kv%%=*}; v=${kv#*=}; R[$p.$k.$r]=$v; done
    R[$p.rps.$r]=$(awk -v n="${R[$p.requests.$r]}" -v d="${R[$p.duration_us.$r]}" 'BEGIN{printf "%.0f", n/(d/1e6)}')
    R[$p.errors.$r]=$(( R[$p.connect.$r] + R[$p.read.$r] + R[$p.write.$r] + R[$p.status.$r] + R[$p.timeout.$r] ))
    if [ "${R[$p.errors.$r]}" -ne 0 ] || grep -q 'Non-2xx' "$out"; then
        log "WARNING: $t/$mode/$tag round $r had errors: $(grep -E 'Socket errors|Non-2xx' "$out" | tr '\n' ' ')"
    fi
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# "total idle steal" jiffies of one CPU, from /proc/stat
cpu_stat() { awk -v c="cpu$1" '$1==c{t=0; for(i=2;i<=NF;i++) t+=$i; print t, $5+$6, $9}' /proc/stat; }
# share (%) of field 2 (idle) or 3 (steal) of a CPU between two cpu_stat samples
cpu_pct() { # "before" "after" field
    awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN{split(a,x," "); split(b,y," "); t=y[1]-x[1]; if(t<=0)t=1; printf "%d", 100*(y[f]-x[f])/t}'
}

# one measured wrk run of D seconds with the CPU time of the server under test and the CPU shares
measured_run() { # target mode conns tag round pid seconds
    local t=$1 mode=$2 c=$3 tag=$4 r=$5 pid=$6 d=$7 t0 t1 s_sut s_load e_sut e_load p="$1.$2.$4"
    t0=$(cpu_ticks "$pid"); s_sut=$(cpu_stat "$SUT_CPU"); s_load=$(cpu_stat "$LOAD_CPU")
    run_wrk "$t" "$mode" "$c" "$d" "$tag" "$r"
    t1=$(cpu_ticks "$pid"); e_sut=$(cpu_stat "$SUT_CPU"); e_load=$(cpu_stat "$LOAD_CPU")
    R[$p.cpu_us.$r]=$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v n="${R[$p.requests.$r]}" \
        'BEGIN{printf "%.1f", (n > 0) ? (b-a)/hz*1e6/n : 0}')
    R[$p.sut_idle.$r]=$(cpu_pct "$s_sut" "$e_sut" 2)
    R[$p.sut_steal.$r]=$(cpu_pct "$s_sut" "$e_sut" 3)
    R[$p.load_idle.$r]=$(cpu_pct "$s_load" "$e_load" 2)
    R[$p.load_steal.$r]=$(cpu_pct "$s_load" "$e_load" 3)
}

bench_target() { # target round
    local t=$1 r=$2 mode pid perf_pid
    pid=$(sut_pid "$t")
    for mode in nonstream stream; do
        smoke "$t" "$mode"
        if [ "$mode" = nonstream ]; then
            log "round $r/$BENCH_ROUNDS $t $mode: warm-up ${BENCH_WARMUP}s, c$BENCH_CONNS, c$BENCH_CONNS_LOW, c1 ${BENCH_SECONDS}s each"
        else
            log "round $r/$BENCH_ROUNDS $t $mode: warm-up ${BENCH_WARMUP}s, c$BENCH_CONNS, c1 ${BENCH_SECONDS}s each"
        fi
        run_wrk "$t" "$mode" "$BENCH_CONNS" "$BENCH_WARMUP" warm "$r"
        perf_pid=0
        if [ "$t" = switchyard ] && [ "$mode" = "$BENCH_PERF_MODE" ] && [ "$BENCH_PERF" = 1 ] && [ "$r" = 1 ]; then
            perf record --call-graph dwarf,8192 -F 499 -p "$pid" -o "$WORK/perf.data" >"$WORK/perf.log" 2>&1 &
            perf_pid=$!; PIDS+=("$perf_pid"); sleep 0.3
        fi
        measured_run "$t" "$mode" "$BENCH_CONNS" c32 "$r" "$pid" "$BENCH_SECONDS"
        if [ "$perf_pid" != 0 ]; then
            kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true
            perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio -g none --percent-limit 0 2>/dev/null |
                grep -v '^#' | grep -v '^$' | head -25 >"$WORK/perf-top25.txt" || true
            perf report -i "$WORK/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
                grep -v '^#' | grep -v '^$' | head -12 >"$WORK/perf-dso.txt" || true
            perf report -i "$WORK/perf.data" --no-children --stdio --percent-limit 0.5 -g none 2>/dev/null | grep -v '^$' | head -80 >"$WORK/perf-flat.txt" || true
            perf report -i "$WORK/perf.data" --children --stdio --percent-limit 2 -g caller,0.5,callee --max-stack 30 2>/dev/null | head -400 >"$WORK/perf-tree.txt" || true
            log "perf reports: $WORK/perf-top25.txt perf-dso.txt perf-flat.txt perf-tree.txt (BENCH_KEEP=1 keeps them)"
        fi
        if [ "$mode" = nonstream ]; then
            measured_run "$t" "$mode" "$BENCH_CONNS_LOW" c8 "$r" "$pid" "$BENCH_SECONDS"
        fi
        run_wrk "$t" "$mode" 1 "$BENCH_SECONDS" c1 "$r"
        if [ "$t" = switchyard ]; then check_dp "after the $mode runs"; fi
    done
}

# syscalls per request: strace -f -c attached to the server under test (all its threads) during a
# fixed c32 wrk run; total calls / requests wrk completed. strace slows the server down, which does
# not change what one request costs in syscalls.
strace_run() { # target mode
    local t=$1 mode=$2 pid spid out="$WORK/strace.$1.$2"
    pid=$(sut_pid "$t")
    strace -f -c -o "$out.txt" -p "$pid" 2>"$out.log" &
    spid=$!; PIDS+=("$spid")
    for _ in $(seq 200); do grep -q attached "$out.log" 2>/dev/null && break; kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
    grep -q attached "$out.log" 2>/dev/null || die "strace could not attach to $t (pid $pid): $(cat "$out.log")"
    sleep 0.2
    run_wrk "$t" "$mode" "$BENCH_CONNS" "$BENCH_STRACE_SECONDS" strace 1
    kill -TERM "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
    [ -s "$out.txt" ] || die "strace wrote no summary for $t: $(cat "$out.log")"
    # rows: % time, seconds, usecs/call, calls, [errors], syscall
    local n=${R[$t.$mode.strace.requests.1]}
    R[$t.$mode.sys.total]=$(awk -v n="$n" '$1 ~ /^[0-9.]+$/ && $NF != "total" {s += $4} END{printf "%.2f", s/n}' "$out.txt")
    R[$t.$mode.sys.top]=$(awk -v n="$n" '$1 ~ /^[0-9.]+$/ && $NF != "total" {printf "%s %.2f\n", $NF, $4/n}' "$out.txt" |
        sort -k2,2gr | head -8 | awk '{printf "%s%s %s", (NR>1 ? ", " : ""), $1, $2}')
    R[$t.$mode.sys.requests]=$n
}

median_of() { # key-prefix -> median of R[prefix.1..ROUNDS] (sum for errors)
    local k=$1 r vals=""
    for r in $(seq "$BENCH_ROUNDS"); do vals+="${R[$k.$r]} "; done
    if [[ $k == *.errors ]]; then
        awk -v v="$vals" 'BEGIN{n=split(v,a," "); s=0; for(i=1;i<=n;i++) s+=a[i]; print s}'
    else
        printf '%s\n' $vals | sort -g | awk '{a[NR]=$1} END{m=int((NR+1)/2); if (NR%2) print a[m]; else printf "%.1f\n", (a[m]+a[m+1])/2}'
    fi
}

# ---------------------------------------------------------------- go
log "switchyard benchmark: $BENCH_ROUNDS round(s) of ${BENCH_SECONDS}s runs, c$BENCH_CONNS and c1, body ${BODY_BYTES} B, SUT on CPU $SUT_CPU, wrk+mock on CPU $LOAD_CPU"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start_mock
write_dp_config
log "mock on 127.0.0.1:$MOCK_PORT; work dir $WORK"
for t in $BENCH_TARGETS; do
    case $t in
    direct) ;;
    nginx) start_nginx ;;
    switchyard) start_dp ;;
    *) die "unknown target $t" ;;
    esac
done
# targets are interleaved round by round, so that drift in machine load hits them alike;
# the servers not under test sit idle on the SUT CPU
for r in $(seq "$BENCH_ROUNDS"); do
    for t in $BENCH_TARGETS; do
        if [ "$t" = direct ]; then pin "$MOCK_PID" "$SUT_CPU"; else pin "$MOCK_PID" "$LOAD_CPU"; fi
        bench_target "$t" "$r"
    done
done
pin "$MOCK_PID" "$LOAD_CPU"
for t in $BENCH_TARGETS; do
    for mode in nonstream stream; do
        for f in rps p50_us p99_us errors cpu_us sut_idle sut_steal load_idle load_steal; do
            R[$t.$mode.c32.$f]=$(median_of "$t.$mode.c32.$f")
        done
        for f in p50_us errors; do R[$t.$mode.c1.$f]=$(median_of "$t.$mode.c1.$f"); done
    done
    for f in rps p50_us p99_us errors cpu_us; do R[$t.nonstream.c8.$f]=$(median_of "$t.nonstream.c8.$f"); done
done
has() { [[ " $BENCH_TARGETS " == *" $1 "* ]]; }
if [ "$BENCH_STRACE" = 1 ]; then
    for t in nginx switchyard; do
        has "$t" || continue
        for mode in nonstream stream; do
            log "syscalls: strace -f -c on $t during a ${BENCH_STRACE_SECONDS}s c$BENCH_CONNS $mode run"
            strace_run "$t" "$mode"
        done
    done
fi
if has nginx; then stop_pid "$NGINX_PID"; fi
if has switchyard; then check_dp "after the wrk runs"; stop_pid "$DP_PID"; fi

# ---------------------------------------------------------------- extras
# memory per held stream through a fresh server: idle VmRSS after a few requests, then hold.js holds
# HOLD_N streams at once and reads VmHWM when all have ended
hold_streams() { # name pid url model -> H[name.*]
    local name=$1 pid=$2 url=$3 model=$4
    sleep 0.5
    H[$name.idle_kb]=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
    log "memory: $HOLD_N concurrent streams through $name, upstream ${UPSTREAM[bench-hold]} (idle VmRSS ${H[$name.idle_kb]} kB)"
    run_bg taskset -c "$LOAD_CPU" node "$HERE/hold.js" "$HOLD_N" "$url" "$KEY" "$model" "$WORK/body.json" "$pid" "$BENCH_HOLD_RAMP" \
        >"$WORK/hold.$name.json" || die "hold client failed ($name)"
    H[$name.json]=$(cat "$WORK/hold.$name.json")
    H[$name.hwm_kb]=$(node -e 'console.log(require(process.argv[1]).hwm_kb)' "$WORK/hold.$name.json")
    H[$name.ok]=$(node -e 'console.log(require(process.argv[1]).ok)' "$WORK/hold.$name.json")
    H[$name.max_open]=$(node -e 'console.log(require(process.argv[1]).max_open)' "$WORK/hold.$name.json")
    # per stream actually open at the peak (a server that refused some is not credited with them)
    H[$name.per_stream]=$(awk -v h="${H[$name.hwm_kb]}" -v i="${H[$name.idle_kb]}" -v n="${H[$name.max_open]}" 'BEGIN{printf "%.1f", (n > 0) ? (h-i)/n : 0}')
}
declare -A H
if [ "$BENCH_EXTRAS" = 1 ]; then
    # (a) TTFB: slow stream direct vs through nginx and a fresh data plane
    start_dp; start_nginx
    log "TTFB: $BENCH_TTFB_N sequential streams per target, interleaved, upstream ${UPSTREAM[bench-slow]}"
    run_bg taskset -c "$LOAD_CPU" node "$HERE/ttfb.js" "$BENCH_TTFB_N" "$KEY" "$WORK/body.json" \
        direct "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" "${UPSTREAM[bench-slow]}" \
        nginx "http://127.0.0.1:$NGINX_PORT/v1/chat/completions" "${UPSTREAM[bench-slow]}" \
        switchyard "http://127.0.0.1:$DP_PORT/v1/chat/completions" bench-slow >"$WORK/ttfb.json" || die "ttfb client failed"
    tt() { node -e 'const r=require(process.argv[1])[process.argv[2]]; if (r.ok !== r.n) process.exit(1); console.log(r.first_data_ms.toFixed(3))' "$WORK/ttfb.json" "$1" ||
        die "TTFB: $1 had failed requests: $(cat "$WORK/ttfb.json")"; }
    # median over i of (a_i - b_i): the requests of one index went out back to back
    tt_paired() { node -e 'const j=require(process.argv[1]); const a=j[process.argv[2]].first_data_ms_all, b=j[process.argv[3]].first_data_ms_all;
        const d=a.map((x,i)=>x-b[i]).filter((x)=>!isNaN(x)).sort((x,y)=>x-y); const m=d.length>>1;
        console.log((d.length%2 ? d[m] : (d[m-1]+d[m])/2).toFixed(3))' "$WORK/ttfb.json" "$1" "$2"; }
    TT_D=$(tt direct); TT_N=$(tt nginx); TT_S=$(tt switchyard)
    TT_SN=$(tt_paired switchyard nginx); TT_SD=$(tt_paired switchyard direct); TT_ND=$(tt_paired nginx direct)
    stop_pid "$NGINX_PID"
    check_dp "after the TTFB runs"; stop_pid "$DP_PID"

    # (b) memory per held stream, on another fresh data plane, then (reference) a fresh nginx
    start_dp
    for _ in 1 2 3 4 5; do smoke switchyard stream; smoke switchyard nonstream; done
    hold_streams switchyard "$DP_PID" "http://127.0.0.1:$DP_PORT/v1/chat/completions" bench-hold
    check_dp "after holding $HOLD_N streams"
    stop_pid "$DP_PID"
    if [ "$BENCH_HOLD_NGINX" = 1 ]; then
        start_nginx
        for _ in 1 2 3 4 5; do smoke nginx stream; smoke nginx nonstream; done
        hold_streams nginx "$(sut_pid nginx)" "http://127.0.0.1:$NGINX_PORT/v1/chat/completions" "${UPSTREAM[bench-hold]}"
        stop_pid "$NGINX_PID"
    fi
fi

# ---------------------------------------------------------------- report
verdict() { if awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN{exit !((op=="ge") ? a>=b : a<=b)}'; then echo PASS; else echo FAIL; fi; }
us2ms() { awk -v u="$1" 'BEGIN{printf "%.3f", u/1000}'; }
med() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END{m=int((NR+1)/2); if (NR%2) print a[m]; else print (a[m]+a[m+1])/2}'; }
rounds() { seq "$BENCH_ROUNDS"; }
# per round: switchyard / nginx of one field ("nonstream.c32.rps"), and switchyard - nginx, then medians
per_round_ratio() { local r out=""; for r in $(rounds); do out+=$(awk -v s="${R[switchyard.$1.$r]}" -v n="${R[nginx.$1.$r]}" 'BEGIN{printf "%.4f ", (n > 0) ? s/n : 0}'); done; echo "$out"; }
per_round_diff() { local r out=""; for r in $(rounds); do out+=$(awk -v a="${R[$2.$1.$r]}" -v b="${R[$3.$1.$r]}" 'BEGIN{printf "%.0f ", a-b}'); done; echo "$out"; } # field a b
FAILS=0 PASSES=0
judge() { # value op threshold -> V=PASS/FAIL, counted (not in a subshell: it counts)
    V=$(verdict "$1" "$2" "$3")
    if [ "$V" = PASS ]; then PASSES=$((PASSES + 1)); else FAILS=$((FAILS + 1)); fi
}

echo
echo "Switchyard benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(nproc) CPUs  runs ${BENCH_SECONDS}s  rounds $BENCH_ROUNDS  body ${BODY_BYTES} B  stream = 8 chunks, no delay"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: compare the ratios, not the absolute figures)"
printf '%-11s %-10s %10s %10s %11s %11s %11s %7s %8s %13s %13s\n' target mode "req/s c$BENCH_CONNS" "req/s c$BENCH_CONNS_LOW" "p50 c$BENCH_CONNS" "p99 c$BENCH_CONNS" "p50 c1" errors "cpu/req" "SUT idle/st%" "load idle/st%"
printf '%s\n' "-----------------------------------------------------------------------------------------------------------------------------"
for t in $BENCH_TARGETS; do
    for mode in nonstream stream; do
        if [ "$mode" = nonstream ]; then c8=$(printf '%.0f' "${R[$t.nonstream.c8.rps]}"); errs=$(( R[$t.$mode.c32.errors] + R[$t.$mode.c1.errors] + R[$t.nonstream.c8.errors] ));
        else c8=-; errs=$(( R[$t.$mode.c32.errors] + R[$t.$mode.c1.errors] )); fi
        printf '%-11s %-10s %10.0f %10s %9sms %9sms %9sms %7s %6sus %13s %13s\n' "$t" "$mode" "${R[$t.$mode.c32.rps]}" "$c8" \
            "$(us2ms "${R[$t.$mode.c32.p50_us]}")" "$(us2ms "${R[$t.$mode.c32.p99_us]}")" "$(us2ms "${R[$t.$mode.c1.p50_us]}")" \
            "$errs" "${R[$t.$mode.c32.cpu_us]}" \
            "${R[$t.$mode.c32.sut_idle]}/${R[$t.$mode.c32.sut_steal]}" "${R[$t.$mode.c32.load_idle]}/${R[$t.$mode.c32.load_steal]}"
    done
done
echo "(cpu/req: utime+stime of the server under test during the c$BENCH_CONNS run / requests; for direct that is the mock itself."
echo " idle/st%: idle and hypervisor-steal share of the SUT's CPU $SUT_CPU and the load CPU $LOAD_CPU during the c$BENCH_CONNS run;"
echo " idle on the SUT CPU means the bottleneck was elsewhere; steal or a busy CPU with low req/s means a noisy machine.)"
echo
if [ "$BENCH_ROUNDS" -gt 1 ]; then
    echo "per round (req/s at c$BENCH_CONNS and c$BENCH_CONNS_LOW; p50 at c1 in us; cpu/req at c$BENCH_CONNS in us):"
    pr() { local r; for r in $(rounds); do printf '%s ' "${R[$1.$r]}"; done; }
    for mode in nonstream stream; do
        for t in $BENCH_TARGETS; do
            printf '  %-10s %-10s c%s %-24s' "$t" "$mode" "$BENCH_CONNS" "$(pr "$t.$mode.c32.rps")"
            if [ "$mode" = nonstream ]; then printf ' c%s %-24s' "$BENCH_CONNS_LOW" "$(pr "$t.nonstream.c8.rps")"; else printf '    %-24s' ''; fi
            printf ' p50c1 %-18s cpu %s\n' "$(pr "$t.$mode.c1.p50_us")" "$(pr "$t.$mode.c32.cpu_us")"
        done
    done
    echo "(ratios and differences below are medians of the per-round values)"
    echo
fi
if has direct; then
    for mode in nonstream stream; do
        for t in nginx switchyard; do
            has "$t" || continue
            printf '%-10s %-10s added p50 at c1 over direct %6.0f us\n' "$mode" "$t" "$(med "$(per_round_diff "$mode.c1.p50_us" "$t" direct)")"
        done
    done
fi
if [ "$BENCH_EXTRAS" = 1 ]; then
    printf 'TTFB of a slow stream (%s, %s requests each), median first SSE line: direct %s ms, nginx %s ms, switchyard %s ms\n' \
        "${UPSTREAM[bench-slow]}" "$BENCH_TTFB_N" "$TT_D" "$TT_N" "$TT_S"
    printf '           paired medians: nginx - direct %s ms, switchyard - direct %s ms, switchyard - nginx %s ms\n' "$TT_ND" "$TT_SD" "$TT_SN"
    if [ -n "${HOLD_NOTE:-}" ]; then echo "memory test: $HOLD_NOTE"; fi
    for n in switchyard nginx; do
        [ -n "${H[$n.json]:-}" ] || continue
        printf 'memory, %s streams held through %-10s idle %s kB, peak (VmHWM) %s kB, %s open at once: %s KiB per stream\n' "$HOLD_N" "$n:" \
            "${H[$n.idle_kb]}" "${H[$n.hwm_kb]}" "${H[$n.max_open]}" "${H[$n.per_stream]}"
        printf '           client: %s\n' "${H[$n.json]}"
    done
fi
if [ "$BENCH_STRACE" = 1 ]; then
    for t in nginx switchyard; do
        has "$t" || continue
        for mode in nonstream stream; do
            printf 'syscalls per %s request at c%s, %-10s %6s  (%s requests under strace; %s)\n' "$mode" "$BENCH_CONNS" "$t:" \
                "${R[$t.$mode.sys.total]}" "${R[$t.$mode.sys.requests]}" "${R[$t.$mode.sys.top]}"
        done
    done
fi
if [ "$BENCH_PERF" = 1 ] && [ -s "$WORK/perf-top25.txt" ]; then
    echo
    echo "perf, switchyard-dp in round 1's c$BENCH_CONNS $BENCH_PERF_MODE run: share of its samples by DSO, then the top 25 symbols (perf report --no-children --sort dso,symbol)"
    sed 's/^/  /' "$WORK/perf-dso.txt"
    echo
    sed 's/^/  /' "$WORK/perf-top25.txt"
fi

echo
echo "Targets (issue 16): switchyard against nginx, same run; medians of $BENCH_ROUNDS interleaved round(s)"
if has nginx && has switchyard; then
    tline() { # label switchyard nginx value unit op threshold [note]
        judge "$4" "$6" "$7"
        printf '  %-37s switchyard %10s  nginx %10s  %-12s (target %s %s%s)  %s\n' "$1" "$2" "$3" "$4$5" "$([ "$6" = ge ] && echo '>=' || echo '<=')" "$7" "${8:-}" "$V"
    }
    for f in "nonstream c8 rps" "nonstream c32 rps" "stream c32 rps"; do
        set -- $f
        tline "req/s, $1 c$( [ "$2" = c8 ] && echo "$BENCH_CONNS_LOW" || echo "$BENCH_CONNS"), ratio" "$(printf '%.0f' "${R[switchyard.$1.$2.rps]}")" \
            "$(printf '%.0f' "${R[nginx.$1.$2.rps]}")" "$(printf '%.2f' "$(med "$(per_round_ratio "$1.$2.rps")")")" "" ge "$T_RPS_RATIO" ", goal $T_RPS_GOAL"
    done
    for f in "nonstream c8" "nonstream c32" "stream c32"; do
        set -- $f
        tline "cpu/req, $1 c$( [ "$2" = c8 ] && echo "$BENCH_CONNS_LOW" || echo "$BENCH_CONNS"), ratio" "${R[switchyard.$1.$2.cpu_us]}us" \
            "${R[nginx.$1.$2.cpu_us]}us" "$(printf '%.2f' "$(med "$(per_round_ratio "$1.$2.cpu_us")")")" "" le "$T_CPU_RATIO"
    done
    for mode in nonstream stream; do
        tline "p50 at c1, $mode, sy - nginx" "$(us2ms "${R[switchyard.$mode.c1.p50_us]}")ms" "$(us2ms "${R[nginx.$mode.c1.p50_us]}")ms" \
            "$(printf '%.0f' "$(med "$(per_round_diff "$mode.c1.p50_us" switchyard nginx)")")" " us" le "$T_ADDED_P50_US" " us"
    done
    if [ "$BENCH_EXTRAS" = 1 ]; then
        tline "first byte, slow stream, sy - nginx" "${TT_S}ms" "${TT_N}ms" "$TT_SN" " ms" le "$T_TTFB_MS" " ms"
    fi
    if [ "$BENCH_STRACE" = 1 ]; then
        tline "syscalls per request, nonstream c$BENCH_CONNS" "${R[switchyard.nonstream.sys.total]}" "${R[nginx.nonstream.sys.total]}" \
            "${R[switchyard.nonstream.sys.total]}" "" le "$T_SYSCALLS" ", switchyard's own"
    fi
fi
if [ "$BENCH_EXTRAS" = 1 ] && has switchyard; then
    ok_all=$([ "${H[switchyard.ok]}" = "$HOLD_N" ] && [ "${H[switchyard.max_open]}" = "$HOLD_N" ] && echo 1 || echo 0)
    judge "${H[switchyard.per_stream]}" le "$T_STREAM_KIB"
    printf '  %-37s switchyard %10s  nginx %10s  %-12s (target <= %s KiB)  %s\n' "memory per held stream, $HOLD_N" "${H[switchyard.per_stream]}KiB" \
        "${H[nginx.per_stream]:--}${H[nginx.per_stream]:+KiB}" "${H[switchyard.per_stream]} KiB" "$T_STREAM_KIB" "$V"
    judge "$ok_all" ge 1
    printf '  %-37s switchyard %10s  nginx %10s  %-12s (target all)  %s\n' "streams all open at once, all [DONE]" \
        "${H[switchyard.max_open]}/${H[switchyard.ok]}" "${H[nginx.max_open]:--}/${H[nginx.ok]:--}" "of $HOLD_N" "$V"
fi
echo "  ($PASSES passed, $FAILS failed)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$FAILS" = 0 ] || exit 1
