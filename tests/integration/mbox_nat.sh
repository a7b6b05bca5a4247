#!/usr/bin/env bash
# mbox_nat.sh: a QUIC-shaped client migrating through qasm-mbox nat.
#  - default: every migration takes a new mapping and a new public port; the
#    8-port pool runs out, later phases are dropped (pool_exhausted) and a
#    second client is refused (§2.1 of the paper);
#  - reactive and proactive: one mapping and one public port for the whole
#    connection (Table 1), the server sees one client address, and a second
#    client gets its own mapping;
#  - reactive with the tracker unreachable: default behaviour, counted.
# The client is qasm-udpdrive (deterministic; it reports to the tracker like
# the client agent would). Loopback only, every process bounded.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh

base=$(free_ports 32) || { echo "no free ports"; exit 1; }
TRK=$base SRV=$((base + 1)) NAT=$((base + 2)) DEAD=$((base + 3))
POOL_LO=$((base + 8)) POOL_HI=$((base + 15))    # 8 public ports
CL1=$((base + 16))                               # client ports (not fixed: ephemeral is fine)

start tracker "$B/qasm-tracker" --listen 127.0.0.1:$TRK
start server "$B/qasm-udpdrive" server --listen 127.0.0.1:$SRV --stats-json "$T/server.json"
wait_bound $TRK tcp && wait_bound $SRV || exit 1

client() { # conn packets migrate_every [extra...]
    local conn=$1 n=$2 every=$3; shift 3
    timeout "$(scaled 60)" "$B/qasm-udpdrive" client --handshake-timeout $HS_TIMEOUT --linger $LINGER --to 127.0.0.1:$NAT --conn "$conn" --packets "$n" \
        --migrate-every "$every" --interval 10ms --tracker 127.0.0.1:$TRK "$@"
}

run_nat() { # mode tracker_port
    local mode=$1 trk=$2
    start nat "$B/qasm-mbox" nat --mode "$mode" --listen 127.0.0.1:$NAT \
        --upstream 127.0.0.1:$SRV --ports $POOL_LO-$POOL_HI --tracker 127.0.0.1:$trk --hold $HOLD \
        --stats-json "$T/nat.json" --stats-entries 16 --log-level info
    wait_bound $NAT || return 1
    # aware modes: give the tracker session a moment to come up (it is not required)
    [ "$mode" = default ] || wait_json "$T/nat.json" "d['tracker']['up'] or $trk == $DEAD" || true
}

for mode in default reactive proactive; do
    echo "# nat $mode"
    run_nat $mode $TRK || exit 1
    c1=$(client $((10 + ${#mode})) 50 5 --port-base $CL1); rc1=$?
    echo "client 1: $c1"
    fresh_stats nat "$T/nat.json" || { echo "no stats"; FAILS=$((FAILS + 1)); }
    echo "nat: $(summary "$T/nat.json")"
    s="$T/nat.json"
    check "$mode: client 1 handshake" "$rc1 == 0"
    if [ $mode = default ]; then
        check "default: the 8-port pool is exhausted" \
            "$(json $s "d['ports_high_water']") == 8"
        check "default: one mapping per migration, 8 at most" \
            "$(json $s "d['mappings_created']") == 8"
        check "default: packets dropped for pool exhaustion" \
            "$(json $s "d['packets_dropped']['pool_exhausted']") > 0"
        check "default: the connection's later phases failed" \
            "$(echo "$c1" | json /dev/stdin "d['phases_failed']") >= 1"
        c2=$(client 99 5 0 --handshake-timeout 2s); rc2=$?   # refused: no need to wait long
        echo "client 2: $c2"
        check "default: a second client is refused (no handshake)" "$rc2 == 3"
    else
        check "$mode: every phase of the migrating connection answered" \
            "$(echo "$c1" | json /dev/stdin "d['phases_ok'] == d['phases'] == 10")"
        check "$mode: one mapping for the connection" \
            "$(json $s "d['mappings_created']") == 1"
        check "$mode: one public port" "$(json $s "d['ports_high_water']") == 1"
        check "$mode: migrations followed (attested by the tracker)" \
            "$(json $s "d['migrations']") >= 9"
        check "$mode: nothing dropped" "$(json $s "d['packets_dropped']['total']") == 0"
        od1=$(echo "$c1" | json /dev/stdin "d['odcid']")
        check "$mode: the mapping lists the connection and its client addresses (Table 1)" \
            "$(json $s "[(e['public_port'], len(e['clients']) > 1) for e in d['entries'] if e.get('odcid') == '$od1'] == [($POOL_LO, True)]")"
        if [ $mode = proactive ]; then
            check "proactive: subscribed to the connection" \
                "$(json $s "d['tracker_subscribes']") >= 1"
        fi
        c2=$(client $((20 + ${#mode})) 5 0); rc2=$?
        echo "client 2: $c2"
        check "$mode: a second client gets through" "$rc2 == 0"
        fresh_stats nat "$T/nat.json"
        check "$mode: ... with its own mapping" "$(json $s "d['mappings_created']") == 2"
        od=$(echo "$c1" | json /dev/stdin "d['odcid']")
        check "$mode: the server saw one client address for the migrating connection" \
            "$(json "$T/server.json" "[c['clients_count'] for c in d['connections'] if c['odcid'] == '$od'] == [1]") == 1"
    fi
    stop nat
done

echo "# nat reactive, tracker unreachable"
run_nat reactive $DEAD || exit 1
c1=$(client 77 50 5); rc1=$?
echo "client 1: $c1"
fresh_stats nat "$T/nat.json"
echo "nat: $(summary "$T/nat.json")"
s="$T/nat.json"
check "tracker down: the middlebox still forwards" "$rc1 == 0"
check "tracker down: the session is down" "$(json $s "d['tracker']['up']") == 0"
check "tracker down: packets given default treatment, counted" \
    "$(json $s "d['tracker_unavailable']") > 0"
check "tracker down: default behaviour (one mapping per migration)" \
    "$(json $s "d['mappings_created']") == 8"
check "tracker down: no packet held" "$(json $s "d['packets_held']") == 0"
stop nat

echo "# nat reactive, tracker restarted under the middlebox"
run_nat reactive $TRK || exit 1
stop tracker
c1=$(client 88 20 5); rc1=$?
echo "client during the outage: $c1"
check "tracker restart: forwarding goes on while the tracker is away" "$rc1 == 0"
start tracker "$B/qasm-tracker" --listen 127.0.0.1:$TRK
wait_bound $TRK tcp || exit 1
wait_json "$T/nat.json" "d['tracker']['up'] and d['tracker']['connects'] >= 2"
check "tracker restart: the session came back (reconnected with backoff)" \
    "$(json "$T/nat.json" "d['tracker']['connects']") >= 2"
before=$(json "$T/nat.json" "d['mappings_created']")
c2=$(client 89 50 5); rc2=$?
echo "client after the restart: $c2"
fresh_stats nat "$T/nat.json"
echo "nat: $(summary "$T/nat.json")"
check "tracker restart: aware again (one new mapping for a migrating connection)" \
    "$rc2 == 0 && $(json "$T/nat.json" "d['mappings_created']") == $before + 1"
check "tracker restart: the session loss was seen" \
    "$(json "$T/nat.json" "d['tracker']['disconnects']") >= 1"
stop nat

# The timeout is long enough that the mappings are surely still there when the
# stats are read right after the client (a loaded machine may take seconds).
echo "# nat default, mappings expire (--udp-timeout 8s) and their public sockets close"
start nat "$B/qasm-mbox" nat --mode default --listen 127.0.0.1:$NAT --upstream 127.0.0.1:$SRV \
    --ports $POOL_LO-$POOL_HI --udp-timeout 8s --udp-stream-timeout 8s --stats-json "$T/nat.json"
wait_bound $NAT || exit 1
c1=$(client 90 10 5); rc1=$?
check "expiry: the client went through" "$rc1 == 0"
fresh_stats nat "$T/nat.json"
check "expiry: two mappings while the client is active" "$(json "$T/nat.json" "d['ports_in_use']") == 2"
wait_json "$T/nat.json" "d['ports_in_use'] == 0" 200
echo "nat: $(summary "$T/nat.json")"
check "expiry: the mappings expired" "$(json "$T/nat.json" "d['mappings_expired']") == 2"
check "expiry: the public sockets are closed" \
    "$(json "$T/nat.json" "d['relay']['ports_open']") == 0 && $(ss -Hlun "( sport >= :$POOL_LO and sport <= :$POOL_HI )" | wc -l) == 0"
c2=$(client 91 5 0); rc2=$?
check "expiry: a new client gets a port again" "$rc2 == 0"
stop nat

echo "# nat proactive over IPv6 (::1)"
start tracker6 "$B/qasm-tracker" --listen "[::1]:$DEAD"
start server6 "$B/qasm-udpdrive" server --listen "[::1]:$SRV" --stats-json "$T/server6.json"
start nat "$B/qasm-mbox" nat --mode proactive --tracker "[::1]:$DEAD" --listen "[::1]:$NAT" \
    --upstream "[::1]:$SRV" --ports $POOL_LO-$POOL_HI --hold $HOLD --stats-json "$T/nat.json"
wait_bound $NAT && wait_bound $SRV || exit 1
wait_json "$T/nat.json" "d['tracker']['up']" || true
c1=$(timeout "$(scaled 60)" "$B/qasm-udpdrive" client --handshake-timeout $HS_TIMEOUT --linger $LINGER --to "[::1]:$NAT" --conn 92 --packets 30 \
    --migrate-every 5 --tracker "[::1]:$DEAD"); rc1=$?
echo "client: $c1"
fresh_stats nat "$T/nat.json"
echo "nat: $(summary "$T/nat.json")"
check "IPv6: every phase answered" "$rc1 == 0 && $(echo "$c1" | json /dev/stdin "d['phases_ok'] == 6")"
check "IPv6: one mapping, one port" \
    "$(json "$T/nat.json" "d['mappings_created'] == 1 and d['ports_high_water'] == 1")"
stop nat
finish
