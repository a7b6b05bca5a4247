#!/usr/bin/env bash
# qasm-bench's run front end: --set with an unknown key is a usage error
# listing the valid keys; --dry-run prints the effective parameters (defaults
# by --quick, --set and --repeat applied) and starts nothing; the xdp
# experiment is listed but not in `all`, and without root it is one row saying
# so, not a failure.
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

"$B/qasm-bench" list >"$tmp/l.txt"
check "list: xdp, marked not in all" "grep -Eq '^xdp +XDP fast path: .*\[not in all\]$' $tmp/l.txt"
"$B/qasm-bench" run --quick all --dry-run >"$tmp/a.txt"
check "all: every listed experiment but xdp" \
  "[ \$(grep -c ' (--quick):$' $tmp/a.txt) = \$((\$(wc -l <$tmp/l.txt) - 1)) ] && ! grep -q '^xdp' $tmp/a.txt"
"$B/qasm-bench" run --quick xdp --repeat 3 --dry-run >"$tmp/x.txt"
check "xdp's quick parameters; --repeat is not its BPF repeat" \
  "grep -Eq '^  connections +1000000 ' $tmp/x.txt && grep -Eq '^  prog_repeat +100000 ' $tmp/x.txt && grep -Eq '^  hop_rounds +1 ' $tmp/x.txt"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  chmod 755 "$tmp" && mkdir -m 777 "$tmp/nr"
  set +e
  setpriv --reuid=65534 --regid=65534 --clear-groups "$B/qasm-bench" run xdp --out "$tmp/nr/out" \
    >"$tmp/n.txt" 2>&1; rc=$?
  set -e
  cat "$tmp/n.txt"
  check "xdp without root: exit 0, one row saying why" \
    "[ $rc = 0 ] && [ \$(grep -c '^xdp ' $tmp/n.txt) = 1 ] && grep -q '^xdp .*not run: needs root' $tmp/n.txt"
  check "xdp without root: a summary.json saying so" \
    "grep -q 'not run: needs root' $tmp/nr/out/xdp-*/summary.json"
fi
exit $fail
