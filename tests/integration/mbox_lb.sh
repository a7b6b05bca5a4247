#!/usr/bin/env bash
# mbox_lb.sh: a QUIC-shaped client migrating through qasm-mbox lb over two
# backends (§2.2 of the paper).
#  - default: a new flow is assigned by a hash of the client address and
#    port, so after a migration the connection lands on the other backend,
#    which does not know it: those requests get no answer;
#  - reactive and proactive: the LB keys the connection on its O-DCID and
#    keeps its backend: every request is answered, the other backend sees
#    nothing.
# The proactive run uses --core-batch (one core call per receive batch).
# 20 phases: all of them hashing to the same backend by chance has
# probability 2^-19.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh

base=$(free_ports 8) || { echo "no free ports"; exit 1; }
TRK=$base BA=$((base + 1)) BB=$((base + 2)) LB=$((base + 3))

start tracker "$B/qasm-tracker" --listen 127.0.0.1:$TRK
wait_bound $TRK tcp || exit 1

for mode in default reactive proactive; do
    echo "# lb $mode"
    start srva "$B/qasm-udpdrive" server --listen 127.0.0.1:$BA --name a --stats-json "$T/a.json"
    start srvb "$B/qasm-udpdrive" server --listen 127.0.0.1:$BB --name b --stats-json "$T/b.json"
    start lb "$B/qasm-mbox" lb --mode $mode --listen 127.0.0.1:$LB \
        --backend 127.0.0.1:$BA --backend 127.0.0.1:$BB --tracker 127.0.0.1:$TRK --hold $HOLD \
        $([ $mode = proactive ] && echo --core-batch) --stats-json "$T/lb.json"
    wait_bound $BA && wait_bound $BB && wait_bound $LB || exit 1
    [ $mode = default ] || wait_json "$T/lb.json" "d['tracker']['up']" || true
    c=$(timeout "$(scaled 60)" "$B/qasm-udpdrive" client --handshake-timeout $HS_TIMEOUT --linger $LINGER --to 127.0.0.1:$LB --conn $((60 + ${#mode})) \
        --packets 60 --migrate-every 3 --interval 10ms --tracker 127.0.0.1:$TRK); rc=$?
    echo "client: $c"
    check "$mode: handshake" "$rc == 0"
    fresh_stats lb "$T/lb.json"
    echo "lb: $(summary "$T/lb.json")"
    stop srva; stop srvb
    a_conns=$(json "$T/a.json" "d['conns']") b_conns=$(json "$T/b.json" "d['conns']")
    unknown=$(( $(json "$T/a.json" "d['packets_received_unknown']") + $(json "$T/b.json" "d['packets_received_unknown']") ))
    echo "backend a: $a_conns conn(s), backend b: $b_conns; packets for an unknown connection: $unknown"
    check "$mode: exactly one backend got the handshake" "$a_conns + $b_conns == 1"
    if [ $mode = default ]; then
        check "default: the migrated connection reached the other backend" "$unknown > 0"
        check "default: requests failed after a migration" \
            "$(echo "$c" | json /dev/stdin "d['phases_failed']") >= 1"
    else
        check "$mode: every phase answered" \
            "$(echo "$c" | json /dev/stdin "d['phases_ok'] == d['phases'] == 20")"
        check "$mode: no packet reached the wrong backend" "$unknown == 0"
        check "$mode: one LB entry for the connection" \
            "$(json "$T/lb.json" "d['mappings_created']") == 1"
        check "$mode: migrations followed" "$(json "$T/lb.json" "d['migrations']") >= 19"
    fi
    stop lb
done
finish
