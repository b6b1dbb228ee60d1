#!/usr/bin/env bash
# The whole test suite: unit + integration tests in a normal build, the same again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then every libFuzzer target briefly.
# Usage: scripts/test.sh [normal|sanitize|fuzz ...]   (default: all three)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/deps.sh"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(normal sanitize fuzz)
status=0
for mode in "${modes[@]}"; do
  echo "=== $mode build ==="
  "$here/scripts/build.sh" "$mode"
  case "$mode" in
    normal)   dir=build;      sel=(-E '^fuzz_') ;;
    sanitize) dir=build-asan; sel=(-E '^fuzz_') ;;
    fuzz)     dir=build-fuzz; sel=(-R '^fuzz_') ;;
  esac
  echo "=== $mode tests ==="
  if ! (cd "$here/$dir" && ctest --output-on-failure --timeout 900 "${sel[@]}"); then
    echo "=== $mode: FAILED ==="
    status=1
  fi
done
exit $status
