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
#   nz-idle        kernel-nat behind qasm-normalize on in0 (when built), its
#                  tracker empty: the programs parse each packet (a server
#                  with no records) and pass it: the hook's and the parse's cost
#   nz-home        kernel-nat behind qasm-normalize on in0: the
#                  FLOWS flows are tracked connections at home (their first
#                  address is the generator's source): each packet's DCID is
#                  looked up and the packet passes unchanged
#   nz-migrated    the same, the flows tracked as connections that migrated
#                  (first address C_IP:30000+i, the generator's source
#                  C_IP:20000+i attested): every packet is normalised
#   nz-floor       (only when named in CASES) kernel-nat behind qasm-normalize
#                  --bench-ingress floor: a tc program that passes every packet
#                  and does nothing else in place of the ingress program: the
#                  hook's own cost, the floor of the normaliser's
#   nz-parse       (only when named in CASES) the same with --bench-ingress
#                  parse: one that counts and parses each packet, then passes it
#   nz-X-clsact    (only when named in CASES; X one of idle, home, migrated,
#                  floor, parse) nz-X with qasm-normalize --hook clsact: its
#                  programs on the clsact qdisc, not on tcx links (the default
#                  where the kernel has them, Linux 6.6+): what the hook costs
#   kernel-nat-reply, nz-home-reply, nz-migrated-reply (and -reply-clsact)
#                  (only when named in CASES) the other way: the server's
#                  replies (generated on s0 from S_IP:4433 to the masquerade's
#                  address and the FLOWS ports conntrack maps) through the
#                  kernel's NAT, then through the normaliser's egress program
#                  on in0 (nz-home-reply: each reply looked up and passed;
#                  nz-migrated-reply: each one rewritten from the first
#                  address to the current one), counted on c0; before each
#                  such run, forward traffic makes the conntrack entries.
#                  Paired with kernel-nat-reply
#   nzb-idle, nzb-home, nzb-migrated
#                  (only when named in CASES, with NZ_BASE set) the nz case of
#                  that name with the qasm-normalize of the build directory
#                  NZ_BASE (another version, built apart): before / after in
#                  the same rounds; each nz-X is then also paired with nzb-X
#                  (a NZ_BASE from before --hook attaches to clsact: pair it
#                  with nz-X-clsact by eye, or build both with the same hook)
#
# The generator is qasm-xdp-hopgen: IPv4 UDP frames (64-byte payload, a
# QUIC short header, FLOWS source ports) made in the kernel by
# BPF_PROG_TEST_RUN with live frames on the client's c0, one thread per
# CPU; the sink is its XDP program on the server's s0, counting in the
# kernel. Each hop is measured ROUNDS times (the hops in turn in each
# round, every other round in the reverse order); the table gives the median of the received packets per second
# (and of the generated ones). Then, with kernel.bpf_stats_enabled=1
# (restored after; qasm-mbox has no flag of its own for it), the xdp hop
# once more: the program's run time per packet under this traffic
# (run_time_ns / run_cnt of its in0 program), and each nz case once more
# with qasm-normalize --bpf-stats (the accounting held by the process, the
# sysctl untouched): its ingress program's, from its stats JSON (either hook).
#
# The nz cases send with --dcid-per-flow (flow i's DCID c1c2c3c4c5c6 and i
# on 2 bytes: a connection per flow), registered once at a tracker in the
# hop (one per case: two use the same DCIDs) by qasm-trackctl report from the
# client's namespace. Each nz run checks the normaliser's counters
# (nz-idle: nothing looked up; nz-home: nothing normalised; nz-migrated:
# packets normalised, nothing unattested) and conntrack (the entries'
# original source ports are the first addresses' ports), and after the table come the paired ratios
# nz-X / kernel-nat, each round's pair measured in the same round: median
# [quartiles] over the rounds, as middleboxes/xdp/xdp_bench.c reports.
#
# The generating threads and the hop share the CPUs: a slower hop leaves the generator
# more CPU for frames the veth then drops, and how the kernel splits the CPUs between
# the two varies from run to run (per-round rates here differ by up to 2x). PERF=DIR
# profiles each run's counted seconds (perf record -a, cpu-clock, DIR/CASE-ROUND.data:
# perf report reads them) and says per run, and per case as medians, the hop's CPU per
# received frame (the samples under the veth's NAPI poll of in0, or out0 for replies:
# its XDP, the skbs, tc, conntrack, NAT, forwarding, the transmit; not the sink's poll)
# and the part of it in the normaliser's programs (their own samples: what sampling
# sees of them, first reads of the packet's cache lines included).
#
# Usage: middleboxes/xdp/hop-bench.sh  (env: B build dir, NZ_BASE another build dir
# for the nzb- cases, ROUNDS 5, SECONDS_ 3, PERF,
# FLOWS 16, THREADS = CPUs, CASES: a subset of the hops, in that order; JSON a
# file for the figures: per hop the median and each round's received and
# generated pps, the program's ns per run; what `qasm-bench run xdp` reads).
# Prints the table; exit 77 when it cannot run.
cd "$(dirname "$0")/../.." || exit 1
export QASM_BUILD=${B:-build}
. tests/integration/netns_lib.sh
netns_require_root hop-bench.sh
. tests/integration/mbox_lib.sh
ROUNDS=${ROUNDS:-5} SECS=${SECONDS_:-3} FLOWS=${FLOWS:-16} THREADS=${THREADS:-$(nproc)}
[ -z "${PERF:-}" ] || { command -v perf >/dev/null && mkdir -p "$PERF" && [ "$SECS" -ge 2 ]; } ||
    { echo "FAIL: PERF=$PERF: needs perf (linux-perf), a directory and SECONDS_ >= 2"; exit 1; }
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

# The reply cases' sink (c0) drops ARP too.
C_MAC=$(in_c cat /sys/class/net/c0/address) OUT0_MAC=$(in_h cat /sys/class/net/out0/address)
in_h ip neigh replace $C_IP lladdr "$C_MAC" dev in0 nud permanent

# gen SINK_NS SINK_IF [GENERATOR FLAGS...]: one measurement, its JSON on stdout.
gen() {
    local ns=$1 ifc=$2
    shift 2
    timeout $((SECS * 4 + 30)) "$B/qasm-xdp-hopgen" --gen-netns "$NS_C" --gen-if c0 \
        --dst-mac "$IN0_MAC" --from $C_IP:20000 --to $S_IP:4433 --flows "$FLOWS" \
        --threads "$THREADS" --sink-netns "$ns" --sink-if "$ifc" --seconds "$SECS" --warmup 1 "$@"
}

# gen_reply FIRST0: the server's replies to the masquerade's ports FIRST0 .. FIRST0+FLOWS-1
# (the first addresses' ports: masquerade keeps a free source port), after a short forward run
# that makes the conntrack entries; its JSON on stdout.
gen_reply() {
    local ports
    timeout 60 "$B/qasm-xdp-hopgen" --gen-netns "$NS_C" --gen-if c0 --dst-mac "$IN0_MAC" \
        --from $C_IP:20000 --to $S_IP:4433 --flows "$FLOWS" --threads 1 --sink-netns "$NS_S" \
        --sink-if s0 --seconds 0.2 --warmup 0.2 --dcid-per-flow >/dev/null || return 1
    ports=$(in_h conntrack -L -p udp --orig-port-dst 4433 2>/dev/null | grep -c "dport=$1 ")
    [ "$ports" -ge 1 ] || { echo "FAIL: no conntrack entry with reply port $1: $(in_h conntrack -L -p udp 2>&1 | head -3)" >&2; return 1; }
    timeout $((SECS * 4 + 30)) "$B/qasm-xdp-hopgen" --gen-netns "$NS_S" --gen-if s0 \
        --dst-mac "$OUT0_MAC" --from $S_IP:4433 --to $H_OUT_IP:"$1" --to-ports --flows "$FLOWS" \
        --threads "$THREADS" --sink-netns "$NS_C" --sink-if c0 --seconds "$SECS" --warmup 1 \
        --dcid-per-flow
}

# The normaliser's cases: one tracker each in the hop (the same DCIDs), the FLOWS connections
# reported once. nz_register PORT FIRST0 N: flow i < N (source port 20000+i, DCID c1c2c3c4c5c6
# and i on 2 bytes) as a connection whose first address is $C_IP:FIRST0+i.
declare -A NZ_TRK=([nz-idle]=4792 [nz-home]=4790 [nz-migrated]=4791 [nz-floor]=4792 [nz-parse]=4792) \
    NZ_FIRST0=([nz-idle]=20000 [nz-home]=20000 [nz-migrated]=30000 [nz-floor]=20000 [nz-parse]=20000) \
    NZ_N=([nz-idle]=0 [nz-floor]=0 [nz-parse]=0) NZ_UP=() \
    NZ_BENCH=([nz-floor]=floor [nz-parse]=parse) NZ_HOOK=()
# The nzb- cases: the nz- case's tracker, NZ_BASE's binary; the -clsact ones: the nz- case
# on the clsact qdisc.
for c in nzb-idle nzb-home nzb-migrated nz-{idle,home,migrated,floor,parse}-clsact \
    nz-{home,migrated}-reply nz-{home,migrated}-reply-clsact; do
    b=${c/nzb-/nz-} b=${b%-clsact} b=${b%-reply}
    NZ_TRK[$c]=${NZ_TRK[$b]} NZ_FIRST0[$c]=${NZ_FIRST0[$b]}
    [ -n "${NZ_N[$b]:-}" ] && NZ_N[$c]=${NZ_N[$b]}
    [ -n "${NZ_BENCH[$b]:-}" ] && NZ_BENCH[$c]=${NZ_BENCH[$b]}
    [[ $c == *-clsact ]] && NZ_HOOK[$c]=clsact
done
case " ${CASES:-} " in *" nzb-"*) [ -x "${NZ_BASE:-}/qasm-normalize" ] ||
    { echo "FAIL: the nzb- cases need NZ_BASE, a build directory with qasm-normalize"; exit 1; } ;; esac
nz_conns() { in_h "$B/qasm-trackctl" --tracker $H_IN_IP:$1 --json dump | json /dev/stdin "d['count']"; }
nz_full() { [ "$(nz_conns "$1")" = "$2" ]; }
nz_register() {
    local i
    [ -n "${NZ_UP[$1]:-}" ] && return 0 # (cases that share a tracker: once)
    NZ_UP[$1]=1
    set -- "$1" "$2" "${3:-$FLOWS}"
    # (start's time bound is a test's: the trackers serve the whole run.)
    TEST_PROC_TIMEOUT=$((ROUNDS * 10 * (SECS * 4 + 40) + 600)) start "trk$1" ip netns exec "$NS_H" "$B/qasm-tracker" --listen $H_IN_IP:$1 --ttl 1h --max-per-ip 0
    wait_ns "$NS_H" "$1" tcp || { echo "FAIL: qasm-tracker on $1"; exit 1; }
    for i in $(seq 0 $(($3 - 1))); do
        in_c "$B/qasm-trackctl" --tracker $H_IN_IP:$1 report --odcid "$(printf '0d%04x%04x' "$1" "$i")" \
            --dcid "$(printf 'c1c2c3c4c5c6%04x' "$i")" --client0 $C_IP:$(($2 + i)) \
            --client $C_IP:$((20000 + i)) --server $S_IP:4433 --seq 1 >/dev/null || exit 1
    done
    wait_until 30 nz_full "$1" "$3" ||
        { echo "FAIL: tracker $1 holds $(nz_conns "$1") connections, not $3"; exit 1; }
}
# nz_check CASE: the normaliser did what the case is about (its counters at exit, conntrack's
# entries: their original source ports are the first addresses'); sets NZ_LINE, a summary.
nz_check() {
    local k="d['kernel']" ct n first
    ct=$(in_h conntrack -L -p udp --orig-port-dst 4433 2>/dev/null | grep -o ' sport=[0-9]*' | awk 'NR % 2 == 1')
    n=$(echo "$ct" | grep -c .)
    first=$(echo "$ct" | awk -F= -v lo="${NZ_FIRST0[$1]}" -v n="$FLOWS" '$2 >= lo && $2 < lo + n' | wc -l)
    NZ_LINE="$(json "$T/nz.json" "{c: $k.get(c) for c in ('normalized', 'first_address', 'unattested', 'not_quic', 'out_rewritten', 'store_failed', 'fast_path')}"); conntrack: $n entries, $first from the first addresses"
    local b=${1/nzb-/nz-}
    b=${b%-clsact}
    case $b in
    nz-home-reply) json_true "$T/nz.json" "$k['out_rewritten'] == 0 and $k['out_packets_received'] > 0" ;;
    nz-migrated-reply) json_true "$T/nz.json" "$k['out_rewritten'] > 0" ;;
    esac || { echo "FAIL: $1: the replies were not what the case is about: $NZ_LINE"; exit 1; }
    case ${b%-reply} in
    nz-idle) json_true "$T/nz.json" "$k['normalized'] == 0 and $k['first_address'] == 0 and $k['not_quic'] > 0" ;;
    nz-home) json_true "$T/nz.json" "$k['normalized'] == 0 and $k['first_address'] > 0" ;;
    nz-migrated) json_true "$T/nz.json" "$k['normalized'] > 0 and $k['first_address'] == 0 and $k['unattested'] == 0" ;;
    nz-floor) json_true "$T/nz.json" "$k['in_packets_received'] == 0" ;;
    nz-parse) json_true "$T/nz.json" "$k['in_packets_received'] > 0 and $k['normalized'] == 0 and $k['first_address'] == 0" ;;
    esac && json_true "$T/nz.json" "$k['unknown_dcid'] == 0 and $k['normalized_by_address'] == 0 and $k['store_failed'] == 0" && [ "$first" -ge 1 ] && [ "$first" = "$n" ] ||
        { echo "FAIL: $1: the normaliser did not do its part: $NZ_LINE"; exit 1; }
}

# perf_ns FILE RX: from one run's profile, the hop's and the normaliser's programs' CPU ns per
# received frame (RX a second): their shares of all samples x CPUs / RX. The hop: samples
# under veth_poll (in0's NAPI, or out0's for replies) less those under veth_xdp_rcv_skb (the
# sink's poll: the veth it forwards to takes skbs, the hop's own takes XDP frames).
perf_ns() {
    perf report -i "$1" --children --sort sym --stdio -g none 2>/dev/null |
        python3 -c '
import re, sys
rx, ncpu = float(sys.argv[1]), int(sys.argv[2])
poll = skb = prog = 0.0
for line in sys.stdin:
    m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+\[k\]\s+(\S+)", line)
    if not m:
        continue
    children, self_, sym = float(m.group(1)), float(m.group(2)), m.group(3)
    if sym == "veth_poll":
        poll = children
    elif sym == "veth_xdp_rcv_skb":
        skb = children
    elif re.match(r"bpf_prog_[0-9a-f]+_qasm_nz_", sym):
        prog += self_
ns = lambda share: share / 100 * ncpu * 1e9 / rx if rx else 0
print("%.1f %.1f" % (ns(poll - skb), ns(prog)))' "$2" "$(nproc)"
}

# hop_up NAME / hop_down NAME: the hop of one case.
hop_up() {
    netns_hop_reset
    # veth accepts XDP_TX / redirected frames only into an XDP program: the kernel hops get
    # the pass-only one on in0 (qasm-mbox --io xdp attaches its own).
    [ "$1" = xdp ] || in_h ip link set dev in0 xdpdrv obj "$OBJ" program qasm_xdp_pass
    [[ $1 == *-reply* ]] && in_h ip link set dev out0 xdpdrv obj "$OBJ" program qasm_xdp_pass
    case $1 in
    kernel-fwd) netns_hop_kernel_forward ;;
    kernel-nat | kernel-nat-reply) netns_hop_kernel_nat ;;
    packet | xdp)
        # ip_forward=0 (the reset) turned lo's forwarding off too: the program's FIB needs it.
        in_h sysctl -qw net.ipv4.conf.lo.forwarding=1
        rm -f "$T/mb.json"
        start mb ip netns exec "$NS_H" "$B/qasm-mbox" nat --mode default --io "$1" \
            --inside in0 --outside out0 --ports 40000-40999 --stats-json "$T/mb.json"
        wait_json "$T/mb.json" "d['io'] == '$1'" || { echo "FAIL: qasm-mbox --io $1"; cat "$T/mb.log"; exit 1; }
        ;;
    nz-* | nzb-*)
        netns_hop_kernel_nat
        rm -f "$T/nz.json"
        local bin=$B/qasm-normalize
        [[ $1 == nzb-* ]] && bin=$NZ_BASE/qasm-normalize
        start nz ip netns exec "$NS_H" "$bin" --inside in0 \
            --tracker $H_IN_IP:${NZ_TRK[$1]} --hold 0 --stats-json "$T/nz.json" \
            ${NZ_BENCH[$1]:+--bench-ingress ${NZ_BENCH[$1]}} ${NZ_HOOK[$1]:+--hook ${NZ_HOOK[$1]}} ${NZ_XOPTS:-}
        wait_json "$T/nz.json" "d['tracker_up'] and d['maps']['dcids_written'] >= ${NZ_N[$1]:-$FLOWS}" ||
            { echo "FAIL: qasm-normalize for $1"; cat "$T/nz.log"; exit 1; }
        ;;
    esac
}
hop_down() {
    case $1 in packet | xdp) stop mb; cp "$T/mb.json" "$T/mb-$1.json" ;; esac
    case $1 in nz-* | nzb-*) stop nz; nz_check "$1"; cp "$T/nz.json" "$T/$1.json" ;; esac
    in_h ip link set dev in0 xdpdrv off 2>/dev/null
    in_h ip link set dev out0 xdpdrv off 2>/dev/null
    netns_hop_reset
}

NZ_CASES=""
[ -x "$B/qasm-normalize" ] && NZ_CASES="nz-idle nz-home nz-migrated"
CASES=${CASES:-ceiling kernel-fwd kernel-nat $NZ_CASES packet xdp}
for c in $CASES; do case $c in nz-* | nzb-*) nz_register "${NZ_TRK[$c]}" "${NZ_FIRST0[$c]}" "${NZ_N[$c]:-}" ;; esac; done
declare -A RX=() TX=() HOPNS=() PROGNS=()
echo "# hop-bench: $ROUNDS rounds x ${SECS} s per hop, $FLOWS flows, $THREADS generating threads; $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg) at start"
REVERSED=$(echo $CASES | tr ' ' '\n' | tac | tr '\n' ' ')
for r in $(seq "$ROUNDS"); do
    # Every other round in the reverse order: a drift of the machine's speed over a round
    # then favours no case (each case's distance to the kernel-nat of its round evens out).
    order=$CASES
    [ $((r % 2)) = 0 ] && order=$REVERSED
    for c in $order; do
        hop_up $c
        # PERF=DIR: a CPU profile of each round's counted seconds (perf record -a, cpu-clock).
        perf_pid=""
        [ -n "${PERF:-}" ] && { (sleep 1.5 && exec perf record -q -e cpu-clock -F 2999 -a -g \
            -o "$PERF/$c-$r.data" -- sleep $((SECS - 1)) 2>/dev/null) & perf_pid=$!; }
        case $c in
        ceiling) out=$(gen "$NS_H" in0) ;;
        kernel-nat-reply) out=$(gen_reply 20000) || exit 1 ;;
        *-reply*) out=$(gen_reply "${NZ_FIRST0[$c]}") || exit 1 ;;
        nz-* | nzb-*) out=$(gen "$NS_S" s0 --dcid-per-flow) ;;
        *) out=$(gen "$NS_S" s0) ;;
        esac
        [ -n "$perf_pid" ] && wait "$perf_pid"
        hop_down $c
        rx=$(echo "$out" | json /dev/stdin "d['received_pps']") || { echo "FAIL: $c: $out"; exit 1; }
        tx=$(echo "$out" | json /dev/stdin "d['sent_pps']")
        echo "round $r $c: received $rx pps, generated $tx pps"
        if [ -n "$perf_pid" ]; then
            read -r hop_ns prog_ns < <(perf_ns "$PERF/$c-$r.data" "$rx")
            echo "  profile: the hop $hop_ns CPU ns per received frame, the normaliser's programs $prog_ns"
            HOPNS[$c]="${HOPNS[$c]:-} $hop_ns" PROGNS[$c]="${PROGNS[$c]:-} $prog_ns"
        fi
        [ $c = xdp ] && echo "  xdp counters: $(json "$T/mb-xdp.json" "{k: v for k, v in d['xdp'].items() if v}")"
        [ $c = packet ] && echo "  packet backend: $(json "$T/mb-packet.json" "d['packet']")"
        case $c in nz-* | nzb-*) echo "  normaliser: $NZ_LINE" ;; esac
        RX[$c]="${RX[$c]:-} $rx" TX[$c]="${TX[$c]:-} $tx"
        echo "$c $rx $tx" >>"$T/rounds"
    done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
[ "$ROUNDS" -gt 0 ] && printf '\n%-18s %14s %14s %10s\n' hop "received pps" "generated pps" "x packet"
P=$(echo ${RX[packet]:-1} | median)
[ "$ROUNDS" -gt 0 ] && for c in $CASES; do
    m=$(echo ${RX[$c]} | median)
    printf '%-18s %14.0f %14.0f %10.1f\n' $c "$m" "$(echo ${TX[$c]} | median)" \
        "$(python3 -c "print($m / max($P, 1))")"
done

# The paired ratios: each round's nz-X over the kernel-nat measured in that round (and over
# the nzb-X of that round, when there is one).
paired() { # A B: A / B per round
    python3 - "$1" "$2" "${RX[$1]}" "${RX[$2]}" <<'EOF'
import sys
c, d, a, b = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
r = [float(x) / float(y) if float(y) else 0 for x, y in zip(a, b)]
v, k = sorted(r), len(r)
print("%s / %s paired ratio: median %.3f [%.3f-%.3f] (per-round ratios: median [quartiles]),"
      " per round: %s" % (c, d, v[k // 2], v[k // 4], v[min(3 * k // 4, k - 1)],
                          " ".join("%.3f" % x for x in r)))
EOF
}
[[ " $CASES " == *" kernel-nat "* ]] && for c in $CASES; do
    case $c in *-reply*) ;; nz-* | nzb-*) paired $c kernel-nat ;; esac
done
[[ " $CASES " == *" kernel-nat-reply "* ]] && for c in $CASES; do
    case $c in nz-*-reply*) paired $c kernel-nat-reply ;; esac
done
for c in $CASES; do
    case $c in nz-*) [[ " $CASES " == *" ${c/nz-/nzb-} "* ]] && paired $c ${c/nz-/nzb-} ;; esac
done

# PERF: the medians over the rounds of the hop's CPU per received frame and of the programs'.
[ -n "${PERF:-}" ] && [ "$ROUNDS" -gt 0 ] && for c in $CASES; do
    echo "$c: profile: the hop $(echo ${HOPNS[$c]} | median) CPU ns per received frame (median)," \
        "the normaliser's programs $(echo ${PROGNS[$c]} | median)"
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

# The same for qasm-normalize's ingress program on in0 (either hook), each nz case once more:
# qasm-normalize --bpf-stats, the run count and time from its stats JSON (fresh on SIGUSR1).
nz_prog() { fresh_stats nz "$T/nz.json" && json "$T/nz.json" "json.dumps(d['$1'])"; }
for c in $CASES; do
    case $c in nz-* | nzb-*) ;; *) continue ;; esac
    if [[ $c == nzb-* ]] && ! "$NZ_BASE/qasm-normalize" --help | grep -q -- --bpf-stats; then
        echo "$c: no program time (NZ_BASE's qasm-normalize has no --bpf-stats)"
        continue
    fi
    NZ_XOPTS=--bpf-stats hop_up "$c"
    prog=ingress
    [[ $c == *-reply* ]] && prog=egress
    if [ $prog = egress ]; then # (the forward run that makes the entries is not in the figure)
        gen_reply "${NZ_FIRST0[$c]}" >/dev/null || exit 1
        before=$(nz_prog $prog) || { echo "FAIL: no stats from qasm-normalize"; exit 1; }
        gen_reply "${NZ_FIRST0[$c]}" >/dev/null || exit 1
    else
        before=$(nz_prog $prog) || { echo "FAIL: no stats from qasm-normalize"; exit 1; }
        gen "$NS_S" s0 --dcid-per-flow >/dev/null
    fi
    after=$(nz_prog $prog)
    hook=$(json "$T/nz.json" "d['hook']")
    hop_down $c
    python3 - "$c" "$before" "$after" "$hook" "$prog" <<'EOF'
import json, sys
b, a = json.loads(sys.argv[2]), json.loads(sys.argv[3])
n = a.get('run_cnt', 0) - b.get('run_cnt', 0)
t = a.get('run_time_ns', 0) - b.get('run_time_ns', 0)
print("%s: qasm-normalize's %s program on in0 (%s) under this traffic (--bpf-stats):"
      " %d runs, %.1f ns per run" % (sys.argv[1], sys.argv[5], sys.argv[4], n,
                                      t / n if n else float('nan')))
EOF
done
echo "load $(cut -d' ' -f1 /proc/loadavg) at end"
