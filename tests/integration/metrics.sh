#!/usr/bin/env bash
# metrics.sh: the --metrics endpoints of qasm-tracker and qasm-mbox, read
# with curl after real traffic (qasm-udpdrive through a reactive NAT that
# asks the tracker):
#  - every number of the stats JSON (qasm-mbox --stats-json, qasm-trackctl
#    stats --json) is a metric of the same name with the same value, typed
#    (counter / gauge), the drop reasons as labels, qasm_build_info present;
#  - any other path is 404;
#  - a bad --metrics address is a one-line usage error, exit 2; an address
#    in use a one-line runtime error, exit 1.
# Loopback only; every process bounded and killed on exit.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh
command -v curl >/dev/null || { echo "SKIP: curl not installed (make deps)"; exit 77; }

base=$(free_ports 8) || { echo "no free ports"; exit 1; }
TRK=$base SRV=$((base + 1)) NAT=$((base + 2)) MT=$((base + 3)) MN=$((base + 4))

start tracker "$B/qasm-tracker" --listen 127.0.0.1:$TRK --metrics 127.0.0.1:$MT
start server "$B/qasm-udpdrive" server --listen 127.0.0.1:$SRV --stats-json "$T/server.json"
start nat "$B/qasm-mbox" nat --mode reactive --listen 127.0.0.1:$NAT --upstream 127.0.0.1:$SRV \
    --tracker 127.0.0.1:$TRK --hold $HOLD --stats-json "$T/nat.json" --metrics 127.0.0.1:$MN
wait_bound $TRK tcp && wait_bound $SRV && wait_bound $NAT && wait_bound $MT tcp &&
    wait_bound $MN tcp || exit 1
wait_json "$T/nat.json" "d['tracker']['up']" || echo "note: tracker session not up yet"

out=$(timeout "$(scaled 60)" "$B/qasm-udpdrive" client --handshake-timeout $HS_TIMEOUT \
    --linger $LINGER --to 127.0.0.1:$NAT --conn 7 --packets 20 --migrate-every 5 \
    --interval 10ms --tracker 127.0.0.1:$TRK); rc=$?
echo "client: $out"
check "client handshake through the NAT" "$rc == 0"

# compare JSON PROM PREFIX SKIP MAPS: every number of the JSON object is the metric of
# the same name with the same value (the rules of docs/METRICS.md, written again
# here); SKIP: paths that may move between the two reads; MAPS: KEY=LABEL,...
compare() {
    python3 - "$@" <<'EOF'
import json, re, sys
d = json.load(open(sys.argv[1])); prom = open(sys.argv[2]).read(); prefix = sys.argv[3]
skip = set(sys.argv[4].split(','))
maps = dict(kv.split('=') for kv in sys.argv[5].split(',') if kv)
rename = {'tracker': 'tracker_link'} if prefix == 'qasm_mbox' else {}
got = {}
for line in prom.splitlines():
    if line and not line.startswith('#'):
        name, val = line.rsplit(' ', 1)
        got[name] = float(val)
want = {}
def walk(obj, name, path):
    for k, v in obj.items():
        p = path + '.' + k if path else k
        n = name + '_' + (rename.get(k, k) if not path else k)
        if isinstance(v, (bool, int, float)):
            want[n] = (p, float(v))
        elif isinstance(v, dict) and p in maps:
            for r, x in v.items():
                key = n + '_total' if r == 'total' else '%s{%s="%s"}' % (n, maps[p], r)
                want[key] = (p, float(x))
        elif isinstance(v, dict):
            walk(v, n, p)
walk(d, prefix, '')
bad = 0
for n, (p, v) in want.items():
    if p in skip:
        continue
    if n not in got:
        print('missing metric %s (JSON %s = %s)' % (n, p, v)); bad += 1
    elif abs(got[n] - v) > 1e-9 * max(1, abs(v)):
        print('metric %s = %s, JSON %s = %s' % (n, got[n], p, v)); bad += 1
print('%d JSON values compared, %d differ or are missing' % (len(want), bad))
sys.exit(1 if bad or len(want) < 20 or 'qasm_build_info{' not in prom else 0)
EOF
}

# --- the middlebox: --stats-json (SIGUSR1: now) against a scrape right after
nat_same() {
    fresh_stats nat "$T/nat.json" && curl -sf "http://127.0.0.1:$MN/metrics" >"$T/nat.prom" &&
        compare "$T/nat.json" "$T/nat.prom" qasm_mbox uptime_s \
            packets_dropped=reason,paths=path,classes=class,hold_us=upper_us,answer_us=upper_us,adopt_us=upper_us \
            >"$T/nat.cmp"
}
wait_until 10 nat_same; rc=$?
cat "$T/nat.cmp"
check "mbox: every --stats-json number is the metric of the same name and value" "$rc == 0"
json "$T/nat.json" "d['packets_in']" >"$T/pin"
check "mbox: traffic was counted (packets_in $(cat "$T/pin"))" "$(cat "$T/pin") >= 20"
grep -q '^# TYPE qasm_mbox_mappings_created counter$' "$T/nat.prom"; check "mbox: mappings_created is a counter" "$? == 0"
grep -q '^# TYPE qasm_mbox_mappings gauge$' "$T/nat.prom"; check "mbox: mappings is a gauge" "$? == 0"
grep -q '^qasm_mbox_packets_dropped{reason="pool_exhausted"} ' "$T/nat.prom"
check "mbox: drop reasons are labels" "$? == 0"
grep -q '^qasm_mbox_info{function="nat",mode="reactive",' "$T/nat.prom"; check "mbox: qasm_mbox_info" "$? == 0"
grep -q '^qasm_build_info{version="[^"]*",commit="[^"]*"} 1$' "$T/nat.prom"
check "mbox: qasm_build_info" "$? == 0"

# --- the tracker: qasm-trackctl stats --json against a scrape; the trackctl session
# itself moves the session, auth and output counters.
trk_same() {
    timeout "$(scaled 30)" "$B/qasm-trackctl" --tracker 127.0.0.1:$TRK --json stats >"$T/trk.json" &&
        curl -sf "http://127.0.0.1:$MT/metrics" >"$T/trk.prom" &&
        compare "$T/trk.json" "$T/trk.prom" qasm_tracker \
            sessions,sessions_total,auth_ok,out_bytes,mem_used "" >"$T/trk.cmp"
}
wait_until 10 trk_same; rc=$?
cat "$T/trk.cmp"
check "tracker: every qasm-trackctl stats number is the metric of the same name and value" "$rc == 0"
n=$(sed -n 's/^qasm_tracker_reports_open \([0-9]*\)$/\1/p' "$T/trk.prom")
check "tracker: the client's report was counted (reports_open ${n:-none})" "${n:-0} >= 1"
grep -q '^# TYPE qasm_tracker_conns gauge$' "$T/trk.prom"; check "tracker: conns is a gauge" "$? == 0"

# --- HTTP: only GET /metrics
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MN/nope")
check "mbox: an unknown path is 404 (got $code)" "$code == 404"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MT/")
check "tracker: an unknown path is 404 (got $code)" "$code == 404"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$MT/metrics")
check "tracker: POST is 405 (got $code)" "$code == 405"

# --- bad addresses and addresses in use
bad_usage() { # NAME CMD...: one line on stderr, exit 2
    local name=$1; shift
    timeout "$(scaled 30)" "$@" >"$T/$name.out" 2>"$T/$name.err"; local rc=$?
    echo "$name: exit $rc: $(cat "$T/$name.err")"
    check "$name: exit 2" "$rc == 2"
    check "$name: one line naming --metrics" "$(wc -l <"$T/$name.err") == 1 && $(grep -c -- --metrics "$T/$name.err") == 1"
}
bad_usage mbox-bad-addr "$B/qasm-mbox" nat --mode default --listen 127.0.0.1:0 \
    --upstream 127.0.0.1:$SRV --metrics 127.0.0.1:99999
bad_usage tracker-bad-addr "$B/qasm-tracker" --listen 127.0.0.1:0 --metrics nowhere
in_use() { # NAME CMD...: one error line, exit 1
    local name=$1; shift
    timeout "$(scaled 30)" "$@" >"$T/$name.out" 2>"$T/$name.err"; local rc=$?
    grep -v ' info: ' "$T/$name.err" >"$T/$name.errs"
    echo "$name: exit $rc: $(cat "$T/$name.errs")"
    check "$name: exit 1" "$rc == 1"
    check "$name: one line, 'cannot listen ... in use'" \
        "$(wc -l <"$T/$name.errs") == 1 && $(grep -c 'metrics cannot listen on 127.0.0.1:[0-9]*: Address already in use' "$T/$name.errs") == 1"
}
in_use mbox-in-use "$B/qasm-mbox" nat --mode default --listen 127.0.0.1:0 --control none \
    --upstream 127.0.0.1:$SRV --metrics 127.0.0.1:$MT
in_use tracker-in-use "$B/qasm-tracker" --listen 127.0.0.1:0 --metrics 127.0.0.1:$MN
finish
