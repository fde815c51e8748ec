#!/usr/bin/env bash
# Configure and build segweb.
#   scripts/build.sh [extra cmake -D options]
# Environment:
#   BUILD_DIR   build directory (default build/, or build-asan/ with SANITIZE=1)
#   BUILD_TYPE  CMake build type (default Release; RelWithDebInfo with SANITIZE=1,
#               so sanitizer reports carry file:line)
#   SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer (-DSEGWEB_SANITIZE=ON)
#   WERROR=1    warnings are errors (-DSEGWEB_WERROR=ON; CI sets it)
# Every build runs scripts/lint.sh first (the module rule; -DSEGWEB_LINT=OFF skips it).
# The binary ends up in $BUILD_DIR/server/segweb. Works from any directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

cmake_args=()
if [[ "${SANITIZE:-0}" == 1 ]]; then
  BUILD_DIR=${BUILD_DIR:-build-asan}
  BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
  cmake_args+=(-DSEGWEB_SANITIZE=ON)
else
  BUILD_DIR=${BUILD_DIR:-build}
  BUILD_TYPE=${BUILD_TYPE:-Release}
fi
cmake_args+=(-DCMAKE_BUILD_TYPE="$BUILD_TYPE")
if [[ "${WERROR:-0}" == 1 ]]; then
  cmake_args+=(-DSEGWEB_WERROR=ON)
fi

# The shared test corpus lives beside the clone (../shared/testdata).
if [[ -d "$ROOT/../shared/testdata" ]]; then
  cmake_args+=(-DSEGWEB_TESTDATA="$(cd "$ROOT/../shared/testdata" && pwd)")
fi

cmake -S . -B "$BUILD_DIR" "${cmake_args[@]}" "$@"
cmake --build "$BUILD_DIR" -j"$(nproc)"
echo "build: $ROOT/$BUILD_DIR/server/segweb"
