#!/usr/bin/env bash
# tracker.sh: qasm-tracker + qasm-trackctl end to end on loopback (IPv4 and
# IPv6): report -> query (also one waiting before the report) -> watch
# (all, and one pending subscription) -> migration -> close, checked with
# dump --json and stats --json; trust and malformed counters; SIGUSR1 and a
# clean SIGTERM exit; bad flags. Every process is bounded and killed on exit.
set -u
. "$(dirname "$0")/test_lib.sh"
# QASM_TRACKER_STORE=SPEC runs the tracker with --store SPEC (tracker_redis.sh).
B=${QASM_BUILD:-build}
TRK=$B/qasm-tracker
CTL=$B/qasm-trackctl
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
  release_ports
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.err; do echo "--- $f"; tail -20 "$f"; done; exit 1; }
ok() { echo "ok: $*"; }

free_port() { reserve_ports 1 || echo 0; }

json_get() { # json_get FILE PYTHON-EXPR (d = the parsed JSON)
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

# Bad flags: clear message, non-zero exit.
$TRK --trust maybe 2>"$work/flag.err"; rc=$?
[ $rc -ne 0 ] && grep -q -- "--trust" "$work/flag.err" || fail "bad --trust accepted (rc $rc)"
$TRK --listen nowhere 2>"$work/flag.err" && fail "bad --listen accepted"
$CTL frobnicate 2>"$work/flag.err"; [ $? -eq 2 ] || fail "unknown command not exit 2"
$CTL query zz 2>"$work/flag.err"; [ $? -eq 2 ] || fail "bad DCID not exit 2"
ok "bad flags rejected"

P=$(free_port)
[ "$P" != 0 ] || fail "no free port"
LISTEN=(--listen "127.0.0.1:$P")
have6=0
if ip -6 addr show dev lo 2>/dev/null | grep -q '::1'; then LISTEN+=(--listen "[::1]:$P"); have6=1; fi
timeout "$(scaled 300)" "$TRK" "${LISTEN[@]}" --ttl 60s --close-linger 60s --max-wait 20s \
  --log-level debug ${QASM_TRACKER_STORE:+--store "$QASM_TRACKER_STORE"} 2>"$work/tracker.err" &
TPID=$!
pids+=("$TPID")
# Generous reply timeouts: a loaded machine (or a Redis store) can be slow; a
# reply that comes is never slowed down by them.
C=("$CTL" --tracker "127.0.0.1:$P" --timeout "$(scaled 30)s")
W=("$CTL" --tracker "127.0.0.1:$P" --timeout "$(scaled 90)s")   # watchers: quiet between pushes
stats_json() { "${C[@]}" --json stats >"$work/st.json" 2>/dev/null; }
wait_until 30 "${C[@]}" stats >/dev/null 2>&1 || fail "tracker did not come up"
ok "tracker up on port $P (ipv6: $have6)"

ODCID=0102030405060708
# The connection's secret, as its agent would choose it: every report of the connection
# carries a MAC under it (only its owner may change it at the tracker).
SECRET=5ec2e75ec2e75ec2e75ec2e75ec2e75e
# Watchers: all connections (3 pushes: opened, dcid_new, closed) and a
# pending subscription to the O-DCID, which binds when the report arrives.
timeout "$(scaled 120)" "${W[@]}" --json watch --count 4 >"$work/watch_all.out" 2>"$work/watch_all.err" &
WALL=$!; pids+=("$WALL")
timeout "$(scaled 120)" "${W[@]}" --json watch $ODCID >"$work/watch_one.out" 2>"$work/watch_one.err" &
WONE=$!; pids+=("$WONE")
timeout "$(scaled 120)" "${W[@]}" watch --count 4 >"$work/watch_text.out" 2>"$work/watch_text.err" &
WTXT=$!; pids+=("$WTXT")
# A query that waits for a DCID nobody reported yet.
timeout "$(scaled 120)" "${C[@]}" --json --timeout "$(scaled 90)s" query aabbccdd --wait "$(scaled 60)000" >"$work/wait.out" 2>"$work/wait.err" &
WQ=$!; pids+=("$WQ")
both_watching() { grep -q watching "$work/watch_all.err" && grep -q watching "$work/watch_one.err" &&
                  grep -qs watching "$work/watch_text.err"; }
wait_until 30 both_watching || fail "watchers did not subscribe"
# The waiting query must be waiting at the tracker before the report (stats count it).
query_waiting() { stats_json && [ "$(json_get "$work/st.json" 'd["waiting"]')" -ge 1 ]; }
wait_until 30 query_waiting || fail "the waiting query did not reach the tracker"

# Report (REFRESH from 127.0.0.2, the client's IP), then query.
"${C[@]}" report --secret $SECRET --odcid $ODCID --dcid aabbccdd --client 127.0.0.2:5000 \
  --server 127.0.0.1:4433 --seq 10 >/dev/null || fail "report failed"
wait_until 30 eval '"${C[@]}" --json query aabbccdd >"$work/q1.json" 2>/dev/null' ||
  fail "query after report: not found"
[ "$(json_get "$work/q1.json" 'd["connection"]["odcid"]')" = $ODCID ] || fail "query: wrong odcid"
[ "$(json_get "$work/q1.json" 'd["connection"]["server"]')" = 127.0.0.1:4433 ] || fail "query: server"
ok "report -> query"
"${C[@]}" --json query $ODCID >"$work/q0.json" || fail "query by O-DCID"
"${C[@]}" query ffffffff >/dev/null; [ $? -eq 1 ] || fail "unknown DCID not exit 1"
"${C[@]}" query aabbccdd --server 127.0.0.1:9999 >/dev/null; [ $? -eq 1 ] || fail "server filter"
ok "query by O-DCID, NOT_FOUND, server filter"

wait $WQ; rc=$?
[ $rc -eq 0 ] || fail "waiting query: exit $rc"
[ "$(json_get "$work/wait.out" 'd["found"]')" = True ] || fail "waiting query not answered with the record"
ok "query with wait answered when the DCID became known"

# Migration: new DCID from a new address (127.0.0.3), same connection key.
"${C[@]}" report --secret $SECRET --type dcid --odcid $ODCID --dcid 11223344 --dcid-seq 1 \
  --client 127.0.0.3:6000 --client0 127.0.0.2:5000 --seq 11 >/dev/null || fail "report dcid"
wait_until 30 eval '"${C[@]}" query 11223344 >/dev/null 2>&1'
"${C[@]}" --json query 11223344 >"$work/q2.json" || fail "query new DCID"
[ "$(json_get "$work/q2.json" 'd["connection"]["current"]')" = 127.0.0.3:6000 ] || fail "current address"
ok "migration: new DCID and address"

# A query naming a client address waits until the tracker attests it (the
# agent's address report may trail the migrated packet), else answers at the
# deadline with what it has.
"${C[@]}" --json --timeout "$(scaled 90)s" query 11223344 --client 127.0.0.4:7000 \
  --wait "$(scaled 60)000" >"$work/aw.json" &
AW=$!
wait_until 30 query_waiting || fail "the address wait did not reach the tracker"
"${C[@]}" report --secret $SECRET --type addr --odcid $ODCID --client 127.0.0.4:7000 --client0 127.0.0.2:5000 \
  --seq 12 >/dev/null || fail "report addr"
wait $AW || fail "address wait: exit $?"
[ "$(json_get "$work/aw.json" '"127.0.0.4:7000" in d["connection"]["clients"]')" = True ] ||
  fail "address wait answered before the address was attested"
"${C[@]}" --json query 11223344 --client 127.0.0.9:1 --wait 300 >"$work/aw2.json" ||
  fail "address wait at the deadline: no record"
[ "$(json_get "$work/aw2.json" '"127.0.0.9:1" in d["connection"]["clients"]')" = False ] ||
  fail "unattested address listed"
ok "query waiting for a client address: answered once attested, or at the deadline"

# Trust: a report for an address that is not the sender's is rejected.
"${C[@]}" report --odcid 0a0b --client 192.0.2.77:1 --server 127.0.0.1:4433 >/dev/null 2>&1
# Malformed datagram.
printf 'not a tracker message' >/dev/udp/127.0.0.1/$P
counted() {
  "${C[@]}" --json stats >"$work/stats1.json" || fail "stats"
  [ "$(json_get "$work/stats1.json" 'd["malformed_udp"]')" -ge 1 ] &&
    [ "$(json_get "$work/stats1.json" 'd["rejected_trust"]')" -ge 1 ]
}
wait_until 30 counted
[ "$(json_get "$work/stats1.json" 'd["rejected_trust"]')" -ge 1 ] || fail "rejected_trust not counted"
[ "$(json_get "$work/stats1.json" 'd["malformed_udp"]')" -ge 1 ] || fail "malformed_udp not counted"
# The tracker's own build, carried as numbers and shown as text (here the same build as trackctl).
want_ver=$("$B/qasm-tracker" --version | sed 's/^qasm-tracker //; s/-dirty)$/)/')
[ "$(json_get "$work/stats1.json" 'd["tracker_version"]')" = "$want_ver" ] ||
  fail "stats: tracker_version '$(json_get "$work/stats1.json" 'd.get("tracker_version")')' is not '$want_ver'"
"${C[@]}" query 0a0b >/dev/null; [ $? -eq 1 ] || fail "untrusted report was stored"
ok "untrusted and malformed reports counted and ignored"

# Close: both watchers end.
"${C[@]}" report --secret $SECRET --close --odcid $ODCID --client 127.0.0.3:6000 --client0 127.0.0.2:5000 \
  --seq 13 >/dev/null || fail "report close"
wait $WALL; rc=$?; [ $rc -eq 0 ] || fail "watch all: exit $rc"
wait $WONE; rc=$?; [ $rc -eq 0 ] || fail "watch one: exit $rc"
events=$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["event"] for l in open(sys.argv[1])))' "$work/watch_all.out")
[ "$events" = "opened dcid_new addr closed" ] || fail "watch all events: '$events'"
events=$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["event"] for l in open(sys.argv[1])))' "$work/watch_one.out")
[ "$events" = "opened dcid_new addr closed" ] || fail "watch one events: '$events'"
ok "watch: pushes opened, dcid_new, closed (all and pending subscription)"
wait $WTXT; rc=$?; [ $rc -eq 0 ] || fail "watch text: exit $rc"
# Every line of the text watch: a timestamp and the event, then the record's line.
bad=$(grep -cvE '^\[[0-9]{10}\.[0-9]{6}\] (opened|dcid_new|addr|closed) +(odcid |  scid |  dcids |  clients )' "$work/watch_text.out")
[ "$bad" = 0 ] && [ "$(grep -cE '^\[[0-9.]+\] closed +odcid 0102030405060708 ' "$work/watch_text.out")" = 1 ] ||
  fail "watch text: lines without a timestamp and an event: $(cat "$work/watch_text.out")"
python3 - "$work/watch_all.out" <<'EOF' || fail "watch --json: time"
import json, sys, time
t = [json.loads(l)["time"] for l in open(sys.argv[1])]
assert len(t) == 4 and t == sorted(t) and abs(t[0] - time.time()) < 3600, t
EOF
ok "watch: a timestamp and the event type on every line (text), time in --json"

# dump --json holds the whole record.
"${C[@]}" --json dump >"$work/dump.json" || fail "dump"
python3 - "$work/dump.json" <<'EOF' || fail "dump --json content"
import json, sys
d = json.load(open(sys.argv[1]))
c = [x for x in d["connections"] if x["odcid"] == "0102030405060708"]
assert len(c) == 1, d
c = c[0]
assert sorted(c["dcids"]) == ["11223344", "aabbccdd"], c
assert c["clients"] == ["127.0.0.2:5000", "127.0.0.3:6000", "127.0.0.4:7000"], c
assert c["server"] == "127.0.0.1:4433", c
assert c["dcid_len"] == 4, c
assert c["closed"] is True, c
# closed: it goes --close-linger (60 s) after the close report
assert 0 <= c["age_s"] < 600 and 0 < c["expires_s"] <= 60, c
EOF
ok "dump --json"
"${C[@]}" dump >"$work/dump.txt" || fail "dump"
grep -qE '^odcid 0102030405060708 .* closed age [0-9]+\.[0-9]s expires [0-9]+\.[0-9]s$' "$work/dump.txt" ||
  fail "dump: no age / expiry: $(cat "$work/dump.txt")"
ok "dump: each record's age and time to expiry"

"${C[@]}" --json stats >"$work/stats2.json" || fail "stats"
# reports_* count every report received (the untrusted one was a refresh too).
python3 - "$work/stats2.json" <<'EOF' || fail "stats counters"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["conns"] == 1 and d["dcids"] == 2, d
assert d["reports_refresh"] == 2 and d["reports_dcid_new"] == 1 and d["reports_close"] == 1, d
assert d["pushes"] >= 6 and d["waits"] >= 1 and d["waits_found"] >= 1, d
assert d["queries_not_found"] >= 2 and d["closed"] == 1, d
assert d["mem_bytes"] > 0 and d["bytes_per_conn"] > 0, d
EOF
ok "stats counters"

if [ $have6 = 1 ]; then
  "$CTL" --tracker "[::1]:$P" --json query 11223344 >"$work/q6.json" || fail "query over IPv6"
  "$CTL" --tracker "[::1]:$P" report --odcid 0c0d --dcid 0e0f --client "[::1]:7000" \
    --server "[::1]:4433" --seq 1 >/dev/null || fail "report over IPv6"
  wait_until 30 eval '"$CTL" --tracker "[::1]:$P" query 0e0f >/dev/null 2>&1'
  "$CTL" --tracker "[::1]:$P" --json query 0e0f >"$work/q7.json" || fail "IPv6 report not stored"
  [ "$(json_get "$work/q7.json" 'd["connection"]["current"]')" = "[::1]:7000" ] || fail "IPv6 client"
  ok "IPv6 listener: query and report"
fi

# Port 0: the tracker picks a free port, the same for UDP and TCP, and logs it.
timeout "$(scaled 120)" "$TRK" --listen 127.0.0.1:0 --log-level info \
  ${QASM_TRACKER_STORE:+--store "$QASM_TRACKER_STORE"} 2>"$work/tracker0.err" &
pids+=($!)
P0=$(logged_port "$work/tracker0.err") || fail "port 0: no 'listening on' line with a port"
"$CTL" --tracker "127.0.0.1:$P0" --timeout "$(scaled 30)s" report --odcid 0d0e --dcid 0f10 \
  --client 127.0.0.1:7100 --server 127.0.0.1:4433 --seq 1 >/dev/null || fail "port 0: report"
wait_until 30 "$CTL" --tracker "127.0.0.1:$P0" --timeout "$(scaled 30)s" query 0f10 >/dev/null 2>&1 ||
  fail "port 0: the UDP report was not seen over TCP on port $P0"
ok "port 0: UDP and TCP on the port it logged ($P0)"

# Signals go to the tracker itself, the child of `timeout`.
RPID=$(pgrep -P "$TPID" -x qasm-tracker)
[ -n "$RPID" ] || fail "tracker process not found"
kill -USR1 "$RPID"
wait_until 30 grep -q '^conns ' "$work/tracker.err"
grep -q '^conns ' "$work/tracker.err" || fail "SIGUSR1 printed no counters"
kill -TERM "$RPID"
wait "$TPID"; rc=$?
[ $rc -eq 0 ] || fail "tracker exit status $rc after SIGTERM"
ok "SIGUSR1 counters, SIGTERM clean exit"
echo "PASS tracker.sh"
