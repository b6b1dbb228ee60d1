#!/usr/bin/env bash
# build.sh [normal|sanitize|fuzz] — configure and build into build/, build-asan/ or build-fuzz/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-normal}
jobs=$(nproc)
case "$mode" in
  normal)   dir=build;      flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  sanitize) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DSY_SANITIZE=ON) ;;
  fuzz)     dir=build-fuzz; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DSY_FUZZ=ON) ;;
  *) echo "usage: $0 [normal|sanitize|fuzz]" >&2; exit 2 ;;
esac
cmake -S "$here" -B "$here/$dir" "${flags[@]}" >/dev/null
cmake --build "$here/$dir" -j"$jobs"
