#!/usr/bin/env bash
# test-replay-input.sh: qasm-replay on damaged input. A capture cut in the
# middle of a record, or of a record header, still prints the summary of
# what was read but exits 1 and names the file and the packet where reading
# stopped; the intact file exits 0; a missing file exits 1; a bad flag 2.
# Env: QASM_BUILD (default build).
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${QASM_BUILD:-build}
replay=$build/qasm-replay
cap=$here/corpus/port-migration.pcap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check NAME OK(0/1) DETAIL
  if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1: $3"; fail=1; fi
}
run() { timeout 60 "$replay" "$@" --function nat --mode reactive --json >"$tmp/out" 2>"$tmp/err"; }

run "$cap"; rc=$?
check "intact capture exits 0" $([ $rc = 0 ]; echo $?) "exit $rc: $(head -2 "$tmp/err")"
total=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counts"]["packets"])' "$tmp/out" 2>/dev/null)
[ -n "$total" ] || total=$(grep -o '"packets": [0-9]*' "$tmp/out" | head -1 | grep -o '[0-9]*$')
size=$(stat -c %s "$cap")

# Cut 10 bytes into the last third: inside a record's data or header.
for cut in $((size * 2 / 3)) $((size - 10)); do
  head -c "$cut" "$cap" >"$tmp/cut.pcap"
  run "$tmp/cut.pcap"; rc=$?
  check "cut at byte $cut exits 1" $([ $rc = 1 ]; echo $?) "exit $rc"
  check "cut at byte $cut names file and packet" \
    $(grep -q "cut.pcap: read error at packet [0-9]* (after [0-9]* good packets)" "$tmp/err"; echo $?) \
    "stderr: $(head -2 "$tmp/err")"
  check "cut at byte $cut still prints a summary" $([ -s "$tmp/out" ]; echo $?) "no output"
done
n=$(sed -n 's/.*read error at packet \([0-9]*\).*/\1/p' "$tmp/err")
check "the last cut stops before the end ($n <= $total)" \
  $([ -n "$n" ] && [ -n "$total" ] && [ "$n" -le "$total" ]; echo $?) "packet $n of $total"

run "$tmp/missing.pcap"; rc=$?
check "missing file exits 1" $([ $rc = 1 ]; echo $?) "exit $rc"
timeout 10 "$replay" "$cap" --no-such-flag >/dev/null 2>&1; rc=$?
check "bad flag exits 2" $([ $rc = 2 ]; echo $?) "exit $rc"
exit $fail
