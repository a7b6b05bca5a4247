#!/usr/bin/env bash
# netns_bench.sh [ROUNDS] [PACKETS] (root): forwarding rate and latency of
# one hop on the network-namespace testbed (tests/integration/netns_lib.sh:
# client ns -- hop ns -- server ns, veth), for each kind of hop in the same
# run, rounds interleaved so machine noise hits all alike:
#
#   kernel-fwd    the Linux kernel as a plain router (ip_forward 1)
#   kernel-nat    the kernel's NAT: nftables masquerade + conntrack
#   qasm-nat      qasm-mbox nat --mode default --io packet (kernel forwarding off)
#   qasm-nat-aware  qasm-mbox nat --mode reactive --io packet (+ qasm-tracker in the hop)
#   qasm-nat-ingress-drop  qasm-nat plus an nftables netdev ingress rule dropping transit
#                 packets before the hop's IP stack (opt-in: NETNS_BENCH_CASES="...")
#
# Rate: qasm-udpdrive blasts PACKETS (default 200000) 100-byte UDP datagrams
# from the client ns (sendmmsg, no pacing); the server counts what arrives
# and over which span: delivered packets/s = rx / span, loss = 1 - rx/sent.
# All three processes share the machine's cores, so this is an end-to-end
# figure of the testbed, not a line rate.
# Latency (measured first, on a fresh hop): qasm-h3-client, 200 requests of 100 bytes, 5 ms apart, one
# connection: request round-trip p50 / p99 (the packet crosses the hop twice).
# Prints a Markdown table: medians over ROUNDS (default 3), ratios to kernel-fwd;
# then the NATs' table sizes after 2 s of a connection migrating at 1, 10, 100 Hz
# (kernel: conntrack entries of the flow; qasm: mappings in its stats).
set -u
cd "$(dirname "$0")/.." || exit 1
B=${QASM_BUILD:-build}
case $B in /*) ;; *) B=$PWD/$B ;; esac
ROUNDS=${1:-3}
PACKETS=${2:-200000}
. tests/integration/netns_lib.sh
netns_require_root netns_bench.sh
T=$(mktemp -d /tmp/qasm-netns-bench.XXXXXX)
HOP_PID=
TRK_PID=
stop_hop() {
    [ -n "$HOP_PID" ] && { kill "$HOP_PID" 2>/dev/null; wait "$HOP_PID" 2>/dev/null; }
    HOP_PID=
}
cleanup() {
    stop_hop
    [ -n "$TRK_PID" ] && kill "$TRK_PID" 2>/dev/null
    netns_cleanup
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
netns_setup || { echo "cannot create the namespaces" >&2; exit 1; }

ip netns exec "$NS_S" timeout 3600 "$B/qasm-h3-server" --listen $S_IP:4433 --no-json >/dev/null 2>"$T/server.log" &
ip netns exec "$NS_H" timeout 3600 "$B/qasm-tracker" --listen $H_IN_IP:4790 >/dev/null 2>&1 &
TRK_PID=$!
sleep 0.5

start_hop() {
    netns_hop_reset
    case $1 in
    kernel-fwd) netns_hop_kernel_forward ;;
    kernel-nat) netns_hop_kernel_nat ;;
    qasm-nat|qasm-nat-aware|qasm-nat-ingress-drop)
        local mode=default
        [ "$1" = qasm-nat-aware ] && mode=reactive
        if [ "$1" = qasm-nat-ingress-drop ]; then
            # The kernel's IP stack still sees (and drops) every transit packet after
            # AF_PACKET copied it; an ingress rule drops them before the IP stack.
            in_h nft -f - <<EOF
table netdev qasm_ingress {
    chain in0 { type filter hook ingress device "in0" priority 0; ip daddr != $H_IN_IP drop; }
    chain out0 { type filter hook ingress device "out0" priority 0; ip daddr != $H_OUT_IP drop; }
}
EOF
        fi
        rm -f "$T/mb.json"
        ip netns exec "$NS_H" timeout 3600 "$B/qasm-mbox" nat --mode $mode --io packet --inside in0 \
            --outside out0 --tracker $H_IN_IP:4790 --ports 40000-40999 --log-level warn \
            --stats-json "$T/mb.json" >"$T/mb.log" 2>&1 &
        HOP_PID=$!
        local i
        for i in $(seq 1 100); do [ -s "$T/mb.json" ] && break; sleep 0.05; done
        sleep 0.3 ;;
    esac
}

CASES=${NETNS_BENCH_CASES:-"kernel-fwd kernel-nat qasm-nat qasm-nat-aware"}
for r in $(seq "$ROUNDS"); do
    for c in $CASES; do
        start_hop $c
        lat=$(in_c timeout 60 "$B/qasm-h3-client" --json --requests 200 --interval 5ms --size 100 \
            "https://$S_IP:4433/" 2>/dev/null)
        ip netns exec "$NS_S" timeout 300 "$B/qasm-udpdrive" server --listen $S_IP:5000 \
            --echo none --stats-json "$T/udp-$c-$r.json" >/dev/null 2>&1 &
        UPID=$!
        sleep 0.3
        out=$(in_c timeout 120 "$B/qasm-udpdrive" client --to $S_IP:5000 --conn 1 --bind-ip $C_IP \
            --blast --migrate-every 0 --packets "$PACKETS" --size 100 2>/dev/null)
        sleep 1.2
        kill $UPID 2>/dev/null; wait $UPID 2>/dev/null
        echo "$c $r $out $lat" >>"$T/raw.txt"
        if [ -s "$T/mb.json" ]; then cp "$T/mb.json" "$T/mb-$c-$r.json"; fi
        ct=$(in_h conntrack -C 2>/dev/null || echo 0)
        echo "$c $r conntrack=$ct" >>"$T/ct.txt"
        stop_hop
        echo "round $r $c done" >&2
    done
done
# Table sizes under migration: one HTTP/3 connection migrating (by port) at
# 1, 10 and 100 Hz for 2 s through each NAT; the NAT's table right after.
for c in kernel-nat qasm-nat qasm-nat-aware; do
    for hz in 1 10 100; do
        start_hop $c
        sw=$(in_c env QASM_TRACKER=$H_IN_IP:4790 LD_PRELOAD="$B/libqasm-agent.so" \
            timeout 60 "$B/qasm-h3-client" --json --duration 2s --interval 10ms --size 100 \
            --migrate-hz $hz "https://$S_IP:4433/" 2>/dev/null)
        if [ "$c" = kernel-nat ]; then
            n=$(in_h conntrack -L -p udp --orig-port-dst 4433 2>/dev/null | grep -c "dport=4433")
        else
            sleep 1.1 # the stats file is rewritten every second
            n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mappings"])' \
                "$T/mb.json" 2>/dev/null || echo -1)
        fi
        echo "$c $hz $n $sw" >>"$T/sweep.txt"
        stop_hop
    done
done
netns_hop_reset
cp "$T"/raw.txt "${NETNS_BENCH_RAW:-/dev/null}" 2>/dev/null
python3 - "$T" "$CASES" "$ROUNDS" "$PACKETS" <<'EOF'
import json, os, statistics, sys
T, cases, rounds, packets = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), int(sys.argv[4])
rows = {}
dec = json.JSONDecoder()
for line in open(os.path.join(T, "raw.txt")):
    c, r, rest = line.split(" ", 2)
    rest = rest.strip()
    blast, i = dec.raw_decode(rest) if rest.startswith("{") else ({}, 0)
    rest2 = rest[i:].strip()
    lat = dec.raw_decode(rest2)[0] if rest2.startswith("{") else {}
    try:
        srv = json.load(open(os.path.join(T, "udp-%s-%s.json" % (c, r))))
    except (OSError, ValueError):
        srv = {"packets_received": 0, "receive_span_s": 0}
    rows.setdefault(c, []).append({
        "sent": blast.get("packets_sent", 0), "rx": srv["packets_received"],
        "span": srv["receive_span_s"],
        "p50": lat.get("latency_p50_us") or 0, "p99": lat.get("latency_p99_us") or 0,
        "ok": lat.get("requests_ok", 0)})
def med(c, f):
    return statistics.median(f(x) for x in rows[c])
print("| hop | delivered pkt/s (median) | ratio to kernel-fwd | loss | request RTT p50 | p99 | ratio p50 |")
print("|---|---:|---:|---:|---:|---:|---:|")
base = {}
for c in cases:
    rate = med(c, lambda x: x["rx"] / x["span"] if x["span"] else 0)
    loss = med(c, lambda x: max(0.0, 1 - x["rx"] / x["sent"]) if x["sent"] else 1)
    p50 = med(c, lambda x: x["p50"]); p99 = med(c, lambda x: x["p99"])
    if not base:
        base = {"rate": rate, "p50": p50}
    print("| %s | %.0f | %.2f | %.1f %% | %d us | %d us | %.2f |" % (
        c, rate, rate / base["rate"] if base["rate"] else 0, 100 * loss, p50, p99,
        p50 / base["p50"] if base["p50"] else 0))
print()
print("| NAT | migration rate | client migrations | requests ok / failed | table entries after |")
print("|---|---:|---:|---:|---:|")
for line in open(os.path.join(T, "sweep.txt")):
    c, hz, n, rest = line.split(" ", 3)
    rest = rest.strip()
    cj = dec.raw_decode(rest)[0] if rest.startswith("{") else {}
    print("| %s | %s Hz | %s | %s / %s | %s |" % (c, hz, cj.get("migrations", "-"),
          cj.get("requests_ok", "-"), cj.get("requests_failed", "-"), n))
EOF
