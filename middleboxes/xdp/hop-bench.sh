#!/usr/bin/env bash
# hop-bench.sh (root): packets per second through the netns testbed's hop
# (tests/integration/netns_lib.sh: client ns -- in0 hop out0 -- server ns),
# the same machine, the same generator and sink, the hops interleaved:
#
#   ceiling        no hop: the frames are counted and dropped on arrival at
#                  the hop's in0 (what the generator delivers)
#   kernel-fwd     plain kernel forwarding (ip_forward 1)
#   kernel-nat     the kernel's NAT: nftables masquerade + conntrack
#   packet         qasm-mbox nat --mode default --io packet (AF_PACKET, raw IP)
#   xdp            qasm-mbox nat --mode default --io xdp
#
# The generator is qasm-xdp-hopgen: IPv4 UDP frames (64-byte payload, a
# QUIC short header, FLOWS source ports) made in the kernel by
# BPF_PROG_TEST_RUN with live frames on the client's c0, one thread per
# CPU; the sink is its XDP program on the server's s0, counting in the
# kernel. Each hop is measured ROUNDS times (the hops in turn in each
# round); the table gives the median of the received packets per second
# (and of the generated ones). Then, with kernel.bpf_stats_enabled=1
# (restored after), the xdp hop once more: the program's run time per packet
# under this traffic (run_time_ns / run_cnt of its in0 program).
#
# Usage: middleboxes/xdp/hop-bench.sh  (env: B build dir, ROUNDS 5, SECONDS_ 3,
# FLOWS 16, THREADS = CPUs, JSON a file for the figures: per hop the median
# and each round's received and generated pps, the program's ns per run; what
# `qasm-bench run xdp` reads). Prints the table; exit 77 when it cannot run.
cd "$(dirname "$0")/../.." || exit 1
export QASM_BUILD=${B:-build}
. tests/integration/netns_lib.sh
netns_require_root hop-bench.sh
. tests/integration/mbox_lib.sh
ROUNDS=${ROUNDS:-5} SECS=${SECONDS_:-3} FLOWS=${FLOWS:-16} THREADS=${THREADS:-$(nproc)}
[ -x "$B/qasm-xdp-hopgen" ] || { echo "SKIP: hop-bench.sh: qasm-xdp-hopgen not built (no BPF toolchain)"; exit 77; }
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -qw kernel.bpf_stats_enabled=$STATS_WAS; cleanup; netns_cleanup' EXIT
# Stopped (qasm-bench's bound, ^C): exit, so that the EXIT trap removes the testbed.
trap 'exit 143' TERM INT HUP
XDP_TEST=hop-bench.sh
. tests/integration/netns_xdp_lib.sh
xdp_testbed
# The sink drops ARP too: the hop's neighbours are permanent.
S_MAC=$(in_s cat /sys/class/net/s0/address) IN0_MAC=$(in_h cat /sys/class/net/in0/address)
in_h ip neigh replace $S_IP lladdr "$S_MAC" dev out0 nud permanent
OBJ=$B/gen/qasm_xdp.bpf.o

# gen SINK_NS SINK_IF: one measurement, its JSON on stdout.
gen() {
    timeout $((SECS * 4 + 30)) "$B/qasm-xdp-hopgen" --gen-netns "$NS_C" --gen-if c0 \
        --dst-mac "$IN0_MAC" --from $C_IP:20000 --to $S_IP:4433 --flows "$FLOWS" \
        --threads "$THREADS" --sink-netns "$1" --sink-if "$2" --seconds "$SECS" --warmup 1
}

# hop_up NAME / hop_down NAME: the hop of one case.
hop_up() {
    netns_hop_reset
    # veth accepts XDP_TX / redirected frames only into an XDP program: the kernel hops get
    # the pass-only one on in0 (qasm-mbox --io xdp attaches its own).
    [ "$1" = xdp ] || in_h ip link set dev in0 xdpdrv obj "$OBJ" program qasm_xdp_pass
    case $1 in
    kernel-fwd) netns_hop_kernel_forward ;;
    kernel-nat) netns_hop_kernel_nat ;;
    packet | xdp)
        # ip_forward=0 (the reset) turned lo's forwarding off too: the program's FIB needs it.
        in_h sysctl -qw net.ipv4.conf.lo.forwarding=1
        rm -f "$T/mb.json"
        start mb ip netns exec "$NS_H" "$B/qasm-mbox" nat --mode default --io "$1" \
            --inside in0 --outside out0 --ports 40000-40999 --stats-json "$T/mb.json"
        wait_json "$T/mb.json" "d['io'] == '$1'" || { echo "FAIL: qasm-mbox --io $1"; cat "$T/mb.log"; exit 1; }
        ;;
    esac
}
hop_down() {
    case $1 in packet | xdp) stop mb; cp "$T/mb.json" "$T/mb-$1.json" ;; esac
    in_h ip link set dev in0 xdpdrv off 2>/dev/null
    netns_hop_reset
}

CASES="ceiling kernel-fwd kernel-nat packet xdp"
declare -A RX=() TX=()
echo "# hop-bench: $ROUNDS rounds x ${SECS} s per hop, $FLOWS flows, $THREADS generating threads; $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg) at start"
for r in $(seq "$ROUNDS"); do
    for c in $CASES; do
        hop_up $c
        if [ $c = ceiling ]; then out=$(gen "$NS_H" in0); else out=$(gen "$NS_S" s0); fi
        hop_down $c
        rx=$(echo "$out" | json /dev/stdin "d['received_pps']") || { echo "FAIL: $c: $out"; exit 1; }
        tx=$(echo "$out" | json /dev/stdin "d['sent_pps']")
        echo "round $r $c: received $rx pps, generated $tx pps"
        [ $c = xdp ] && echo "  xdp counters: $(json "$T/mb-xdp.json" "{k: v for k, v in d['xdp'].items() if v}")"
        [ $c = packet ] && echo "  packet backend: $(json "$T/mb-packet.json" "d['packet']")"
        RX[$c]="${RX[$c]:-} $rx" TX[$c]="${TX[$c]:-} $tx"
        echo "$c $rx $tx" >>"$T/rounds"
    done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
[ "$ROUNDS" -gt 0 ] && printf '\n%-12s %14s %14s %10s\n' hop "received pps" "generated pps" "x packet"
P=$(echo ${RX[packet]:-1} | median)
[ "$ROUNDS" -gt 0 ] && for c in $CASES; do
    m=$(echo ${RX[$c]} | median)
    printf '%-12s %14.0f %14.0f %10.1f\n' $c "$m" "$(echo ${TX[$c]} | median)" \
        "$(python3 -c "print($m / max($P, 1))")"
done

# The program's own time per packet under this traffic (bpf_stats adds ~20 ns: its own run).
sysctl -qw kernel.bpf_stats_enabled=1
hop_up xdp
xdp_id() { # the id of the program attached to in0 when it is qasm-mbox's qasm_xdp
    local id
    id=$(in_h bpftool -j net show dev in0 | python3 -c "import json,sys; x=json.load(sys.stdin)[0]['xdp']; print(x[0]['id'] if x else '')")
    [ -n "$id" ] && bpftool -j prog show id "$id" | grep -q '"name":"qasm_xdp"' && echo "$id"
}
wait_until 30 xdp_id >/dev/null || { echo "FAIL: qasm-mbox's program is not on in0"; exit 1; }
id=$(xdp_id)
before=$(bpftool -j prog show id "$id")
out=$(gen "$NS_S" s0)
echo "$out"
after=$(bpftool -j prog show id "$id")
hop_down xdp
sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
python3 - "$before" "$after" "$T/rounds" "${JSON:-}" "$ROUNDS $SECS $FLOWS $THREADS" <<'EOF'
import json, statistics, sys
b, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
n = a.get('run_cnt', 0) - b.get('run_cnt', 0)
t = a.get('run_time_ns', 0) - b.get('run_time_ns', 0)
print("\nxdp program on in0 under this traffic (kernel.bpf_stats_enabled): %d runs, %.1f ns per run"
      % (n, t / n if n else float('nan')))
if sys.argv[4]:
    hops = {}
    for line in open(sys.argv[3]):
        c, rx, tx = line.split()
        h = hops.setdefault(c, {'rounds_received_pps': [], 'rounds_generated_pps': []})
        h['rounds_received_pps'].append(float(rx))
        h['rounds_generated_pps'].append(float(tx))
    for h in hops.values():  # the lower median, as the table's
        h['received_pps'] = statistics.median_low(h['rounds_received_pps'])
        h['generated_pps'] = statistics.median_low(h['rounds_generated_pps'])
    rounds, secs, flows, threads = map(int, sys.argv[5].split())
    json.dump({'rounds': rounds, 'seconds': secs, 'flows': flows, 'threads': threads,
               'hops': hops, 'xdp_prog_runs': n, 'xdp_prog_ns_per_run': t / n if n else None},
              open(sys.argv[4], 'w'), indent=2)
EOF
echo "load $(cut -d' ' -f1 /proc/loadavg) at end"
