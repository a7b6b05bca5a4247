#!/usr/bin/env bash
# bench_xdp.sh (root, BPF): `qasm-bench run xdp`, small (10^3 connections,
# 10^3 repeats, one round; one hop round of one second): its rows (three
# functions x cost and ratio, two hop rows; the costs not judged below 10^6
# connections), the CSVs and summary.json. A smoke test of the experiment, never of its
# figures. SKIP (77) without root or the BPF programs.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/test_lib.sh
B=${QASM_BUILD:-build}
[ "$(id -u)" = 0 ] || { echo "SKIP: bench_xdp.sh needs root"; exit 77; }
[ -x "$B/qasm-xdp-hopgen" ] || { echo "SKIP: bench_xdp.sh: qasm-xdp-hopgen was not built (no BPF toolchain)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

timeout "$(scaled 300)" "$B/qasm-bench" run xdp --out "$tmp/out" --set connections=1000 \
    --set prog_repeat=1000 --set rounds=1 --set hop_rounds=1 --set hop_seconds=1 >"$tmp/o.txt" 2>&1
rc=$?
cat "$tmp/o.txt"
if grep -q 'not run' "$tmp/o.txt"; then
    echo "SKIP: bench_xdp.sh: $(grep -m1 'not run' "$tmp/o.txt")"; exit 77
fi
d=$(echo "$tmp"/out/xdp-*)
check "exit 0" "[ $rc = 0 ]"
check "8 xdp rows: 5 judged (yes or NO)" \
    "[ \$(grep -c '^xdp ' $tmp/o.txt) = 8 ] && [ \$(grep -Ec '^xdp +\|.*\| (yes|NO)\$' $tmp/o.txt) = 5 ]"
check "3 cost rows not judged at 10^3 connections, and saying so" \
    "[ \$(grep -Ec '1000 connections, not 10\^6 .*\| n/a\$' $tmp/o.txt) = 3 ]"
check "hop rows: xdp and packet pps measured" \
    "grep -Eq 'xdp [1-9][0-9]* pps, packet [1-9][0-9]* pps' $tmp/o.txt"
check "xdp-cost.csv: 13 cases with a positive median" \
    "[ \$(python3 -c \"import csv; print(sum(float(r['median_ns']) > 0 for r in csv.DictReader(open('$d/xdp-cost.csv'))))\") = 13 ]"
check "xdp-ratios.csv: 3 functions x 3 ratios" "[ \$(tail -n +2 $d/xdp-ratios.csv | wc -l) = 9 ]"
check "xdp-hop.csv: 5 hops" "[ \$(awk -F, 'NR > 1 && \$2 >= 0' $d/xdp-hop.csv | wc -l) = 5 ]"
check "summary.json: ok, headlines and both raw results" \
    "python3 -c \"import json; s = json.load(open('$d/summary.json')); h = s['headline']; \
assert s['status'] == 'ok' and h['nat_default_ns'] > 0 and h['hop_xdp_pps'] > 0; \
assert s['results']['cost']['connections'] == 1000 and 'xdp' in s['results']['hop']['hops']\""
exit $fail
