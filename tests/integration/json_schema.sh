#!/usr/bin/env bash
# json_schema.sh: docs/JSON.md matches what the programs write. Runs each
# program briefly (a tracker, a reactive NAT and a rate limiter with their
# control sockets, qasm-udpdrive reporting a migrating connection, qasm-trackctl,
# qasm-mboxctl, an HTTP/3 download, qasm-tracker-bench, qasm-replay on the regression corpus) and checks with
# scripts/json-schema.py that every field written is documented, with its
# type, and every field documented as `always` is written.
# Loopback and Unix sockets in the test's directory only, every process bounded.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh
for bin in qasm-mboxctl qasm-trackctl qasm-replay qasm-h3-server qasm-h3-client; do
    [ -x "$B/$bin" ] || { echo "FAIL: $B/$bin not built"; exit 1; }
done
S=scripts/json-schema.py
each() { # each FILE EXPR: the objects of the list EXPR (on d, a document of FILE), one a line
    python3 -c 'import json,sys
t = open(sys.argv[1]).read()
try: docs = [json.loads(t)]
except ValueError: docs = [json.loads(l) for l in t.splitlines() if l.strip()]
for d in docs:
    for o in eval(sys.argv[2]): print(json.dumps(o))' "$1" "$2"
}
schema() { # schema DOC FILE...: the FILEs against docs/JSON.md's table DOC
    local doc=$1; shift
    python3 "$S" check "$doc" "$@"
    check "docs/JSON.md describes $doc" "$? == 0"
}

base=$(free_ports 16) || { echo "no free ports"; exit 1; }
TRK=$base SRV=$((base + 1)) NAT=$((base + 2)) RL=$((base + 3))
POOL_LO=$((base + 8)) POOL_HI=$((base + 15))
ctl() { timeout "$(scaled 30)" "$B/qasm-mboxctl" "$@"; }
trk() { timeout "$(scaled 30)" "$B/qasm-trackctl" --tracker 127.0.0.1:$TRK --json "$@"; }

start tracker "$B/qasm-tracker" --listen 127.0.0.1:$TRK
start server "$B/qasm-udpdrive" server --listen 127.0.0.1:$SRV --stats-json "$T/server.json"
wait_bound $TRK tcp && wait_bound $SRV || exit 1
start nat "$B/qasm-mbox" nat --mode reactive --listen 127.0.0.1:$NAT --upstream 127.0.0.1:$SRV \
    --ports $POOL_LO-$POOL_HI --tracker 127.0.0.1:$TRK --hold $HOLD --control "$T/nat.sock" \
    --stats-json "$T/nat.json" --stats-entries 8
start rl "$B/qasm-mbox" ratelimit --mode default --listen 127.0.0.1:$RL --upstream 127.0.0.1:$SRV \
    --rate 1000 --control "$T/rl.sock" --stats-json "$T/rl.json" --stats-entries 8
wait_bound $NAT && wait_bound $RL || exit 1
wait_until 30 test -S "$T/nat.sock" || { echo "no control socket"; exit 1; }
wait_json "$T/nat.json" "d['tracker']['up']" || echo "(tracker session not up yet)"
timeout "$(scaled 120)" "$B/qasm-mboxctl" events --json --count 2 --control "$T/nat.sock" \
    >"$T/events.jsonl" & EVC=$!; PIDS[ev]=$EVC
timeout "$(scaled 120)" "$B/qasm-trackctl" --tracker 127.0.0.1:$TRK --json watch --count 2 \
    >"$T/watch.jsonl" & WC=$!; PIDS[watch]=$WC
wait_stats nat "$T/nat.json" "d['control']['event_readers'] == 1" || echo "(events reader late)"
sleep 0.2 # the watch subscription has no counter to wait on; a late one only misses events

for to in $NAT $RL; do
    timeout "$(scaled 60)" "$B/qasm-udpdrive" client --handshake-timeout $HS_TIMEOUT \
        --linger $LINGER --to 127.0.0.1:$to --conn $to --packets 20 --migrate-every 5 \
        --interval 5ms --tracker 127.0.0.1:$TRK >>"$T/client.jsonl"
    check "the client through :$to ran" "$? == 0"
done
od=$(head -1 "$T/client.jsonl" | json /dev/stdin "d['odcid']")
wait_stats nat "$T/nat.json" "d['migrations'] >= 1 and len(d['entries']) >= 1" ||
    echo "(no migration seen)"
wait_stats rl "$T/rl.json" "len(d['entries']) >= 1" || echo "(no rate-limiter entry)"
ctl list --json --control "$T/nat.sock" >"$T/list-nat.json"
ctl list --json --control "$T/rl.sock" >"$T/list-rl.json"
ctl stats --control "$T/nat.sock" >"$T/ctlstats.json"
trk stats >"$T/trk-stats.json"
trk dump >"$T/trk-dump.json"
trk query "$od" >"$T/trk-query.json"
trk query 0123456789abcdef >"$T/trk-query-none.json"
wait_until 30 sh -c "[ \$(wc -l <'$T/events.jsonl') -ge 2 ]" || echo "(events missing)"
wait_until 30 sh -c "[ \$(wc -l <'$T/watch.jsonl') -ge 2 ]" || echo "(watch events missing)"
stop nat; stop rl; stop server
# JSON_SCHEMA_KEEP=DIR keeps the documents (to write the docs from)
[ -n "${JSON_SCHEMA_KEEP:-}" ] && cp "$T"/*.json "$T"/*.jsonl "$JSON_SCHEMA_KEEP"/

schema mbox-stats "$T/nat.json" "$T/rl.json" "$T/ctlstats.json"
schema mbox-entry <(each "$T/nat.json" "d['entries']") <(each "$T/rl.json" "d['entries']") \
    <(each "$T/list-nat.json" "d['entries']") <(each "$T/list-rl.json" "d['entries']")
schema mboxctl-list "$T/list-nat.json" "$T/list-rl.json"
schema mboxctl-events "$T/events.jsonl"
schema udpdrive-server "$T/server.json"
schema udpdrive-client "$T/client.jsonl"
schema trackctl-stats "$T/trk-stats.json"
schema trackctl-dump "$T/trk-dump.json"
schema trackctl-query "$T/trk-query.json" "$T/trk-query-none.json"
schema trackctl-watch "$T/watch.jsonl"
schema trackctl-record <(each "$T/trk-dump.json" "d['connections']") \
    <(each "$T/trk-query.json" "[d['connection']]") <(each "$T/watch.jsonl" "[d['connection']]")
# qasm-h3-server and qasm-h3-client: a download, and a client that finds no server
H3=$(free_ports 2) || { echo "no free ports"; exit 1; }
timeout --kill-after=2 "$(scaled 400)" "$B/qasm-h3-server" --listen 127.0.0.1:$H3 \
    --idle-timeout 5s >"$T/h3srv.json" 2>"$T/h3srv.log" & PIDS[h3srv]=$! # the summary: stdout
wait_bound $H3 || exit 1
timeout "$(scaled 60)" "$B/qasm-h3-client" --json --idle-timeout 5s --output /dev/null \
    "https://127.0.0.1:$H3/bytes/100000" >"$T/h3c.json" 2>"$T/h3c.log"
check "the HTTP/3 download" "$? == 0"
timeout "$(scaled 60)" "$B/qasm-h3-client" --json --handshake-timeout 500ms \
    "https://127.0.0.1:$((H3 + 1))/bytes/1" >"$T/h3c-none.json" 2>"$T/h3c-none.log"
check "no server: no latency (null)" \
    "$(json "$T/h3c-none.json" "d['latency_p50_us'] is None and d['requests_ok'] == 0")"
stop h3srv
schema h3-client "$T/h3c.json" "$T/h3c-none.json"
schema h3-server "$T/h3srv.json"
# qasm-tracker-bench: a smoke run without Redis (its Redis figures are null)
if [ -x "$B/qasm-tracker-bench" ]; then
    timeout "$(scaled 120)" "$B/qasm-tracker-bench" --quick --no-redis --log-dir "$T" \
        --json "$T/tb.json" >"$T/tb.out" 2>&1
    check "qasm-tracker-bench --quick --no-redis" "$? == 0"
    schema tracker-bench "$T/tb.json"
fi
# qasm-replay --json: the regression corpus's expectations are its output
schema replay captures/corpus/expected/*.json
finish
