#!/usr/bin/env bash
# run-tests.sh RESULTS KIND TEST...: run each test (a cmocka binary or a
# script) under a timeout, append "PASS|FAIL|SKIP KIND name cases" lines to
# RESULTS. A test that cannot run here (no root, a missing tool or kernel
# feature) exits 77 and is reported SKIP, never PASS.
# A script may ask for a longer bound than QASM_TEST_TIMEOUT (300 s) with a
# line "# test-timeout: SECONDS". A test that runs many cases of its own (the
# docs' examples) may append its own "PASS|FAIL|SKIP KIND name 0 0" lines to
# $QASM_TEST_RESULTS, so their skips show in the totals.
# Exit status: 1 if any test failed, else 0.
set -u
results=$1 kind=$2; shift 2
export QASM_TEST_RESULTS=$results
fail=0
for t in "$@"; do
  name=$(basename "$t")
  log=$(mktemp)
  timeout_s=${QASM_TEST_TIMEOUT:-300}
  if [ "$(head -c 2 "$t" 2>/dev/null)" = "#!" ]; then
    own=$(sed -n 's/^# test-timeout: *\([0-9][0-9]*\).*/\1/p' "$t" | head -n 1)
    [ -n "$own" ] && [ "$own" -gt "$timeout_s" ] && timeout_s=$own
  fi
  start=$(date +%s.%N)
  timeout --kill-after=5 "$timeout_s" "$t" >"$log" 2>&1
  rc=$?
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
  # cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)..."
  npass=$(sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  nfail=$(sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
  cases="${npass:-0} ok, ${nfail:-0} failed"
  if [ $rc -eq 77 ]; then
    why=$(grep -m1 '^SKIP' "$log" | cut -c1-100)
    printf '  SKIP  %-6s %-32s %6ss  (%s)\n' "$kind" "$name" "$secs" "${why:-exit 77}"
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
