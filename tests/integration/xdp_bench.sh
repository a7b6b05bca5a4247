#!/usr/bin/env bash
# xdp_bench.sh (root, BPF): qasm-xdp-bench runs, small (10^3 connections,
# 10^3 repeats, one round): every case is measured and printed with a
# positive time, the ratios are printed (and in --json), the maps were filled
# (a bad size is a usage error). A smoke test of the benchmark, never of its figures.
# SKIP (77) without root, the BPF toolchain at build time or BPF.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/test_lib.sh
B=${QASM_BUILD:-build}
[ "$(id -u)" = 0 ] || { echo "SKIP: xdp_bench.sh needs root"; exit 77; }
[ -x "$B/qasm-xdp-bench" ] || { echo "SKIP: xdp_bench.sh: qasm-xdp-bench was not built (no BPF toolchain)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

timeout "$(scaled 120)" "$B/qasm-xdp-bench" --connections 1000 --repeat 1000 --rounds 1 \
    --json "$tmp/j.json" >"$tmp/out" 2>"$tmp/err"; rc=$?
cat "$tmp/out" "$tmp/err"
if [ $rc = 1 ] && grep -q "cannot load\|unshare\|cannot set up" "$tmp/err"; then
    echo "SKIP: xdp_bench.sh: $(head -n 1 "$tmp/err")"; exit 77
fi
check "exit 0" "[ $rc = 0 ]"
check "the header names the connections" "grep -q '^qasm-xdp-bench: 1000 connections in the maps (2000 flows)' $tmp/out"
n=$(grep -Ec '^(floor|nat|ratelimit|lb) .* [1-9][0-9]* ns ' "$tmp/out")
check "13 cases, each with a positive time ($n)" "[ '$n' = 13 ]"
check "the aware mode's own checks" "grep -q 'nat reactive / this [0-9.]* \[' $tmp/out"
check "3 aware/default ratio lines" "[ \$(grep -c 'reactive/default [0-9.]* \[[0-9.]*-[0-9.]*\], proactive/default [0-9.]* \[[0-9.]*-[0-9.]*\], reactive/proactive' $tmp/out) = 3 ]"
check "--json: 13 cases, their medians as printed, 3 functions' ratios" \
    "python3 -c \"import json; j = json.load(open('$tmp/j.json')); c = j['cases']; \
assert len(c) == 13 and all(x['median_ns'] > 0 for x in c) and j['connections'] == 1000; \
assert sorted(j['ratios']) == ['lb', 'nat', 'ratelimit'] and len(j['ratios']['nat']['reactive_default']) == 3; \
out = open('$tmp/out').read().splitlines(); \
assert all(any(l.startswith(x['case'] + ' ') and l.split(' ns')[0].split()[-1] == str(x['median_ns']) for l in out) for x in c)\""
check "the program's size" "grep -q '^qasm_xdp: [1-9][0-9]* BPF instructions, [1-9][0-9]* bytes JITed' $tmp/out"
timeout "$(scaled 60)" "$B/qasm-xdp-bench" --function nat --connections 1000 --repeat 1000 --rounds 1 >"$tmp/nat" 2>&1
check "--function nat: the floor, 3 nat cases, nat on the O-DCID entry, with the FIB every packet and without it" \
    "[ \$(grep -Ec '^(floor|nat) ' $tmp/nat) = 7 ] && ! grep -q '^lb ' $tmp/nat"
"$B/qasm-xdp-bench" --connections 1 >/dev/null 2>"$tmp/bad"; rc=$?
check "--connections 1: usage error (exit 2, one line naming the flag)" \
    "[ $rc = 2 ] && [ \$(wc -l <$tmp/bad) = 1 ] && grep -q -- '--connections' $tmp/bad"
exit $fail
