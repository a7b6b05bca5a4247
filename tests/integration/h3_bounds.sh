#!/usr/bin/env bash
# h3_bounds.sh: qasm-h3-client's bounds and the server's traces.
#  - a dead port: "handshake timed out" after --handshake-timeout, exit 1,
#    not the whole idle timeout;
#  - --duration 2s through a reactive rate limiter (requests in flight that
#    the limiter slows down): the run ends within the duration + --grace
#    (asserted under a generous 8 s) and says it ended by the duration;
#  - qasm-h3-server --qlog-dir writes one qlog per connection, named by the
#    ODCID the client's own qlog carries; SSLKEYLOGFILE gets the server's
#    secrets; both --help texts name SSLKEYLOGFILE.
# Loopback only; every process bounded and killed on exit.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh
for bin in qasm-h3-server qasm-h3-client libqasm-agent.so; do
    [ -e "$B/$bin" ] || { echo "FAIL: $B/$bin not built"; exit 1; }
done

base=$(free_ports 8) || { echo "no free ports"; exit 1; }
TRK=$base SRV=$((base + 1)) RL=$((base + 2)) DEAD=$((base + 3))
now() { date +%s.%N; }
secs() { python3 -c "print('%.2f' % ($2 - $1))"; }

# --- a dead port
t0=$(now)
timeout "$(scaled 60)" "$B/qasm-h3-client" --handshake-timeout 2s \
    "https://127.0.0.1:$DEAD/" >"$T/dead.out" 2>"$T/dead.err"; rc=$?
el=$(secs "$t0" "$(now)")
cat "$T/dead.err"
check "dead port: exit 1 (got $rc)" "$rc == 1"
grep -q 'handshake timed out (--handshake-timeout 2.0s) on 1 of 1 connections: no answer from 127.0.0.1:'"$DEAD" "$T/dead.err"
check "dead port: says the handshake timed out" "$? == 0"
check "dead port: after the 2 s handshake timeout, not the 30 s idle timeout (${el} s)" \
    "$(python3 -c "print(int(1.9 <= $el <= $(scaled 10)))") == 1"

# --- --duration through a reactive rate limiter
mkdir -p "$T/sq" "$T/cq"
start tracker "$B/qasm-tracker" --listen 127.0.0.1:$TRK
SSLKEYLOGFILE="$T/keys" start srv "$B/qasm-h3-server" --listen 127.0.0.1:$SRV --no-json \
    --qlog-dir "$T/sq"
wait_bound $TRK tcp && wait_bound $SRV || exit 1
start rl "$B/qasm-mbox" ratelimit --mode reactive --listen 127.0.0.1:$RL --upstream 127.0.0.1:$SRV \
    --tracker 127.0.0.1:$TRK --hold $HOLD --rate 20 --burst 20 --stats-json "$T/rl.json"
wait_bound $RL || exit 1
wait_json "$T/rl.json" "d['tracker']['up']" || true
t0=$(now)
QASM_TRACKER=127.0.0.1:$TRK LD_PRELOAD="$B/libqasm-agent.so" timeout "$(scaled 60)" \
    "$B/qasm-h3-client" --connect 127.0.0.1:$RL --json --duration 2s --concurrency 4 \
    --size 5k --migrate-every 50ms "https://127.0.0.1:$SRV/" >"$T/rl.out" 2>"$T/rl.err"; rc=$?
el=$(secs "$t0" "$(now)")
echo "client (exit $rc, ${el} s): $(cat "$T/rl.out")"
check "duration: a JSON summary" "$(grep -c '^{' "$T/rl.out") == 1"
check "duration: ended by the duration" "$(json "$T/rl.out" "d['ended_by'] == 'duration'") == 1"
check "duration: the run took 2 s + grace at most, under 8 s (${el} s)" \
    "$(python3 -c "print(int(1.9 <= $el <= 8))") == 1"
check "duration: says what was done (requests answered or cut, bytes)" \
    "$(json "$T/rl.out" "d['requests_ok'] + d['requests_cut'] >= 1 and d['bytes'] > 0 and d['requests_failed'] == 0") == 1"
fresh_stats rl "$T/rl.json"
check "duration: the limiter dropped packets (rate_limited)" \
    "$(json "$T/rl.json" "d['packets_dropped']['rate_limited']") > 0"
stop rl

# --- qlog and key log of the server, against the client's own qlog
timeout "$(scaled 60)" "$B/qasm-h3-client" --json --size 1000 --qlog-dir "$T/cq" \
    "https://127.0.0.1:$SRV/" >"$T/q.out" 2>"$T/q.err"; rc=$?
check "qlog: the request succeeded (exit $rc)" "$rc == 0"
stop srv   # the server closes its qlogs at exit
cq=$(ls "$T/cq" | head -n 1); odcid=${cq##*-}; odcid=${odcid%.sqlog}
echo "client qlog: $cq; server qlogs: $(ls "$T/sq" | wc -l)"
check "qlog: the server wrote one file per connection (client and rate-limited runs)" \
    "$(ls "$T/sq" | grep -c '^server-[0-9a-f]*\.sqlog$') >= 2"
check "qlog: the server's file of this connection is named by its ODCID ($odcid)" \
    "$(test -n "$odcid" && test -s "$T/sq/server-$odcid.sqlog" && echo 1 || echo 0) == 1"
head -n 1 "$T/sq/server-$odcid.sqlog" 2>/dev/null | grep -q '"type":"server".*"group_id":"'"$odcid"'"'
check "qlog: it is the server's side, grouped by the ODCID" "$? == 0"
check "SSLKEYLOGFILE: the server wrote its handshake secrets" \
    "$(grep -c '^SERVER_HANDSHAKE_TRAFFIC_SECRET ' "$T/keys" 2>/dev/null || echo 0) >= 2"
for p in qasm-h3-server qasm-h3-client; do
    "$B/$p" --help | grep -q SSLKEYLOGFILE
    check "$p --help names SSLKEYLOGFILE" "$? == 0"
done
finish
