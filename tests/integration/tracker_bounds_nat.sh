#!/usr/bin/env bash
# tracker_bounds_nat.sh: a reactive NAT (qasm-mbox nat --mode reactive)
# follows a migrating client (qasm-h3-client with the agent, a new IP every
# 100 ms) while 4 sessions pipeline DUMP of the tracker's 20000 connections
# and never read, opening again whenever the tracker closes them. The
# tracker streams dumps under flow control, so the NAT's queries are
# answered: every request of the client answered, its migrations followed.
# Figures: the NAT's hold timeouts and defaults, the tracker's peak RSS.
# Then the idle timeout (--session-idle 2s): a quiet middlebox with
# --tracker-keepalive keeps its session; one without is closed and reconnects.
# QASM_TRACKER_BIN=<another qasm-tracker> runs the same against it (a build
# without the bounds: its loop is busy producing dumps, its memory grows).
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh

TRK_BIN=${QASM_TRACKER_BIN:-$B/qasm-tracker}
for bin in qasm-h3-server qasm-h3-client libqasm-agent.so qasm-mbox; do
    [ -e "$B/$bin" ] || { echo "FAIL: $B/$bin not built"; exit 1; }
done
ip addr show lo 2>/dev/null | grep -q '127.0.0.1/8' ||
    { echo "SKIP: loopback is not 127.0.0.0/8"; exit 77; }

REQS=60
base=$(free_ports 16) || { echo "no free ports"; exit 1; }
TRK=$base SRV=$((base + 1)) MB=$((base + 2))
POOL_LO=$((base + 8)) POOL_HI=$((base + 15))
TEST_PROC_TIMEOUT=120
PY=tests/integration/tracker_bounds.py

start srv "$B/qasm-h3-server" --listen 127.0.0.1:$SRV --idle-timeout 10s --no-json
start tracker "$TRK_BIN" --listen 127.0.0.1:$TRK --log-level warn
wait_bound $SRV && wait_bound $TRK tcp || exit 1
tpid=$(child_pid tracker)
timeout "$(scaled 60)" python3 $PY load $TRK "$(seq 2 21 | sed 's/^/127.0.0./' | paste -sd,)" 1000 0a ||
    { echo "FAIL: load"; exit 1; }
h0=$(awk '/^VmHWM/ { print $2 }' "/proc/$tpid/status")
start mb "$B/qasm-mbox" nat --mode reactive --listen 127.0.0.1:$MB \
    --tracker 127.0.0.1:$TRK --hold "$HOLD" --stats-json "$T/mb.json" \
    --upstream 127.0.0.1:$SRV --ports $POOL_LO-$POOL_HI
wait_bound $MB || exit 1
wait_json "$T/mb.json" "d['tracker']['up']" || true

timeout "$(scaled 90)" python3 $PY dumpflood $TRK 4 200 10 again >"$T/flood.out" &
flood=$!
QASM_TRACKER=127.0.0.1:$TRK LD_PRELOAD="$B/libqasm-agent.so" \
    timeout 60 "$B/qasm-h3-client" --connect 127.0.0.1:$MB --json --idle-timeout 5s \
    --requests $REQS --interval 100ms --size 20000 --migrate-every 100ms \
    --migrate-kind addr --local-addrs 127.0.0.30-127.0.0.39 \
    "https://127.0.0.1:$SRV/" >"$T/victim.json" 2>"$T/victim.log"
rc=$?
h1=$(awk '/^VmHWM/ { print $2 }' "/proc/$tpid/status")
wait $flood
fresh_stats mb "$T/mb.json"
v=$(cat "$T/victim.json")
echo "victim (exit $rc): $v"
echo "mbox: $(summary "$T/mb.json")"
field() { echo "$v" | json /dev/stdin "d.get('$1', -1)"; }
echo "figure: reactive NAT beside 4 sessions pipelining DUMP of 20000 connections (never reading, $(cat "$T/flood.out") reopened after the tracker closed them): hold_timeouts $(json "$T/mb.json" "d['hold_timeouts']"), released_default $(json "$T/mb.json" "d['released_default']"), released_joined $(json "$T/mb.json" "d['released_joined']"), ports_high_water $(json "$T/mb.json" "d['ports_high_water']"), client requests_ok $(field requests_ok)/$REQS, migrations $(field migrations), latency_p99_us $(field latency_p99_us)"
echo "figure: dump flood: tracker peak RSS +$(( (h1 - h0) / 1024 )) MiB"
check "every request of the client answered during the dump flood" \
    "$rc == 0 && $(field requests_ok) == $REQS"
check "the client's migrations followed by the NAT" \
    "$(field migrations) >= 10 && $(json "$T/mb.json" "d['migrations']") >= 5"
check "the tracker's peak RSS stayed within 64 MiB of its load" "$(( (h1 - h0) / 1024 )) < 64"

# A quiet middlebox is never closed by the tracker's idle timeout: its
# session sends a keepalive (--tracker-keepalive), one without it is closed
# and reconnects.
TRK2=$((base + 3)) MBK=$((base + 4)) MBD=$((base + 5))
start tracker2 "$TRK_BIN" --listen 127.0.0.1:$TRK2 --session-idle 2s --log-level warn
wait_bound $TRK2 tcp || exit 1
start mbk "$B/qasm-mbox" nat --mode reactive --listen 127.0.0.1:$MBK --tracker 127.0.0.1:$TRK2 \
    --tracker-keepalive 500ms --stats-json "$T/mbk.json" --upstream 127.0.0.1:$SRV \
    --ports $((base + 6))-$((base + 6))
start mbd "$B/qasm-mbox" nat --mode reactive --listen 127.0.0.1:$MBD --tracker 127.0.0.1:$TRK2 \
    --stats-json "$T/mbd.json" --upstream 127.0.0.1:$SRV --ports $((base + 7))-$((base + 7))
wait_json "$T/mbk.json" "d['tracker']['up']" && wait_json "$T/mbd.json" "d['tracker']['up']" ||
    { echo "FAIL: middleboxes not up"; exit 1; }
wait_json "$T/mbd.json" "d['tracker']['connects'] >= 2" || true
fresh_stats mbk "$T/mbk.json"
fresh_stats mbd "$T/mbd.json"
echo "figure: --session-idle 2s: with keepalive connects $(json "$T/mbk.json" "d['tracker']['connects']") keepalives $(json "$T/mbk.json" "d['tracker']['keepalives']"); without connects $(json "$T/mbd.json" "d['tracker']['connects']")"
check "a quiet middlebox without keepalive is closed by the idle timeout (and reconnects)" \
    "$(json "$T/mbd.json" "d['tracker']['connects']") >= 2"
check "with --tracker-keepalive it keeps its one session" \
    "$(json "$T/mbk.json" "d['tracker']['connects']") == 1 && $(json "$T/mbk.json" "d['tracker']['keepalives']") >= 2"
finish
