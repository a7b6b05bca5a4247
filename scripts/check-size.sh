#!/usr/bin/env bash
# check-size.sh [FILE.c...]: no function longer than 120 lines and no main()
# longer than 60 (from the line of its name to its closing brace). Without
# arguments: every tracked .c file outside tests/. Relies on the project's
# layout: a definition's body opens with "{" and closes with "}" in column 0.
set -u
max=${QASM_MAX_FUNC_LINES:-120}
max_main=${QASM_MAX_MAIN_LINES:-60}
if [ $# -eq 0 ]; then
  cd "$(dirname "$0")/.." || exit 2
  set -- $(git ls-files '*.c' | grep -v '^tests/')
fi
awk -v max="$max" -v max_main="$max_main" '
  FNR == 1 { name = ""; start = 0 }
  # remember the last identifier followed by "(" at column 0 (a definition head)
  /^[A-Za-z_]/ && /\(/ && !/;[ \t]*$/ {
    s = $0; sub(/\(.*/, "", s); n = split(s, w, /[ \t*]+/); name = w[n]; head = FNR
  }
  /^\{/ && name != "" { start = head }
  /^\}/ && start {
    len = FNR - start + 1
    lim = (name == "main") ? max_main : max
    if (len > lim) { printf "%s:%d: %s() is %d lines (limit %d)\n", FILENAME, start, name, len, lim; bad = 1 }
    n_fn++; start = 0; name = ""
  }
  END {
    if (bad) exit 1
    printf "check-size: %d functions in %d files, none over %d lines, no main() over %d\n", n_fn, nfiles, max, max_main
  }
  FNR == 1 { nfiles++ }
' "$@"
