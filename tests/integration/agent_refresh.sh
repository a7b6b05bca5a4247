#!/usr/bin/env bash
# agent_refresh.sh: the agent's periodic refresh heals a tracker restart.
# qasm-h3-client (agent preloaded, QASM_AGENT_REFRESH=300ms) keeps a connection
# busy against qasm-h3-server; once the tracker knows the connection it is
# killed and a fresh one (empty store) started on the same port. The client
# runs 10 s (scaled by QASM_TEST_SLOWDOWN), far more than the steps between
# need (each waits on a condition). Checks: the new tracker
# learns the live connection again (same O-DCID, client address, DCIDs) from
# REPORT_REFRESH alone, and sees it closed after the client exits.
set -u
. "$(dirname "$0")/test_lib.sh"
B=${QASM_BUILD:-build}
AGENT=$(readlink -f "$B/libqasm-agent.so")
for x in "$AGENT" "$B/qasm-tracker" "$B/qasm-trackctl" "$B/qasm-h3-client" "$B/qasm-h3-server"; do
    [ -e "$x" ] || { echo "FAIL: $x not built"; exit 1; }
done
T=$(mktemp -d /tmp/qasm-agent-refresh.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.2
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$T"
    release_ports
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$T"/*.log; do echo "--- $f"; tail -n 20 "$f"; done; exit 1; }
freeport() { reserve_ports 1; }   # reserved until exit: see test_lib.sh
# Waits (up to 30 s, scaled) until something listens on UDP port $1 of 127.0.0.1.
wait_udp() { wait_until 30 udp_bound "$1"; }
TP=$(freeport); SP=$(freeport)
[ "$TP" != "$SP" ] || SP=$(freeport)
ctl() { timeout "$(scaled 30)" "$B/qasm-trackctl" --tracker "127.0.0.1:$TP" --timeout "$(scaled 30)s" --json "$@"; }

timeout "$(scaled 200)" "$B/qasm-tracker" --listen "127.0.0.1:$TP" --log-level warn >"$T/tracker1.log" 2>&1 &
TR1=$!
PIDS+=($TR1)
timeout "$(scaled 200)" "$B/qasm-h3-server" --listen "127.0.0.1:$SP" --no-json >"$T/server.log" 2>&1 &
PIDS+=($!)
wait_udp "$TP" || fail "tracker did not start"
wait_udp "$SP" || fail "qasm-h3-server did not start"

LD_PRELOAD=$AGENT QASM_TRACKER=127.0.0.1:$TP QASM_AGENT_REFRESH=300ms QASM_AGENT_LOG=info \
    timeout "$(scaled 90)" "$B/qasm-h3-client" --duration "$(scaled 10)s" --interval 20ms --size 1k \
    --json "https://127.0.0.1:$SP/" >"$T/client.json" 2>"$T/client.log" &
CPID=$!
PIDS+=($CPID)

dump_until "$TP" "$T/dump1.json" "len(d['connections']) == 1 and len(d['connections'][0]['dcids']) >= 1" ||
    ctl dump >"$T/dump1.json" 2>>"$T/ctl.log" || fail "dump from the first tracker failed"
kill -TERM "$TR1"
wait "$TR1" 2>/dev/null
timeout "$(scaled 200)" "$B/qasm-tracker" --listen "127.0.0.1:$TP" --close-linger 60s --log-level warn \
    >"$T/tracker2.log" 2>&1 &
PIDS+=($!)
wait_udp "$TP" || fail "second tracker did not start"
# Relearnt from the agent's refresh reports (every 300 ms).
dump_until "$TP" "$T/dump2.json" "len(d['connections']) == 1 and len(d['connections'][0]['dcids']) >= 1" ||
    ctl dump >"$T/dump2.json" 2>>"$T/ctl.log" || fail "dump from the second tracker failed"
kill -0 "$CPID" 2>/dev/null || echo "note: the client ended before the second tracker knew it (raise QASM_TEST_SLOWDOWN)"
ctl stats >"$T/stats2.json" 2>>"$T/ctl.log" || fail "stats from the second tracker failed"
wait "$CPID" || fail "client failed: $(cat "$T/client.json")"
dump_until "$TP" "$T/dump3.json" "any(c.get('closed') for c in d['connections'])" ||
    ctl dump >"$T/dump3.json" 2>>"$T/ctl.log" || fail "dump after the client's exit failed"
grep "qasm-agent info: exit" "$T/client.log"

python3 - "$T/dump1.json" "$T/dump2.json" "$T/dump3.json" "$T/stats2.json" "$T/client.json" <<'EOF' || fail "checks failed"
import json, sys
d1, d2, d3, st, client = (json.load(open(p)) for p in sys.argv[1:6])
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok = ok and cond
def stat(name):
    if name in st:
        return st[name]
    for v in st.values():
        if isinstance(v, dict) and name in v:
            return v[name]
    return None
c1 = d1["connections"]
check(len(c1) == 1, "first tracker knows the connection")
c2 = d2["connections"]
check(len(c2) == 1 and c1 and c2[0]["odcid"] == c1[0]["odcid"],
      "restarted tracker learnt the same connection again (odcid %s)" % (c2[0]["odcid"] if c2 else None))
check(len(c2) == 1 and len(c2[0]["dcids"]) >= 1 and c2[0]["clients"][0] == c1[0]["clients"][0],
      "with its DCIDs (%d) and first client address" % (len(c2[0]["dcids"]) if c2 else 0))
check((stat("reports_refresh") or 0) >= 1 and (stat("reports_open") or 0) == 0,
      "from refresh reports only (refresh %s, open %s)" % (stat("reports_refresh"), stat("reports_open")))
check(client.get("requests_failed") == 0, "client: no failed request (%s ok)" % client.get("requests_ok"))
c3 = [c for c in d3["connections"] if c1 and c["odcid"] == c1[0]["odcid"]]
check(len(c3) == 1 and c3[0].get("closed") is True, "closed at the restarted tracker after exit")
sys.exit(0 if ok else 1)
EOF
echo "PASS agent_refresh"
