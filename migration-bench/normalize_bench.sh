#!/usr/bin/env bash
# normalize_bench.sh [ROUNDS] [PACKETS] [FLOWS] (root, tc-BPF): what qasm-normalize costs the
# hop's kernel NAT in throughput, on the network-namespace testbed
# (tests/integration/netns_lib.sh: client ns -- hop ns -- server ns, veth), the hop doing
# nftables masquerade + conntrack in every case, same run, rounds interleaved (the case
# order alternates every round) so the machine's noise hits all cases alike:
#
#   nat              the kernel's NAT alone
#   nat+normalize    the same with qasm-normalize on the hop's inside interface
#   (both with FLOWS connections that migrated once (a new port, the next DCID, reported to
#   the tracker 100 ms before the blast), so with the normaliser every packet is rewritten
#   back to its connection's first 5-tuple: its most expensive path; and both again with
#   connections at home (suffix -home: the normaliser looks the DCID up and passes it).
#
# Load: FLOWS qasm-udpdrive clients at once, each blasting PACKETS/FLOWS 100-byte QUIC
# short headers (sendmmsg, batches of 32, no pacing) after its handshake; the server counts
# what arrives and over which span: delivered packets/s = received / span, loss = 1 -
# received / sent. Sender, hop and receiver share the machine's cores (over veth the hop's
# forwarding runs in the sender's softirq), so the figure is the testbed's, not a line rate;
# compare the cases of one run.
# Then the per-packet cost of the tc programs themselves: test_normalize_prog with
# QASM_NZ_COST_REPEAT (default 10^6) runs of BPF_PROG_TEST_RUN per case.
# Prints Markdown tables (medians over ROUNDS, default 5; PACKETS default 400000; FLOWS 4).
set -u
cd "$(dirname "$0")/.." || exit 1
B=${QASM_BUILD:-build}
case $B in /*) ;; *) B=$PWD/$B ;; esac
ROUNDS=${1:-5}
PACKETS=${2:-400000}
FLOWS=${3:-4}
for v in "$ROUNDS" "$PACKETS" "$FLOWS"; do
    case $v in ''|*[!0-9]*) echo "usage: normalize_bench.sh [ROUNDS] [PACKETS] [FLOWS]" >&2; exit 2 ;; esac
done
. tests/integration/netns_lib.sh
netns_require_root normalize_bench.sh
for b in qasm-normalize qasm-udpdrive qasm-tracker test_normalize_prog; do
    [ -x "$B/$b" ] || { echo "normalize_bench.sh: $B/$b not built (make; qasm-normalize needs the BPF toolchain)" >&2; exit 1; }
done
T=$(mktemp -d /tmp/qasm-nz-bench.XXXXXX)
NZ_PID= TRK_PID= SRV_PID=
stop_nz() {
    [ -n "$NZ_PID" ] && { kill "$NZ_PID" 2>/dev/null; wait "$NZ_PID" 2>/dev/null; }
    NZ_PID=
}
cleanup() {
    stop_nz
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null
    [ -n "$TRK_PID" ] && kill "$TRK_PID" 2>/dev/null
    wait 2>/dev/null
    netns_cleanup
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
netns_setup || { echo "cannot create the namespaces" >&2; exit 1; }
TRK=$H_IN_IP:4790
ip netns exec "$NS_H" timeout 3600 "$B/qasm-tracker" --listen $TRK >/dev/null 2>&1 &
TRK_PID=$!
for i in $(seq 1 100); do in_h ss -ltn 2>/dev/null | grep -q ":4790 " && break; sleep 0.05; done

nz_up() {
    python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["tracker_up"] else 1)' \
        "$T/nz.json" 2>/dev/null
}

# one CASE ROUND: the hop (kernel NAT, + qasm-normalize for nat+normalize*), the server, the
# FLOWS clients; appends a line to $T/raw.txt.
one() {
    local c=$1 r=$2 i per=$((PACKETS / FLOWS)) how=--blast-migrated
    SEQ=$((SEQ + 1)) # a connection (its O-DCID) is never reused: the tracker keeps its record
    netns_hop_reset
    netns_hop_kernel_nat
    case $c in *-home) how=--blast ;; esac
    if [ "${c#nat+normalize}" != "$c" ]; then
        rm -f "$T/nz.json"
        ip netns exec "$NS_H" timeout 3600 "$B/qasm-normalize" --inside in0 --tracker $TRK \
            --hold 1s --log-level warn --stats-json "$T/nz.json" >"$T/nz.log" 2>&1 &
        NZ_PID=$!
        for i in $(seq 1 200); do nz_up && break; sleep 0.05; done
        nz_up || { echo "qasm-normalize did not start:" >&2; cat "$T/nz.log" >&2; exit 1; }
    fi
    rm -f "$T/srv.json"
    ip netns exec "$NS_S" timeout 300 "$B/qasm-udpdrive" server --listen $S_IP:5000 \
        --echo none --stats-json "$T/srv.json" >/dev/null 2>&1 &
    SRV_PID=$!
    for i in $(seq 1 100); do [ -s "$T/srv.json" ] && break; sleep 0.05; done
    local pids=""
    for i in $(seq 1 "$FLOWS"); do
        in_c timeout 120 "$B/qasm-udpdrive" client --to $S_IP:5000 --conn $((SEQ * 100 + i)) \
            --bind-ip $C_IP --tracker $TRK $how --migrate-every 0 --packets $per --size 100 \
            >"$T/cl-$i.json" 2>"$T/cl-$i.err" &
        pids="$pids $!"
    done
    wait $pids
    sleep 1 # the last packets in flight
    # Both write their stats at exit (TERM goes through timeout to them).
    kill $SRV_PID 2>/dev/null; wait $SRV_PID 2>/dev/null; SRV_PID=
    local nzs="{}"
    if [ -n "$NZ_PID" ]; then
        stop_nz
        nzs=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["kernel"]))' "$T/nz.json")
    fi
    local ct
    ct=$(in_h conntrack -L -p udp --orig-port-dst 5000 2>/dev/null | grep -c "dport=5000")
    echo "$c $r $ct $(cat "$T"/cl-*.json | tr '\n' ' ') | $(tr -d '\n' <"$T/srv.json") | $nzs" >>"$T/raw.txt"
    rm -f "$T"/cl-*.json
}

SEQ=0
CASES="nat nat+normalize nat-home nat+normalize-home"
for r in $(seq "$ROUNDS"); do
    order=$CASES
    [ $((r % 2)) = 0 ] && order=$(echo $CASES | tr ' ' '\n' | tac | tr '\n' ' ')
    for c in $order; do
        one $c $r
        echo "round $r $c done" >&2
    done
done
netns_hop_reset
cp "$T/raw.txt" "${NZ_BENCH_RAW:-/dev/null}" 2>/dev/null
echo "# hop throughput, kernel NAT with and without qasm-normalize ($ROUNDS rounds, $PACKETS packets of 100 bytes over $FLOWS flows; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$T" "$CASES" <<'EOF'
import json, statistics, sys
T, cases = sys.argv[1], sys.argv[2].split()
dec = json.JSONDecoder()
rows = {}
for line in open(T + "/raw.txt"):
    head, srv, nz = line.split(" | ")
    c, r, ct, rest = head.split(" ", 3)
    rest, sent, send_s = rest.strip(), 0, 0.0
    while rest:
        o, i = dec.raw_decode(rest)
        sent += o.get("packets_sent", 0)
        send_s = max(send_s, o.get("send_s", 0))
        rest = rest[i:].strip()
    s, k = json.loads(srv), json.loads(nz)
    rows.setdefault(c, []).append({"sent": sent, "rx": s["packets_received"],
        "span": s["receive_span_s"] or 0, "send_s": send_s, "ct": int(ct),
        "norm": k.get("normalized", 0), "first": k.get("first_address", 0)})
def med(c, f):
    return statistics.median(f(x) for x in rows[c])
print("| case | delivered pkt/s (median) | ratio to nat alone | loss | offered pkt/s | conntrack entries | normalised / at home (per round) |")
print("|---|---:|---:|---:|---:|---:|---:|")
base = {}
for c in cases:
    rate = med(c, lambda x: x["rx"] / x["span"] if x["span"] else 0)
    offered = med(c, lambda x: x["sent"] / x["send_s"] if x["send_s"] else 0)
    loss = med(c, lambda x: max(0.0, 1 - x["rx"] / x["sent"]) if x["sent"] else 1)
    ref = "nat-home" if c.endswith("-home") else "nat"
    base.setdefault(c, rate)
    b = base.get(ref, rate)
    print("| %s | %.0f | %.3f | %.1f %% | %.0f | %d | %d / %d |" % (
        c, rate, rate / b if b else 0, 100 * loss, offered, med(c, lambda x: x["ct"]),
        med(c, lambda x: x["norm"]), med(c, lambda x: x["first"])))
print()
# Paired: each round's ratio to its reference measured in the same round (adjacent in time).
for c in cases:
    ref = "nat-home" if c.endswith("-home") else "nat"
    if c == ref:
        continue
    rs = [x["rx"] / x["span"] / (y["rx"] / y["span"]) for x, y in zip(rows[c], rows[ref])
          if x["span"] and y["span"] and y["rx"]]
    if rs:
        print("Paired ratio %s / %s: median %.3f, per round %s" % (
            c, ref, statistics.median(rs), " ".join("%.2f" % v for v in rs)))
print()
print("Per round (delivered pkt/s):", "; ".join(
    "%s %s" % (c, " ".join("%.0f" % (x["rx"] / x["span"] if x["span"] else 0) for x in rows[c]))
    for c in cases))
EOF
echo
echo "# per-packet cost of the tc programs (BPF_PROG_TEST_RUN, ${QASM_NZ_COST_REPEAT:-1000000} runs each)"
QASM_NZ_COST_REPEAT=${QASM_NZ_COST_REPEAT:-1000000} "$B/test_normalize_prog" 2>&1 | grep '^cost:'
