#!/usr/bin/env bash
# qasm-bench report on two synthetic result folders: each headline number
# side by side with its ratio to the first folder's; a result root pairs
# experiments by name; one folder prints its table. report writes nothing:
# the folders' files (plots included) keep their hashes and mtimes.
set -euo pipefail
B=${QASM_BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

mkres() { # dir commit p50 ratio
  mkdir -p "$1"
  cat >"$1/summary.json" <<JSON
{"experiment": "fig8a", "status": "ok",
 "meta": {"qasm_version": "0.1.0", "qasm_commit": "$2", "host": "h", "started_utc": "2026-01-01T00:00:00Z"},
 "headline": {"default_p50_us": $3, "reactive_p50_ratio": $4, "requests_failed": null},
 "rows": [{"experiment": "fig8a", "claim": "aware latency ~ default", "figure": "p50 $3 us", "agrees": true}]}
JSON
  printf 'set terminal pngcairo\nset output "fig8a.png"\nplot x\n' >"$1/fig8a.gp"
  printf 'not a real png' >"$1/fig8a.png"
}
mkres "$tmp/a/fig8a-20260101-000000" aaaa111 400 1.25
mkres "$tmp/b/fig8a-20260102-000000" bbbb222 500 1.00
before=$(cd "$tmp" && find . -type f -printf '%p %T@ %s\n' | sort; find . -type f -exec md5sum {} + | sort)

"$B/qasm-bench" report "$tmp/a/fig8a-20260101-000000" "$tmp/b/fig8a-20260102-000000" >"$tmp/two.txt"
cat "$tmp/two.txt"
line() { grep -E "^fig8a +$1 " "$tmp/two.txt"; }
check "both folders named with their commits" "grep -q 'aaaa111' $tmp/two.txt && grep -q 'bbbb222' $tmp/two.txt"
check "p50: 400, 500, ratio x1.250" "line default_p50_us | grep -Eq ' 400 +500 +x1\.250'"
check "ratio of ratios: x0.800" "line reactive_p50_ratio | grep -Eq ' 1\.25 +1 +x0\.800'"
check "a missing value is null, its ratio -" "line requests_failed | grep -Eq 'null +null +-'"

"$B/qasm-bench" report "$tmp/a" "$tmp/b" >"$tmp/roots.txt"
check "result roots paired by experiment" "grep -Eq '^fig8a +default_p50_us +400 +500 +x1\.250' $tmp/roots.txt"

"$B/qasm-bench" report "$tmp/a" >"$tmp/one.txt"
check "one folder: its table and headline" "grep -q 'aware latency ~ default' $tmp/one.txt && grep -Eq '^fig8a +default_p50_us +400' $tmp/one.txt"

set +e
"$B/qasm-bench" report "$tmp/a" "$tmp/nothing" >/dev/null 2>"$tmp/err.txt"; rc=$?
set -e
check "a folder without summary.json: exit 1 and why" "[ $rc = 1 ] && grep -q 'no summary.json' $tmp/err.txt"

rm -f "$tmp"/*.txt
after=$(cd "$tmp" && find . -type f -printf '%p %T@ %s\n' | sort; find . -type f -exec md5sum {} + | sort)
check "nothing written or redrawn in the folders" "[ \"\$before\" = \"\$after\" ]"
exit $fail
