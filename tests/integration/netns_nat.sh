#!/usr/bin/env bash
# netns_nat.sh (root only): the real HTTP/3 client (agent preloaded) in a
# client namespace, migrating by address (8 addresses) or by port, through
# a hop namespace, to qasm-h3-server in a server namespace (netns_lib.sh).
#
#  1. the hop is qasm-mbox nat --io packet (kernel forwarding off), pool of
#     8 ports on the outside interface's address:
#     - default: table1: a port per migration; nat-dos: the pool runs out,
#       a second client is refused;
#     - reactive / proactive: one mapping and one public port for the
#       connection, every request answered, a second client gets in;
#     - IPv6 through the packet backend (ratelimit, default mode); ICMP and TTL 1;
#     - lb with its VIP on the hop, two backends: default misroutes the migrated
#       connection, reactive keeps its backend.
#  2. the hop is the Linux kernel (nftables masquerade, conntrack):
#     table1: conntrack holds one entry (one public port) per migration;
#     nat-dos: with 8 ports, the migrating client exhausts them and a second
#     client's connection fails.
# Counts only, no timing assertions. Skips (exit 0) when not root.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/netns_lib.sh
netns_require_root netns_nat.sh
. tests/integration/mbox_lib.sh
trap 'cleanup; netns_cleanup' EXIT

for bin in qasm-h3-server qasm-h3-client libqasm-agent.so; do
    [ -e "$B/$bin" ] || { echo "FAIL: $B/$bin not built"; exit 1; }
done
netns_setup || { echo "FAIL: cannot create the namespaces"; exit 1; }

TRK=$H_IN_IP:4790
SRV_PORT=4433


# conntrack entries of UDP flows to the server, and their distinct public ports.
ct_entries() { in_h conntrack -L -p udp --orig-port-dst $SRV_PORT 2>/dev/null | grep -c "dport=$SRV_PORT"; }
ct_ports() {
    in_h conntrack -L -p udp --orig-port-dst $SRV_PORT 2>/dev/null |
        awk '{d=0; for(i=1;i<=NF;i++) if($i ~ /^dport=/ && ++d == 2) print $i}' | sort -u | wc -l
}

# ensure_up: (re)start the tracker and the server if they are not running. They
# are not under test here; a restart (something outside killed them) is logged.
ensure_up() {
    local p
    p=${PIDS[trk]:-}
    if [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; then
        [ -n "$p" ] && echo "note: the tracker was not running any more, restarted"
        start trk ip netns exec "$NS_H" "$B/qasm-tracker" --listen $TRK
        wait_ns "$NS_H" 4790 tcp || exit 1
    fi
    p=${PIDS[srv]:-}
    if [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; then
        [ -n "$p" ] && echo "note: the server was not running any more, restarted"
        start srv ip netns exec "$NS_S" "$B/qasm-h3-server" --listen $S_IP:$SRV_PORT \
            --listen "[$S_IP6]:$SRV_PORT" --idle-timeout 10s --no-json
        wait_ns "$NS_S" $SRV_PORT || exit 1
    fi
}
ensure_up

# ---- 1. qasm NAT, packet backend ----
check "hop: kernel forwarding is off" "$(in_h sysctl -n net.ipv4.ip_forward) == 0"
for mode in default reactive proactive; do
    echo "# qasm nat $mode, --io packet"
    ensure_up
    rm -f "$T/mb.json"   # a stale file would pass the start wait below
    start mb ip netns exec "$NS_H" "$B/qasm-mbox" nat --mode $mode --io packet \
        --inside in0 --outside out0 --tracker $TRK --ports 40000-40007 --hold $HOLD \
        --stats-json "$T/mb.json" --stats-entries 16
    wait_json "$T/mb.json" "d['mode'] == '$mode'" || { echo "FAIL: qasm-mbox did not start"; exit 1; }
    [ $mode = default ] || wait_json "$T/mb.json" "d['tracker']['up']" || true
    nat_table1_client $mode; c1=$C1 rc1=$RC1 s="$T/mb.json"
    check "$mode: packets crossed the hop through the packet backend" \
        "$(json $s "d['packet']['to_core']") > 0 && $(json $s "d['packet']['packets_sent']") > 0"
    nat_table1_checks $mode "$s" "$c1" $rc1
    if [ $mode = default ]; then
        c2=$(h3 nat2-$mode --requests 1 --size 100); rc2=$?
        echo "client 2 (exit $rc2): $c2"
        check "default (nat-dos): a second client is refused" "$rc2 != 0"
        if command -v ping >/dev/null; then
            in_c ping -c 1 -W 1 $S_IP >/dev/null 2>&1; ping_rc=$?
            fresh_stats mb "$T/mb.json"
            check "nat: non-UDP (ICMP echo) from the inside is dropped and counted" \
                "$ping_rc != 0 && $(json $T/mb.json "d['packets_dropped']['non_udp']") >= 1"
        fi
    else
        c2=$(h3 nat2-$mode --requests 1 --size 100); rc2=$?
        check "$mode (nat-dos): a second client gets through" "$rc2 == 0"
    fi
    stop mb
done

echo "# qasm nat default, --io packet, IPv6 (--public the outside IPv6 address)"
ensure_up
rm -f "$T/mb.json"   # a stale file would pass the start wait below
start mb ip netns exec "$NS_H" "$B/qasm-mbox" nat --mode default --io packet \
    --inside in0 --outside out0 --public $H_OUT_IP6 --stats-json "$T/mb.json"
wait_json "$T/mb.json" "d['function'] == 'nat'" || { echo "FAIL: qasm-mbox did not start"; exit 1; }
c7=$(in_c timeout 20 "$B/qasm-h3-client" --json --idle-timeout 3s --requests 10 --interval 20ms \
    --size 100 --migrate-every 50ms "https://[$S_IP6]:$SRV_PORT/" 2>"$T/nat6.log"); rc7=$?
echo "IPv6 client (exit $rc7): $c7"
fresh_stats mb "$T/mb.json"
check "IPv6 nat: requests answered through the packet backend" "$rc7 == 0"
check "IPv6 nat: the public address is the outside IPv6 address" \
    "$(json $T/mb.json "d['public'] == '$H_OUT_IP6'") == 1"
check "IPv6 nat (table1): a public port per migration" \
    "$(json $T/mb.json "d['mappings_created']") >= $(field "$c7" migrations) + 1"
stop mb

echo "# qasm ratelimit default, --io packet, IPv6"
ensure_up
rm -f "$T/mb.json"   # a stale file would pass the start wait below
start mb ip netns exec "$NS_H" "$B/qasm-mbox" ratelimit --mode default --io packet \
    --inside in0 --outside out0 --rate 1000 --burst 1000 --stats-json "$T/mb.json"
wait_json "$T/mb.json" "d['function'] == 'ratelimit'" || { echo "FAIL: qasm-mbox did not start"; exit 1; }
c6=$(in_c timeout 20 "$B/qasm-h3-client" --json --idle-timeout 3s --requests 5 --size 1000 \
    "https://[$S_IP6]:$SRV_PORT/" 2>"$T/v6.log"); rc6=$?
echo "IPv6 client (exit $rc6): $c6"
if command -v ping >/dev/null; then
    in_c ping -c 2 -i 0.2 -W 1 $S_IP >/dev/null 2>&1; ping_rc=$?
    in_c ping -c 1 -t 1 -W 1 $S_IP >/dev/null 2>&1
fi
fresh_stats mb "$T/mb.json"
check "IPv6: requests answered through the packet backend" \
    "$rc6 == 0 && $(json $T/mb.json "d['packet']['to_core']") > 0"
if command -v ping >/dev/null; then
    check "ratelimit: non-UDP (ICMP echo) forwarded unchanged" \
        "$ping_rc == 0 && $(json $T/mb.json "d['packet']['non_udp_forwarded']") >= 4"
    check "ratelimit: a packet with TTL 1 is dropped and counted" \
        "$(json $T/mb.json "d['packets_dropped']['ttl_expired']") >= 1"
fi
stop mb

# ---- qasm lb, packet backend: VIP on the hop's inside address, two backends ----
start srvb ip netns exec "$NS_S" "$B/qasm-h3-server" --listen $S_IP:4434 --idle-timeout 10s --no-json
wait_ns "$NS_S" 4434 || exit 1
for mode in default reactive; do
    echo "# qasm lb $mode, --io packet"
    ensure_up
    rm -f "$T/mb.json"   # a stale file would pass the start wait below
    start mb ip netns exec "$NS_H" "$B/qasm-mbox" lb --mode $mode --io packet \
        --inside in0 --outside out0 --listen $H_IN_IP:443 --backend $S_IP:$SRV_PORT \
        --backend $S_IP:4434 --tracker $TRK --hold $HOLD --stats-json "$T/mb.json"
    wait_json "$T/mb.json" "d['mode'] == '$mode'" || { echo "FAIL: qasm-mbox did not start"; exit 1; }
    [ $mode = default ] || wait_json "$T/mb.json" "d['tracker']['up']" || true
    lb_run_checks $mode
    stop mb
done
stop srvb

# ---- 2. the kernel's NAT ----
echo "# kernel nat (nftables masquerade, conntrack), table1"
ensure_up
netns_hop_reset
netns_hop_kernel_nat
c3=$(h3 knat1 --requests 10 --interval 50ms --size 1000 --migrate-every 100ms); rc3=$?
mig=$(field "$c3" migrations)
n=$(ct_entries); p=$(ct_ports)
echo "client (exit $rc3): $c3"
echo "conntrack: $n entries, $p public ports, client migrations $mig"
in_h conntrack -L -p udp --orig-port-dst $SRV_PORT 2>/dev/null | head -n 3
check "kernel nat: requests answered" "$rc3 == 0"
check "kernel nat (table1): one conntrack entry per migration" "$mig >= 3 && $n >= $mig"
check "kernel nat (table1): one public port per entry" "$p == $n"

echo "# kernel nat, 8 public ports (nat-dos)"
ensure_up
netns_hop_reset
netns_hop_kernel_nat 40000-40007
c4=$(h3 knat2 --requests 30 --interval 50ms --size 1000 --migrate-every 100ms \
    --migrate-kind addr --local-addrs 10.77.1.2-10.77.1.9); rc4=$?
echo "client 1 (exit $rc4): $c4"
n=$(ct_entries)
echo "conntrack: $n entries"
check "kernel nat (nat-dos): the 8 public ports are all taken" "$n >= 8"
c5=$(h3 knat3 --requests 1 --size 100); rc5=$?
echo "client 2 (exit $rc5): $c5"
check "kernel nat (nat-dos): a second client is refused" "$rc5 != 0"
netns_hop_reset
finish
