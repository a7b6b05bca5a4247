#!/usr/bin/env bash
# tracker_redis_mbox.sh: a middlebox and the agent use different trackers
# that share one Redis. A QUIC-shaped client (qasm-udpdrive)
# migrates through qasm-mbox lb over two backends; the client's agent
# reports to tracker A, the LB queries (reactive) or subscribes (proactive)
# at tracker B. As with one tracker (mbox_lb.sh), the LB keys the connection
# on its O-DCID and keeps its backend across every migration: every request
# is answered, the other backend sees nothing.
cd "$(dirname "$0")/../.." || exit 1
if ! command -v redis-server >/dev/null; then
    echo "SKIP: redis-server not installed (scripts/deps.sh installs it)"
    exit 77
fi
. tests/integration/mbox_lib.sh

base=$(free_ports 8) || { echo "no free ports"; exit 1; }
RP=$base TA=$((base + 1)) TB=$((base + 2)) BA=$((base + 3)) BB=$((base + 4)) LB=$((base + 5))

start redis redis-server --port $RP --bind 127.0.0.1 --save '' --appendonly no --dir "$T"
wait_bound $RP tcp || exit 1
STORE=redis://127.0.0.1:$RP
start trka "$B/qasm-tracker" --listen 127.0.0.1:$TA --store $STORE
start trkb "$B/qasm-tracker" --listen 127.0.0.1:$TB --store $STORE
wait_bound $TA tcp && wait_bound $TB tcp || exit 1
store_up() {
    "$B/qasm-trackctl" --tracker 127.0.0.1:$1 --json stats >"$T/st.json" 2>/dev/null &&
        [ "$(json "$T/st.json" "d.get('store_up', 0)")" = 1 ]
}
for p in $TA $TB; do
    wait_until 30 store_up $p
    check "tracker on $p connected to Redis" "$(json "$T/st.json" "d.get('store_up', 0)") == 1"
done

for mode in reactive proactive; do
    echo "# lb $mode: agent -> tracker A, LB -> tracker B"
    start srva "$B/qasm-udpdrive" server --listen 127.0.0.1:$BA --name a --stats-json "$T/a.json"
    start srvb "$B/qasm-udpdrive" server --listen 127.0.0.1:$BB --name b --stats-json "$T/b.json"
    start lb "$B/qasm-mbox" lb --mode $mode --listen 127.0.0.1:$LB \
        --backend 127.0.0.1:$BA --backend 127.0.0.1:$BB --tracker 127.0.0.1:$TB --hold $HOLD \
        --stats-json "$T/lb.json"
    wait_bound $BA && wait_bound $BB && wait_bound $LB || exit 1
    wait_json "$T/lb.json" "d['tracker']['up']" || true
    c=$(timeout "$(scaled 60)" "$B/qasm-udpdrive" client --handshake-timeout $HS_TIMEOUT --linger $LINGER --to 127.0.0.1:$LB --conn $((70 + ${#mode})) \
        --packets 60 --migrate-every 3 --interval 10ms --tracker 127.0.0.1:$TA); rc=$?
    echo "client: $c"
    check "$mode: handshake" "$rc == 0"
    fresh_stats lb "$T/lb.json"
    echo "lb: $(summary "$T/lb.json")"
    stop srva; stop srvb
    a_conns=$(json "$T/a.json" "d['conns']") b_conns=$(json "$T/b.json" "d['conns']")
    unknown=$(( $(json "$T/a.json" "d['packets_received_unknown']") + $(json "$T/b.json" "d['packets_received_unknown']") ))
    echo "backend a: $a_conns conn(s), backend b: $b_conns; packets for an unknown connection: $unknown"
    check "$mode: exactly one backend got the handshake" "$a_conns + $b_conns == 1"
    check "$mode: every phase answered" \
        "$(echo "$c" | json /dev/stdin "d['phases_ok'] == d['phases'] == 20")"
    check "$mode: no packet reached the wrong backend" "$unknown == 0"
    check "$mode: migrations followed" "$(json "$T/lb.json" "d['migrations']") >= 19"
    stop lb
done
"$B/qasm-trackctl" --tracker 127.0.0.1:$TB --json stats >"$T/st.json"
check "tracker B applied A's records from Redis" \
    "$(json "$T/st.json" "d['store_remote_applied'] + d['store_lookup_hits']") > 0"
"$B/qasm-trackctl" --tracker 127.0.0.1:$TA --json stats >"$T/st.json"
check "tracker A received the agent's reports" "$(json "$T/st.json" "d['created']") >= 2"
finish
