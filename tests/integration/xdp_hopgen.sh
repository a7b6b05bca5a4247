#!/usr/bin/env bash
# xdp_hopgen.sh (root, BPF): qasm-xdp-hopgen, the hop benchmark's generator
# and sink (middleboxes/xdp/hop-bench.sh), on the netns testbed, small: with
# the hop silent (forwarding off) the sink counts none of them; with the kernel
# forwarding, frames cross and are counted (never more than were made);
# with the frames' headers rewritten by the hop, the generator's next ones
# still reach it (it rewrites them each time); through qasm-mbox --io xdp
# they cross in the kernel, and its sweep (batched map walks) reports that
# traffic to the core and removes the flows once idle; a missing flag is a
# usage error. A smoke test of the benchmark, never of its figures.
# SKIP (77) without root, the BPF toolchain at build time or XDP on veth.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/netns_lib.sh
netns_require_root xdp_hopgen.sh
. tests/integration/mbox_lib.sh
[ -x "$B/qasm-xdp-hopgen" ] || { echo "SKIP: xdp_hopgen.sh: qasm-xdp-hopgen was not built (no BPF toolchain)"; exit 77; }
trap 'cleanup; netns_cleanup' EXIT
XDP_TEST=xdp_hopgen.sh
. tests/integration/netns_xdp_lib.sh
xdp_testbed
S_MAC=$(in_s cat /sys/class/net/s0/address) IN0_MAC=$(in_h cat /sys/class/net/in0/address)
in_h ip neigh replace $S_IP lladdr "$S_MAC" dev out0 nud permanent
in_h ip link set dev in0 xdpdrv obj "$B/gen/qasm_xdp.bpf.o" program qasm_xdp_pass
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
gen() {
    timeout "$(scaled 60)" "$B/qasm-xdp-hopgen" --gen-netns "$NS_C" --gen-if c0 --dst-mac "$IN0_MAC" \
        --from $C_IP:20000 --to $S_IP:4433 --flows 4 --threads 1 --sink-netns "$NS_S" --sink-if s0 \
        --seconds 1 --warmup 0.5 "$@"
}

silent=$(gen); echo "hop silent: $silent"
# (The sink counts every frame: the hop's own IPv6 neighbour and MLD messages too, a few.)
ok=$(echo "$silent" | json /dev/stdin "int(d['sent'] > 1000 and d['received'] < 100)")
check "hop silent: frames made, none of them counted at the sink" "[ '$ok' = 1 ]"
netns_hop_kernel_forward
fwd=$(gen); echo "kernel forwarding: $fwd"
# (received may pass sent by the frames in flight when counting starts: the rings, 1024 at most.)
# Forwarded frames come back to the generator's page pool with the hop's MACs and TTL: a
# generator that did not rewrite its headers would see nearly all of them dropped at in0.
ok=$(echo "$fwd" | json /dev/stdin "int(0.5 * d['sent'] < d['received'] <= d['sent'] + 1024)")
check "kernel forwarding: most frames made reach the sink, none counted twice" "[ '$ok' = 1 ]"

# --dcid-per-flow: behind the hop, each frame's DCID is c1c2c3c4c5c6 and its flow's index
# (its source port's offset from 20000), 4 flows.
if command -v dumpcap >/dev/null; then
    in_h timeout "$(scaled 60)" dumpcap -q -P -i out0 -f "udp dst port 4433" -c 64 \
        -w "$T/flows.pcap" 2>"$T/dumpcap.log" &
    cap=$!
    wait_until 30 test -s "$T/flows.pcap" || { echo "FAIL: dumpcap did not start"; cat "$T/dumpcap.log"; exit 1; }
    echo "kernel forwarding, --dcid-per-flow: $(gen --dcid-per-flow)"
    wait $cap
    dc=$(python3 - "$T/flows.pcap" <<'EOF'
import struct, sys
b, o, n, bad, idx = open(sys.argv[1], 'rb').read(), 24, 0, 0, set()
while o + 16 <= len(b):
    incl = struct.unpack('<I', b[o + 8:o + 12])[0]
    f, o = b[o + 16:o + 16 + incl], o + 16 + incl
    if len(f) < 51:
        continue
    sport, i = struct.unpack('>H', f[34:36])[0], struct.unpack('>H', f[49:51])[0]
    n += 1
    bad += f[43:49] != bytes.fromhex('c1c2c3c4c5c6') or i != sport - 20000
    idx.add(i)
print(n, bad, len(idx))
EOF
)
    echo "captured behind the hop: frames, DCIDs not of their flow, flows: $dc"
    check "--dcid-per-flow: each frame's DCID carries its flow's index, 4 flows" "[ '$dc' = '64 0 4' ]"
else
    echo "SKIP part: --dcid-per-flow's DCIDs not checked (no dumpcap)"
fi

# The xdp hop: the frames cross in the kernel; the sweep (batched map walks) reports their
# traffic to the core (touches) and removes the flows once idle (3 s: the timeouts + 2 s).
netns_hop_reset
in_h sysctl -qw net.ipv4.conf.lo.forwarding=1
in_h ip link set dev in0 xdpdrv off
start mb ip netns exec "$NS_H" "$B/qasm-mbox" nat --mode default --io xdp --inside in0 \
    --outside out0 --ports 40000-40099 --udp-timeout 1s --udp-stream-timeout 1s \
    --stats-json "$T/mb.json"
wait_json "$T/mb.json" "d['io'] == 'xdp'" || { echo "FAIL: qasm-mbox --io xdp did not start"; cat "$T/mb.log"; exit 1; }
xdp=$(gen); echo "xdp hop: $xdp"
ok=$(echo "$xdp" | json /dev/stdin "int(0.5 * d['sent'] < d['received'] <= d['sent'] + 1024)")
check "xdp hop: most frames made reach the sink" "[ '$ok' = 1 ]"
wait_stats mb "$T/mb.json" "d['xdp_maps']['touches'] > 0 and d['xdp_maps']['flows_swept'] >= 4"
echo "xdp_maps: $(json "$T/mb.json" "d['xdp_maps']")"
check "xdp hop: the sweep reported the kernel's traffic and removed the idle flows" \
    "[ \"\$(json $T/mb.json \"int(d['xdp_maps']['touches'] > 0 and d['xdp_maps']['flows_swept'] >= 4)\")\" = 1 ]"
# Their entries too: each one's slot of the `entries` array freed (a new generation written).
wait_stats mb "$T/mb.json" "d['xdp_maps']['entries_swept'] >= 4"
check "xdp hop: the idle entries' slots freed" \
    "[ \"\$(json $T/mb.json \"int(d['xdp_maps']['entries_swept'] >= 4)\")\" = 1 ]"
stop mb
"$B/qasm-xdp-hopgen" --gen-if c0 >/dev/null 2>"$T/bad"; rc=$?
check "a missing flag: usage error (exit 2, one line naming it)" \
    "[ $rc = 2 ] && [ \$(wc -l <$T/bad) = 1 ] && grep -q -- '--dst-mac' $T/bad"
exit $fail
