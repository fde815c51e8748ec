#!/usr/bin/env bash
# Bounded load run ("soak") of segweb on loopback with wrk: a mix of frame PNGs, index
# JSON, DICOMweb metadata / frames from the store and STOW uploads (scripts/soak.lua).
# Prints wrk's figures, the status counts, the 5xx count (503 is designed: queue full),
# and the server's RSS and open file descriptors before, during and after.
# Not a timed test and not part of ctest / CI.
#   scripts/soak.sh
# Environment:
#   SOAK_SECONDS     duration (default 150)
#   SOAK_CONNECTIONS wrk connections (default 32), SOAK_THREADS wrk threads (default 2)
#   SEGWEB_BIN       the binary (default: Release build in build/ via scripts/build.sh)
#   SOAK_ARGS        extra `segweb serve` flags
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TESTDATA=$(cd "$ROOT/../shared/testdata" && pwd)
SECONDS_=${SOAK_SECONDS:-150}
CONNS=${SOAK_CONNECTIONS:-32}
THREADS=${SOAK_THREADS:-2}
command -v wrk >/dev/null || { echo "soak: wrk is missing (apt-get install wrk)" >&2; exit 1; }
if [[ -z "${SEGWEB_BIN:-}" ]]; then
  scripts/build.sh >/dev/null
  SEGWEB_BIN=$ROOT/build/server/segweb
fi

WORK=$(mktemp -d /tmp/segweb-soak-XXXXXX)
PID=
cleanup() {
  [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/files"
cp "$TESTDATA"/seg/*.dcm "$WORK/files/"

# shellcheck disable=SC2086
"$SEGWEB_BIN" serve --listen 127.0.0.1:0 --store "$WORK/store" --files-root "$WORK/files" \
  ${SOAK_ARGS:-} 2>"$WORK/server.log" &
PID=$!
for _ in $(seq 200); do
  PORT=$(grep -o '(port [0-9]*)' "$WORK/server.log" | grep -o '[0-9]*' || true)
  [[ -n "$PORT" ]] && break
  sleep 0.05
done
[[ -n "$PORT" ]] || { cat "$WORK/server.log"; exit 1; }
BASE=http://127.0.0.1:$PORT

# Store three objects; build the file and store lists and the upload body.
eval "$(/usr/bin/python3 - "$TESTDATA" "$WORK" "$BASE" <<'PY'
import glob, io, json, os, sys, urllib.request
import pydicom
testdata, work, base = sys.argv[1:4]
seen, files, store = set(), [], []
for p in sorted(glob.glob(os.path.join(testdata, "seg", "*.dcm"))):
    ds = pydicom.dcmread(p, stop_before_pixels=True)
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    files.append(f"{os.path.basename(p)}:{min(n, 200)}")
    if ds.SOPInstanceUID in seen or len(store) >= 3 or os.path.getsize(p) > 120000:
        continue
    seen.add(ds.SOPInstanceUID)
    b = "soak-boundary-3f9"
    body = (f"--{b}\r\nContent-Type: application/dicom\r\n\r\n").encode() + open(p, "rb").read() + f"\r\n--{b}--\r\n".encode()
    ct = f'multipart/related; type="application/dicom"; boundary={b}'
    req = urllib.request.Request(base + "/studies", data=body, headers={"Content-Type": ct}, method="POST")
    assert urllib.request.urlopen(req).status == 200
    store.append(f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}:{min(n, 200)}")
    if len(store) == 1:
        open(os.path.join(work, "upload.bin"), "wb").write(body)
        print(f"export SOAK_CT='{ct}'")
print(f"export SOAK_FILES='{' '.join(files)}'")
print(f"export SOAK_STORE='{' '.join(store)}'")
print(f"export SOAK_UPLOAD='{os.path.join(work, 'upload.bin')}'")
PY
)"

fds() { ls "/proc/$PID/fd" | wc -l; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }
# warm-up: every file indexed once
wrk -t1 -c4 -d5s -s scripts/soak.lua "$BASE" >/dev/null
echo "soak: segweb $SEGWEB_BIN, $SECONDS_ s, $CONNS connections, $THREADS threads, $(nproc) cores"
echo "soak: before: rss $(rss) kB, fds $(fds)"
( while sleep 15; do echo "soak: during: rss $(rss) kB, fds $(fds)"; done ) &
SAMPLER=$!
wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_}s" --timeout 10s --latency -s scripts/soak.lua "$BASE" | tee "$WORK/wrk.out"
kill "$SAMPLER" 2>/dev/null || true
sleep 2
echo "soak: after: rss $(rss) kB, fds $(fds)"
echo "soak: server statuses (/metrics):"
curl -s "$BASE/metrics" | awk -F'[{}]' '/^segweb_requests_total/ {split($2, a, ","); s[a[2]] += $3} END {for (k in s) printf "  %s %d\n", k, s[k]}' | sort
bad=$(curl -s "$BASE/metrics" | awk -F'[{}]' '/^segweb_requests_total/ && $2 ~ /status="5/ && $2 !~ /status="503"/ {n += $3} END {print n + 0}')
echo "soak: server 5xx other than 503: $bad"
kill -TERM "$PID"
wait "$PID" && echo "soak: server exited 0" || echo "soak: server exit status $?"
PID=
[[ "$bad" == 0 ]]
