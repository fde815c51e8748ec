#!/usr/bin/env bash
# Volumes benchmark (issue 10): see bench/volume.py. Not part of CI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec nice /usr/bin/python3 bench/volume.py "$@"
