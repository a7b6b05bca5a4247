#!/usr/bin/env bash
# run-tests.sh RESULTS KIND TEST...: run each test (a cmocka binary or a
# script) under a timeout, append "PASS|FAIL|SKIP KIND name cases" lines to
# RESULTS. Exit status 77 means skipped (something the test needs is missing).
# Exit status: number of failures (capped at 1).
set -u
results=$1 kind=$2; shift 2
timeout_s=${QASM_TEST_TIMEOUT:-300}
fail=0
for t in "$@"; do
  name=$(basename "$t")
  log=$(mktemp)
  start=$(date +%s.%N)
  timeout --kill-after=5 "$timeout_s" "$t" >"$log" 2>&1
  rc=$?
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
  # cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)..."
  npass=$(sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  nfail=$(sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  cases="${npass:-0} ok, ${nfail:-0} failed"
  if [ $rc -eq 77 ]; then
    # exit 77: the test could not run here (a tool is missing); neither passed nor failed
    printf '  SKIP  %-6s %-32s %6ss  (%s)\n' "$kind" "$name" "$secs" "$(grep -m1 SKIPPED "$log")"
    echo "SKIP $kind $name 0 0" >>"$results"
  elif [ $rc -eq 0 ]; then
    printf '  PASS  %-6s %-32s %6ss  (%s)\n' "$kind" "$name" "$secs" "$cases"
    echo "PASS $kind $name ${npass:-0} ${nfail:-0}" >>"$results"
  else
    [ $rc -eq 124 ] && echo "  (timed out after ${timeout_s}s)"
    echo "----- output of $t (exit $rc) -----"; tail -n 60 "$log"; echo "-----"
    printf '  FAIL  %-6s %-32s %6ss  (%s)\n' "$kind" "$name" "$secs" "$cases"
    echo "FAIL $kind $name ${npass:-0} ${nfail:-0}" >>"$results"
    fail=1
  fi
  rm -f "$log"
done
exit $fail
