#!/usr/bin/env bash
# Writer bench (issue 11): `segweb create` on make_label_bench.py's inputs -- a 300-slice
# 512x512 CT series, a 5-label uint16 NIfTI on its grid (357 non-empty frames) and dcmqi
# metadata -- wall time, CPU time (user + sys) and peak RSS, per --compress mode, in rounds;
# then dciodvfy on the object written. dcmqi's itkimage2segimage runs on the same inputs when
# DCMQI_BIN points at it (../shared/tools/DCMQI.md builds it; this script does not).
#
#   bench/writer.sh                 # builds build/ (Release) if needed
# Environment: ROUNDS (5), WORK (/tmp/segweb-writer-bench: inputs are generated once, never in
# the repository), SEGWEB_BIN, DCMQI_BIN. Prints one table; copy figures into bench/RESULTS.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-5}
WORK=${WORK:-/tmp/segweb-writer-bench}
BIN=${SEGWEB_BIN:-$ROOT/build/server/segweb}
[[ -x $BIN ]] || BUILD_DIR=build "$ROOT/scripts/build.sh" >/dev/null
if [[ ! -f $WORK/labels.nii.gz ]]; then
  /usr/bin/python3 "$ROOT/../shared/tools/make_label_bench.py" "$WORK"
fi
cd "$WORK"
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

measure() { # name, command...
  local name=$1; shift
  local t=() c=() m=()
  for ((i = 0; i < ROUNDS; i++)); do
    /usr/bin/time -o "$WORK/time.txt" -f '%e %U %S %M' "$@" >/dev/null 2>"$WORK/stderr.txt" || {
      cat "$WORK/stderr.txt" >&2; return 1; }
    read -r wall user sys rss <"$WORK/time.txt"
    t+=("$wall"); c+=("$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')"); m+=("$rss")
  done
  printf '| %-28s | %6s | %6s | %6s | %6.0f |\n' "$name" \
    "$(printf '%s\n' "${t[@]}" | median)" "$(printf '%s\n' "${t[@]}" | sort -n | head -1)" \
    "$(printf '%s\n' "${c[@]}" | median)" "$(printf '%s\n' "${m[@]}" | sort -n | tail -1 | awk '{print $1/1024}')"
}

echo "rounds: $ROUNDS; load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
echo
echo '| writer | wall median s | wall best s | CPU median s | peak RSS MB |'
echo '|---|---:|---:|---:|---:|'
for c in none rle deflate; do
  measure "segweb create --compress $c" "$BIN" create --source src --labels labels.nii.gz --meta meta.json \
    --out "$WORK/out-$c.dcm" --compress "$c"
done
if [[ -n ${DCMQI_BIN:-} && -x $DCMQI_BIN ]]; then
  measure "dcmqi itkimage2segimage" "$DCMQI_BIN" --inputMetadata meta.json --inputImageList labels.nii.gz \
    --inputDICOMDirectory src/ --outputDICOM "$WORK/out-dcmqi.dcm"
fi
echo
for c in none rle; do
  n=$(dciodvfy "$WORK/out-$c.dcm" 2>&1 | grep -c '^Error' || true)
  echo "dciodvfy out-$c.dcm: $n errors; $(stat -c %s "$WORK/out-$c.dcm") bytes;" \
    "$("$BIN" info "$WORK/out-$c.dcm" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["number_of_frames"], "frames,", len(d["segments"]), "segments")')"
done
