#!/usr/bin/env bash
# qasm-bench's run front end: --set with an unknown key is a usage error
# listing the valid keys; --dry-run prints the effective parameters (defaults
# by --quick, --set and --repeat applied) and starts nothing.
set -euo pipefail
B=${QASM_BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

set +e
"$B/qasm-bench" run table1 --set duraton=3 --out "$tmp/out" >"$tmp/o.txt" 2>"$tmp/e.txt"; rc=$?
set -e
check "unknown --set key: exit 2" "[ $rc = 2 ]"
check "the error names the key and lists the valid ones" \
  "grep -q \"unknown parameter 'duraton'\" $tmp/e.txt && grep -q 'duration, migrate_every, pool' $tmp/e.txt"
check "nothing ran" "[ ! -e $tmp/out ]"

"$B/qasm-bench" run --quick table1 nat-dos fig7b --set pool=4 --repeat 3 --dry-run --out "$tmp/out" >"$tmp/d.txt"
cat "$tmp/d.txt"
check "quick defaults" "grep -Eq '^  duration +2\.5 ' $tmp/d.txt && grep -Eq '^  migrate_every +1s ' $tmp/d.txt"
check "--set applied and marked" "grep -Eq '^  pool +4 .*\(--set\)' $tmp/d.txt"
check "--repeat is the repeat parameter" "grep -Eq '^  repeat +3 ' $tmp/d.txt"
check "dry run started nothing" "[ ! -e $tmp/out ]"
"$B/qasm-bench" run table1 --dry-run >"$tmp/f.txt"
check "full defaults without --quick" "grep -Eq '^  duration +6 ' $tmp/f.txt"
exit $fail
