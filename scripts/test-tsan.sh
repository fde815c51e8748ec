#!/usr/bin/env bash
# Build segweb with ThreadSanitizer (-DSEGWEB_TSAN=ON, in build-tsan/) and run the
# concurrency tests under it: the unit tests of the index cache, the thread pool and
# the per-thread PNG encoder, and the end-to-end tests that hit the worker pool from
# many clients at once (concurrent clients, queue full, SIGTERM with requests in flight,
# client disconnects, concurrent STOW uploads / reads / QIDO / DELETE on one store).
#   scripts/test-tsan.sh [extra pytest -k expression]
# Environment: BUILD_DIR (default build-tsan). Any ThreadSanitizer report fails the run
# (halt_on_error=1; the server's exit status and its log are checked by the e2e tests).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-build-tsan}
TESTDATA=$(cd "$ROOT/../shared/testdata" && pwd)

cmake -S . -B "$BUILD_DIR" -DSEGWEB_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSEGWEB_TESTDATA="$TESTDATA" >/dev/null
UNIT=(test_file_cache test_threadpool test_png_encode)
cmake --build "$BUILD_DIR" -j"$(nproc)" --target segweb "${UNIT[@]}"

export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:exitcode=66}
export SEGWEB_TESTDATA="$TESTDATA"
for t in "${UNIT[@]}"; do
  echo "tsan: $t"
  "$BUILD_DIR/tests/$t"
done
K=${1:-"concurrent or queue_full or sigterm or big_object"}
echo "tsan: e2e -k '$K'"
SEGWEB_BIN="$BUILD_DIR/server/segweb" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
  tests/e2e/test_http.py -k "$K"
echo "tsan: e2e hardening and faults -k 'concurrent or disconnect'"
SEGWEB_BIN="$BUILD_DIR/server/segweb" SEGWEB_HARDENING_QUICK=1 SEGWEB_HARDENING_RSS_CHECK=0 /usr/bin/python3 -m pytest -q \
  -p no:cacheprovider tests/e2e/test_hardening.py tests/e2e/test_faults.py -k "concurrent or disconnect"
echo "tsan: ok"
