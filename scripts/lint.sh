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
set -uo pipefail

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
