#!/usr/bin/env bash
# Soak (fault matrix H4): mixed traffic and faults through a control plane, a bus-mode data plane
# and the mock for DURATION seconds (default 600), sampling VmRSS and descriptors of the data
# plane and the control plane every SAMPLE_S seconds; fails when RSS grows after the warm-up,
# descriptors do not come back, billing is not exact, an outcome is unexpected, or a process does
# not stop cleanly (with BUILD_DIR=build-asan: LeakSanitizer at exit). The driver is
# tests/integration/lib/soak.mjs (soak.test.mjs runs it for 60 s in CI).
#   tests/bench/soak.sh                          # 10 minutes, normal build
#   DURATION=120 BUILD_DIR=build-asan tests/bench/soak.sh
#   SOAK_JSON=/tmp/soak.json tests/bench/soak.sh # every sample and count as JSON too
# Environment: DURATION (s), SAMPLE_S (5), SOAK_CLIENTS (8), FREEZE_EVERY_S (45; 0 = no control
# plane freezes), BUILD_DIR (build), SOAK_JSON. Loopback only; everything it starts is stopped.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
[ -x "$BUILD_DIR/dataplane/switchyard-dp" ] || { echo "soak.sh: no $BUILD_DIR/dataplane/switchyard-dp (scripts/build.sh normal)" >&2; exit 2; }
[ -d "$ROOT/tests/integration/node_modules" ] || { echo "soak.sh: run npm ci in tests/integration first" >&2; exit 2; }
export SY_BUILD_DIR=$BUILD_DIR
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0}
cd "$ROOT/tests/integration"
exec node lib/soak.mjs
