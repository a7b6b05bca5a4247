#!/usr/bin/env bash
# netns_bench.sh (root only): qasm-bench run --quick table1 nat-dos [lb] --topology netns,
# once with the qasm NAT as the hop (qasm-mbox --io packet, three modes) and
# once with the kernel's NAT (--hop kernel-nat: nftables masquerade, conntrack;
# alone, and behind qasm-normalize when it was built),
# then checks the CSVs: aware modes keep one public port per connection and let
# the second client in; the default qasm NAT and the kernel NAT spend a port per
# migration and refuse the second client once the pool is gone; the packet LB
# (VIP on the hop, two backends) misroutes a migrated connection by default and
# keeps its backend when aware. Counts only.
# Skips (exit 77) when not root; leaves no namespace behind.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/netns_lib.sh
netns_require_root netns_bench.sh
B=${QASM_BUILD:-build}
out=$(mktemp -d /tmp/qasm-netns-bench-test.XXXXXX)
trap 'rm -rf "$out"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1   [$2]"; fail=1; fi; }
col() { # file mode column
  awk -F, -v m="$2" -v c="$3" 'NR==1{for(i=1;i<=NF;i++) if($i==c) k=i; next} $1==m{print $k}' "$1"
}
# qasm-bench names its namespaces qb-{c,h,s}-PID: one left behind is one whose
# bench is gone (a concurrent run's namespaces belong to a live bench).
orphans() {
  ip netns list | awk '{print $1}' | grep -E '^qb-[chs]-[0-9]+$' |
    while read -r n; do [ -d "/proc/${n##*-}" ] || echo "$n"; done | sort
}
before=$(orphans)

for hop in qasm kernel-nat; do
  d="$out/$hop"
  exps="table1 nat-dos"
  [ $hop = qasm ] && exps="table1 nat-dos lb"
  timeout 240 "$B/qasm-bench" run --quick $exps --topology netns --hop $hop --out "$d" \
    >"$d.table" 2>"$d.progress" || { cat "$d.progress" "$d.table"; echo "FAIL: qasm-bench ($hop)"; fail=1; continue; }
  cat "$d.table"
  t1=$(ls "$d"/table1-*/table1.csv) dos=$(ls "$d"/nat-dos-*/nat-dos.csv)
  if [ $hop = qasm ]; then
    for m in reactive proactive; do
      check "qasm $m: 1 public port for the migrating connection" "[ \"\$(col $t1 $m ports_in_use)\" = 1 ]"
      check "qasm $m: migrations happened" "[ \"\$(col $t1 $m migrations)\" -ge 1 ]"
      check "qasm $m: the second client gets in" "[ \"\$(col $dos $m victim_ok)\" -ge 3 ]"
      lbc=$(ls "$d"/lb-*/lb.csv)
      check "qasm lb $m: no request failed, nothing misrouted" \
        "[ \"\$(col $lbc $m requests_failed)\" = 0 ] && [ \"\$(col $lbc $m misrouted_packets)\" = 0 ]"
    done
    lbc=$(ls "$d"/lb-*/lb.csv)
    check "qasm lb default: the migrated connection was misrouted" \
      "[ \"\$(col $lbc default misrouted_packets | tail -1)\" -gt 0 ] || [ \"\$(col $lbc default requests_failed | tail -1)\" -gt 0 ]"
    modes=default
  else
    modes=kernel
    check "kernel: conntrack entries listed" "[ -s \$(ls $d/table1-*/conntrack-kernel.txt) ]"
    # The same NAT behind qasm-normalize (a mode when it was built): one entry, one port.
    if [ -n "$(col $t1 normalize ports_in_use)" ]; then
      check "kernel + normalize: 1 public port for the migrating connection" \
        "[ \"\$(col $t1 normalize ports_in_use)\" = 1 ] && [ \"\$(col $t1 normalize mappings)\" = 1 ]"
      check "kernel + normalize: the second client gets in" "[ \"\$(col $dos normalize victim_ok)\" -ge 3 ]"
    fi
  fi
  for m in $modes; do
    mig=$(col $t1 $m migrations) ports=$(col $t1 $m ports_in_use)
    check "$hop $m: a public port per migration ($ports ports, $mig migrations)" "[ $mig -ge 1 ] && [ $ports -ge $mig ]"
    check "$hop $m: the pool is exhausted" "[ \"\$(col $dos $m ports_in_use)\" = \"\$(col $dos $m pool)\" ]"
    check "$hop $m: the second client is refused" "[ \"\$(col $dos $m victim_ok)\" -lt 3 ]"
  done
done
check "no namespace left behind" "[ -z \"\$(comm -13 <(echo \"\$before\") <(orphans))\" ]"
exit $fail
