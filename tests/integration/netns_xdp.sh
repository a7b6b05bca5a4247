#!/usr/bin/env bash
# netns_xdp.sh (root, XDP): qasm-mbox --io xdp as the hop of the netns
# testbed (netns_lib.sh): the same outcomes as --io packet (netns_nat.sh),
# with the packets of known flows forwarded by the BPF program in the kernel.
#
#   - nat default, 8 ports, the client migrating by address (table1 /
#     nat-dos): a public port per migration, the pool exhausted, a second
#     client refused;
#   - nat reactive / proactive: one mapping and one public port for the
#     migrating connection, every request answered, migrations followed, a
#     second client gets in;
#   - ratelimit default over IPv6: requests answered;
#   - ratelimit default at 20/s: the kernel's bucket drops, lets through at most burst + rate x t;
#   - ratelimit reactive at 20/s, the client migrating by port: one budget for the connection,
#     the slow path's forwards charged to its bucket in the kernel (burst + rate x t in all);
#   - nat proactive, the tracker stopped mid-transfer: the kernel keeps
#     forwarding the known flows, the transfer completes;
#   - lb default / reactive, VIP on the hop: default breaks migrated paths,
#     reactive keeps the connection's backend;
#   - nat reactive / proactive, a hijacker (hijack_attacker.py, from an address
#     of the client namespace the tracker never attests) sending the victim's
#     DCIDs: its packets go up, it gets nothing back, the victim is served;
#   - each: the kernel forwarded packets (xdp.forwarded), the slow path saw
#     fewer packets than crossed the hop, the flows' next hops were cached
#     (fewer FIB lookups than packets forwarded).
#
# The testbed's far ends get what XDP forwarding over veth needs (docs/XDP.md,
# netns_xdp_lib.sh).
# SKIP (77) without root, the BPF toolchain at build time, ethtool or XDP.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/netns_lib.sh
netns_require_root netns_xdp.sh
. tests/integration/mbox_lib.sh
trap 'cleanup; netns_cleanup' EXIT

XDP_TEST=netns_xdp.sh
. tests/integration/netns_xdp_lib.sh
xdp_testbed

TRK=$H_IN_IP:4790
SRV_PORT=4433

start trk ip netns exec "$NS_H" "$B/qasm-tracker" --listen $TRK
wait_ns "$NS_H" 4790 tcp || exit 1
# A known stateless-reset secret: the hijacker tells the server's resets from the victim's packets.
RESET=$(printf '5e%.0s' $(seq 32))
start srv ip netns exec "$NS_S" "$B/qasm-h3-server" --listen $S_IP:$SRV_PORT \
    --listen "[$S_IP6]:$SRV_PORT" --idle-timeout 10s --no-json --secret $RESET
wait_ns "$NS_S" $SRV_PORT || exit 1

# kernel_checks NAME: the kernel forwarded packets, the slow path saw fewer than crossed.
kernel_checks() {
    local s="$T/mb.json" fwd up
    fwd=$(json $s "d['xdp']['forwarded'] + d['xdp']['packets_sent']")
    up=$(json $s "d['packet']['to_core']")
    echo "$1: kernel forwarded $fwd, slow path $up; xdp: $(json $s "d['xdp']")"
    check "$1: packets of known flows forwarded in the kernel" "$fwd > 0"
    check "$1: the slow path saw fewer packets than the kernel forwarded" "$up < $fwd"
    # A new client address has no neighbour entry yet: its first packets go up (ARP by the slow path).
    check "$1: few packets went up for want of a route or neighbour" \
        "$(json $s "d['xdp']['pass_no_route']") * 4 < $fwd"
    # Without the next-hop cache every forwarded packet would ask the FIB (fib_lookups >= fwd).
    check "$1: next hops cached (fewer FIB lookups than packets forwarded)" \
        "$(json $s "d['xdp']['fib_lookups']") < $fwd"
}

check "hop: kernel forwarding is off" "$(in_h sysctl -n net.ipv4.ip_forward) == 0"
for mode in default reactive proactive; do
    echo "# qasm nat $mode, --io xdp"
    start_mb nat --mode $mode --tracker $TRK --ports 40000-40007 --hold $HOLD
    [ $mode = default ] || wait_json "$T/mb.json" "d['tracker']['up']" || true
    nat_table1_client $mode; c1=$C1 rc1=$RC1 s="$T/mb.json"
    nat_table1_checks $mode "$s" "$c1" $rc1
    [ $mode = default ] || echo "$mode: migrations in the core $(json $s "d['migrations']")," \
        "in the kernel $(json $s "d['xdp']['migrated']"), records mirrored" \
        "$(json $s "d['xdp_maps']['records']")"
    kernel_checks "nat $mode"
    c2=$(h3 nat2-$mode --requests 1 --size 100); rc2=$?
    if [ $mode = default ]; then
        check "default (nat-dos): a second client is refused" "$rc2 != 0"
    else
        check "$mode (nat-dos): a second client gets through" "$rc2 == 0"
    fi
    stop mb
done

# ---- the hijack: the victim's DCIDs from an address the tracker never attested ----
for mode in reactive proactive; do
    echo "# qasm nat $mode, --io xdp: hijack attempt"
    # --hold 100ms as in tracker_hijack.sh: the attacker's packets carry the victim's DCIDs,
    # so each of its queries waits the whole hold, and while they wait they fill that
    # DCID's hold queue (hold_overflow) against the victim's own migrated packets.
    start_mb nat --mode $mode --tracker $TRK --ports 40000-40007 --hold 100ms
    wait_json "$T/mb.json" "d['tracker']['up']" || true
    in_c env QASM_TRACKER=$TRK LD_PRELOAD="$B/libqasm-agent.so" timeout 60 \
        "$B/qasm-h3-client" --json --idle-timeout 5s --requests 40 --interval 100ms --size 5000 \
        --migrate-every 100ms --migrate-kind addr --local-addrs 10.77.1.2-10.77.1.8 \
        "https://$S_IP:$SRV_PORT/" >"$T/victim.json" 2>"$T/victim-$mode.log" &
    victim=$!
    a=$(in_c env QASM_ATTACKER_IP=10.77.1.9 timeout 30 python3 tests/integration/hijack_attacker.py \
        "$B/qasm-trackctl" $TRK $S_IP:$SRV_PORT 3 $RESET 2>"$T/attacker-$mode.log")
    wait $victim; rc=$?
    v=$(cat "$T/victim.json")
    echo "victim (exit $rc): $v"
    echo "attacker: $a"
    fresh_stats mb "$T/mb.json"; s="$T/mb.json"
    echo "nat: $(summary "$s"); xdp: $(json $s "d['xdp']")"
    check "hijack $mode: the attacker sent the victim's DCIDs" "$(field "$a" packets_sent) > 0"
    check "hijack $mode: the attacker received nothing of the victim's" "$(field "$a" bytes) == 0"
    check "hijack $mode: the kernel passed its packets up (unattested)" \
        "$(json $s "d['xdp']['pass_unattested']") > 0"
    check "hijack $mode: every request of the victim answered" \
        "$rc == 0 && $(field "$v" requests_ok) == 40"
    stop mb
done

echo "# qasm ratelimit default, --io xdp, IPv6"
start_mb ratelimit --mode default --rate 1000 --burst 1000
c6=$(in_c timeout 20 "$B/qasm-h3-client" --json --idle-timeout 3s --requests 10 --size 1000 \
    --interval 20ms "https://[$S_IP6]:$SRV_PORT/" 2>"$T/v6.log"); rc6=$?
echo "IPv6 client (exit $rc6): $c6"
fresh_stats mb "$T/mb.json"
check "IPv6 ratelimit: requests answered" "$rc6 == 0 && $(field "$c6" requests_ok) == 10"
kernel_checks "ratelimit IPv6"
stop mb

# A bucket that bites: 20 packets/s, burst 10, one flow of 100 KB answers (both directions draw
# from it). The kernel's lock-free bucket drops, and lets through no more than burst + rate x
# elapsed (its own; the core charges the flow's first packets apart).
echo "# qasm ratelimit default, --io xdp: the kernel's bucket at 20/s, burst 10"
start_mb ratelimit --mode default --rate 20 --burst 10
in_c timeout 20 "$B/qasm-h3-client" --json --idle-timeout 3s --requests 3 --size 100000 \
    "https://$S_IP:$SRV_PORT/" >"$T/rl.json" 2>"$T/rl.log"
echo "client (exit $?): $(cat "$T/rl.json")"
fresh_stats mb "$T/mb.json"; s="$T/mb.json"
echo "ratelimit 20/s: uptime $(json $s "d['uptime_s']") s; xdp: $(json $s "d['xdp']")"
check "ratelimit 20/s: the kernel's bucket dropped" "$(json $s "d['xdp']['rate_limited']") > 0"
check "ratelimit 20/s: its drops in packets_dropped" \
    "$(json $s "d['packets_dropped']['xdp_rate_limited']") == $(json $s "d['xdp']['rate_limited']")"
check "ratelimit 20/s: the kernel let through at most burst + rate x uptime" \
    "$(json $s "d['xdp']['forwarded'] + d['xdp']['packets_sent']") <= $(json $s "int(10 + 20 * d['uptime_s']) + 1")"
check "ratelimit 20/s: the slow path's forwards were charged to the kernel's bucket" \
    "$(json $s "d['xdp_maps']['slow_charged']") > 0 && $(json $s "d['xdp_maps']['slow_charge_failed']") == 0"
stop mb

# One budget per connection across both paths: a client migrating by port every 300 ms
# (reactive: each new path's first packets go up to the core) gets no more than burst +
# rate x the time it sent, kernel and slow path together; the slow path's forwards are charged
# to the connection's bucket in the kernel, which refuses some (its own bucket refilled).
echo "# qasm ratelimit reactive, --io xdp: 20/s, burst 10, the client migrating by port"
start_mb ratelimit --mode reactive --rate 20 --burst 10 --tracker $TRK --hold $HOLD
wait_json "$T/mb.json" "d['tracker']['up']" || true
fresh_stats mb "$T/mb.json"; u0=$(json "$T/mb.json" "d['uptime_s']")
in_c env QASM_TRACKER=$TRK LD_PRELOAD="$B/libqasm-agent.so" timeout 30 \
    "$B/qasm-h3-client" --json --idle-timeout 10s --duration 5s --interval 50ms --concurrency 4 \
    --migrate-every 300ms --migrate-kind port "https://$S_IP:$SRV_PORT/" \
    >"$T/rlm.json" 2>"$T/rlm.log"
echo "client (exit $?): $(cat "$T/rlm.json")"
fresh_stats mb "$T/mb.json"; s="$T/mb.json"
sent="d['xdp']['forwarded'] + d['xdp']['packets_sent'] + d['packets_forwarded'] - d['packets_dropped']['xdp_slow_rate_limited']"
echo "ratelimit reactive 20/s: $(json $s "$sent") forwarded in $(json $s "round(d['uptime_s'] - $u0, 2)") s" \
    "(slow path: $(json $s "d['packets_forwarded']") decided, $(json $s "d['xdp_maps']")); xdp: $(json $s "d['xdp']")"
check "ratelimit reactive 20/s: migrations through the slow path" "$(json $s "d['migrations']") > 3"
check "ratelimit reactive 20/s: the kernel's bucket refused some of the slow path's forwards" \
    "$(json $s "d['xdp_maps']['slow_rate_limited']") > 0"
check "ratelimit reactive 20/s: kernel and slow path together at most burst + rate x time" \
    "$(json $s "$sent") <= $(json $s "int(10 + 20 * (d['uptime_s'] - $u0)) + 1")"
stop mb

# ---- lb: VIP on the hop's inside address, two backends ----
start srvb ip netns exec "$NS_S" "$B/qasm-h3-server" --listen $S_IP:4434 --idle-timeout 10s --no-json
wait_ns "$NS_S" 4434 || exit 1
for mode in default reactive; do
    echo "# qasm lb $mode, --io xdp"
    start_mb lb --mode $mode --listen $H_IN_IP:443 --backend $S_IP:$SRV_PORT \
        --backend $S_IP:4434 --tracker $TRK --hold $HOLD
    [ $mode = default ] || wait_json "$T/mb.json" "d['tracker']['up']" || true
    lb_run_checks $mode
    kernel_checks "lb $mode"
    stop mb
done
stop srvb

# ---- tracker loss mid-transfer: the kernel keeps forwarding what it knows ----
echo "# qasm nat proactive, --io xdp: the tracker stops mid-transfer"
start_mb nat --mode proactive --tracker $TRK --ports 40000-40007 --hold $HOLD
wait_json "$T/mb.json" "d['tracker']['up']" || true
in_c env QASM_TRACKER=$TRK LD_PRELOAD="$B/libqasm-agent.so" timeout 60 \
    "$B/qasm-h3-client" --json --idle-timeout 5s --requests 40 --interval 100ms --size 5000 \
    --migrate-every 1s --migrate-kind addr --local-addrs 10.77.1.2-10.77.1.8 \
    "https://$S_IP:$SRV_PORT/" >"$T/loss.json" 2>"$T/loss.log" &
client=$!
wait_stats mb "$T/mb.json" "d['xdp']['forwarded'] > 20" || echo "note: little traffic before the loss"
stop trk
wait_stats mb "$T/mb.json" "not d['tracker']['up']" || true
before=$(json "$T/mb.json" "d['xdp']['forwarded']")
wait $client; rc=$?
c=$(cat "$T/loss.json")
echo "client (exit $rc): $c"
fresh_stats mb "$T/mb.json"; s="$T/mb.json"
echo "nat: $(summary "$s"); xdp: $(json $s "d['xdp']")"
check "tracker loss: every request answered" "$rc == 0 && $(field "$c" requests_ok) == 40"
check "tracker loss: the core knew the tracker was down" "$(json $s "d['tracker']['up']") == 0"
check "tracker loss: the kernel kept forwarding ($before before)" \
    "$(json $s "d['xdp']['forwarded']") > $before + 20"
stop mb
finish
