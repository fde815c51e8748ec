#!/usr/bin/env bash
# segweb against its peers, in one go (issue 6). As root on Debian 12:
#
#   bench/run.sh
#
# 1. installs what it needs from Debian (apt-get update first),
# 2. generates the objects with ../shared/tools/make_big_seg.py into bench/.data/
#    (cached: the default 226 MB BINARY one, an odd-sized 333x517 one and a FRACTIONAL one),
# 3. builds segweb (Release) into build-bench/,
# 4. runs bench/bench.py: segweb, the pydicom + Pillow script and Orthanc + DICOMweb (on
#    loopback, temporary storage and config) on the same objects, interleaved, in rounds
#    (and the dcmjs script, bench/peers/dcmjs, when npm can install it),
# 5. profiles the hot paths with perf when perf works here (bench/.out/profile.txt),
# 6. writes bench/RESULTS.md and bench/chart.png (bench/report.py).
#
# Environment: ROUNDS (5), SLOW_ROUNDS (3, the 10-20 s peer runs), DURATION (8, wrk seconds),
# SKIP_INSTALL=1, SKIP_PERF=1, SKIP_MEASURE=1 (reuse bench/.out/results.json). Takes about 15 minutes on 2 cores, most of it the peers.
# Not part of CI (.ci/run); the CI guard is tests/bench/test_guard.py.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH=$ROOT/bench
DATA=$BENCH/.data
OUT=$BENCH/.out
TOOLS=$ROOT/../shared/tools
PY=/usr/bin/python3
mkdir -p "$DATA" "$OUT"

say() { printf '\n== %s\n' "$*" >&2; }

# ---- 1. packages ----------------------------------------------------------
PKGS=(orthanc orthanc-dicomweb wrk hyperfine python3-matplotlib python3-pydicom python3-pil
      python3-numpy jq curl linux-perf)
if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then
  say "installing packages"
  SUDO=; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # linux-perf is optional (the profile section is skipped without it).
  $SUDO apt-get install -y -qq --no-install-recommends "${PKGS[@]::${#PKGS[@]}-1}" >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends linux-perf >/dev/null 2>&1 || true
  # Optional Node peer (dcmjs from npm): skipped when npm or the registry is not reachable.
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null 2>&1 || true
  if command -v npm >/dev/null; then
    (cd "$BENCH/peers/dcmjs" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null 2>&1) ||
      echo "dcmjs peer: npm ci failed; running without it" >&2
  fi
  # (The package may start a system Orthanc on 8042; the benchmark runs its own on a free port.)
  "$ROOT/scripts/install-deps.sh" >/dev/null
fi

# ---- 2. objects -------------------------------------------------------------
gen() { # name, args...
  local name=$1; shift
  if [[ ! -s "$DATA/$name.dcm" ]]; then
    say "generating $name.dcm: make_big_seg.py $*"
    "$PY" "$TOOLS/make_big_seg.py" "$DATA/$name.dcm.tmp" --no-truth "$@" >&2
    mv "$DATA/$name.dcm.tmp" "$DATA/$name.dcm"
  fi
}
gen big
gen odd --rows 333 --cols 517 --segments 10
gen frac --fractional --segments 20

# ---- 3. build ----------------------------------------------------------------
say "building segweb (Release, build-bench/)"
BUILD_DIR=build-bench BUILD_TYPE=Release scripts/build.sh >"$OUT/build.log" 2>&1 ||
  { tail -30 "$OUT/build.log"; exit 1; }
SEGWEB=$ROOT/build-bench/server/segweb

# ---- 4. measurements -------------------------------------------------------------
if [[ "${SKIP_MEASURE:-0}" == 1 && -s "$OUT/results.json" ]]; then
  say "SKIP_MEASURE=1: reusing $OUT/results.json"
else
  say "measuring (rounds: ${ROUNDS:-5})"
  "$PY" "$BENCH/bench.py" --segweb "$SEGWEB" --data "$DATA" --out "$OUT" \
    --rounds "${ROUNDS:-5}" --slow-rounds "${SLOW_ROUNDS:-3}" --duration "${DURATION:-8}"
fi

# ---- 5. profile --------------------------------------------------------------------
PROF=$OUT/profile.txt
rm -f "$PROF"
if [[ "${SKIP_PERF:-0}" != 1 ]] && perf stat -e instructions true >/dev/null 2>&1; then
  say "profiling with perf"
  top() { # perf.data, mode (self|children), limit
    local flags=(--no-children); [[ $2 == children ]] && flags=(--children)
    perf report -i "$1" "${flags[@]}" --stdio -g none --percent-limit "$3" 2>/dev/null |
      grep -E '^ +[0-9]' | sed -E 's/ +$//' | head -25 || true  # head closes the pipe early
  }
  N=$(jq .objects.big.frames "$OUT/results.json")
  {
    echo "### Index build: \`segweb frame big.dcm 3400\` (perf record --call-graph dwarf; children = inclusive)"
    echo; echo '```'
    perf record -q --call-graph dwarf -F 2000 -o "$OUT/perf.frame.data" \
      "$SEGWEB" frame "$DATA/big.dcm" 3400 >/dev/null 2>&1
    top "$OUT/perf.frame.data" children 4
    echo '```'; echo
    for pc in 0 64; do
      PORT=$((20000 + RANDOM % 20000))
      "$SEGWEB" serve --listen 127.0.0.1:$PORT --files-root "$DATA" --workers 2 \
        --png-cache-mb $pc >/dev/null 2>&1 &
      SPID=$!
      for _ in $(seq 100); do curl -s -o /dev/null "127.0.0.1:$PORT/healthz" && break; sleep 0.05; done
      export BENCH_PREFIX=/files/big.dcm/frames/ BENCH_SUFFIX=/rendered BENCH_FRAMES=$N BENCH_BASE=1
      wrk -t2 -c16 -d8s -s "$BENCH/random_frames.lua" "http://127.0.0.1:$PORT" >/dev/null 2>&1
      wrk -t2 -c16 -d8s -s "$BENCH/random_frames.lua" "http://127.0.0.1:$PORT" >/dev/null 2>&1 &
      WPID=$!
      sleep 1
      perf record -q -g -F 999 -p $SPID -o "$OUT/perf.serve$pc.data" -- sleep 5 >/dev/null 2>&1
      wait $WPID
      kill $SPID; wait $SPID 2>/dev/null || true
      echo "### Server under wrk -c16 random frames, \`--png-cache-mb $pc\` (self time, all threads)"
      echo; echo '```'
      top "$OUT/perf.serve$pc.data" self 1
      echo '```'; echo
    done
  } >"$PROF"
else
  say "perf not usable here: no profile section"
fi

# ---- 6. report ---------------------------------------------------------------------
"$PY" "$BENCH/report.py" "$OUT"
say "done: bench/RESULTS.md, bench/chart.png (raw: bench/.out/results.json)"
