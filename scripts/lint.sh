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
volume     volume/volume.h     decoder common
writer     -                   decoder common
render     render/render.h     decoder common
api        api/api.h           upstream store writer volume render decoder common
server     -                   api upstream store writer volume render decoder common
'

BANNED='atoi|strncat|sprintf|vsprintf|strcpy'
status=0
fail() { echo "lint: $*"; status=1; }

declare -A KNOWN
present=()
while read -r mod _; do
  [[ -z "$mod" ]] && continue
  KNOWN[$mod]=1
  [[ -d "$mod" ]] && present+=("$mod")
done <<<"$MODULES"

# One awk over every source file (a build step must be cheap on a loaded machine).
if ((${#present[@]})); then
  mapfile -d '' files < <(find "${present[@]}" -type f \( -name '*.c' -o -name '*.h' -o -name '*.cc' \
    -o -name '*.cpp' \) -print0 | sort -z)
  if ((${#files[@]})); then
    awk -v table="$MODULES" -v banned="$BANNED" '
      BEGIN {
        n = split(table, rows, "\n")
        for (i = 1; i <= n; i++) {
          k = split(rows[i], f, /[ \t]+/)
          if (k < 3) continue
          m = f[1]; pub[m] = f[2]; ok = " " m " "
          for (j = 3; j <= k; j++) if (f[j] != "-") ok = ok f[j] " "
          allowed[m] = ok
        }
        callre = "(^|[^A-Za-z0-9_])(" banned ")[ \t]*\\("
      }
      function fail(msg) { printf "lint: %s:%d: %s\n", FILENAME, FNR, msg; status = 1 }
      FNR == 1 { mod = FILENAME; sub(/\/.*/, "", mod) }
      /^[ \t]*#[ \t]*include[ \t]*"[a-z_]+\// {
        inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
        t = inc; sub(/\/.*/, "", t)
        if (!(t in pub)) next
        if (index(allowed[mod], " " t " ") == 0) {
          rule = allowed[mod]; sub("^ " mod " ", "", rule)
          fail("includes \"" inc "\": " mod " may not use " t " (rule: " rule ")")
        } else if (t != mod && pub[t] != "-" && inc != pub[t])
          fail("includes \"" inc "\": use " t "\x27s public header \"" pub[t] "\"")
        next
      }
      /#[ \t]*include[ \t]*<microhttpd\.h>/ { if (mod != "server") fail("<microhttpd.h> outside server/"); next }
      /#[ \t]*include[ \t]*<dcmtk\// { if (FILENAME !~ /_dcmtk\.cc$/) fail("<dcmtk/...> outside a *_dcmtk.cc bridge"); next }
      /^[ \t]*(\/?\*|\/\/)/ { next }
      match($0, callre) {
        call = substr($0, RSTART, RLENGTH); gsub(/[^a-z]/, "", call)
        fail("banned call (" call ")")
      }
      END { exit status }
    ' "${files[@]}" || status=1
  fi
fi

# Directories that look like modules but are missing from the table.
for d in */; do
  d=${d%/}
  case "$d" in tests|scripts|docs|bench|docker|build*|web|node_modules) continue ;; esac
  [[ -n "${KNOWN[$d]+x}" ]] && continue
  if find "$d" -maxdepth 1 -name '*.c' -o -maxdepth 1 -name '*.cc' | grep -q .; then
    fail "$d/: C sources in a folder that is not in scripts/lint.sh's MODULES table"
  fi
done

exit $status
