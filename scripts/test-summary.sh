#!/usr/bin/env bash
# Print the totals of a run-tests.sh results file; fail if anything failed.
set -u
f=$1
[ -s "$f" ] || { echo "qasm: no test results in $f" >&2; exit 1; }
awk '
  { n[$1]++; cases_ok += $4; cases_fail += $5; if ($1 == "FAIL") failed = failed " " $2 "/" $3
    if ($1 == "SKIP") skipped = skipped " " $2 "/" $3 }
  END {
    printf "\n== %d suites passed, %d failed, %d skipped (%d test cases passed, %d failed)\n",
           n["PASS"], n["FAIL"], n["SKIP"], cases_ok, cases_fail
    if (n["SKIP"] > 0) printf "== SKIPPED:%s\n", skipped
    if (n["FAIL"] > 0) { printf "== FAILED:%s\n", failed; exit 1 }
  }' "$f"
