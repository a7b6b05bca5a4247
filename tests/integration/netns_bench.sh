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
# Then fig7a --quick (the rate limiter, 5 pkt/s, the client migrating by port)
# through --hop qasm (--io packet) and --hop qasm-xdp (--io xdp): the verdict
# row and summary.json's figures (aware <= 1.3x the limit, default above it),
# the hop's backend, and with --io xdp packets forwarded by the kernel in the
# sum, the slow path's forwards charged to the kernel's bucket (one budget per
# connection); --hop kernel-nat refused for fig7a. A check listed in KNOWN below is reported XFAIL (XPASS once it holds)
# and does not fail the test: a known defect of another part, said with why.
# Skips (exit 77) when not root, and after the rest when --hop qasm-xdp could
# not run (no BPF programs built, no ethtool, no XDP on veth): a failure of
# the rest still fails. Leaves no namespace behind.
# test-timeout: 600
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/netns_lib.sh
netns_require_root netns_bench.sh
B=${QASM_BUILD:-build}
out=$(mktemp -d /tmp/qasm-netns-bench-test.XXXXXX)
trap 'rm -rf "$out"' EXIT
fail=0
skipped=
# Checks that fail for a known defect elsewhere, '|'-separated (none at present).
KNOWN=""
check() {
  local known=
  case "|$KNOWN|" in *"|$1|"*) known=1 ;; esac
  if eval "$2"; then
    if [ -n "$known" ]; then echo "XPASS $1 (a known failure holds now: take it out of KNOWN)"; else echo "ok   $1"; fi
  elif [ -n "$known" ]; then echo "XFAIL $1   [$2] (known, see KNOWN)"
  else echo "FAIL $1   [$2]"; fail=1; fi
}
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
# fig7a through the packet and the XDP backends: the same outcome expected.
hj() { # summary.json python-expression: its value
  python3 -c "import json, sys; s = json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null
}
for hop in qasm qasm-xdp; do
  io=packet tag=packet
  if [ $hop = qasm-xdp ]; then
    io=xdp tag=xdp
    [ -f "$B/gen/qasm_xdp.bpf.o" ] || { skipped="fig7a --hop qasm-xdp: --io xdp was not built (no BPF toolchain)"; continue; }
    command -v ethtool >/dev/null || { skipped="fig7a --hop qasm-xdp needs ethtool"; continue; }
  fi
  d="$out/fig7a-$hop"
  timeout 300 "$B/qasm-bench" run --quick fig7a --topology netns --hop $hop --out "$d" \
    >"$d.table" 2>"$d.progress"
  rc=$?
  cat "$d.progress" "$d.table"
  if [ $hop = qasm-xdp ] && grep -q "cannot make the testbed ready for XDP\|cannot load\|cannot attach" \
       "$d.progress" "$d"/fig7a-*/ratelimit-*.log 2>/dev/null; then
    skipped="fig7a --hop qasm-xdp: XDP not available here ($(grep -hm1 'cannot' "$d.progress"))"; continue
  fi
  sj=$(ls "$d"/fig7a-*/summary.json 2>/dev/null | head -1)
  check "$tag fig7a: qasm-bench exit 0, summary ok" "[ $rc = 0 ] && [ \"\$(hj '$sj' \"s['status']\")\" = ok ]"
  check "$tag fig7a: the hop ran --io $io in every mode" \
    "[ \"\$(hj '$sj' \"' '.join(s['results']['hop-' + m]['io'] for m in ('default', 'reactive', 'proactive'))\")\" = '$io $io $io' ]"
  lim=$(hj "$sj" "s['headline']['limit_pkt_per_s']")
  for m in default reactive proactive; do
    v=$(hj "$sj" "s['headline']['${m}_pkt_per_s']")
    printf '     %s fig7a %s: %.1f pkt/s (limit %s)\n' $tag $m "${v:--1}" "${lim:-?}"
    if [ $m = default ]; then
      check "$tag fig7a: default bypassed by migration" "python3 -c 'import sys; sys.exit(not ($v > 1.3 * $lim))'"
      continue
    fi
    check "$tag fig7a: $m holds the rate" "python3 -c 'import sys; sys.exit(not (0 < $v <= 1.3 * $lim))'"
  done
  check "$tag fig7a: verdict row agrees" "grep -Eq '^fig7a +\\|.*\\(netns, --hop $hop\\) +\\| yes\$' '$d.table'"
  if [ $hop = qasm-xdp ]; then
    # The figure is the sum the backend reports: the kernel's forwarded packets and the slow path's.
    check "xdp fig7a: the kernel forwarded packets, the slow path some" \
      "[ \"\$(hj '$sj' \"min(s['results']['hop-' + m]['xdp']['forwarded'] for m in ('default', 'reactive', 'proactive')) > 0 and min(s['results']['hop-' + m]['packets_forwarded'] for m in ('default', 'reactive', 'proactive')) > 0\")\" = True ]"
    # One budget per connection: the slow path's forwards are charged to the kernel's bucket.
    check "xdp fig7a: the slow path's forwards charged to the kernel's bucket, none failed" \
      "[ \"\$(hj '$sj' \"all(s['results']['hop-' + m]['xdp_maps']['slow_charged'] > 0 and s['results']['hop-' + m]['xdp_maps']['slow_charge_failed'] == 0 for m in ('default', 'reactive', 'proactive'))\")\" = True ]"
  fi
done
timeout 60 "$B/qasm-bench" run --quick fig7a --topology netns --hop kernel-nat --out "$out/kn" \
  >"$out/kn.txt" 2>&1
rc=$?
check "fig7a --hop kernel-nat: refused (exit 1), saying why" \
  "[ $rc = 1 ] && grep -q 'kernel-nat has no rate limiter' '$out/kn.txt'"
check "no namespace left behind" "[ -z \"\$(comm -13 <(echo \"\$before\") <(orphans))\" ]"
[ $fail = 0 ] && [ -n "$skipped" ] && { echo "SKIP: netns_bench.sh: $skipped (the rest passed)"; exit 77; }
exit $fail
