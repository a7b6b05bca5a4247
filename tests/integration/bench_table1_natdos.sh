#!/usr/bin/env bash
# qasm-bench run --quick table1 nat-dos, then check the summaries' values:
# the aware NAT keeps one public port per connection and lets a second user
# in; the default NAT spends a port per migration and refuses the second user.
set -euo pipefail
B=${QASM_BUILD:-build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

timeout 300 "$B/qasm-bench" run --quick table1 nat-dos --out "$out" >"$out/table.txt" 2>"$out/progress.txt" || {
  cat "$out/progress.txt" "$out/table.txt"; echo "FAIL: qasm-bench failed"; exit 1; }
cat "$out/table.txt"

t1=$(ls -d "$out"/table1-*/)
dos=$(ls -d "$out"/nat-dos-*/)
fail=0
check() { # desc, jq-less check via awk on the CSV
  if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
col() { # file mode column-name
  awk -F, -v m="$2" -v c="$3" 'NR==1{for(i=1;i<=NF;i++) if($i==c) k=i; next} $1==m{print $k}' "$1"
}
for m in reactive proactive; do
  check "table1: $m NAT uses 1 public port" "[ \"\$(col $t1/table1.csv $m ports_in_use)\" = 1 ]"
  check "nat-dos: $m lets the second client in" "[ \"\$(col $dos/nat-dos.csv $m victim_ok)\" -ge 3 ]"
done
mig=$(col "$t1/table1.csv" default migrations)
ports=$(col "$t1/table1.csv" default ports_in_use)
check "table1: default NAT spends a port per migration ($ports ports, $mig migrations)" "[ $mig -ge 1 ] && [ $ports -ge $mig ]"
check "nat-dos: default pool exhausted" "[ \"\$(col $dos/nat-dos.csv default ports_in_use)\" = \"\$(col $dos/nat-dos.csv default pool)\" ]"
check "nat-dos: default refuses the second client" "[ \"\$(col $dos/nat-dos.csv default victim_ok)\" -lt 3 ]"
check "summary.json written with rows" "grep -q '\"rows\"' $t1/summary.json && grep -q '\"status\": \"ok\"' $dos/summary.json"
check "plots rendered" "[ -s $t1/table1.png ] && [ -s $dos/nat-dos.svg ]"
exit $fail
