#!/usr/bin/env bash
# Build the libFuzzer targets with clang (-DSEGWEB_FUZZ=ON, ASan + UBSan) and run each
# for a bounded time, after replaying the regression corpus in tests/fuzz/regress/.
#   scripts/fuzz.sh [target ...]        default: every target that was built
# Environment:
#   FUZZ_SECONDS  seconds per target (default 30)
#   BUILD_DIR     build directory (default build-fuzz/)
#   FUZZ_WORK     seeds, growing corpora and crash artifacts (default $BUILD_DIR/fuzz-work)
#   FUZZ_ARGS     extra libFuzzer flags
# Seeds are generated from ../shared/testdata by tests/fuzz/make_seeds.py (never copied
# into the repository). Exit status is non-zero when a regression input or a run crashes;
# the crashing input is kept in $FUZZ_WORK/artifacts/<target>/ (minimize it with
# `<target> -minimize_crash=1 -runs=10000 FILE`, then add it to tests/fuzz/regress/<target>/).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_WORK=${FUZZ_WORK:-$BUILD_DIR/fuzz-work}
TESTDATA=$(cd "$ROOT/../shared/testdata" && pwd)

command -v clang >/dev/null || { echo "fuzz: clang is missing (scripts/install-deps.sh)" >&2; exit 1; }
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -DSEGWEB_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSEGWEB_TESTDATA="$TESTDATA" >/dev/null
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(fuzz_decoder fuzz_route fuzz_frame_png fuzz_seg_index)
  [[ -f api/multipart.h ]] && targets+=(fuzz_multipart)
  [[ -f upstream/upstream.h ]] && targets+=(fuzz_upstream_multipart)
  [[ -f writer/writer.h ]] && targets+=(fuzz_writer_inputs)
  [[ -f volume/volume.h ]] && targets+=(fuzz_volume)
fi
cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${targets[@]}"

rm -rf "$FUZZ_WORK/seeds"
/usr/bin/python3 tests/fuzz/make_seeds.py "$TESTDATA" "$FUZZ_WORK/seeds"
# fuzz_seg_index: persisted indexes of the corpus, written by the target itself (its own format)
for t in "${targets[@]}"; do
  if [[ $t == fuzz_seg_index ]]; then
    SEGWEB_TESTDATA="$TESTDATA" SEGWEB_FUZZ_WRITE_SEEDS="$FUZZ_WORK/seeds/fuzz_seg_index" "$BUILD_DIR/tests/fuzz/fuzz_seg_index"
  fi
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in "${targets[@]}"; do
  bin="$BUILD_DIR/tests/fuzz/$t"
  regress="tests/fuzz/regress/$t"
  if [[ -d "$regress" ]] && compgen -G "$regress/*" >/dev/null; then
    echo "fuzz: $t: replaying $(ls "$regress" | wc -l) regression inputs"
    if ! "$bin" -rss_limit_mb=2048 -timeout=20 "$regress"/* >"$FUZZ_WORK/$t-regress.log" 2>&1; then
      tail -40 "$FUZZ_WORK/$t-regress.log"
      echo "fuzz: $t: REGRESSION input crashed" >&2
      status=1
      continue
    fi
  fi
  corpus="$FUZZ_WORK/corpus/$t"
  artifacts="$FUZZ_WORK/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  max_len=65536
  [[ $t == fuzz_decoder || $t == fuzz_volume || $t == fuzz_seg_index ]] && max_len=1048576
  [[ $t == fuzz_route ]] && max_len=4200
  echo "fuzz: $t: ${FUZZ_SECONDS}s"
  # shellcheck disable=SC2086
  if ! "$bin" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=20 -max_len=$max_len \
      -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} \
      "$corpus" "$FUZZ_WORK/seeds/$t" >"$FUZZ_WORK/$t.log" 2>&1; then
    tail -60 "$FUZZ_WORK/$t.log"
    echo "fuzz: $t: CRASH, input in $artifacts/" >&2
    status=1
    continue
  fi
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$FUZZ_WORK/$t.log" | awk '{print $2}')
  cov=$(grep -o 'cov: [0-9]*' "$FUZZ_WORK/$t.log" | tail -1 | awk '{print $2}')
  echo "fuzz: $t: ok, ${runs:-?} executions, coverage ${cov:-?} edges"
done
exit $status
