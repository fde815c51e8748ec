#!/usr/bin/env bash
# Build segweb with AddressSanitizer + UBSan and run every test (unit, corpus, end-to-end).
#   scripts/test.sh [extra ctest arguments, e.g. -R corpus]
# Installs missing dependencies first (scripts/install-deps.sh). Works from any directory.
# Exit status is non-zero if the build or any test fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

TESTDATA="$ROOT/../shared/testdata"
if [[ ! -d "$TESTDATA/seg" || ! -d "$TESTDATA/expected" ]]; then
  echo "test: the shared corpus is missing: expected $TESTDATA/{seg,expected}" >&2
  exit 1
fi
TESTDATA=$(cd "$TESTDATA" && pwd)

deps_present() {
  command -v cmake >/dev/null && command -v cc >/dev/null && command -v c++ >/dev/null &&
    command -v pkg-config >/dev/null &&
    pkg-config --exists jansson libmicrohttpd charls libopenjp2 libpng zlib &&
    # Debian's dcmtk.pc requires sndfile.pc, so look for DCMTK's headers instead.
    [[ -f /usr/include/dcmtk/dcmdata/dctk.h ]] &&
    /usr/bin/python3 -c 'import pydicom, numpy, PIL, pytest' 2>/dev/null
}
if ! deps_present; then
  echo "test: some dependencies are missing; running scripts/install-deps.sh"
  "$ROOT/scripts/install-deps.sh"
fi

SANITIZE=1 BUILD_DIR=build-asan "$ROOT/scripts/build.sh" -DSEGWEB_TESTDATA="$TESTDATA"

# tests/dicomweb: dicomweb-client from the npm registry, pinned by package-lock.json (once).
if command -v node >/dev/null && [[ ! -d tests/dicomweb/node_modules/dicomweb-client ]]; then
  if ! command -v npm >/dev/null; then  # Debian's nodejs comes without npm
    SUDO=(); [[ $(id -u) -ne 0 ]] && SUDO=(sudo)
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm
  fi
  (cd tests/dicomweb && npm ci --no-audit --no-fund)
fi

# tests/browser: playwright-core from npm (pinned by package-lock.json) drives Debian's
# chromium; no browser download (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD).
if command -v node >/dev/null && command -v npm >/dev/null &&
   [[ ! -d tests/browser/node_modules/playwright-core ]]; then
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --output-on-failure -j"$(nproc)" "$@"
