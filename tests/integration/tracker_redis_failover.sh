#!/usr/bin/env bash
# tracker_redis_failover.sh: a middlebox across a Redis Cluster failover
#. A Cluster of 3 masters + 3 replicas on loopback; the client's
# agent reports to tracker A, qasm-mbox lb (reactive) queries tracker B. A
# migrating client runs through the LB while the master holding its record
# is killed with -9. The middlebox's traffic gets default treatment at
# worst: the handshake completes, every client packet is forwarded (none
# dropped, none stuck), the LB and both trackers survive; after the
# failover the connection's record is in the Cluster again.
cd "$(dirname "$0")/../.." || exit 1
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "SKIP: redis-server/redis-cli not installed (scripts/deps.sh installs them)"
    exit 77
fi
. tests/integration/mbox_lib.sh

# Cluster ports need their bus port (+10000) free (and reserved) too.
base=$(reserve_ports 12 10000) || { echo "no free ports"; exit 1; }
PORTS=($(seq "$base" $((base + 5))))
TA=$((base + 6)) TB=$((base + 7)) BA=$((base + 8)) BB=$((base + 9)) LB=$((base + 10))

for p in "${PORTS[@]}"; do
    mkdir -p "$T/n$p"
    start "redis$p" redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file "$T/n$p/nodes.conf" --cluster-node-timeout 1500 \
        --cluster-replica-validity-factor 0 \
        --save '' --appendonly no --dir "$T/n$p"
done
for p in "${PORTS[@]}"; do wait_bound "$p" tcp || exit 1; done
nodes=(); for p in "${PORTS[@]}"; do nodes+=("127.0.0.1:$p"); done
timeout "$(scaled 120)" redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes \
    >"$T/create.log" 2>&1
check "redis-cli --cluster create" "$? == 0"
cluster_ok() { local p; for p in "$@"; do
    redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1; done; }
cluster_formed() {
    nrep=$(redis-cli -p "${PORTS[0]}" cluster nodes 2>/dev/null | awk '$3 ~ /slave/' | wc -l)
    cluster_ok "${PORTS[@]}" && [ "$nrep" = 3 ]
}
wait_until 60 cluster_formed
check "cluster of 3 masters + 3 replicas ok" "$nrep == 3"
links_up() { # every replica's link to its master is up (else it could not take over)
    local p n=0
    for p in "${PORTS[@]}"; do
        redis-cli -p "$p" info replication 2>/dev/null | grep -q 'master_link_status:up' && n=$((n + 1))
    done
    [ $n = 3 ]
}
wait_until 60 links_up
check "replicas synchronised" "$(links_up && echo 1 || echo 0) == 1"
[ "$FAILS" = 0 ] || finish

STORE="redis-cluster://127.0.0.1:${PORTS[0]},127.0.0.1:${PORTS[1]}"
start trka "$B/qasm-tracker" --listen 127.0.0.1:$TA --store "$STORE" --log-level debug
start trkb "$B/qasm-tracker" --listen 127.0.0.1:$TB --store "$STORE" --log-level debug
wait_bound $TA tcp && wait_bound $TB tcp || exit 1
store_up() {
    "$B/qasm-trackctl" --tracker 127.0.0.1:$1 --json stats >"$T/st.json" 2>/dev/null &&
        [ "$(json "$T/st.json" "d.get('store_up', 0)")" = 1 ]
}
for p in $TA $TB; do
    wait_until 30 store_up $p
    check "tracker on $p connected to the Cluster" "$(json "$T/st.json" "d.get('store_up', 0)") == 1"
done

start srva "$B/qasm-udpdrive" server --listen 127.0.0.1:$BA --name a --stats-json "$T/a.json"
start srvb "$B/qasm-udpdrive" server --listen 127.0.0.1:$BB --name b --stats-json "$T/b.json"
start lb "$B/qasm-mbox" lb --mode reactive --listen 127.0.0.1:$LB \
    --backend 127.0.0.1:$BA --backend 127.0.0.1:$BB --tracker 127.0.0.1:$TB --hold 100ms \
    --stats-json "$T/lb.json"
wait_bound $BA && wait_bound $BB && wait_bound $LB || exit 1
wait_json "$T/lb.json" "d['tracker']['up']" || true

# ~6 s of traffic, migrating every 5 packets; the kill comes after ~1.5 s.
timeout "$(scaled 120)" "$B/qasm-udpdrive" client --handshake-timeout $HS_TIMEOUT --to 127.0.0.1:$LB --conn 91 --packets 200 \
    --migrate-every 5 --interval 30ms --tracker 127.0.0.1:$TA >"$T/client.out" 2>"$T/client.err" &
CPID=$!
# The kill must come while the connection is known and traffic flows: wait for
# the connection at tracker A, then let ~1 s of traffic pass (placement, not
# synchronisation: the checks hold whenever the kill lands).
known() {
    odcid=$("$B/qasm-trackctl" --tracker 127.0.0.1:$TA --json dump 2>/dev/null |
        json /dev/stdin "d['connections'][0]['odcid']" 2>/dev/null) && [ -n "$odcid" ]
}
wait_until 30 known || echo "FAIL: tracker A never learnt the connection"
sleep 1
slot=$(redis-cli -p "${PORTS[0]}" cluster keyslot "qi:{$odcid}")
victim=$(redis-cli -p "${PORTS[0]}" cluster nodes | python3 -c '
import sys
slot = int(sys.argv[1])
for l in sys.stdin:
    f = l.split()
    if "master" not in f[2] or "fail" in f[2]:
        continue
    for r in f[8:]:
        a, _, b = r.partition("-")
        if r[0] != "[" and int(a) <= slot <= int(b or a):
            print(f[1].split(":")[1].split("@")[0])' "$slot")
echo "connection $odcid: slot $slot on master $victim"
check "master of the connection's slot found" "${victim:-0} > 0"
kill -9 "$(child_pid "redis$victim")"
wait "$CPID"; rc=$?
c=$(cat "$T/client.out")
echo "client: $c"
check "client: handshake and run completed during the failover" "$rc == 0"
fresh_stats lb "$T/lb.json"
echo "lb: $(summary "$T/lb.json")"
check "LB: every client packet forwarded (none dropped)" \
    "$(json "$T/lb.json" "d['packets_dropped']['total']") == 0"
check "LB: nothing left held" "$(json "$T/lb.json" "d['packets_held'] - d['released_joined'] - d['released_default'] - d['hold_timeouts']") <= 0"
check "client: every phase answered or failed, none lost" \
    "$(echo "$c" | json /dev/stdin "d['phases_ok'] + d['phases_failed'] == d['phases']")"
echo "phases ok during the failover: $(echo "$c" | json /dev/stdin "d['phases_ok']") of $(echo "$c" | json /dev/stdin "d['phases']")"

alive=(); for p in "${PORTS[@]}"; do [ "$p" != "$victim" ] && alive+=("$p"); done
# Every node marks the victim failed and the state is ok again ("ok" alone
# could still be the state from before the failure was noticed).
failed_over() { local p; for p in "${alive[@]}"; do
    redis-cli -p "$p" cluster nodes 2>/dev/null |
        awk -v v="$victim" '{ split($2, a, "[:@]") } a[2] == v && $3 ~ /(^|,)fail(,|$)/ { f = 1 } END { exit !f }' ||
        return 1
    done; cluster_ok "${alive[@]}"; }
wait_until 60 failed_over
check "cluster ok again after the failover" "$(failed_over && echo 1 || echo 0) == 1"
has_record() { [ "$(redis-cli -c -p "${alive[0]}" exists "qi:{$odcid}" 2>/dev/null)" = 1 ]; }
wait_until 60 has_record
check "the connection's record is in the Cluster after the failover" \
    "$(redis-cli -c -p "${alive[0]}" exists "qi:{$odcid}" 2>/dev/null) == 1"
for n in trka trkb lb; do
    check "$n survived" "$(kill -0 "$(child_pid $n)" 2>/dev/null && echo 1 || echo 0) == 1"
done
"$B/qasm-trackctl" --tracker 127.0.0.1:$TB --json query "$odcid" >/dev/null
check "tracker B answers for the connection" "$? == 0"
finish
