#!/usr/bin/env bash
# Install everything segweb needs to build and test, from Debian 12 packages.
#   scripts/install-deps.sh               build + test + tools (CI, development)
#   scripts/install-deps.sh --build-only  what building the segweb binary needs (the Dockerfile)
# Idempotent: when every package is already installed it does nothing (no network);
# otherwise it runs `apt-get update` and then installs them. Runs as root, or via sudo.
set -euo pipefail

BUILD_PACKAGES=(
  # build
  build-essential cmake pkg-config g++
  # libraries (see README: "which library does what")
  libdcmtk-dev libpng-dev libjansson-dev zlib1g-dev libopenjp2-7-dev libcharls-dev
  libjpeg-dev libmicrohttpd-dev libsqlite3-dev libcurl4-openssl-dev libnifti2-dev libteem-dev
)
PACKAGES=(
  "${BUILD_PACKAGES[@]}"
  # tests (the suites run under /usr/bin/python3) and tools
  python3-pydicom python3-numpy python3-pil python3-pytest python3-nibabel dcmtk nodejs
  # independent checkers and real peers: dciodvfy (SEGs we write), Orthanc + DICOMweb
  # (upstream archive), nginx (the balancer), Chromium (browser tests via playwright-core)
  dicom3tools orthanc orthanc-dicomweb nginx chromium
  curl ca-certificates git
  # hardening: libFuzzer targets (scripts/fuzz.sh), load runs (scripts/soak.sh)
  clang libclang-rt-14-dev wrk
)

if [[ "${1:-}" == "--build-only" ]]; then
  PACKAGES=("${BUILD_PACKAGES[@]}")
elif [[ $# -gt 0 ]]; then
  echo "usage: scripts/install-deps.sh [--build-only]" >&2
  exit 2
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo" >&2; exit 1; }
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${PACKAGES[@]}"
