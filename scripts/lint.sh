#!/usr/bin/env bash
# The module rule of ../shared/DESIGN.md, checked on every build (the CMake target
# `lint`, which every module depends on) and by .ci/run:
#
#     server ──► api ──► upstream, store, writer, volume, render ──► decoder ──► common
#
#   - a module includes only itself and the modules below it (MODULES: no upward or
#     sideways include);
#     of a module with a public header only that header ("decoder/decoder.h");
#   - <microhttpd.h> only in server/; <dcmtk/...> only in bridge files *_dcmtk.cc;
#   - no atoi, strncat, sprintf, vsprintf, strcpy (bounded or checked alternatives:
#     snprintf, strtoul with an end check, buf_append).
#
# A new module is one line in MODULES. Exit status 1 and one line per finding
# ("file:line: what") when anything is wrong. Works from any directory.
#   scripts/lint.sh [root]
#   scripts/lint.sh --self-test    probe files that must fail, and a clean tree that must pass
set -uo pipefail

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
if [[ "${1:-}" == --self-test ]]; then
  tmp=$(mktemp -d) || exit 2
  trap 'rm -rf "$tmp"' EXIT
  probe() { # expect file content...
    local expect=$1 file=$2
    shift 2
    rm -rf "$tmp/t" && mkdir -p "$tmp/t/common" "$tmp/t/decoder" "$tmp/t/store" "$tmp/t/api" "$tmp/t/server"
    mkdir -p "$tmp/t/$(dirname "$file")" && printf '%s\n' "$@" >"$tmp/t/$file"
    if "$SELF" "$tmp/t" >"$tmp/out" 2>&1; then got=pass; else got=fail; fi
    if [[ $got != "$expect" ]]; then
      echo "lint self-test: $file (${*}) should $expect, did $got:"; cat "$tmp/out"; exit 1
    fi
  }
  probe fail store/probe.c '#include <microhttpd.h>'
  probe fail decoder/probe.c '#include "api/api.h"'
  probe fail decoder/probe.c '#include "store/store.h"'
  probe fail common/probe.c '#include "decoder/decoder.h"'
  probe fail api/probe.c '#include "server/http.h"'
  probe fail api/probe.c '#include "decoder/dataset.h"'
  probe fail server/probe.c '#include "api/route.h"'
  probe fail api/probe.c '#include <dcmtk/dcmdata/dctk.h>'
  probe fail decoder/probe.c 'int f(const char *s) { return atoi(s); }'
  probe fail common/probe.c 'void f(char *d) { strcpy(d, "x"); }'
  probe fail newmod/probe.c 'int x;'
  probe pass server/probe.c '#include <microhttpd.h>' '#include "api/api.h"'
  probe pass decoder/probe_dcmtk.cc '#include <dcmtk/dcmdata/dctk.h>' '#include "decoder/dataset.h"'
  probe pass api/probe.c '#include "decoder/decoder.h"' '#include "store/store.h"' 'int n = snprintf(b, 4, "x");'
  echo "lint self-test: ok"
  exit 0
fi

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$ROOT" || exit 2

# module   public header ("-": any of its headers)   modules it may include
MODULES='
common     -                   -
decoder    decoder/decoder.h   common
store      -                   decoder common
upstream   -                   decoder common
volume     -                   decoder common
writer     -                   decoder common
render     -                   decoder common
api        api/api.h           upstream store writer volume render decoder common
server     -                   api upstream store writer volume render decoder common
'

BANNED='atoi|strncat|sprintf|vsprintf|strcpy'
status=0
fail() { echo "lint: $*"; status=1; }

declare -A PUBLIC ALLOWED
mods=()
while read -r mod pub deps; do
  [[ -z "$mod" ]] && continue
  mods+=("$mod")
  PUBLIC[$mod]=$pub
  ALLOWED[$mod]=" $mod ${deps//-/} "
done <<<"$MODULES"

for mod in "${mods[@]}"; do
  [[ -d "$mod" ]] || continue
  while IFS= read -r -d '' f; do
    # quoted includes of another module
    while IFS=: read -r line inc; do
      target=${inc%%/*}
      [[ -n "${PUBLIC[$target]+x}" ]] || continue
      if [[ "${ALLOWED[$mod]}" != *" $target "* ]]; then
        fail "$f:$line: includes \"$inc\": $mod may not use $target (rule: ${ALLOWED[$mod]# $mod })"
      elif [[ "$target" != "$mod" && "${PUBLIC[$target]}" != "-" && "$inc" != "${PUBLIC[$target]}" ]]; then
        fail "$f:$line: includes \"$inc\": use $target's public header \"${PUBLIC[$target]}\""
      fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z_]+/' "$f" |
             sed -E 's/^([0-9]+):.*"([^"]+)".*/\1:\2/')
    # foreign libraries that belong to one place
    if [[ "$mod" != server ]]; then
      grep -nE '#[[:space:]]*include[[:space:]]*<microhttpd\.h>' "$f" |
        while IFS=: read -r line _; do echo "lint: $f:$line: <microhttpd.h> outside server/"; done | grep . && status=1
    fi
    if [[ "$f" != *_dcmtk.cc ]]; then
      grep -nE '#[[:space:]]*include[[:space:]]*<dcmtk/' "$f" |
        while IFS=: read -r line _; do echo "lint: $f:$line: <dcmtk/...> outside a *_dcmtk.cc bridge"; done | grep . && status=1
    fi
    # banned calls (not in comments starting the line)
    grep -nE "(^|[^[:alnum:]_])($BANNED)[[:space:]]*\(" "$f" | grep -vE '^[0-9]+:[[:space:]]*(/?\*|//)' |
      while IFS=: read -r line _; do
        echo "lint: $f:$line: banned call ($(grep -oE "(^|[^[:alnum:]_])($BANNED)[[:space:]]*\(" <<<"$(sed -n "${line}p" "$f")" | head -1 | tr -dc 'a-z'))"
      done | grep . && status=1
  done < <(find "$mod" -type f \( -name '*.c' -o -name '*.h' -o -name '*.cc' -o -name '*.cpp' \) -print0)
done

# Directories that look like modules but are missing from the table.
for d in */; do
  d=${d%/}
  case "$d" in tests|scripts|docs|bench|docker|build*|web|node_modules) continue ;; esac
  [[ -n "${PUBLIC[$d]+x}" ]] && continue
  if find "$d" -maxdepth 1 -name '*.c' -o -maxdepth 1 -name '*.cc' | grep -q .; then
    fail "$d/: C sources in a folder that is not in scripts/lint.sh's MODULES table"
  fi
done

exit $status
